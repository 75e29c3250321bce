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
    # The Batch API lane: waiting to be put in an input file, then a line of a submitted batch.
    BATCH_QUEUED = "batch_queued"
    IN_API_BATCH = "in_api_batch"
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
# Jobs the Batch API lane's driver holds (``batch_lane``), not the step-by-step processor.
BATCH_LANE_STATES: frozenset[JobState] = frozenset({JobState.BATCH_QUEUED, JobState.IN_API_BATCH})


class Phase(StrEnum):
    """Where an attempt's current API object stands."""

    WORKING = "working"
    NEEDS_TOOL_OUTPUTS = "needs_tool_outputs"
    DONE = "done"


class SubmissionPhase(StrEnum):
    """Where a Batch API submission (``api_batches``) stands in batchrunner's hands; each phase's id is
    committed before the next request, so a crash resumes from it without a second batch."""

    PREPARING = "preparing"  # its jobs are assigned; the input file is not uploaded (or its id not committed)
    UPLOADED = "uploaded"  # the input file id is committed; the batch is not created (or its id not committed)
    SUBMITTED = "submitted"  # the batch id is committed: followed until it ends
    COLLECTING = "collecting"  # the batch ended: its output and error files are being recorded
    DONE = "done"


# Submissions whose lines the API holds (or may be about to): they count against the enqueued-token limit.
ENQUEUED_PHASES: frozenset[SubmissionPhase] = frozenset(
    {SubmissionPhase.PREPARING, SubmissionPhase.UPLOADED, SubmissionPhase.SUBMITTED}
)


class BatchStatus(StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    FINISHED = "finished"


__all__ = [
    "BATCH_LANE_STATES",
    "ENQUEUED_PHASES",
    "FOLLOWING_STATES",
    "TERMINAL_JOB_STATES",
    "BatchStatus",
    "JobState",
    "Phase",
    "SubmissionPhase",
]
