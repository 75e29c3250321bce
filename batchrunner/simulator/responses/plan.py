"""Planning a response: its timing and outcome, and the output a full answer has.

Like a run's plan (`runplan`), a response's comes from an RNG private to it (seed, response id): its
processing time within [run_duration_min_s, run_duration_max_s] (a tenth of it queued), whether it
fails (`run_fail_rate_limit_rate`, `run_fail_server_error_rate`) or stops short
(`response_incomplete_rate`), and the words of its answer. A synchronous response has neither queue
nor processing time: it is answered by the request that creates it.

The model calls the request's function tools as `toolcalls` decides for the last user message,
unless the input carries `function_call_output` items: then it answers with a message quoting
them, so a chain has one tool round, as a run does.
"""

from __future__ import annotations

import copy
from typing import Any

from batchrunner.simulator.responses.records import ResponsePlan, ResponseSettings
from batchrunner.simulator.state import Store
from batchrunner.simulator.textgen import compose_reply, compose_tool_reply, estimate_tokens, truncate_to_tokens
from batchrunner.simulator.toolcalls import PlannedCall, plan_tool_calls

QUEUE_SHARE = 0.1


def _nested_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Function tools in the Assistants shape `toolcalls` reads."""
    return [
        {"type": "function", "function": {"name": tool["name"], "parameters": tool.get("parameters")}}
        for tool in tools
        if tool.get("type") == "function"
    ]


def _nested_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def _response_format(text: dict[str, Any]) -> dict[str, Any] | None:
    """`text.format` in the Assistants `response_format` shape `textgen` reads."""
    fmt = text.get("format") or {}
    if fmt.get("type") == "json_schema":
        return {"type": "json_schema", "json_schema": {"schema": fmt.get("schema")}}
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    return None


def _calls_output(store: Store, calls: list[PlannedCall]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function_call",
            "id": store.new_id("fc"),
            "call_id": store.new_id("call"),
            "name": call.name,
            "arguments": call.arguments,
            "status": "completed",
        }
        for call in calls
    ]


def _message_output(store: Store, text: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "message",
            "id": store.new_id("msg"),
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
    ]


def item_cost(item: dict[str, Any]) -> int:
    """The output tokens of an output item."""
    if item["type"] == "function_call":
        return estimate_tokens(item["name"] + item["arguments"])
    return estimate_tokens(item["content"][0]["text"])


def draw_plan(
    store: Store,
    response_id: str,
    settings: ResponseSettings,
    background: bool,
    user_text: str,
    tool_results: list[tuple[str, str]],
) -> ResponsePlan:
    """The response's timing, outcome and full output (allocating the output items' ids).

    `user_text` is the last user message of the context; `tool_results` are the (function name,
    output) pairs the input answers, if any.
    """
    config = store.config
    rng = store.rng_for(response_id)
    duration = rng.uniform(config.run_duration_min_s, config.run_duration_max_s)
    draw = rng.random()
    outcome, failure = "completed", None
    if draw < config.run_fail_rate_limit_rate:
        outcome, failure = "failed", "rate_limit_exceeded"
    elif draw < config.run_fail_rate_limit_rate + config.run_fail_server_error_rate:
        outcome, failure = "failed", "server_error"
    elif draw < config.run_fail_rate_limit_rate + config.run_fail_server_error_rate + config.response_incomplete_rate:
        outcome = "incomplete"
    queue, work = (duration * QUEUE_SHARE, duration * (1 - QUEUE_SHARE)) if background else (0.0, 0.0)
    output: list[dict[str, Any]] = []
    if outcome != "failed":
        calls = (
            []
            if tool_results
            else plan_tool_calls(
                _nested_tools(settings.tools),
                _nested_choice(settings.tool_choice),
                settings.parallel_tool_calls,
                user_text,
            )
        )
        if calls:
            output = _calls_output(store, calls)
        else:
            text = (
                compose_tool_reply(tool_results)
                if tool_results
                else compose_reply(user_text, rng, _response_format(settings.text))
            )
            output = _message_output(store, text)
    return ResponsePlan(queue, work, outcome, failure, output, [item_cost(item) for item in output], duration)


def _cut(item: dict[str, Any], tokens: int, status: str) -> dict[str, Any]:
    cut = copy.deepcopy(item)
    cut["status"] = status
    if item["type"] == "function_call":
        cut["arguments"] = item["arguments"][: max(tokens, 0) * 4]
    else:
        cut["content"][0]["text"] = truncate_to_tokens(item["content"][0]["text"], tokens)
    return cut


def fit_output(plan: ResponsePlan, budget: int | None, status: str) -> tuple[list[dict[str, Any]], int, bool]:
    """The output that fits in `budget` tokens (all of it when None), its tokens, and whether it was cut.

    The item in which the budget runs out is cut short and shown with `status`; later items are dropped.
    """
    total = sum(plan.costs)
    if budget is None or budget >= total:
        return copy.deepcopy(plan.output), total, False
    shown: list[dict[str, Any]] = []
    left = max(budget, 0)
    for item, cost in zip(plan.output, plan.costs, strict=True):
        if cost <= left:
            shown.append(copy.deepcopy(item))
            left -= cost
            continue
        shown.append(_cut(item, left, status))
        break
    return shown, max(budget, 0), True
