"""Streamed responses: ResponseStreamEvents in order with rising sequence numbers, replays, and endings.

A stream over the in-process transport arrives whole once it ends, so a background stream is read in a
thread while the test moves the fake clock (the stream looks again within POLL_CAP_SECONDS).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.simulator.responses.rsim import CALCULATE, TEXT_STATISTICS, OpenStream, RSim, wait_for_response
from tests.simulator.responses.schemas import parse_sse

MESSAGE_EVENTS = [
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def _squashed(events: list[dict[str, Any]]) -> list[str]:
    """Event types with runs of text deltas shown once."""
    shown: list[str] = []
    for kind in _types(events):
        if not (kind == "response.output_text.delta" and shown[-1:] == [kind]):
            shown.append(kind)
    return shown


def test_background_stream_emits_queued_created_progress_items_completed(rsim: RSim) -> None:
    """queued first, then created, in_progress, the message's events and completed; numbers rise from 0."""
    stream = OpenStream(
        rsim,
        "POST",
        "/responses",
        json={"model": "m", "input": "Write a detailed essay on logistics", "background": True, "stream": True},
    )
    response_id = wait_for_response(rsim)
    rsim.clock.advance(11)
    events = stream.events()
    assert _squashed(events) == [
        "response.queued",
        "response.created",
        "response.in_progress",
        *MESSAGE_EVENTS,
        "response.completed",
    ]
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    snapshots = [event["response"] for event in events if "response" in event]
    assert [snapshot["status"] for snapshot in snapshots] == ["queued", "queued", "in_progress", "completed"]
    assert [snapshot["usage"] is None for snapshot in snapshots] == [True, True, True, False]
    final = snapshots[-1]
    assert final == rsim.get(response_id) and final["id"] == response_id
    text = "".join(event["delta"] for event in events if event["type"] == "response.output_text.delta")
    assert _types(events).count("response.output_text.delta") > 1
    assert text == final["output"][0]["content"][0]["text"]
    added = events[3]["item"]
    assert added["status"] == "in_progress" and added["content"] == [] and added["id"] == final["output"][0]["id"]
    assert stream.response is not None
    headers = stream.response.headers
    assert headers["x-request-id"].startswith("req_") and "openai-processing-ms" in headers
    assert "openai-poll-after-ms" not in headers


def test_synchronous_stream_has_no_queued_event(rsim: RSim) -> None:
    """Without background the stream starts at response.created (in progress) and ends completed at once."""
    response = rsim.client.post("/responses", json={"model": "m", "input": "hello there", "stream": True})
    events = parse_sse(response.text)
    assert _squashed(events) == ["response.created", "response.in_progress", *MESSAGE_EVENTS, "response.completed"]
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["background"] is False
    assert [event["sequence_number"] for event in events] == list(range(len(events)))


def test_function_calls_stream_their_arguments(rsim: RSim) -> None:
    """Each call: output_item.added with empty arguments, arguments delta and done, output_item.done."""
    body = {
        "model": "m",
        "input": 'Compute 3 * 7 and count "a b"',
        "tools": [CALCULATE, TEXT_STATISTICS],
        "stream": True,
    }
    events = parse_sse(rsim.client.post("/responses", json=body).text)
    per_call = [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    assert _types(events) == ["response.created", "response.in_progress", *per_call, *per_call, "response.completed"]
    final = events[-1]["response"]
    for index, call in enumerate(final["output"]):
        added, delta, done, item_done = events[2 + 4 * index : 6 + 4 * index]
        assert added["item"]["arguments"] == "" and added["item"]["status"] == "in_progress"
        assert added["output_index"] == delta["output_index"] == done["output_index"] == index
        assert delta["delta"] == done["arguments"] == call["arguments"] and done["name"] == call["name"]
        assert item_done["item"] == call and delta["item_id"] == call["id"]


def test_streams_replay_after_a_sequence_number(rsim: RSim) -> None:
    """GET ?stream=true replays the events, all of them or those after starting_after."""
    created = parse_sse(rsim.client.post("/responses", json={"model": "m", "input": "hello", "stream": True}).text)
    response_id = created[0]["response"]["id"]
    path = f"/responses/{response_id}"
    assert parse_sse(rsim.client.get(path, params={"stream": "true"}).text) == created
    assert parse_sse(rsim.client.get(path, params={"stream": "true", "starting_after": 3}).text) == created[4:]
    last = created[-1]["sequence_number"]
    assert rsim.client.get(path, params={"stream": "true", "starting_after": last}).text == ""
    assert rsim.client.get(path, params={"stream": "false"}).json() == created[-1]["response"]


def test_replay_needs_a_streamed_response(rsim: RSim) -> None:
    """A response created without stream cannot be streamed: 400 on param stream."""
    plain = rsim.create(input="hello")
    error = rsim.error("GET", f"/responses/{plain['id']}", 400, params={"stream": "true"})
    assert error["param"] == "stream" and error["type"] == "invalid_request_error"
    assert rsim.error("GET", f"/responses/{plain['id']}", 400, params={"stream": "yes"})["param"] == "stream"


def test_failed_and_incomplete_streams_end_with_their_event(make_rsim: Callable[..., RSim]) -> None:
    """Failed responses end with response.failed (error set), cut ones with response.incomplete."""
    failing = make_rsim(run_fail_server_error_rate=1.0)
    events = parse_sse(failing.client.post("/responses", json={"model": "m", "input": "x", "stream": True}).text)
    assert _types(events) == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1]["response"]["error"]["code"] == "server_error"
    cutting = make_rsim(response_incomplete_rate=1.0)
    events = parse_sse(
        cutting.client.post("/responses", json={"model": "m", "input": "Write a detailed essay", "stream": True}).text
    )
    assert _squashed(events)[-2:] == ["response.output_item.done", "response.incomplete"]
    assert events[-2]["item"]["status"] == "incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_cancel_ends_an_open_stream(rsim: RSim) -> None:
    """A cancel from another request ends the stream after in_progress, with no terminal event."""
    stream = OpenStream(
        rsim, "POST", "/responses", json={"model": "m", "input": "hello", "background": True, "stream": True}
    )
    response_id = wait_for_response(rsim)
    rsim.clock.advance(2)  # the cancel's own read logs in_progress first
    assert rsim.client.post(f"/responses/{response_id}/cancel").json()["status"] == "cancelled"
    events = stream.events()
    assert _types(events) == ["response.queued", "response.created", "response.in_progress"]
    replay = parse_sse(rsim.client.get(f"/responses/{response_id}", params={"stream": "true"}).text)
    assert replay == events


def test_stopping_the_simulator_ends_open_streams(rsim: RSim) -> None:
    """Once the simulator is stopping, an open stream ends at its next look, without an ending event."""
    stream = OpenStream(
        rsim, "POST", "/responses", json={"model": "m", "input": "hello", "background": True, "stream": True}
    )
    wait_for_response(rsim)
    started = time.monotonic()
    rsim.app.state.simulator.stopping.set()
    events = stream.events()
    assert time.monotonic() - started < 2
    sent = _types(events)  # whatever its first look took before the stop, and nothing after
    assert sent == ["response.queued", "response.created"][: len(sent)]


def test_streamed_create_errors_are_json(rsim: RSim) -> None:
    """A rejected streamed create is a plain JSON error, before any event."""
    response = rsim.raw.post("/responses", json={"stream": True, "input": "x"})
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    assert response.json()["error"]["param"] == "model"
