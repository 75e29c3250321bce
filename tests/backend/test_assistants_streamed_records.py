"""AssistantsBackend over streams: a run whose whole life was streamed is recorded from its events alone.

A scripted SSE server answers the streamed creates and submits over real HTTP; plain requests (looks,
step and message lists) go to a recording in-memory transport, so each test counts what was not streamed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from batchrunner.api.object_streams import ObjectStreams
from batchrunner.backend.assistants.adapter import AssistantsBackend
from batchrunner.backend.assistants.client import AssistantsClient
from batchrunner.backend.base import Handle, MessageRecord, StepRecord
from batchrunner.jobs import JobSpec
from batchrunner.testing.payloads import run_payload
from batchrunner.testing.processes import wait_until
from tests.api.sse_script import Script, Settled, scripted_server, sse_event

JOB = JobSpec(1, "ticket-1", "asst_1", None, None, {})
TAG = "b:ticket-1:1"
CALL = {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
USAGE = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}


def _run(status: str, **fields: Any) -> bytes:
    return sse_event(f"thread.run.{status}", run_payload(status=status, **fields))


def _created() -> bytes:
    return sse_event("thread.run.created", run_payload(status="queued"))


def _step(step_id: str, status: str, details: dict[str, Any], **fields: Any) -> bytes:
    step = {
        "id": step_id,
        "object": "thread.run.step",
        "created_at": 1_700_000_001 if step_id == "step_1" else 1_700_000_002,
        "run_id": "run_1",
        "thread_id": "thread_1",
        "type": details["type"],
        "status": status,
        "step_details": details,
        "usage": USAGE if status == "completed" else None,
        **fields,
    }
    return sse_event(f"thread.run.step.{status}", step)


def _message_step(status: str) -> bytes:
    return _step("step_2", status, {"type": "message_creation", "message_creation": {"message_id": "msg_1"}})


def _tool_step(status: str) -> bytes:
    output = "2" if status == "completed" else None
    return _step("step_1", status, {"type": "tool_calls", "tool_calls": [{**CALL, "output": output}]})


def _message(status: str, text: str = "") -> bytes:
    content = [{"type": "text", "text": {"value": text, "annotations": []}}] if text else []
    message = {
        "id": "msg_1",
        "object": "thread.message",
        "created_at": 1_700_000_002,
        "thread_id": "thread_1",
        "run_id": "run_1",
        "status": status,
        "role": "assistant",
        "content": content,
    }
    return sse_event(f"thread.message.{status}", message)


def _answer_events() -> list[bytes]:
    return [
        _message_step("created"),
        _message("created"),
        sse_event("thread.message.delta", {"id": "msg_1", "delta": {"content": []}}),
        _message("completed", "The answer is 2."),
        _message_step("completed"),
        _run("completed", usage=USAGE, completed_at=1_700_000_003),
        sse_event("done", "[DONE]"),
    ]


class PlainRequests:
    """The sync client's transport: records each plain request; lists answer empty, a look the completed run."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.url.path.endswith(("/steps", "/messages")):
            return httpx.Response(200, json={"object": "list", "data": [], "has_more": False})
        return httpx.Response(200, json=run_payload(status="completed", usage=USAGE, completed_at=1_700_000_003))


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def plain() -> PlainRequests:
    return PlainRequests()


@pytest.fixture
def hub(script: Script) -> Iterator[tuple[ObjectStreams, str]]:
    with scripted_server(script) as base_url:
        streams = ObjectStreams(base_url, "sk-test", max_streams=2, on_settled=Settled(), timeout=5)
        try:
            yield streams, base_url
        finally:
            streams.close()


def _backend(hub: tuple[ObjectStreams, str], plain: PlainRequests) -> AssistantsBackend:
    streams, base_url = hub
    return AssistantsBackend(AssistantsClient(base_url, "sk-test", transport=httpx.MockTransport(plain)), streams)


def _settled(hub: tuple[ObjectStreams, str]) -> None:
    wait_until(lambda: hub[0].open_count == 0, timeout=5, interval=0.01)


