"""ResponsesBackend over streams: a background stream per response, its final event recorded without a look.

A scripted SSE server answers the streamed creates over real HTTP; plain requests (looks, creates when
no stream is free) go to a recording in-memory transport, so each test counts what was not streamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from batchrunner.api.object_streams import ObjectStreams
from batchrunner.backend.base import Handle
from batchrunner.backend.responses.adapter import ResponsesBackend
from batchrunner.backend.responses.client import ResponsesClient
from batchrunner.jobs import BackendName, JobSpec
from batchrunner.states import JobState, Phase
from batchrunner.testing.processes import wait_until
from tests.api.sse_script import Script, Settled, scripted_server, sse_event
from tests.backend.responses.conftest import function_call_item, message_item, response_payload, usage_payload

JOB = JobSpec(
    1, "ticket-1", "", None, None, {}, backend=BackendName.RESPONSES, request={"model": "gpt-4o", "input": "Hi"}
)


def _lifecycle(kind: str, status: str, number: int, **fields: Any) -> bytes:
    response = response_payload(status, background=True, **fields)
    return sse_event(kind, {"type": kind, "sequence_number": number, "response": response})


def _completed(number: int = 2, **fields: Any) -> bytes:
    fields.setdefault("output", [message_item("Hi there!")])
    return _lifecycle("response.completed", "completed", number, usage=usage_payload(12, 3), **fields)


class PlainRequests:
    """The sync client's transport: records each plain request and answers with ``answer``."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answer: dict[str, Any] = response_payload("completed", output=[message_item("from a look")])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=self.answer)


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def settled() -> Settled:
    return Settled()


@pytest.fixture
def plain() -> PlainRequests:
    return PlainRequests()


@pytest.fixture
def hub(script: Script, settled: Settled) -> Iterator[tuple[ObjectStreams, str]]:
    with scripted_server(script) as base_url:
        streams = ObjectStreams(base_url, "sk-test", max_streams=1, on_settled=settled, timeout=5)
        try:
            yield streams, base_url
        finally:
            streams.close()


@pytest.fixture
def backend(hub: tuple[ObjectStreams, str], plain: PlainRequests) -> Iterator[ResponsesBackend]:
    streams, base_url = hub
    client = ResponsesClient(base_url, "sk-test", transport=httpx.MockTransport(plain))
    try:
        yield ResponsesBackend(client, streams)
    finally:
        client.close()


def test_a_streamed_response_is_followed_and_its_final_event_is_the_look(
    backend: ResponsesBackend, script: Script, settled: Settled, plain: PlainRequests
) -> None:
    script.stream(
        _lifecycle("response.queued", "queued", 0, completed_at=None),
        _lifecycle("response.in_progress", "in_progress", 1, completed_at=None),
        _completed(),
        hold_after=1,
    )
    snapshot = backend.start(JOB, None, "b:ticket-1:1")
    assert snapshot.streamed and snapshot.status == "queued" and snapshot.phase is Phase.WORKING
    assert script.bodies[0]["stream"] is True and script.bodies[0]["background"] is True
    assert script.bodies[0]["store"] is True
    assert backend.follow("resp_1", 7) and backend.is_followed("resp_1")
    script.release.set()
    assert settled.arrived.wait(5) and settled.calls == [(7, "resp_1")]
    done = backend.look(Handle("resp_1"))
    assert done.outcome is JobState.SUCCEEDED and done.usage is not None and done.usage.total_tokens == 15
    assert [message.text for message in done.messages or ()] == ["Hi there!"]
    assert plain.requests == [], "the final event carried the whole response: no retrieval"
    backend.look(Handle("resp_1"))
    assert len(plain.requests) == 1, "the stream's copy serves one look; later ones ask the API"


def test_a_stream_that_ends_with_an_error_event_hands_back_to_a_look(
    backend: ResponsesBackend, script: Script, settled: Settled, plain: PlainRequests
) -> None:
    error = {"type": "error", "code": "server_error", "message": "boom", "param": None, "sequence_number": 1}
    queued = _lifecycle("response.queued", "queued", 0, completed_at=None)
    script.stream(queued, sse_event("error", error), hold_after=1)
    backend.start(JOB, None, "b:ticket-1:1")
    assert backend.follow("resp_1", 3)
    script.release.set()
    assert settled.arrived.wait(5) and settled.calls == [(3, "resp_1")]
    done = backend.look(Handle("resp_1"))
    assert [request.url.path for request in plain.requests] == ["/v1/responses/resp_1"]
    assert [message.text for message in done.messages or ()] == ["from a look"]


def test_a_final_event_without_output_is_not_believed(
    backend: ResponsesBackend, script: Script, plain: PlainRequests, hub: tuple[ObjectStreams, str]
) -> None:
    final = response_payload("completed", background=True, usage=usage_payload(12, 3))
    del final["output"]
    script.stream(
        _lifecycle("response.queued", "queued", 0, completed_at=None),
        sse_event("response.completed", {"type": "response.completed", "sequence_number": 1, "response": final}),
    )
    backend.start(JOB, None, "b:ticket-1:1")
    wait_until(lambda: hub[0].open_count == 0, timeout=5, interval=0.01)
    backend.look(Handle("resp_1"))
    assert len(plain.requests) == 1, "a copy without its output would record an empty answer"


def test_a_tool_round_continuation_is_streamed_too(
    backend: ResponsesBackend, script: Script, hub: tuple[ObjectStreams, str], plain: PlainRequests
) -> None:
    call = function_call_item("call_1", "get_time", "{}")
    script.stream(_lifecycle("response.queued", "queued", 0, completed_at=None), _completed(1, output=[call]))
    first = backend.start(JOB, None, "b:ticket-1:1")
    wait_until(lambda: hub[0].open_count == 0, timeout=5, interval=0.01)
    ended = backend.look(first.handle)
    assert ended.phase is Phase.NEEDS_TOOL_OUTPUTS and [c.call_id for c in ended.tool_calls] == ["call_1"]
    script.stream(_lifecycle("response.queued", "queued", 0, completed_at=None, id="resp_2"))
    second = backend.continue_with_tool_outputs(ended, JOB, "b:ticket-1:1", [("call_1", "12:00")])
    assert second.streamed and second.object_id == "resp_2"
    body = script.bodies[1]
    assert body["previous_response_id"] == "resp_1" and body["stream"] is True
    assert body["input"] == [{"type": "function_call_output", "call_id": "call_1", "output": "12:00"}]
    assert plain.requests == []


def test_with_every_stream_taken_the_create_is_a_plain_request(
    backend: ResponsesBackend, script: Script, plain: PlainRequests
) -> None:
    script.stream(_lifecycle("response.queued", "queued", 0, completed_at=None), _completed(), hold_after=1)
    assert backend.start(JOB, None, "b:ticket-1:1").streamed
    plain.answer = response_payload("queued", background=True, id="resp_9", completed_at=None)
    snapshot = backend.start(JOB, None, "b:ticket-1:2")
    assert not snapshot.streamed and snapshot.object_id == "resp_9"
    sent = json.loads(plain.requests[0].content)
    assert "stream" not in sent and sent["background"] is True
    assert not backend.follow("resp_9", 1), "a plain create has no stream to follow"
