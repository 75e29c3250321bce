"""``JobSpec``: one validated job, as stored with the job and handed to the backend."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def default_custom_id(line_no: int) -> str:
    """The custom_id of a job that gives none: stable as long as the job stays on the same line."""
    return f"line-{line_no}"


@dataclass(frozen=True)
class JobSpec:
    """A validated job line. ``thread`` and ``params`` are plain JSON, exactly as the API takes them.

    Exactly one of ``thread`` (the body of a new thread) and ``thread_id`` (an existing thread) is set.
    ``params`` holds only the create-run body fields the line set; treat the dicts as read-only.
    """

    line_no: int
    custom_id: str
    assistant_id: str
    thread: dict[str, Any] | None
    thread_id: str | None
    params: dict[str, Any]

    def tool_names(self) -> set[str]:
        """The names of the function tools listed in ``params.tools``."""
        return {
            tool["function"]["name"]
            for tool in self.params.get("tools") or ()
            if tool.get("type") == "function"
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict that ``from_json`` turns back into an equal ``JobSpec``."""
        return {
            "line_no": self.line_no,
            "custom_id": self.custom_id,
            "assistant_id": self.assistant_id,
            "thread": self.thread,
            "thread_id": self.thread_id,
            "params": self.params,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobSpec:
        """Rebuild a spec saved by ``to_json``; raises ``ValueError`` if ``data`` has another shape."""
        expected: dict[str, tuple[type, ...]] = {
            "line_no": (int,),
            "custom_id": (str,),
            "assistant_id": (str,),
            "thread": (dict, type(None)),
            "thread_id": (str, type(None)),
            "params": (dict,),
        }
        unknown = set(data) - set(expected)
        if unknown:
            raise ValueError(f"unknown job spec keys: {sorted(unknown)}")
        for key, types in expected.items():
            if key not in data:
                raise ValueError(f"job spec has no {key!r}")
            if not isinstance(data[key], types) or isinstance(data[key], bool):
                raise ValueError(f"job spec {key!r} has the wrong type: {type(data[key]).__name__}")
        if (data["thread"] is None) == (data["thread_id"] is None):
            raise ValueError("job spec must have exactly one of 'thread' and 'thread_id'")
        return cls(
            line_no=data["line_no"],
            custom_id=data["custom_id"],
            assistant_id=data["assistant_id"],
            thread=data["thread"],
            thread_id=data["thread_id"],
            params=data["params"],
        )
