"""How an Assistants run stream reads: ``thread.run.*`` events carry the run; ``done``/``error`` end it.

The streams themselves are held by ``batchrunner.api.object_streams.ObjectStreams``; this module only
says what a run stream's events mean (``RUN_STREAMS``, the dialect ``AssistantsBackend`` opens with).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from batchrunner.api.object_streams import InvalidStreamEvent, StreamUpdate
from batchrunner.api.pipeline import validation_problems
from batchrunner.api.sse import EventParser
from batchrunner.backend.assistants.client import ASSISTANTS_HEADERS
from batchrunner.backend.assistants.models import Run

# Statuses after which the stream has nothing more to say until a worker acts.
_HANDS_BACK = frozenset({"requires_action", "completed", "failed", "cancelled", "expired", "incomplete"})
# Statuses a run never leaves.
_ENDED = _HANDS_BACK - {"requires_action"}
_ENDING_EVENTS = frozenset({"done", "error"})


@dataclass
class RunStreamReader:
    """One run stream's lines -> updates; run step, message and delta events are skipped."""

    _sse: EventParser = field(default_factory=EventParser)

    def feed(self, line: str) -> StreamUpdate[Run] | None:
        event = self._sse.feed(line)
        if event is None:
            return None
        if event.name in _ENDING_EVENTS:
            return StreamUpdate(None, ends=True)
        if not event.name.startswith("thread.run.") or event.name.startswith("thread.run.step."):
            return None
        try:
            return StreamUpdate(Run.model_validate(json.loads(event.data)))
        except ValidationError as exc:
            raise InvalidStreamEvent(event.name, f"not a valid Run: {validation_problems(exc)}") from None
        except ValueError:
            raise InvalidStreamEvent(event.name, "data is not JSON") from None


class RunStreamDialect:
    model = Run
    headers: Mapping[str, str] = ASSISTANTS_HEADERS

    def reader(self) -> RunStreamReader:
        return RunStreamReader()

    def object_id(self, obj: Run) -> str:
        return obj.id

    def hands_back(self, obj: Run) -> bool:
        return str(obj.status) in _HANDS_BACK

    def ended(self, obj: Run) -> bool:
        return str(obj.status) in _ENDED


RUN_STREAMS = RunStreamDialect()

__all__ = ["RUN_STREAMS", "RunStreamDialect", "RunStreamReader"]
