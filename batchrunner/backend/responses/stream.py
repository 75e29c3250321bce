"""Reading the event stream of a streamed ``POST /responses`` (or a resumed ``GET /responses/{id}?stream=true``).

The reply is Server-Sent Events (parsed by ``batchrunner.api.sse``); each event's ``data`` is a JSON
object whose ``type`` names the event (the SSE ``event:`` line is used when ``type`` is missing). This
module yields the events that say where the response stands:

- the lifecycle events ``response.queued``, ``response.created``, ``response.in_progress``,
  ``response.completed``, ``response.failed`` and ``response.incomplete``, with their ``Response``;
- ``error`` events, with their ``StreamError``.

Every other event (text and argument deltas, output items, event types newer than this code) is skipped,
as is a ``[DONE]`` line some compatible servers send. ``sequence_number`` is None when missing. A
lifecycle or error event whose data is not what the API promises raises ``InvalidStreamEvent``.

``RESPONSE_STREAMS`` is the dialect ``batchrunner.api.object_streams.ObjectStreams`` holds such streams
with. Only parsing: no I/O. ``ResponseEventParser.feed`` takes one line at a time (for ``aiter_lines`` on an
event loop); ``read_events`` takes lines, ``read_event_bytes`` raw chunks split anywhere.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from batchrunner.api.models import ApiModel
from batchrunner.api.object_streams import InvalidStreamEvent, StreamUpdate
from batchrunner.api.pipeline import validation_problems
from batchrunner.api.sse import Event, EventParser
from batchrunner.backend.responses.models import TERMINAL_RESPONSE_STATUSES, Response

__all__ = [
    "ERROR_EVENT",
    "LIFECYCLE_EVENTS",
    "RESPONSE_STREAMS",
    "TERMINAL_EVENTS",
    "InvalidStreamEvent",
    "ResponseEvent",
    "ResponseEventParser",
    "ResponseStreamDialect",
    "ResponseStreamReader",
    "StreamError",
    "read_event_bytes",
    "read_events",
]

LIFECYCLE_EVENTS: frozenset[str] = frozenset(
    {
        "response.queued",
        "response.created",
        "response.in_progress",
        "response.completed",
        "response.failed",
        "response.incomplete",
    }
)
# After one of these the response can change no more (an ``error`` event may also end a stream).
TERMINAL_EVENTS: frozenset[str] = frozenset({"response.completed", "response.failed", "response.incomplete"})
ERROR_EVENT = "error"
_DONE = "[DONE]"


class StreamError(ApiModel):
    """An ``error`` event's fields (``code`` and ``param`` may be null)."""

    code: str | None = None
    message: str | None = None
    param: str | None = None
    type: str | None = None


@dataclass(frozen=True)
class ResponseEvent:
    """One event of a response stream: ``response`` for lifecycle events, ``error`` for ``error`` events."""

    type: str
    sequence_number: int | None
    response: Response | None = None
    error: StreamError | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_terminal(self) -> bool:
        """True for ``response.completed`` / ``failed`` / ``incomplete`` and for ``error``."""
        return self.type in TERMINAL_EVENTS or self.type == ERROR_EVENT


@dataclass
class ResponseEventParser:
    """Incremental: ``feed`` one line (without its line ending) at a time; events come at blank lines."""

    _sse: EventParser = field(default_factory=EventParser)

    def feed(self, line: str) -> ResponseEvent | None:
        event = self._sse.feed(line)
        return _response_event(event) if event is not None else None

    def finish(self) -> ResponseEvent | None:
        """The event left without its closing blank line when the stream ends (if any)."""
        return self.feed("")


@dataclass
class ResponseStreamReader:
    """One response stream's lines -> updates (the ``ObjectStreams`` side): an ``error`` event ends it."""

    _events: ResponseEventParser = field(default_factory=ResponseEventParser)

    def feed(self, line: str) -> StreamUpdate[Response] | None:
        event = self._events.feed(line)
        if event is None:
            return None
        return StreamUpdate(event.response, ends=event.is_terminal)

    def seen(self) -> None:
        """A response's final event carries it whole: nothing else is kept."""
        return None


class ResponseStreamDialect:
    """Streams of ``POST /responses`` with ``background`` and ``stream``: a response hands the job back
    once its status is final (a tool round's response is ``completed`` with its function calls)."""

    model = Response
    headers: Mapping[str, str] = {}

    def reader(self) -> ResponseStreamReader:
        return ResponseStreamReader()

    def object_id(self, obj: Response) -> str:
        return obj.id

    def hands_back(self, obj: Response) -> bool:
        return obj.status in TERMINAL_RESPONSE_STATUSES

    def ended(self, obj: Response) -> bool:
        return obj.status in TERMINAL_RESPONSE_STATUSES

    def keepable(self, obj: Response) -> bool:
        # A server whose final event leaves out the output is asked again (a look) rather than believed.
        return "output" in obj.model_fields_set


RESPONSE_STREAMS = ResponseStreamDialect()


def read_events(lines: Iterable[str]) -> Iterator[ResponseEvent]:
    """The events of a stream given as lines without their line endings (as ``httpx`` ``iter_lines`` gives)."""
    parser = ResponseEventParser()
    for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event
    last = parser.finish()
    if last is not None:
        yield last


def read_event_bytes(chunks: Iterable[bytes]) -> Iterator[ResponseEvent]:
    """The events of a stream given as raw bytes, split anywhere (UTF-8; CRLF, LF or CR line endings)."""
    return read_events(_lines(chunks))


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    first = True
    for chunk in chunks:
        text = decoder.decode(chunk)
        if first and text:
            text, first = text.removeprefix("\ufeff"), False
        pending += text
        # A CR at the end may be the first half of a CRLF split across chunks: keep it for the next one.
        complete, held = (pending[:-1], "\r") if pending.endswith("\r") else (pending, "")
        *lines, pending = complete.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        pending += held
        yield from lines
    pending += decoder.decode(b"", final=True)
    if pending:
        yield from pending.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _response_event(event: Event) -> ResponseEvent | None:
    if event.data.strip() == _DONE:
        return None
    try:
        data = json.loads(event.data)
    except ValueError:
        data = None
    kind = data.get("type") if isinstance(data, dict) else None
    if not isinstance(kind, str) or not kind:
        kind = event.name
    if kind not in LIFECYCLE_EVENTS and kind != ERROR_EVENT:
        return None
    if not isinstance(data, dict):
        raise InvalidStreamEvent(kind, "data is not a JSON object")
    sequence = data.get("sequence_number")
    number = sequence if isinstance(sequence, int) and not isinstance(sequence, bool) else None
    try:
        if kind == ERROR_EVENT:
            # The spec puts code/message/param on the event; older servers nest them under "error".
            nested = data.get("error")
            fields = nested if isinstance(nested, dict) else data
            return ResponseEvent(kind, number, error=StreamError.model_validate(fields), data=data)
        return ResponseEvent(kind, number, response=Response.model_validate(data.get("response")), data=data)
    except ValidationError as exc:
        raise InvalidStreamEvent(kind, f"not valid: {validation_problems(exc)}") from None
