"""Both backends read the API's objects into the neutral seam the same way: phase, outcome, handle, records."""

from __future__ import annotations

from typing import Any

import pytest

from batchrunner.api.models import ApiResponse, ResponseMeta
from batchrunner.backend.assistants.adapter import snapshot_of as run_snapshot
from batchrunner.backend.assistants.models import Run
from batchrunner.backend.base import OutputItemRecord
from batchrunner.backend.responses.adapter import continuation_body, create_body
from batchrunner.backend.responses.adapter import snapshot_of as response_snapshot
from batchrunner.backend.responses.models import Response
from batchrunner.jobs import BackendName
from batchrunner.states import JobState, Phase
from batchrunner.testing.harness import job
from batchrunner.testing.payloads import run_payload
from batchrunner.tokens import estimate_run_tokens

_META = ResponseMeta(status_code=200, poll_after_ms=None, rate_limit=None, request_id="req_1")


def _response(**fields: Any) -> ApiResponse[Response]:
    return ApiResponse(data=Response.model_validate({"id": "resp_1", "object": "response", **fields}), meta=_META)


def _call(call_id: str = "call_1") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": "fc_1",
        "call_id": call_id,
        "name": "calculate",
        "arguments": '{"expression": "6 * 7"}',
        "status": "completed",
    }


def _message(text: str = "42") -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


_USAGE = {
    "input_tokens": 10,
    "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
    "output_tokens": 5,
    "output_tokens_details": {"reasoning_tokens": 2},
    "total_tokens": 15,
}


@pytest.mark.parametrize(
    ("fields", "phase", "outcome"),
    [
        ({"status": "queued"}, Phase.WORKING, None),
        ({"status": "in_progress"}, Phase.WORKING, None),
        ({"status": "paused_for_review"}, Phase.WORKING, None),
        ({}, Phase.WORKING, None),
        ({"status": "completed", "output": [_message()]}, Phase.DONE, JobState.SUCCEEDED),
        ({"status": "completed", "output": [_call()]}, Phase.NEEDS_TOOL_OUTPUTS, JobState.SUCCEEDED),
        ({"status": "incomplete", "output": [{**_call(), "status": "incomplete"}]}, Phase.DONE, JobState.INCOMPLETE),
        ({"status": "failed", "error": {"code": "server_error", "message": "x"}}, Phase.DONE, JobState.FAILED),
        ({"status": "cancelled"}, Phase.DONE, JobState.CANCELLED),
    ],
)
def test_response_statuses_map_to_phases(fields: dict[str, Any], phase: Phase, outcome: JobState | None) -> None:
    """Statuses the code does not know (or a missing one) keep the job working; a partial call is never run."""
    snapshot = response_snapshot(_response(**fields))
    assert (snapshot.phase, snapshot.outcome) == (phase, outcome)
    assert snapshot.needs_tool_outputs == (phase is Phase.NEEDS_TOOL_OUTPUTS)
    assert snapshot.ended == (outcome is not None)


@pytest.mark.parametrize(
    ("code", "retryable"),
    [("server_error", True), ("rate_limit_exceeded", True), ("invalid_prompt", False), ("some_future_code", False)],
)
def test_only_server_and_rate_limit_failures_earn_a_new_attempt(code: str, retryable: bool) -> None:
    """A failed response is retried as a new attempt only for server_error and rate_limit_exceeded."""
    snapshot = response_snapshot(_response(status="failed", error={"code": code, "message": "m"}))
    assert snapshot.retryable is retryable and snapshot.error_code == code


def test_a_finished_response_carries_its_items_messages_and_usage() -> None:
    """Output items (unknown types too), the message text and the usage details come with the snapshot."""
    reasoning = {"type": "reasoning", "id": "rs_1", "summary": [], "brand_new_field": 1}
    snapshot = response_snapshot(
        _response(
            status="completed",
            created_at=1_700_000_000,
            completed_at=1_700_000_004,
            usage=_USAGE,
            output=[reasoning, _message("forty-two")],
        )
    )
    assert snapshot.details is not None and snapshot.messages is not None
    assert [(d.position, d.type) for d in snapshot.details if isinstance(d, OutputItemRecord)] == [
        (0, "reasoning"),
        (1, "message"),
    ]
    assert snapshot.details[0].item["brand_new_field"] == 1  # type: ignore[union-attr]
    assert [(m.message_id, m.text) for m in snapshot.messages] == [("msg_1", "forty-two")]
    assert snapshot.usage is not None
    assert (snapshot.usage.total_tokens, snapshot.usage.cached_tokens, snapshot.usage.reasoning_tokens) == (15, 4, 2)
    assert snapshot.finished_at is not None and snapshot.created_at is not None
    assert (snapshot.finished_at - snapshot.created_at).total_seconds() == 4


