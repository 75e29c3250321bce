"""The Responses stream reader: lifecycle and error events out of SSE lines or bytes, the rest skipped."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from batchrunner.backend.responses import (
    InvalidStreamEvent,
    ResponseEvent,
    ResponseEventParser,
    read_event_bytes,
    read_events,
)
from batchrunner.testing.openapi_contract import PathsContract, find_openapi_spec
from tests.backend.responses.conftest import message_item, response_payload, usage_payload


def _sse(data: Any, name: str | None = None) -> str:
    """One SSE event; ``name`` defaults to the data's type."""
    kind = name if name is not None else data["type"]
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


def _lifecycle(kind: str, status: str, number: int | None, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"type": kind, "response": response_payload(status, background=True, **fields)}
    if number is not None:
        data["sequence_number"] = number
    return data


def _background_stream() -> list[dict[str, Any]]:
    """The events of a background stream that ends in a completed message (deltas included)."""
    done = message_item("Hi there!")
    return [
        _lifecycle("response.queued", "queued", 0, completed_at=None),
        _lifecycle("response.created", "in_progress", 1, completed_at=None),
        _lifecycle("response.in_progress", "in_progress", 2, completed_at=None),
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "sequence_number": 3,
            "item": {**done, "status": "in_progress", "content": []},
        },
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hi there!",
            "sequence_number": 4,
            "logprobs": [],
        },
        {"type": "response.output_item.done", "output_index": 0, "sequence_number": 5, "item": done},
        _lifecycle("response.completed", "completed", 6, output=[done], usage=usage_payload(12, 3)),
    ]


def _lines(text: str) -> list[str]:
    return text.split("\n")


def test_lifecycle_events_come_with_their_response_and_others_are_skipped() -> None:
    """queued, created, in_progress and completed are yielded in order with type, number and Response."""
    events = list(read_events(_lines("".join(_sse(event) for event in _background_stream()))))
    assert [(e.type, e.sequence_number) for e in events] == [
        ("response.queued", 0),
        ("response.created", 1),
        ("response.in_progress", 2),
        ("response.completed", 6),
    ]
    assert [e.response.status for e in events if e.response] == ["queued", "in_progress", "in_progress", "completed"]
    last = events[-1]
    assert last.is_terminal and not events[0].is_terminal
    assert last.response is not None and last.response.output_text() == "Hi there!"
    assert last.response.usage is not None and last.response.usage.total_tokens == 15


@pytest.mark.parametrize(
    ("kind", "status", "fields", "check"),
    [
        (
            "response.failed",
            "failed",
            {"error": {"code": "server_error", "message": "boom"}},
            lambda r: r.error is not None and r.error.code == "server_error",
        ),
        (
            "response.incomplete",
            "incomplete",
            {"incomplete_details": {"reason": "content_filter"}},
            lambda r: r.incomplete_reason == "content_filter",
        ),
    ],
)
def test_failed_and_incomplete_events_are_terminal(kind: str, status: str, fields: dict[str, Any], check: Any) -> None:
    """response.failed and response.incomplete end the stream and carry the error or the reason."""
    (event,) = read_events(_lines(_sse(_lifecycle(kind, status, 9, **fields))))
    assert event.type == kind and event.is_terminal
    assert event.response is not None and check(event.response)


def test_the_official_streaming_example_reads_without_sequence_numbers() -> None:
    """The spec's own streaming example (no sequence_number, a '...' line) gives created, in_progress, completed."""
    with open(find_openapi_spec(), encoding="utf-8") as handle:
        spec = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    examples = spec["paths"]["/responses"]["post"]["x-oaiMeta"]["examples"]
    text = next(example["response"] for example in examples if example.get("title") == "Streaming")
    events = list(read_events(text.splitlines()))
    assert [e.type for e in events] == ["response.created", "response.in_progress", "response.completed"]
    assert all(e.sequence_number is None for e in events)
    assert events[-1].response is not None
    assert events[-1].response.output_text() == "Hi there! How can I assist you today?"


def test_unknown_event_types_and_done_are_skipped() -> None:
    """Event types this code does not know, keep-alive comments and a [DONE] line yield nothing."""
    text = (
        _sse({"type": "response.hologram.delta", "sequence_number": 1, "frames": 2})
        + ": keep-alive\n\n"
        + _sse({"type": "response.reasoning_summary_text.delta", "delta": "x", "sequence_number": 2})
        + "event: ping\ndata: not json at all\n\n"
        + _sse(_lifecycle("response.completed", "completed", 3))
        + "data: [DONE]\n\n"
    )
    assert [e.type for e in read_events(_lines(text))] == ["response.completed"]


