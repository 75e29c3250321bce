"""``JobSpec``: one validated job, as stored with the job and handed to the backend."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class BackendName(StrEnum):
    """The API a job runs on."""

    ASSISTANTS = "assistants"
    RESPONSES = "responses"


def default_custom_id(line_no: int) -> str:
    """The custom_id of a job that gives none: stable as long as the job stays on the same line."""
    return f"line-{line_no}"


@dataclass(frozen=True)
class JobSpec:
    """A validated job line. ``thread``, ``params`` and ``request`` are plain JSON; treat them as read-only.

    On the assistants backend exactly one of ``thread`` (the body of a new thread) and ``thread_id`` (an
    existing thread) is set, ``params`` holds only the create-run body fields the line set, and ``request``
    is None.

    On the responses backend ``request`` is the complete ``POST /v1/responses`` body, resolved when the file
    was read (assistant settings, job params, input), without what batchrunner adds when it sends it
    (``background``, ``store``, ``stream`` and the ``batchrunner_job`` metadata tag). ``assistant_id``,
    ``thread``/``thread_id`` and ``params`` keep what the line said, for reports; ``thread_id`` is the
    conversation the request runs on, if any. A Batch API line (``{"custom_id", "method", "url", "body"}``)
    gives ``assistant_id=""``, ``thread=None``, ``params={}`` and ``thread_id`` = its body's conversation.

    ``new_conversation`` (only with ``thread``): on the responses backend the job's responses run on a
    conversation created for it, which keeps the exchange for later jobs; the assistants backend
    creates a thread for every such job anyway. ``deadline`` is the line's deadline as written
    (``deadlines.parse_deadline``), resolved to a moment when the job is enqueued; ``lane`` the line's
    cost lane as written (``lanes.Lane``; None: the batch's), resolved to one lane when it is enqueued.
    """

    line_no: int
    custom_id: str
    assistant_id: str
    thread: dict[str, Any] | None
    thread_id: str | None
    params: dict[str, Any]
    backend: BackendName = BackendName.ASSISTANTS
    request: dict[str, Any] | None = None
    new_conversation: bool = False
    deadline: str | None = None
    lane: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "backend", BackendName(self.backend))

    def tool_names(self) -> set[str]:
        """The names of the function tools the job offers the model (``params.tools`` or ``request.tools``).

        On the assistants backend the assistant's own tools are not known here; on the responses
        backend ``request`` holds the assistant's tools unless the job replaced them.
        """
        if self.request is not None:
            return {tool["name"] for tool in self.request.get("tools") or () if tool.get("type") == "function"}
        return {tool["function"]["name"] for tool in self.params.get("tools") or () if tool.get("type") == "function"}

    @property
    def needs_more_than_one_request(self) -> bool:
        """Whether the job may take tool rounds or holds a conversation: the Batch API answers neither."""
        conversation = self.request is not None and self.request.get("conversation") is not None
        return bool(self.tool_names()) or self.thread_id is not None or self.new_conversation or conversation

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict that ``from_json`` turns back into an equal ``JobSpec``."""
        return {
            "line_no": self.line_no,
            "custom_id": self.custom_id,
            "assistant_id": self.assistant_id,
            "thread": self.thread,
            "thread_id": self.thread_id,
            "params": self.params,
            "backend": self.backend.value,
            "request": self.request,
            "new_conversation": self.new_conversation,
            "deadline": self.deadline,
            "lane": self.lane,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobSpec:
        """Rebuild a spec saved by ``to_json``; raises ``ValueError`` if ``data`` has another shape.

        Specs saved before there were backends have no ``backend`` and ``request``: they are assistants
        specs.
        """
        expected: dict[str, tuple[type, ...]] = {
            "line_no": (int,),
            "custom_id": (str,),
            "assistant_id": (str,),
            "thread": (dict, type(None)),
            "thread_id": (str, type(None)),
            "params": (dict,),
        }
        optional: dict[str, tuple[type, ...]] = {
            "backend": (str,),
            "request": (dict, type(None)),
            "deadline": (str, type(None)),
            "lane": (str, type(None)),
        }
        if not isinstance(data.get("new_conversation", False), bool):
            raise ValueError(f"job spec 'new_conversation' is not a boolean: {data['new_conversation']!r}")
        unknown = set(data) - set(expected) - set(optional) - {"new_conversation"}
        if unknown:
            raise ValueError(f"unknown job spec keys: {sorted(unknown)}")
        for key, types in (expected | optional).items():
            if key not in data:
                if key in optional:
                    continue
                raise ValueError(f"job spec has no {key!r}")
            if not isinstance(data[key], types) or isinstance(data[key], bool):
                raise ValueError(f"job spec {key!r} has the wrong type: {type(data[key]).__name__}")
        try:
            backend = BackendName(data.get("backend", BackendName.ASSISTANTS))
        except ValueError:
            raise ValueError(f"job spec 'backend' is not a backend: {data['backend']!r}") from None
        request = data.get("request")
        if backend is BackendName.ASSISTANTS:
            if request is not None:
                raise ValueError("an assistants job spec has no 'request'")
            if (data["thread"] is None) == (data["thread_id"] is None):
                raise ValueError("job spec must have exactly one of 'thread' and 'thread_id'")
        else:
            if request is None:
                raise ValueError("a responses job spec needs its 'request'")
            if data["thread"] is not None and data["thread_id"] is not None:
                raise ValueError("job spec must not have both 'thread' and 'thread_id'")
        if data.get("new_conversation") and data["thread_id"] is not None:
            raise ValueError("a job spec on an existing thread or conversation cannot ask for a new conversation")
        return cls(
            line_no=data["line_no"],
            custom_id=data["custom_id"],
            assistant_id=data["assistant_id"],
            thread=data["thread"],
            thread_id=data["thread_id"],
            params=data["params"],
            backend=backend,
            request=request,
            new_conversation=data.get("new_conversation", False),
            deadline=data.get("deadline"),
            lane=data.get("lane"),
        )
