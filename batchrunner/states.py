"""The one vocabulary of job states and attempt phases, defined once.

A job's ``state`` is where the state machine holds it; an attempt's ``Phase`` is what the API object
it looks at says, in terms every backend shares. Each backend maps its own API statuses onto a phase
(``backend.assistants`` and ``backend.responses``); a status a backend does not know is ``WORKING``,
never terminal, so a new status at the API makes a job wait rather than fail.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    PENDING = "pending"
    CREATING = "creating_run"
    RUNNING = "running"
    REQUIRES_ACTION = "requires_action"
    COLLECTING = "collecting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    INCOMPLETE = "incomplete"


TERMINAL_JOB_STATES: frozenset[JobState] = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED, JobState.INCOMPLETE}
)
# Jobs whose attempt has an API object to look at.
FOLLOWING_STATES: frozenset[JobState] = frozenset({JobState.RUNNING, JobState.REQUIRES_ACTION})


class Phase(StrEnum):
    """Where an attempt's current API object stands."""

    WORKING = "working"
    NEEDS_TOOL_OUTPUTS = "needs_tool_outputs"
    DONE = "done"


class BatchStatus(StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    FINISHED = "finished"


__all__ = ["FOLLOWING_STATES", "TERMINAL_JOB_STATES", "BatchStatus", "JobState", "Phase"]
