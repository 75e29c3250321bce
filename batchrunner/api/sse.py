"""An incremental Server-Sent Events parser (the subset the Assistants API uses).

Fed one line at a time (without its line ending); yields an ``Event`` at each blank line that ends
one. Comment lines (``:``) and unknown fields are ignored, as the SSE specification says.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    name: str
    data: str


@dataclass
class EventParser:
    _name: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> Event | None:
        """Take one line; return the event it completes, if any."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._name = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> Event | None:
        if not self._data and not self._name:
            return None
        event = Event(self._name or "message", "\n".join(self._data))
        self._name, self._data = "", []
        return event


__all__ = ["Event", "EventParser"]
