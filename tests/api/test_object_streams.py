"""ObjectStreams with the Assistants run dialect, against a scripted SSE server over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.responses import JSONResponse

from batchrunner.api.errors import RateLimitedError, RequestRejectedError, RetryableError
from batchrunner.api.object_streams import ObjectStreams
from batchrunner.api.sse import Event, EventParser
from batchrunner.backend.assistants.streams import RUN_STREAMS
from batchrunner.testing.payloads import run_payload
from batchrunner.testing.processes import free_port, wait_until
from tests.api.sse_script import Script, Settled, scripted_server, sse_event

TEMPLATE = "/threads/{thread_id}/runs"
IDS = {"thread_id": "thread_1"}


_event = sse_event


def _run(status: str) -> dict[str, Any]:
    return run_payload("run_1", status=status)


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def settled() -> Settled:
    return Settled()


@pytest.fixture
def streams(script: Script, settled: Settled) -> Iterator[ObjectStreams]:
    with scripted_server(script) as base_url:
        hub = ObjectStreams(base_url, "sk-stream-secret", max_streams=2, on_settled=settled, timeout=5)
        try:
            yield hub
        finally:
            hub.close()


def test_parser_builds_events_from_lines() -> None:
    parser = EventParser()
    lines = [": keep-alive", "", "event: thread.run.created", 'data: {"a":', "data: 1}", "", "data: x", ""]
    events = [event for line in lines if (event := parser.feed(line)) is not None]
    assert events == [Event("thread.run.created", '{"a":\n1}'), Event("message", "x")]


def test_open_returns_the_first_run_and_a_followed_job_is_woken_when_the_run_ends(
    streams: ObjectStreams, script: Script, settled: Settled
) -> None:
    script.stream(
        _event("thread.run.created", _run("queued")),
        _event("thread.run.in_progress", _run("in_progress")),
        _event("thread.run.completed", _run("completed")),
        _event("done", "[DONE]"),
        hold_after=2,
    )
    response = streams.open(RUN_STREAMS, TEMPLATE, IDS, {"assistant_id": "asst_1"})
    assert response is not None and response.data.id == "run_1" and response.data.status == "queued"
    assert script.bodies == [{"assistant_id": "asst_1", "stream": True}]
    assert script.headers[0]["openai-beta"] == "assistants=v2"
    assert streams.follow("run_1", 42) and streams.is_following("run_1")
    time.sleep(0.2)
    assert settled.calls == [], "the run has not ended yet"
    script.release.set()
    assert settled.arrived.wait(5)
    assert settled.calls == [(42, "run_1")]
    wait_until(lambda: streams.open_count == 0, timeout=5, interval=0.01)
    assert not streams.is_following("run_1")


def test_a_stream_that_settles_before_follow_says_so(streams: ObjectStreams, script: Script, settled: Settled) -> None:
    script.stream(_event("thread.run.created", _run("queued")), _event("thread.run.failed", _run("failed")))
    assert streams.open(RUN_STREAMS, TEMPLATE, IDS, {}) is not None
    wait_until(lambda: streams.open_count == 0, timeout=5, interval=0.01)
    assert not streams.follow("run_1", 7), "the caller must look at the run itself"
    assert settled.calls == []


def test_requires_action_hands_the_job_back(streams: ObjectStreams, script: Script, settled: Settled) -> None:
    script.stream(
        _event("thread.run.created", _run("queued")),
        _event("thread.run.requires_action", _run("requires_action")),
        _event("thread.run.completed", _run("completed")),
        hold_after=1,
    )
    assert streams.open(RUN_STREAMS, TEMPLATE, IDS, {}) is not None
    assert streams.follow("run_1", 3)
    script.release.set()
    assert settled.arrived.wait(5) and settled.calls == [(3, "run_1")]


def test_a_broken_stream_hands_the_job_back_to_polling(
    streams: ObjectStreams, script: Script, settled: Settled
) -> None:
    script.stream(_event("thread.run.created", _run("queued")), b"event: thread.run.in_progress\n", hold_after=1)
    assert streams.open(RUN_STREAMS, TEMPLATE, IDS, {}) is not None
    assert streams.follow("run_1", 5)
    script.release.set()  # the server then ends the response without a final status
    assert settled.arrived.wait(5) and settled.calls == [(5, "run_1")]


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            429,
            {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
            RateLimitedError,
        ),
        (
            400,
            {"error": {"message": "No assistant found", "type": "invalid_request_error", "code": None}},
            RequestRejectedError,
        ),
        (503, {"error": {"message": "overloaded", "type": "server_error", "code": None}}, RetryableError),
    ],
)
def test_an_error_answer_raises_like_a_plain_request(
    streams: ObjectStreams, script: Script, status: int, body: dict[str, Any], error: type[Exception]
) -> None:
    script.respond = lambda _: JSONResponse(body, status_code=status)
    with pytest.raises(error) as raised:
        streams.open(RUN_STREAMS, TEMPLATE, IDS, {})
    assert "sk-stream-secret" not in str(raised.value)
    wait_until(lambda: streams.open_count == 0, timeout=5, interval=0.01)


def test_a_stream_with_no_run_event_is_an_unclear_outcome(streams: ObjectStreams, script: Script) -> None:
    script.stream(b": nothing\n\n", _event("done", "[DONE]"))
    with pytest.raises(RetryableError, match="before any object event"):
        streams.open(RUN_STREAMS, TEMPLATE, IDS, {})


def test_a_server_that_ignores_stream_answers_with_the_run(streams: ObjectStreams, script: Script) -> None:
    script.respond = lambda _: JSONResponse(_run("in_progress"))
    response = streams.open(RUN_STREAMS, TEMPLATE, IDS, {})
    assert response is not None and response.data.status == "in_progress"
    wait_until(lambda: streams.open_count == 0, timeout=5, interval=0.01)
    assert not streams.follow("run_1", 1)


def test_open_returns_none_when_every_stream_is_taken(streams: ObjectStreams, script: Script) -> None:
    script.stream(_event("thread.run.created", _run("queued")), _event("done", "[DONE]"), hold_after=1)
    assert streams.open(RUN_STREAMS, TEMPLATE, IDS, {}) is not None
    assert streams.open(RUN_STREAMS, TEMPLATE, IDS, {}) is not None
    assert streams.open_count == 2
    assert streams.open(RUN_STREAMS, TEMPLATE, IDS, {}) is None
    script.release.set()
    wait_until(lambda: streams.open_count == 0, timeout=5, interval=0.01)
    assert streams.open(RUN_STREAMS, TEMPLATE, IDS, {}) is not None


def test_a_refused_connection_is_retryable(settled: Settled) -> None:
    hub = ObjectStreams(f"http://127.0.0.1:{free_port()}/v1", None, max_streams=1, on_settled=settled, timeout=2)
    try:
        with pytest.raises(RetryableError):
            hub.open(RUN_STREAMS, TEMPLATE, IDS, {})
        assert hub.open_count == 0
    finally:
        hub.close()


def test_close_drops_open_streams_without_waking_their_jobs(script: Script, settled: Settled) -> None:
    script.stream(_event("thread.run.created", _run("queued")), _event("done", "[DONE]"), hold_after=1)
    with scripted_server(script) as base_url:
        hub = ObjectStreams(base_url, None, max_streams=4, on_settled=settled, timeout=5)
        assert hub.open(RUN_STREAMS, TEMPLATE, IDS, {}) is not None
        assert hub.follow("run_1", 9)
        hub.close()
        assert hub.open(RUN_STREAMS, TEMPLATE, IDS, {}) is None
    assert settled.calls == [], "a closing worker leaves its jobs to their fallback wake-ups"


def test_a_stream_keeps_the_run_it_ended_with_for_one_look(
    streams: ObjectStreams, script: Script, settled: Settled
) -> None:
    """A final run's copy answers one look, whatever its round key."""
    script.stream(_event("thread.run.created", _run("queued")), _event("thread.run.completed", _run("completed")))
    assert streams.open(RUN_STREAMS, TEMPLATE, IDS, {}) is not None
    wait_until(lambda: streams.open_count == 0, timeout=5, interval=0.01)
    assert streams.holds_kept("run_1")
    kept = streams.take_kept("run_1")
    assert kept is not None and kept.final and kept.obj.status == "completed"
    assert not streams.holds_kept("run_1")
    assert streams.take_kept("run_1") is None, "kept for one look only"