def test_a_run_streamed_from_creation_to_its_end_carries_its_steps_and_messages(
    hub: tuple[ObjectStreams, str], script: Script, plain: PlainRequests
) -> None:
    """No look, no list: the run, its step (completed, with usage) and its message come from the events."""
    script.stream(_created(), _run("in_progress"), *_answer_events())
    backend = _backend(hub, plain)
    started = backend.start(JOB, "thread_1", TAG)
    assert started.streamed
    _settled(hub)
    handle = Handle("run_1", "thread_1", "1/0")
    assert backend.look_is_free(handle)
    done = backend.look(handle)
    assert done.is_done and done.usage is not None and done.usage.total_tokens == 14
    assert done.details is not None and [d.step_id for d in done.details if isinstance(d, StepRecord)] == ["step_2"]
    (step,) = done.details
    assert isinstance(step, StepRecord) and step.status == "completed" and step.usage is not None
    text = {"type": "text", "text": {"value": "The answer is 2.", "annotations": []}}
    assert done.messages == (MessageRecord("msg_1", "assistant", "The answer is 2.", [text], step.created_at),)
    assert backend.collect_requests(done, details_stored=False) == 0
    assert plain.paths == []


def test_a_tool_round_answered_over_a_second_stream_in_the_same_process_is_recorded_from_both(
    hub: tuple[ObjectStreams, str], script: Script, plain: PlainRequests
) -> None:
    """The wait for tool outputs is answered from the first stream, the end and every step from both."""
    action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [CALL]}}
    script.stream(
        _created(), _tool_step("created"), _tool_step("in_progress"), _run("requires_action", required_action=action)
    )
    backend = _backend(hub, plain)
    backend.start(JOB, "thread_1", TAG)
    backend.follow("run_1", 1, "1/0")  # as the processor does once the run id is committed
    _settled(hub)
    assert not backend.look_is_free(Handle("run_1", "thread_1", "1/1")), "a copy for another round is stale"
    waiting = backend.look(Handle("run_1", "thread_1", "1/0"))
    assert waiting.needs_tool_outputs and [call.call_id for call in waiting.tool_calls] == ["call_1"]

    script.stream(_tool_step("completed"), _run("queued"), _run("in_progress"), *_answer_events())
    after = backend.continue_with_tool_outputs(waiting, JOB, TAG, [("call_1", "2")])
    assert after.streamed
    backend.follow("run_1", 1, "1/1")
    _settled(hub)
    done = backend.look(Handle("run_1", "thread_1", "1/1"))
    assert done.is_done and done.details is not None and done.messages is not None
    steps = [d for d in done.details if isinstance(d, StepRecord)]
    assert [(s.step_id, s.type, s.status) for s in steps] == [
        ("step_1", "tool_calls", "completed"),
        ("step_2", "message_creation", "completed"),
    ]
    assert [m.text for m in done.messages] == ["The answer is 2."]
    assert plain.paths == [], "no look and no list: thread, run and submit were the only requests"


def test_the_answer_stream_alone_is_not_the_whole_run_so_its_steps_and_messages_are_listed(
    hub: tuple[ObjectStreams, str], script: Script, plain: PlainRequests
) -> None:
    """Another process saw the first turn: what this one streamed after the answer may miss earlier steps."""
    script.stream(_tool_step("completed"), _run("in_progress"), *_answer_events())
    backend = _backend(hub, plain)
    waiting = backend.look(Handle("run_1", "thread_1"))  # a plain look (the mock answers completed)
    after = backend.continue_with_tool_outputs(waiting, JOB, TAG, [("call_1", "2")])
    assert after.streamed
    _settled(hub)
    done = backend.look(Handle("run_1", "thread_1", "1/1"))
    assert done.is_done and done.details is None and done.messages is None
    assert backend.collect_requests(done, details_stored=False) == 2
    backend.fetch_details(done)
    backend.fetch_messages(done)
    assert plain.paths[-2:] == ["/v1/threads/thread_1/runs/run_1/steps", "/v1/threads/thread_1/messages"]


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([_created(), _run("completed", usage=USAGE, completed_at=1_700_000_003)], id="no-step-events"),
        pytest.param(
            [_created(), _message_step("completed"), _run("completed", usage=USAGE, completed_at=1_700_000_003)],
            id="step-without-its-message",
        ),
        pytest.param(
            [_created(), sse_event("thread.run.step.completed", {"id": "step_2"}), *_answer_events()],
            id="invalid-step-event",
        ),
    ],
)
def test_a_stream_that_shows_less_than_the_api_documents_falls_back_to_the_lists(
    hub: tuple[ObjectStreams, str], script: Script, plain: PlainRequests, events: list[bytes]
) -> None:
    """A server that streams fewer or broken step and message events never leaves a run's records short."""
    script.stream(*events)
    backend = _backend(hub, plain)
    backend.start(JOB, "thread_1", TAG)
    _settled(hub)
    done = backend.look(Handle("run_1", "thread_1", "1/0"))
    assert done.is_done and plain.paths == [], "the run itself still comes from the stream"
    assert done.details is None and done.messages is None
    assert backend.collect_requests(done, details_stored=False) == 2
