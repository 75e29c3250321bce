"""RunStreams against a scripted SSE server over real HTTP: what open, follow and on_settled promise."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from batchrunner.api.errors import RateLimitedError, RequestRejectedError, RetryableError
from batchrunner.api.sse import Event, EventParser
from batchrunner.backend.assistants.streams import RunStreams
from batchrunner.testing.payloads import run_payload
from batchrunner.testing.processes import free_port

TEMPLATE = "/threads/{thread_id}/runs"
IDS = {"thread_id": "thread_1"}


def _event(name: str, data: Any) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return f"event: {name}\ndata: {text}\n\n".encode()


def _run(status: str) -> dict[str, Any]:
    return run_payload("run_1", status=status)


class Script:
    """What the server answers next; ``release`` lets a held stream go on."""

    def __init__(self) -> None:
        self.respond: Callable[[dict[str, Any]], Response] = lambda body: JSONResponse(_run("queued"))
        self.release = threading.Event()
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    def stream(self, *chunks: bytes, hold_after: int | None = None) -> None:
        """Answer with these events; with ``hold_after``, wait for ``release`` after that many."""

        async def events() -> AsyncIterator[bytes]:
            for index, chunk in enumerate(chunks):
                if hold_after is not None and index == hold_after:
                    while not self.release.is_set():
                        await _sleep(0.02)
                yield chunk

        self.respond = lambda body: StreamingResponse(events(), media_type="text/event-stream")


async def _sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


@contextmanager
def scripted_server(script: Script) -> Iterator[str]:
    async def create_run(request: Request) -> Response:
        body = await request.json()
        script.bodies.append(body)
        script.headers.append(dict(request.headers))
        return script.respond(body)

    app = Starlette(routes=[Route("/v1/threads/{thread_id}/runs", create_run, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "scripted server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        script.release.set()
        server.should_exit = True
        thread.join(timeout=10)


class Settled:
    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []
        self.arrived = threading.Event()

    def __call__(self, job_id: int, run_id: str) -> None:
        self.calls.append((job_id, run_id))
        self.arrived.set()


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def settled() -> Settled:
    return Settled()


@pytest.fixture
def streams(script: Script, settled: Settled) -> Iterator[RunStreams]:
    with scripted_server(script) as base_url:
        hub = RunStreams(base_url, "sk-stream-secret", max_streams=2, on_settled=settled, timeout=5)
        try:
            yield hub
        finally:
            hub.close()


def _wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_parser_builds_events_from_lines() -> None:
    parser = EventParser()
    lines = [": keep-alive", "", "event: thread.run.created", "data: {\"a\":", "data: 1}", "", "data: x", ""]
    events = [event for line in lines if (event := parser.feed(line)) is not None]
    assert events == [Event("thread.run.created", '{"a":\n1}'), Event("message", "x")]


def test_open_returns_the_first_run_and_a_followed_job_is_woken_when_the_run_ends(
    streams: RunStreams, script: Script, settled: Settled
) -> None:
    script.stream(
        _event("thread.run.created", _run("queued")),
        _event("thread.run.in_progress", _run("in_progress")),
        _event("thread.run.completed", _run("completed")),
        _event("done", "[DONE]"),
        hold_after=2,
    )
    response = streams.open(TEMPLATE, IDS, {"assistant_id": "asst_1"})
    assert response is not None and response.data.id == "run_1" and response.data.status == "queued"
    assert script.bodies == [{"assistant_id": "asst_1", "stream": True}]
    assert script.headers[0]["openai-beta"] == "assistants=v2"
    assert streams.follow("run_1", 42) and streams.is_following("run_1")
    time.sleep(0.2)
    assert settled.calls == [], "the run has not ended yet"
    script.release.set()
    assert settled.arrived.wait(5)
    assert settled.calls == [(42, "run_1")]
    _wait_until(lambda: streams.open_count == 0)
    assert not streams.is_following("run_1")


def test_a_stream_that_settles_before_follow_says_so(streams: RunStreams, script: Script, settled: Settled) -> None:
    script.stream(_event("thread.run.created", _run("queued")), _event("thread.run.failed", _run("failed")))
    assert streams.open(TEMPLATE, IDS, {}) is not None
    _wait_until(lambda: streams.open_count == 0)
    assert not streams.follow("run_1", 7), "the caller must look at the run itself"
    assert settled.calls == []


def test_requires_action_hands_the_job_back(streams: RunStreams, script: Script, settled: Settled) -> None:
    script.stream(
        _event("thread.run.created", _run("queued")),
        _event("thread.run.requires_action", _run("requires_action")),
        _event("thread.run.completed", _run("completed")),
        hold_after=1,
    )
    assert streams.open(TEMPLATE, IDS, {}) is not None
    assert streams.follow("run_1", 3)
    script.release.set()
    assert settled.arrived.wait(5) and settled.calls == [(3, "run_1")]


def test_a_broken_stream_hands_the_job_back_to_polling(streams: RunStreams, script: Script, settled: Settled) -> None:
    script.stream(_event("thread.run.created", _run("queued")), b"event: thread.run.in_progress\n", hold_after=1)
    assert streams.open(TEMPLATE, IDS, {}) is not None
    assert streams.follow("run_1", 5)
    script.release.set()  # the server then ends the response without a final status
    assert settled.arrived.wait(5) and settled.calls == [(5, "run_1")]


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (429, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
         RateLimitedError),
        (400, {"error": {"message": "No assistant found", "type": "invalid_request_error", "code": None}},
         RequestRejectedError),
        (503, {"error": {"message": "overloaded", "type": "server_error", "code": None}}, RetryableError),
    ],
)
def test_an_error_answer_raises_like_a_plain_request(
    streams: RunStreams, script: Script, status: int, body: dict[str, Any], error: type[Exception]
) -> None:
    script.respond = lambda _: JSONResponse(body, status_code=status)
    with pytest.raises(error) as raised:
        streams.open(TEMPLATE, IDS, {})
    assert "sk-stream-secret" not in str(raised.value)
    _wait_until(lambda: streams.open_count == 0)


def test_a_stream_with_no_run_event_is_an_unclear_outcome(streams: RunStreams, script: Script) -> None:
    script.stream(b": nothing\n\n", _event("done", "[DONE]"))
    with pytest.raises(RetryableError, match="before any run event"):
        streams.open(TEMPLATE, IDS, {})


def test_a_server_that_ignores_stream_answers_with_the_run(streams: RunStreams, script: Script) -> None:
    script.respond = lambda _: JSONResponse(_run("in_progress"))
    response = streams.open(TEMPLATE, IDS, {})
    assert response is not None and response.data.status == "in_progress"
    _wait_until(lambda: streams.open_count == 0)
    assert not streams.follow("run_1", 1)


def test_open_returns_none_when_every_stream_is_taken(streams: RunStreams, script: Script) -> None:
    script.stream(_event("thread.run.created", _run("queued")), _event("done", "[DONE]"), hold_after=1)
    assert streams.open(TEMPLATE, IDS, {}) is not None
    assert streams.open(TEMPLATE, IDS, {}) is not None
    assert streams.open_count == 2
    assert streams.open(TEMPLATE, IDS, {}) is None
    script.release.set()
    _wait_until(lambda: streams.open_count == 0)
    assert streams.open(TEMPLATE, IDS, {}) is not None


def test_a_refused_connection_is_retryable(settled: Settled) -> None:
    hub = RunStreams(f"http://127.0.0.1:{free_port()}/v1", None, max_streams=1, on_settled=settled, timeout=2)
    try:
        with pytest.raises(RetryableError):
            hub.open(TEMPLATE, IDS, {})
        assert hub.open_count == 0
    finally:
        hub.close()


def test_close_drops_open_streams_without_waking_their_jobs(script: Script, settled: Settled) -> None:
    script.stream(_event("thread.run.created", _run("queued")), _event("done", "[DONE]"), hold_after=1)
    with scripted_server(script) as base_url:
        hub = RunStreams(base_url, None, max_streams=4, on_settled=settled, timeout=5)
        assert hub.open(TEMPLATE, IDS, {}) is not None
        assert hub.follow("run_1", 9)
        hub.close()
        assert hub.open(TEMPLATE, IDS, {}) is None
    assert settled.calls == [], "a closing worker leaves its jobs to their fallback wake-ups"
