"""Backend-neutral records of a run and the interface every backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from batchrunner.api.headers import RateLimitInfo
from batchrunner.jobs import JobSpec

ACTIVE_STATUSES = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
RETRYABLE_RUN_ERRORS = frozenset({"rate_limit_exceeded", "server_error"})


@dataclass(frozen=True)
class UsageRecord:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class PendingToolCall:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class RunSnapshot:
    """What one response told us about a run."""

    run_id: str
    thread_id: str
    assistant_id: str
    status: str
    model: str | None
    created_at: datetime | None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    cancelled_at: datetime | None = None
    expires_at: datetime | None = None
    last_error_code: str | None = None
    last_error_message: str | None = None
    incomplete_reason: str | None = None
    usage: UsageRecord | None = None
    tool_calls: tuple[PendingToolCall, ...] = ()
    poll_after_ms: int | None = None
    rate_limit: RateLimitInfo | None = None
    # True when the response was a stream the backend keeps open (see ``RunBackend.follow_run``).
    streamed: bool = False

    @property
    def is_terminal(self) -> bool:
        return self.status not in ACTIVE_STATUSES

    @property
    def needs_tool_outputs(self) -> bool:
        return self.status == "requires_action" and bool(self.tool_calls)

    @property
    def finished_at(self) -> datetime | None:
        return (
            self.completed_at
            or self.failed_at
            or self.cancelled_at
            or (self.expires_at if self.status == "expired" else None)
        )


@dataclass(frozen=True)
class StepRecord:
    step_id: str
    type: str
    status: str
    details: dict[str, Any]
    created_at: datetime | None
    completed_at: datetime | None
    last_error_code: str | None
    usage: UsageRecord | None


@dataclass(frozen=True)
class MessageRecord:
    message_id: str
    role: str
    text: str
    content: list[dict[str, Any]]
    created_at: datetime | None


class RunBackend(Protocol):
    """Drives runs at one API. Each method is one logical request (``collect_outputs`` a few)."""

    def create_thread(self, job: JobSpec, job_tag: str) -> str:
        """Create the job's thread and return its id."""
        ...

    def create_run(self, thread_id: str, job: JobSpec, run_tag: str) -> RunSnapshot:
        """Start a run for ``job`` on ``thread_id``, tagged with ``run_tag`` so it can be adopted."""
        ...

    def follow_run(self, run_id: str, job_id: int) -> bool:
        """Ask to hear when the stream of a ``streamed`` snapshot's run settles; False: it already did."""
        ...

    def is_followed(self, run_id: str) -> bool:
        """Whether a stream will say when run ``run_id`` next needs a worker."""
        ...

    def find_run(self, thread_id: str, run_tag: str) -> RunSnapshot | None:
        """The run tagged ``run_tag`` on ``thread_id``, if the API created it (crash recovery)."""
        ...

    def get_run(self, thread_id: str, run_id: str) -> RunSnapshot: ...

    def submit_tool_outputs(self, thread_id: str, run_id: str, outputs: list[tuple[str, str]]) -> RunSnapshot: ...

    def cancel_run(self, thread_id: str, run_id: str) -> RunSnapshot: ...

    def list_steps(self, thread_id: str, run_id: str) -> list[StepRecord]:
        """Steps of a finished run (one request per page)."""
        ...

    def list_output_messages(self, thread_id: str, run_id: str) -> list[MessageRecord]:
        """The assistant messages a finished run wrote, oldest first (one request per page)."""
        ...
