"""A batch (the Batch schema) and the bookkeeping that drives its lifecycle.

Fields the API leaves null until they apply (the timestamps of later statuses, the files, `errors`)
are left out of the JSON instead: the schema types them as plain integers, strings and objects, and
the Batch guide says optional fields may be missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchrunner.simulator.records import unix

ACTIVE_STATUSES = frozenset(("validating", "in_progress", "finalizing", "cancelling"))
TIMESTAMPS = (
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)


@dataclass(frozen=True)
class BatchLine:
    """One request of the input file: its 1-based line number, custom_id and CreateResponse body."""

    number: int
    custom_id: str
    body: Any


@dataclass
class BatchUsage:
    """The tokens of the batch's answered lines, summed."""

    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    def add(self, usage: dict[str, Any]) -> None:
        self.input_tokens += usage["input_tokens"]
        self.cached_tokens += usage["input_tokens_details"]["cached_tokens"]
        self.output_tokens += usage["output_tokens"]
        self.reasoning_tokens += usage["output_tokens_details"]["reasoning_tokens"]

    def to_json(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.input_tokens + self.output_tokens,
        }


@dataclass
class BatchRecord:
    """A batch, its input lines, its schedule (fixed at creation) and what it produced so far.

    `order` is the (shuffled) order in which the lines are answered: the `k`-th of them (from 0) is
    due `(k + 1) * line_interval` seconds after the batch went in progress.
    """

    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, str]
    created_at: float
    expires_at: float
    lines: list[BatchLine]
    validation_errors: list[dict[str, Any]]
    model: str | None
    order: list[int]
    line_interval: float
    status: str = "validating"
    answered: int = 0  # how many lines of `order` have been answered
    output_lines: list[dict[str, Any]] = field(default_factory=list)
    error_lines: list[dict[str, Any]] = field(default_factory=list)
    completed: int = 0
    failed: int = 0
    usage: BatchUsage = field(default_factory=BatchUsage)
    output_file_id: str | None = None
    error_file_id: str | None = None
    times: dict[str, float] = field(default_factory=dict)  # TIMESTAMPS reached so far

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def total(self) -> int:
        """The requests counted: none until the input file has passed validation."""
        return len(self.lines) if "in_progress_at" in self.times else 0

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "created_at": unix(self.created_at),
            "expires_at": unix(self.expires_at),
            "request_counts": {"total": self.total, "completed": self.completed, "failed": self.failed},
            "usage": self.usage.to_json(),
            "metadata": self.metadata,
        }
        if self.model is not None:
            body["model"] = self.model
        if self.status == "failed":
            body["errors"] = {"object": "list", "data": self.validation_errors}
        for name in TIMESTAMPS:
            if name in self.times:
                body[name] = unix(self.times[name])
        if self.output_file_id is not None:
            body["output_file_id"] = self.output_file_id
        if self.error_file_id is not None:
            body["error_file_id"] = self.error_file_id
        return body
