"""How an Assistants run stream reads: ``thread.run.*`` events carry the run; ``done``/``error`` end it.

Besides the run, a reader gathers the run steps (``thread.run.step.<status>``) and messages
(``thread.message.<status>``) the stream showed, the last version of each (``RunStreamSeen``), so a
run whose whole life was streamed is recorded without listing its steps and messages. Delta events
are skipped. A step or message event that is not valid spoils what was gathered (the worker then
lists them), never the stream. The streams themselves are held by
``batchrunner.api.object_streams.ObjectStreams``; this module only says what a run stream's events
mean (``RUN_STREAMS``, the dialect ``AssistantsBackend`` opens with).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import ValidationError

from batchrunner.api.object_streams import InvalidStreamEvent, StreamUpdate
from batchrunner.api.pipeline import validation_problems
from batchrunner.api.sse import EventParser
from batchrunner.backend.assistants.client import ASSISTANTS_HEADERS
from batchrunner.backend.assistants.models import Message, Run, RunStep

# Statuses after which the stream has nothing more to say until a worker acts.
_HANDS_BACK = frozenset({"requires_action", "completed", "failed", "cancelled", "expired", "incomplete"})
# Statuses a run never leaves.
_ENDED = _HANDS_BACK - {"requires_action"}
_ENDING_EVENTS = frozenset({"done", "error"})
_RUN_CREATED = "thread.run.created"
_STEP_PREFIX = "thread.run.step."
_MESSAGE_PREFIX = "thread.message."
_DELTA = ".delta"

GatheredT = TypeVar("GatheredT", RunStep, Message)


@dataclass
class RunStreamSeen:
    """The steps and messages one stream showed, by id (last version wins).

    ``from_creation``: the stream began with the run's creation, so it missed nothing before.
    ``spoiled``: one of their events was not valid, so what was gathered may be short.
    """

    from_creation: bool = False
    spoiled: bool = False
    steps: dict[str, RunStep] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)

    def followed_by(self, later: RunStreamSeen) -> RunStreamSeen:
        """This stream's gathering, then the next stream's of the same run (after a tool round)."""
        return RunStreamSeen(
            from_creation=self.from_creation,
            spoiled=self.spoiled or later.spoiled,
            steps={**self.steps, **later.steps},
            messages={**self.messages, **later.messages},
        )


@dataclass
class RunStreamReader:
    """One run stream's lines -> updates, gathering its steps and messages."""

    _sse: EventParser = field(default_factory=EventParser)
    _seen: RunStreamSeen = field(default_factory=RunStreamSeen)
    _saw_run: bool = False

    def feed(self, line: str) -> StreamUpdate[Run] | None:
        event = self._sse.feed(line)
        if event is None:
            return None
        name = event.name
        if name in _ENDING_EVENTS:
            return StreamUpdate(None, ends=True)
        if name.endswith(_DELTA):
            return None
        if name.startswith(_STEP_PREFIX):
            if (step := self._gathered(event.data, RunStep)) is not None:
                self._seen.steps[step.id] = step
            return None
        if name.startswith(_MESSAGE_PREFIX):
            if (message := self._gathered(event.data, Message)) is not None:
                self._seen.messages[message.id] = message
            return None
        if not name.startswith("thread.run."):
            return None
        try:
            run = Run.model_validate(json.loads(event.data))
        except ValidationError as exc:
            raise InvalidStreamEvent(name, f"not a valid Run: {validation_problems(exc)}") from None
        except ValueError:
            raise InvalidStreamEvent(name, "data is not JSON") from None
        if not self._saw_run:
            self._saw_run = True
            self._seen.from_creation = name == _RUN_CREATED
        return StreamUpdate(run)

    def seen(self) -> RunStreamSeen:
        return self._seen

    def _gathered(self, data: str, model: type[GatheredT]) -> GatheredT | None:
        try:
            return model.model_validate_json(data)
        except ValidationError:
            self._seen.spoiled = True
            return None


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

    def keepable(self, obj: Run) -> bool:
        return True


RUN_STREAMS = RunStreamDialect()

__all__ = ["RUN_STREAMS", "RunStreamDialect", "RunStreamReader", "RunStreamSeen"]
