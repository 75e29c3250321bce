"""Function calling with Responses: calls as output items, continuations, and the API's 400s."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.simulator.responses.rsim import CALCULATE, TEXT_STATISTICS, RSim, outputs_for

BOTH = [CALCULATE, TEXT_STATISTICS]
BOTH_QUESTION = 'Compute 3 * 7 and count the words of "a b c"'


def test_function_tools_end_completed_with_function_call_items(rsim: RSim) -> None:
    """A question for the tools ends completed with one function_call item per requested function."""
    done = rsim.wait(rsim.create(input=BOTH_QUESTION, tools=BOTH, background=True)["id"])
    assert done["status"] == "completed" and done["completed_at"] is not None
    assert [item["name"] for item in done["output"]] == ["calculate", "text_statistics"]
    for item in done["output"]:
        assert item["type"] == "function_call" and item["status"] == "completed"
        assert item["id"].startswith("fc_") and item["call_id"].startswith("call_")
    assert [json.loads(item["arguments"]) for item in done["output"]] == [{"expression": "3 * 7"}, {"text": "a b c"}]
    assert done["usage"]["output_tokens"] > 0


def test_parallel_tool_calls_false_makes_one_call(rsim: RSim) -> None:
    """With parallel_tool_calls false only the first requested function is called."""
    done = rsim.wait(rsim.create(input=BOTH_QUESTION, tools=BOTH, parallel_tool_calls=False, background=True)["id"])
    assert [item["name"] for item in done["output"]] == ["calculate"]
    assert done["parallel_tool_calls"] is False


def test_tool_choice_none_or_named_function(rsim: RSim) -> None:
    """tool_choice none answers with a message; a named function is the one called."""
    plain = rsim.wait(rsim.create(input=BOTH_QUESTION, tools=BOTH, tool_choice="none", background=True)["id"])
    assert [item["type"] for item in plain["output"]] == ["message"]
    named = {"type": "function", "name": "text_statistics"}
    forced = rsim.wait(rsim.create(input=BOTH_QUESTION, tools=BOTH, tool_choice=named, background=True)["id"])
    assert [item["name"] for item in forced["output"]] == ["text_statistics"] and forced["tool_choice"] == named


def test_continuation_answers_with_a_message_and_rebills_the_context(rsim: RSim) -> None:
    """Outputs chained by previous_response_id give a new response quoting them; input_tokens include the past."""
    first = rsim.wait(rsim.create(input="What is 6 * 7?", tools=[CALCULATE], background=True)["id"])
    second = rsim.create(previous_response_id=first["id"], input=outputs_for(first), tools=[CALCULATE], background=True)
    assert second["id"] != first["id"] and second["status"] == "queued"
    assert second["previous_response_id"] == first["id"]
    rsim.clock.advance(0.5)
    assert rsim.get(second["id"])["status"] == "queued"  # a lifecycle of its own
    done = rsim.wait(second["id"])
    [message] = done["output"]
    assert message["type"] == "message" and message["content"][0]["text"] == "The result of calculate is 42."
    assert done["usage"]["input_tokens"] > first["usage"]["input_tokens"] + first["usage"]["output_tokens"]
    [item] = rsim.client.get(f"/responses/{second['id']}/input_items").json()["data"]
    assert item["type"] == "function_call_output" and item["id"].startswith("fco_") and item["output"] == "42"
    third = rsim.wait(
        rsim.create(previous_response_id=done["id"], input="And 2 * 2?", tools=[CALCULATE], background=True)["id"]
    )
    assert third["output"][0]["type"] == "function_call"  # a new user turn may call tools again


def test_long_chains_report_cached_tokens(rsim: RSim) -> None:
    """Once the earlier context passes 1024 tokens, part of it is reported as cached (in steps of 128)."""
    first = rsim.create(input="word " * 1200)
    second = rsim.create(previous_response_id=first["id"], input="Summarise that")
    details = second["usage"]["input_tokens_details"]
    assert first["usage"]["input_tokens_details"]["cached_tokens"] == 0
    assert details["cached_tokens"] > 1024 and details["cached_tokens"] % 128 == 0
    assert details["cached_tokens"] <= second["usage"]["input_tokens"]


def test_stateless_replay_of_calls_and_outputs(rsim: RSim) -> None:
    """Without a previous response, input may replay function_call items with their outputs."""
    first = rsim.create(input="What is 6 * 7?", tools=[CALCULATE])
    replay = [{"role": "user", "content": "What is 6 * 7?"}, *first["output"], *outputs_for(first, "42")]
    done = rsim.create(input=replay, tools=[CALCULATE])
    assert done["output"][0]["content"][0]["text"] == "The result of calculate is 42."


def test_unknown_previous_response_is_previous_response_not_found(rsim: RSim) -> None:
    """An unknown previous_response_id is the API's 400 previous_response_not_found."""
    error = rsim.error(
        "POST", "/responses", 400, json={"model": "m", "previous_response_id": "resp_nope", "input": "x"}
    )
    assert error == {
        "message": "Previous response with id 'resp_nope' not found.",
        "type": "invalid_request_error",
        "param": "previous_response_id",
        "code": "previous_response_not_found",
    }


