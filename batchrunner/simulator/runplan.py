"""Creating runs: resolving their settings, estimating their prompt, and drawing their plan.

A run's plan comes from an RNG private to the run (seed, run id): its processing time within
[run_duration_min_s, run_duration_max_s] (a tenth queued, the rest split across its turns), whether
it fails and with which code, and which tools it will call.
"""

from __future__ import annotations

from typing import Any

from batchrunner.simulator.errors import invalid
from batchrunner.simulator.events import EventQueue
from batchrunner.simulator.lifecycle import advance, advance_thread, publish_run
from batchrunner.simulator.records import Assistant, Message, Run, RunPlan, Thread
from batchrunner.simulator.request_bodies import RunSpec
from batchrunner.simulator.state import Store
from batchrunner.simulator.textgen import content_text, estimate_tokens
from batchrunner.simulator.toolcalls import PlannedCall, plan_tool_calls

QUEUE_SHARE = 0.1
DEFAULT_TRUNCATION = {"type": "auto", "last_messages": None}


def run_instructions(assistant: Assistant, spec: RunSpec) -> str:
    """The run's instructions: the override or the assistant's, plus additional_instructions."""
    base = spec.instructions if spec.instructions is not None else (assistant.instructions or "")
    if spec.additional_instructions:
        return f"{base}\n\n{spec.additional_instructions}" if base else spec.additional_instructions
    return base


def context_prompt_tokens(
    instructions: str,
    message_texts: list[str],
    truncation: dict[str, Any] | None,
    max_prompt_tokens: int | None,
) -> int:
    """Prompt tokens of a run's first turn after the truncation strategy.

    `last_messages` keeps the n newest messages; `auto` drops the oldest ones (never the newest)
    until the prompt fits max_prompt_tokens, as the API drops messages to fit its context.
    """
    costs = [estimate_tokens(text) for text in message_texts]
    strategy = truncation or DEFAULT_TRUNCATION
    last = strategy.get("last_messages")
    if strategy.get("type") == "last_messages" and isinstance(last, int):
        costs = costs[-last:]
    fixed = estimate_tokens(instructions)
    if max_prompt_tokens is not None and strategy.get("type") == "auto":
        while len(costs) > 1 and fixed + sum(costs) > max_prompt_tokens:
            costs.pop(0)
    return fixed + sum(costs)


def estimate_request_tokens(store: Store, thread_texts: list[str], spec: RunSpec) -> int:
    """What a run-creating request costs against tpm and quota: its prompt plus max_completion_tokens."""
    assistant = store.assistant(spec.assistant_id)
    texts = thread_texts + [content_text(message.content) for message in spec.additional_messages]
    prompt = context_prompt_tokens(
        run_instructions(assistant, spec), texts, spec.truncation_strategy, spec.max_prompt_tokens
    )
    return prompt + (spec.max_completion_tokens or 0)


def ensure_no_active_run(store: Store, thread: Thread) -> None:
    """A thread runs one run at a time, like the real API."""
    active = advance_thread(store, thread.id)
    if active is not None:
        raise invalid(f"Thread {thread.id} already has an active run {active.id}.", None)


def run_tools(assistant: Assistant, spec: RunSpec) -> list[dict[str, Any]]:
    """The run's tools: the override when given, else the assistant's."""
    return spec.tools if spec.tools is not None else [dict(tool) for tool in assistant.tools]


def check_run_spec(store: Store, spec: RunSpec) -> Assistant:
    """The checks a run needs beyond its body's schema: a known assistant, a tool_choice among its tools."""
    assistant = store.assistant(spec.assistant_id)
    _check_tool_choice(spec, run_tools(assistant, spec))
    return assistant


def _check_tool_choice(spec: RunSpec, tools: list[dict[str, Any]]) -> None:
    choice = spec.tool_choice
    if not isinstance(choice, dict) or choice.get("type") != "function":
        return
    wanted = choice["function"]["name"]
    names = [tool["function"]["name"] for tool in tools if tool.get("type") == "function"]
    if wanted not in names:
        raise invalid(f"Invalid tool_choice: function '{wanted}' is not among the run's tools.", "tool_choice")


def _last_user_text(messages: list[Message]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            return message.text
    return ""


def _draw_plan(store: Store, run_id: str, calls: list[PlannedCall]) -> RunPlan:
    """Timing and outcome of a run, from its private RNG (the RNG then goes on to pick its words)."""
    config = store.config
    rng = store.rng_for(run_id)
    duration = rng.uniform(config.run_duration_min_s, config.run_duration_max_s)
    draw = rng.random()
    failure = None
    if draw < config.run_fail_rate_limit_rate:
        failure = "rate_limit_exceeded"
    elif draw < config.run_fail_rate_limit_rate + config.run_fail_server_error_rate:
        failure = "server_error"
    working = duration * (1 - QUEUE_SHARE)
    first_turn = working / 2 if calls else working
    return RunPlan(duration * QUEUE_SHARE, first_turn, working - first_turn, failure, calls, rng)


def create_run(store: Store, thread: Thread, spec: RunSpec, listener: EventQueue | None = None) -> Run:
    """Validate the run against the store, add its messages, and create it queued.

    A `listener` (a streamed request's queue) is attached before the run's first events.
    """
    assistant = check_run_spec(store, spec)
    tools = run_tools(assistant, spec)
    ensure_no_active_run(store, thread)
    for message in spec.additional_messages:
        store.add_message(thread, message)
    messages = store.thread_messages(thread)
    instructions = run_instructions(assistant, spec)
    run_id = store.new_id("run")
    user_text = _last_user_text(messages)
    parallel = spec.parallel_tool_calls if spec.parallel_tool_calls is not None else True
    tool_choice = spec.tool_choice if spec.tool_choice is not None else "auto"
    plan = _draw_plan(store, run_id, plan_tool_calls(tools, tool_choice, parallel, user_text))
    config = store.config
    now = store.now()
    run = Run(
        id=run_id,
        created_at=now,
        thread_id=thread.id,
        assistant_id=assistant.id,
        model=spec.model or assistant.model,
        instructions=instructions,
        tools=tools,
        metadata=spec.metadata or {},
        temperature=spec.temperature if spec.temperature is not None else assistant.temperature,
        top_p=spec.top_p if spec.top_p is not None else assistant.top_p,
        max_prompt_tokens=spec.max_prompt_tokens,
        max_completion_tokens=spec.max_completion_tokens,
        truncation_strategy=spec.truncation_strategy or dict(DEFAULT_TRUNCATION),
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        response_format=spec.response_format or assistant.response_format or "auto",
        plan=plan,
        expires_at=now + config.run_expiry_s,
        user_text=user_text,
        context_prompt_tokens=context_prompt_tokens(
            instructions,
            [message.text for message in messages],
            spec.truncation_strategy,
            spec.max_prompt_tokens,
        ),
        turn_ends_at=now + plan.queue_seconds + plan.first_turn_seconds,
    )
    store.runs[run.id] = run
    thread.run_ids.append(run.id)
    if listener is not None:
        run.listeners.append(listener)
        publish_run(run, "thread.run.created")
        publish_run(run)
    advance(store, run)
    return run