def test_a_run_waiting_for_tool_outputs_answers_only_the_look_of_the_round_it_was_followed_for(
    streams: ObjectStreams, script: Script, settled: Settled
) -> None:
    """A copy of a run in requires_action is stale once another round key looks: that round may be answered."""
    script.stream(
        _event("thread.run.created", _run("queued")),
        _event("thread.run.requires_action", _run("requires_action")),
        hold_after=1,
    )
    assert streams.open(RUN_STREAMS, TEMPLATE, IDS, {}) is not None
    assert streams.follow("run_1", 7, "1/0")
    script.release.set()
    wait_until(lambda: settled.calls == [(7, "run_1")], timeout=5, interval=0.01)
    assert not streams.holds_kept("run_1"), "a look with no round key never takes a waiting copy"
    assert not streams.holds_kept("run_1", "1/1")
    kept = streams.take_kept("run_1", "1/0")
    assert kept is not None and not kept.final and kept.obj.status == "requires_action"

    assert streams.open(RUN_STREAMS, TEMPLATE, IDS, {}) is not None
    wait_until(lambda: streams.open_count == 0, timeout=5, interval=0.01)
    assert not streams.follow("run_1", 7, "1/0"), "settled before the follow: the caller looks now"
    assert streams.take_kept("run_1", "2/0") is None
    assert streams.take_kept("run_1", "1/0") is None, "a stale look drops the copy"


def test_a_copy_from_an_earlier_stream_never_answers_the_round_of_a_newer_one(
    streams: ObjectStreams, script: Script
) -> None:
    """Followed while a newer stream of the run is open, the older stream's waiting copy is dropped."""
    script.stream(
        _event("thread.run.created", _run("queued")),
        _event("thread.run.requires_action", _run("requires_action")),
        hold_after=1,
    )
    script.release.set()
    assert streams.open(RUN_STREAMS, TEMPLATE, IDS, {}) is not None
    wait_until(lambda: streams.open_count == 0, timeout=5, interval=0.01)
    assert not streams.follow("run_1", 7, "1/0"), "settled: the job looks now, maybe in another process"
    script.release.clear()  # the next stream of the run (round 1/1) stays open after its first event
    assert streams.open(RUN_STREAMS, TEMPLATE, IDS, {}) is not None
    assert streams.follow("run_1", 7, "1/1"), "the newer stream is still open"
    assert not streams.holds_kept("run_1", "1/1") and streams.take_kept("run_1", "1/1") is None
    assert streams.take_kept("run_1", "1/0") is None, "the older copy is gone, not kept for its own round"
    script.release.set()


def test_an_unreadable_first_event_is_an_unclear_outcome(streams: ObjectStreams, script: Script) -> None:
    script.stream(_event("thread.run.created", "{not json"))
    with pytest.raises(RetryableError, match=r"thread\.run\.created: data is not JSON"):
        streams.open(RUN_STREAMS, TEMPLATE, IDS, {})
