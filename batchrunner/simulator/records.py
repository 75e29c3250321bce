"""The objects the simulator stores, and their JSON form (the OpenAPI *Object schemas).

Times are kept as float seconds from the configured clock and shown as integer Unix seconds.
Every required field is emitted, with explicit nulls where the schema allows them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from batchrunner.simulator.events import EventQueue
from batchrunner.simulator.textgen import content_text
from batchrunner.simulator.toolcalls import PlannedCall

ACTIVE_RUN_STATUSES = frozenset(("queued", "in_progress", "requires_action", "cancelling"))
TERMINAL_RUN_STATUSES = frozenset(("cancelled", "failed", "completed", "incomplete", "expired"))


def unix(seconds: float | None) -> int | None:
    """Float clock seconds as the API's integer timestamps."""
    return None if seconds is None else int(seconds)


@dataclass
class Usage:
    """Token counts of a run or a step."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)

    def to_json(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass
class Assistant:
    """An assistant (AssistantObject)."""

    id: str
    created_at: float
    model: str
    name: str | None = None
    description: str | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    temperature: float | None = 1.0
    top_p: float | None = 1.0
    response_format: str | dict[str, Any] | None = "auto"
    tool_resources: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "assistant",
            "created_at": unix(self.created_at),
            "name": self.name,
            "description": self.description,
            "model": self.model,
            "instructions": self.instructions,
            "tools": self.tools,
            "tool_resources": self.tool_resources if self.tool_resources is not None else {},
            "metadata": self.metadata,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "response_format": self.response_format if self.response_format is not None else "auto",
        }


@dataclass
class Thread:
    """A thread (ThreadObject) with the ids of its messages and runs in creation order."""

    id: str
    created_at: float
    metadata: dict[str, str] = field(default_factory=dict)
    tool_resources: dict[str, Any] | None = None
    message_ids: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "thread",
            "created_at": unix(self.created_at),
            "tool_resources": self.tool_resources if self.tool_resources is not None else {},
            "metadata": self.metadata,
        }


@dataclass
class Message:
    """A message (MessageObject)."""

    id: str
    created_at: float
    thread_id: str
    role: str
    content: list[dict[str, Any]]
    attachments: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    assistant_id: str | None = None
    run_id: str | None = None
    status: str = "completed"
    completed_at: float | None = None
    incomplete_at: float | None = None
    incomplete_reason: str | None = None

    @property
    def text(self) -> str:
        """The message's text parts joined: what the simulated model reads."""
        return content_text(self.content)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "thread.message",
            "created_at": unix(self.created_at),
            "thread_id": self.thread_id,
            "status": self.status,
            "incomplete_details": None if self.incomplete_reason is None else {"reason": self.incomplete_reason},
            "completed_at": unix(self.completed_at),
            "incomplete_at": unix(self.incomplete_at),
            "role": self.role,
            "content": self.content,
            "assistant_id": self.assistant_id,
            "run_id": self.run_id,
            "attachments": self.attachments,
            "metadata": self.metadata,
        }


@dataclass
class Step:
    """A run step (RunStepObject)."""

    id: str
    created_at: float
    run_id: str
    thread_id: str
    assistant_id: str
    type: str
    step_details: dict[str, Any]
    status: str = "in_progress"
    last_error: dict[str, str] | None = None
    expired_at: float | None = None
    cancelled_at: float | None = None
    failed_at: float | None = None
    completed_at: float | None = None
    usage: Usage | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "thread.run.step",
            "created_at": unix(self.created_at),
            "assistant_id": self.assistant_id,
            "thread_id": self.thread_id,
            "run_id": self.run_id,
            "type": self.type,
            "status": self.status,
            "step_details": self.step_details,
            "last_error": self.last_error,
            "expired_at": unix(self.expired_at),
            "cancelled_at": unix(self.cancelled_at),
            "failed_at": unix(self.failed_at),
            "completed_at": unix(self.completed_at),
            "metadata": {},
            "usage": None if self.usage is None else self.usage.to_json(),
        }


@dataclass
class RunPlan:
    """What will happen to a run, drawn from its own RNG when it is created."""

    queue_seconds: float
    first_turn_seconds: float
    second_turn_seconds: float
    failure_code: str | None
    calls: list[PlannedCall]
    rng: random.Random


@dataclass
class Run:
    """A run (RunObject) plus the bookkeeping that drives its lifecycle."""

    id: str
    created_at: float
    thread_id: str
    assistant_id: str
    model: str
    instructions: str
    tools: list[dict[str, Any]]
    metadata: dict[str, str]
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: dict[str, Any]
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    response_format: str | dict[str, Any]
    plan: RunPlan
    expires_at: float
    user_text: str
    context_prompt_tokens: int
    status: str = "queued"
    started_at: float | None = None
    cancelled_at: float | None = None
    failed_at: float | None = None
    completed_at: float | None = None
    last_error: dict[str, str] | None = None
    incomplete_reason: str | None = None
    required_action: dict[str, Any] | None = None
    step_ids: list[str] = field(default_factory=list)
    spent: Usage = field(default_factory=Usage)
    spent_pending: Usage = field(default_factory=Usage)
    turn_ends_at: float = 0.0
    turn: int = 1
    cancel_done_at: float | None = None
    tool_step_id: str | None = None
    tool_results: list[tuple[str, str]] = field(default_factory=list)
    expires_shown: bool = True
    # The open streams of this run (see `events`); never part of its JSON.
    listeners: list[EventQueue] = field(default_factory=list, repr=False, compare=False)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES

    def to_json(self) -> dict[str, Any]:
        terminal = self.status in TERMINAL_RUN_STATUSES
        return {
            "id": self.id,
            "object": "thread.run",
            "created_at": unix(self.created_at),
            "thread_id": self.thread_id,
            "assistant_id": self.assistant_id,
            "status": self.status,
            "required_action": self.required_action,
            "last_error": self.last_error,
            "expires_at": unix(self.expires_at) if self.expires_shown else None,
            "started_at": unix(self.started_at),
            "cancelled_at": unix(self.cancelled_at),
            "failed_at": unix(self.failed_at),
            "completed_at": unix(self.completed_at),
            "incomplete_details": None if self.incomplete_reason is None else {"reason": self.incomplete_reason},
            "model": self.model,
            "instructions": self.instructions,
            "tools": self.tools,
            "metadata": self.metadata,
            "usage": self.spent.to_json() if terminal else None,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_prompt_tokens": self.max_prompt_tokens,
            "max_completion_tokens": self.max_completion_tokens,
            "truncation_strategy": self.truncation_strategy,
            "tool_choice": self.tool_choice,
            "parallel_tool_calls": self.parallel_tool_calls,
            "response_format": self.response_format,
        }
