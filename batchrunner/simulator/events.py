"""Stream events of runs: the queues that streamed requests subscribe to, and their SSE form.

A streamed request attaches an `EventQueue` to its run (`Run.listeners`) under the store lock;
the lifecycle then pushes every change it makes to the run, its steps and its messages while the
lock is held, as an AssistantStreamEvent serialized on the spot (later changes to the objects do
not alter an event already queued). A run sheds its listeners when it reaches a status that ends
a stream (a terminal one or `requires_action`), so a queue nobody drains does not outlive that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The run events after which a stream has nothing more to say (the client must act, or it is over).
STREAM_ENDING_EVENTS = frozenset(
    f"thread.run.{status}"
    for status in ("requires_action", "completed", "incomplete", "failed", "cancelled", "expired")
)
DONE_EVENT = b"event: done\ndata: [DONE]\n\n"


@dataclass(frozen=True)
class StreamEvent:
    """One queued event: its name and its `data` line (JSON text)."""

    name: str
    data: str

    @property
    def ends_stream(self) -> bool:
        return self.name in STREAM_ENDING_EVENTS

    def encode(self) -> bytes:
        """The event in Server-Sent Events form."""
        return f"event: {self.name}\ndata: {self.data}\n\n".encode()


@dataclass(eq=False)
class EventQueue:
    """The events of one run not yet sent on one stream."""

    events: list[StreamEvent] = field(default_factory=list)

    def drain(self) -> list[StreamEvent]:
        """Take every queued event, oldest first."""
        taken, self.events = self.events, []
        return taken


def publish(listeners: list[EventQueue], name: str, data: Mapping[str, Any]) -> None:
    """Queue `data` as event `name` on every listener (serialized once, only when someone listens)."""
    if not listeners:
        return
    event = StreamEvent(name, json.dumps(data, separators=(",", ":")))
    for queue in listeners:
        queue.events.append(event)
    if event.ends_stream:
        listeners.clear()