def test_tool_output_errors_leave_no_trace(make_rsim: Callable[..., RSim]) -> None:
    """Unknown call ids and unanswered calls are 400s with the API's messages; nothing is created or counted."""
    sim = make_rsim(tpm=100_000)
    first = sim.create(input=BOTH_QUESTION, tools=BOTH)
    calls = [item["call_id"] for item in first["output"]]
    body = {"model": "m", "previous_response_id": first["id"], "tools": BOTH}
    before = sim.stats()
    tokens_before = sim.app.state.simulator.limiters.tokens_charged

    unknown = [*outputs_for(first), {"type": "function_call_output", "call_id": "call_nope", "output": "1"}]
    error = sim.error("POST", "/responses", 400, json={**body, "input": unknown})
    assert error["message"] == "No tool call found for function call output with call_id call_nope."
    assert error["type"] == "invalid_request_error"

    partial = outputs_for(first)[:1]
    error = sim.error("POST", "/responses", 400, json={**body, "input": partial})
    assert error["message"] == f"No tool output found for function call {calls[1]}."

    error = sim.error("POST", "/responses", 400, json={**body, "input": "just chat"})
    assert error["message"] == f"No tool output found for function call {calls[0]}."

    stray = [{"type": "function_call_output", "call_id": "call_x", "output": "1"}]
    error = sim.error("POST", "/responses", 400, json={"model": "m", "input": stray})
    assert error["message"] == "No tool call found for function call output with call_id call_x."

    after = sim.stats()
    assert after["responses_created"] == before["responses_created"] == 1
    assert sim.app.state.simulator.limiters.tokens_charged == tokens_before
    assert sim.create(previous_response_id=first["id"], input=outputs_for(first), tools=BOTH)["status"] == "completed"


def test_previous_response_still_running_cannot_be_continued(rsim: RSim) -> None:
    """Continuing a queued or in-progress response is a 400 on previous_response_id."""
    running = rsim.create(input="hello", background=True)
    error = rsim.error("POST", "/responses", 400, json={"model": "m", "previous_response_id": running["id"]})
    assert error["param"] == "previous_response_id"


def test_conversation_and_previous_response_are_mutually_exclusive(rsim: RSim) -> None:
    """conversation together with previous_response_id is a 400 naming the conversation."""
    first = rsim.create(input="hello")
    conversation = rsim.client.post("/conversations", json={}).json()
    body = {"model": "m", "previous_response_id": first["id"], "conversation": conversation["id"]}
    error = rsim.error("POST", "/responses", 400, json=body)
    assert error["param"] == "conversation" and "previous_response_id" in error["message"]
