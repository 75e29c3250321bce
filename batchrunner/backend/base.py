"""The backend-neutral seam: what the state machine sees of an API object, and what a backend does.

The processor speaks of jobs, attempts and API objects. An attempt starts with one API object (an
Assistants run, a Responses response) and may make more: a Responses tool round chains a new
response, an Assistants tool round keeps the run. Each look at an object gives an ``ObjectSnapshot``
with a neutral ``Phase`` (working / needs tool outputs / done with an outcome), a ``Handle`` to what
to look at next, and whatever the object already carries (output items, messages). Each backend
owns its API's concepts (threads, run steps, conversations, output items) and their records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from batchrunner.api.headers import RateLimitInfo
from batchrunner.jobs import RESERVED_METADATA_KEY, BackendName, JobSpec
from batchrunner.states import JobState, Phase

# The metadata key every object batchrunner creates carries: the job's (or the attempt's) tag.
TAG_KEY = RESERVED_METADATA_KEY


# Failures mid-run that a new attempt may fix, on every backend: the server's error and its rate limit.
RETRYABLE_ERROR_CODES = frozenset({"rate_limit_exceeded", "server_error"})


def is_retryable_failure(outcome: JobState | None, error_code: str | None) -> bool:
    return outcome is JobState.FAILED and error_code in RETRYABLE_ERROR_CODES


@dataclass(frozen=True)
class UsageRecord:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None


@dataclass(frozen=True)
class PendingToolCall:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Handle:
    """What to look at next: an API object and the container (thread, conversation) it lives in.

    ``round_key`` names the job's round when the job has not yet seen that round wait for tool
    outputs (None otherwise): a stream's copy of an object waiting for the worker answers only such a
    look, since a round already seen may have been answered elsewhere since.
    """

    object_id: str
    container_id: str | None = None
    round_key: str | None = None


@dataclass(frozen=True)
class StepRecord:
    """The Assistants backend's detail of a run: one run step."""

    step_id: str
    type: str
    status: str
    details: dict[str, Any]
    created_at: datetime | None
    completed_at: datetime | None
    last_error_code: str | None
    usage: UsageRecord | None


@dataclass(frozen=True)
class OutputItemRecord:
    """The Responses backend's detail of a response: one item of its ``output``, as sent."""

    position: int
    item_id: str | None
    type: str
    status: str | None
    item: dict[str, Any]


DetailRecord = StepRecord | OutputItemRecord


@dataclass(frozen=True)
class MessageRecord:
    message_id: str
    role: str
    text: str
    content: list[dict[str, Any]]
    created_at: datetime | None


@dataclass(frozen=True)
class ObjectSnapshot:
    """What one answer of the API told us about one API object."""

    backend: str
    kind: str
    object_id: str
    container_id: str | None
    # The API's own status word, stored as it came; ``phase`` and ``outcome`` are what it means.
    status: str
    phase: Phase
    # The job state the object's final status means; None while it has none (or waits for tool outputs
    # on a backend whose tool rounds keep the object open).
    outcome: JobState | None = None
    assistant_id: str | None = None
    model: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    incomplete_reason: str | None = None
    usage: UsageRecord | None = None
    tool_calls: tuple[PendingToolCall, ...] = ()
    # Failed in a way a new attempt may fix (the server's error or its rate limit, mid-run).
    retryable: bool = False
    # A cancel was asked for and the API has not finished it yet (Assistants' ``cancelling``).
    cancelling: bool = False
    poll_after_ms: int | None = None
    rate_limit: RateLimitInfo | None = None
    # True when the answer was a stream the backend keeps open (see ``Backend.follow``).
    streamed: bool = False
    # What the object itself carries; None means it must be fetched (``Backend.fetch_details``).
    details: tuple[DetailRecord, ...] | None = None
    messages: tuple[MessageRecord, ...] | None = None
    # The service tier the API says served the object (Responses' ``service_tier``), if it says.
    service_tier: str | None = None

    @property
    def handle(self) -> Handle:
        return Handle(self.object_id, self.container_id)

    @property
    def is_done(self) -> bool:
        return self.phase is Phase.DONE

    @property
    def ended(self) -> bool:
        """The object itself reached a final status (a Responses tool round ends its response)."""
        return self.outcome is not None

    @property
    def needs_tool_outputs(self) -> bool:
        return self.phase is Phase.NEEDS_TOOL_OUTPUTS and bool(self.tool_calls)

    @property
    def is_running(self) -> bool:
        """Queued or working at the API (not waiting for us, not done)."""
        return self.phase is Phase.WORKING and not self.cancelling


class Backend(Protocol):
    """Drives one API. Each method is one request unless it says otherwise."""

    name: BackendName
    # Whether a tool round's hand-back creates a new API object (a chained response) rather than
    # resuming the same one; an unclear answer to it may then have created an object.
    chains_objects: bool

    def needs_container(self, job: JobSpec) -> bool:
        """Whether an attempt first creates a container (an Assistants thread) whose id is committed."""
        ...

    def create_container(self, job: JobSpec, job_tag: str) -> str: ...

    def start(self, job: JobSpec, container_id: str | None, tag: str) -> ObjectSnapshot:
        """Create the attempt's first API object, tagged with ``tag`` so it can be adopted if possible."""
        ...

    def can_adopt(self) -> bool:
        """Whether ``adopt`` can find an object created before a crash (the API lists them)."""
        ...

    def adopt(self, job: JobSpec, container_id: str | None, tag: str) -> ObjectSnapshot | None:
        """The object tagged ``tag``, if the API created it before a crash."""
        ...

    def look(self, handle: Handle) -> ObjectSnapshot:
        """One request, unless ``look_is_free`` (its stream already showed how the object ended)."""
        ...

    def look_is_free(self, handle: Handle) -> bool:
        """Whether ``look`` will answer from what a stream showed, sending no request (no budget)."""
        ...

    def continue_with_tool_outputs(
        self, current: ObjectSnapshot, job: JobSpec, tag: str, outputs: list[tuple[str, str]]
    ) -> ObjectSnapshot:
        """Hand a tool round's outputs back; the answer may be a new object (a chained response)."""
        ...

    def cancel(self, handle: Handle) -> ObjectSnapshot: ...

    def collect_requests(self, snapshot: ObjectSnapshot, *, details_stored: bool) -> int:
        """Requests ``fetch_details`` (unless stored) and ``fetch_messages`` cost for a finished object
        (none when the snapshot carries them)."""
        ...

    def fetch_details(self, snapshot: ObjectSnapshot) -> list[DetailRecord]:
        """The backend's detail records of a finished object (one request per page)."""
        ...

    def fetch_messages(self, snapshot: ObjectSnapshot) -> list[MessageRecord]:
        """The assistant messages a finished object wrote, oldest first (one request per page)."""
        ...

    def follow(self, object_id: str, job_id: int, round_key: str | None = None) -> bool:
        """Ask to hear when a ``streamed`` snapshot's object settles; False: it already did.

        ``round_key`` is the one of the ``Handle`` the look after the hand-back will use."""
        ...

    def is_followed(self, object_id: str) -> bool:
        """Whether a stream will say when object ``object_id`` next needs a worker."""
        ...


__all__ = [
    "RETRYABLE_ERROR_CODES",
    "TAG_KEY",
    "Backend",
    "DetailRecord",
    "Handle",
    "MessageRecord",
    "ObjectSnapshot",
    "OutputItemRecord",
    "PendingToolCall",
    "StepRecord",
    "UsageRecord",
    "is_retryable_failure",
]