def test_a_response_in_flight_carries_nothing_to_record_yet() -> None:
    """While a response works, details and messages are unknown (None), not empty."""
    snapshot = response_snapshot(_response(status="in_progress", output=[_message("partial")]))
    assert snapshot.details is None and snapshot.messages is None


def test_run_statuses_the_code_does_not_know_are_not_terminal() -> None:
    """An Assistants run with a new status keeps its job working (it used to fail it)."""
    run = Run.model_validate(run_payload(status="thinking_hard"))
    snapshot = run_snapshot(run)
    assert snapshot.phase is Phase.WORKING and not snapshot.ended
    assert run_snapshot(Run.model_validate(run_payload(status="cancelling"))).cancelling


def test_the_create_body_is_background_stored_and_tagged() -> None:
    """A job's request goes out as a stored background response carrying the attempt's tag and its own metadata."""
    spec = job("j", backend=BackendName.RESPONSES, params={"metadata": {"team": "ops"}})
    body = create_body(spec, "batch/j#1")
    assert (body["background"], body["store"]) == (True, True)
    assert body["metadata"] == {"team": "ops", "batchrunner_job": "batch/j#1"}
    assert body["input"] and body["model"] and body["instructions"]


def test_a_continuation_resends_settings_and_chains_to_the_previous_response() -> None:
    """Tool outputs go in a new response chained by id, with instructions and tools sent again."""
    spec = job("j", assistant_id="asst_math", backend=BackendName.RESPONSES)
    body = continuation_body(spec, "batch/j#1", "resp_prev", [("call_1", "42"), ("call_2", "7")])
    assert body["previous_response_id"] == "resp_prev" and "conversation" not in body
    assert body["input"] == [
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        {"type": "function_call_output", "call_id": "call_2", "output": "7"},
    ]
    assert body["instructions"] == spec.request["instructions"]  # type: ignore[index]
    assert body["tools"] == spec.request["tools"]  # type: ignore[index]
    assert body["metadata"]["batchrunner_job"] == "batch/j#1"


def test_a_continuation_on_a_conversation_names_the_conversation_not_the_response() -> None:
    """On an existing conversation the pending calls are its items: the next response names the conversation."""
    spec = job(
        "j",
        assistant_id="asst_math",
        backend=BackendName.RESPONSES,
        thread_id="conv_1",
        params={"additional_messages": [{"role": "user", "content": "What is 2 + 2?"}]},
    )
    body = continuation_body(spec, "batch/j#1", "resp_prev", [("call_1", "4")])
    assert body["conversation"] == "conv_1" and "previous_response_id" not in body


def test_token_estimates_read_the_responses_request() -> None:
    """The budget's estimate for a Responses job counts its input and instructions and its output cap."""
    text = "x" * 400
    spec = job("j", backend=BackendName.RESPONSES, text=text, params={"max_completion_tokens": 300})
    assert spec.request is not None
    instructions = len(spec.request.get("instructions") or "")
    assert estimate_run_tokens(spec) == 100 + -(-instructions // 4) + 300


def test_plain_text_parts_of_other_servers_count_as_output() -> None:
    """A message part sent as {"type": "text"} (not the official output_text) still yields the output text."""
    message = {"type": "message", "id": "msg-1", "role": "assistant", "content": [{"type": "text", "text": "hi"}]}
    snapshot = response_snapshot(
        _response(status="completed", output=[message], usage={"input_tokens": 1, "output_tokens": 1})
    )
    assert snapshot.messages is not None and [m.text for m in snapshot.messages] == ["hi"]
    assert snapshot.usage is not None and snapshot.usage.total_tokens == 2
