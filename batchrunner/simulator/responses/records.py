"""The stored objects of the Responses and Conversations APIs, and their JSON form.

A response keeps what its request asked for (`ResponseSettings`, echoed on every read), the items
it read (its own input, and the whole context it was answered from, which a continuation builds
on), its plan, and what it produced. One created with `"stream": true` also keeps its stream's
events, so a client can replay them after a sequence number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchrunner.simulator.events import StreamEvent
from batchrunner.simulator.records import unix

ACTIVE_STATUSES = frozenset(("queued", "in_progress"))
TERMINAL_STATUSES = frozenset(("completed", "failed", "incomplete", "cancelled"))


@dataclass
class StoredItem:
    """An input, output or conversation item with its id, in the form the API lists it."""

    id: str
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.body


@dataclass(frozen=True)
class ResponseSettings:
    """The request's model configuration, normalised: what every read of the response echoes."""

    model: str
    instructions: str | None
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    temperature: float
    top_p: float
    max_output_tokens: int | None
    max_tool_calls: int | None
    text: dict[str, Any]
    reasoning: dict[str, Any]
    metadata: dict[str, str]
    truncation: str
    service_tier: str
    top_logprobs: int
    safety_identifier: str | None
    prompt_cache_key: str | None
    user: str | None
    # Echoed when the request sent it (the SDK's Response type has the field; the spec does not yet).
    background_options: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "instructions": self.instructions,
            "tools": self.tools,
            "tool_choice": self.tool_choice,
            "parallel_tool_calls": self.parallel_tool_calls,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_logprobs": self.top_logprobs,
            "max_output_tokens": self.max_output_tokens,
            "max_tool_calls": self.max_tool_calls,
            "text": self.text,
            "reasoning": self.reasoning,
            "truncation": self.truncation,
            "service_tier": self.service_tier,
            "safety_identifier": self.safety_identifier,
            "prompt_cache_key": self.prompt_cache_key,
            "metadata": self.metadata,
        }
        if self.user is not None:  # the schema types `user` as a plain string: absent rather than null
            body["user"] = self.user
        if self.background_options is not None:
            body["background_options"] = self.background_options
        return body


@dataclass
class ResponsePlan:
    """What will happen to a response, fixed when it is created.

    `output` holds the items a full answer has (a message, or the function calls) and `costs` their
    output tokens; the outcome decides how much of it the response ends up showing.
    """

    queue_seconds: float
    work_seconds: float
    outcome: str  # "completed", "incomplete" or "failed"
    failure_code: str | None
    output: list[dict[str, Any]]
    costs: list[int]
    # How long the model took: the whole of a synchronous request, queue and work of a background one.
    answer_seconds: float

    @property
    def duration_seconds(self) -> float:
        return self.queue_seconds + self.work_seconds


@dataclass
class ResponseRecord:
    """A response (the Response schema) plus the bookkeeping that drives its lifecycle."""

    id: str
    created_at: float
    settings: ResponseSettings
    background: bool
    store: bool
    stream: bool
    previous_response_id: str | None
    conversation_id: str | None
    input_items: list[StoredItem]
    context: list[dict[str, Any]]
    input_tokens: int
    cached_tokens: int
    plan: ResponsePlan
    expires_at: float
    status: str = "queued"
    output: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    incomplete_reason: str | None = None
    completed_at: float | None = None
    # The stream's events in order; an event's index is its sequence_number. Empty unless `stream`.
    events: list[StreamEvent] = field(default_factory=list, repr=False, compare=False)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def started_at(self) -> float:
        return self.created_at + self.plan.queue_seconds

    @property
    def ends_at(self) -> float:
        return self.created_at + self.plan.duration_seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "created_at": unix(self.created_at),
            "status": self.status,
            "background": self.background,
            "completed_at": unix(self.completed_at),
            "error": self.error,
            "incomplete_details": None if self.incomplete_reason is None else {"reason": self.incomplete_reason},
            "output": self.output,
            "previous_response_id": self.previous_response_id,
            "conversation": None if self.conversation_id is None else {"id": self.conversation_id},
            "store": self.store,
            **self.settings.to_json(),
            "usage": self.usage,
        }


@dataclass
class Conversation:
    """A conversation (ConversationResource) and its items, oldest first."""

    id: str
    created_at: float
    metadata: dict[str, str]
    items: list[StoredItem] = field(default_factory=list)
    # The response working on the conversation, while it is queued or in progress.
    active_response_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "object": "conversation", "created_at": unix(self.created_at), "metadata": self.metadata}