@pytest.mark.parametrize(
    "data",
    [
        {
            "type": "error",
            "code": "ERR_SOMETHING",
            "message": "Something went wrong",
            "param": None,
            "sequence_number": 4,
        },
        {
            "type": "error",
            "error": {
                "type": "server_error",
                "code": "ERR_SOMETHING",
                "message": "Something went wrong",
                "param": None,
            },
            "sequence_number": 4,
        },
    ],
    ids=["spec-flat", "nested-error"],
)
def test_error_events_carry_code_and_message(data: dict[str, Any]) -> None:
    """An error event, flat as the spec has it or nested under "error", gives its code and message."""
    (event,) = read_events(_lines(_sse(data)))
    assert event.type == "error" and event.sequence_number == 4 and event.is_terminal
    assert event.response is None and event.error is not None
    assert (event.error.code, event.error.message) == ("ERR_SOMETHING", "Something went wrong")


def test_the_sse_event_name_stands_in_for_a_missing_type() -> None:
    """Data without a "type" is read as the event named by its SSE event: line."""
    data = {"response": response_payload("in_progress"), "sequence_number": 7}
    (event,) = read_events(_lines(_sse(data, name="response.in_progress")))
    assert event.type == "response.in_progress" and event.sequence_number == 7


@pytest.mark.parametrize("number", ["7", 7.0, True, None])
def test_a_sequence_number_that_is_no_integer_is_none(number: Any) -> None:
    """sequence_number is None unless it is a JSON integer."""
    data = {"type": "response.created", "response": response_payload("in_progress"), "sequence_number": number}
    (event,) = read_events(_lines(_sse(data)))
    assert event.sequence_number is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("{not json", "not a JSON object"),
        (json.dumps({"type": "response.completed", "sequence_number": 1}), "not valid"),
        (json.dumps({"type": "response.completed", "response": {"status": "completed"}}), "id: Field required"),
    ],
)
def test_a_broken_lifecycle_event_raises(data: str, problem: str) -> None:
    """A lifecycle event whose data is not JSON or has no valid response raises InvalidStreamEvent."""
    with pytest.raises(InvalidStreamEvent, match=problem) as caught:
        list(read_events(["event: response.completed", f"data: {data}", ""]))
    assert caught.value.event_type == "response.completed"


def test_the_last_event_needs_no_closing_blank_line() -> None:
    """A stream cut right after its last data line still yields that event."""
    text = _sse(_lifecycle("response.completed", "completed", 1)).rstrip("\n")
    assert [e.type for e in read_events(_lines(text))] == ["response.completed"]


def test_multi_line_data_is_joined() -> None:
    """A JSON object spread over several data: lines is joined with newlines before parsing."""
    body = json.dumps(_lifecycle("response.created", "in_progress", 1), indent=1).split("\n")
    lines = ["event: response.created", *[f"data: {part}" for part in body], ""]
    (event,) = read_events(lines)
    assert event.type == "response.created" and event.response is not None


def _chunked(payload: bytes, size: int) -> list[bytes]:
    return [payload[i : i + size] for i in range(0, len(payload), size)]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100_000])
def test_bytes_split_anywhere_give_the_same_events(newline: str, size: int) -> None:
    """Raw chunks of any size, with LF, CRLF or CR line endings and a BOM, give the same events as lines."""
    stream = _background_stream()
    stream[-1]["response"]["output"][0]["content"][0]["text"] = "Grüße ✓"  # multi-byte UTF-8 split across chunks
    text = "".join(_sse(event) for event in stream)
    expected = list(read_events(_lines(text)))
    payload = ("\ufeff" + text.replace("\n", newline)).encode()
    got = list(read_event_bytes(_chunked(payload, size)))
    assert [(e.type, e.sequence_number) for e in got] == [(e.type, e.sequence_number) for e in expected]
    assert got[-1].response is not None and got[-1].response.output_text() == "Grüße ✓"


def test_the_incremental_parser_yields_at_the_blank_line() -> None:
    """ResponseEventParser.feed returns None until the blank line that ends an event."""
    parser = ResponseEventParser()
    data = json.dumps(_lifecycle("response.created", "in_progress", 1))
    assert parser.feed("event: response.created") is None
    assert parser.feed(f"data: {data}") is None
    event = parser.feed("")
    assert isinstance(event, ResponseEvent) and event.type == "response.created"
    assert parser.finish() is None


def test_sample_events_match_the_official_schemas(responses_contract: PathsContract) -> None:
    """The events these tests feed the reader are valid ResponseStreamEvent members."""
    for event in _background_stream():
        responses_contract.validate_response_event(event)
    responses_contract.validate_response_event(
        {
            "type": "error",
            "code": "ERR_SOMETHING",
            "message": "Something went wrong",
            "param": None,
            "sequence_number": 4,
        }
    )
    responses_contract.validate_response_event(
        _lifecycle("response.failed", "failed", 2, error={"code": "server_error", "message": "boom"})
    )
