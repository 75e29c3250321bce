"""The seam between the job state machine and the APIs that run the model.

``base`` holds the backend-neutral records and the ``Backend`` protocol; ``assistants`` drives
Assistants v2 (a run per attempt, on a thread), ``responses`` the Responses API (a chain of
background responses per attempt).
"""

from batchrunner.backend.base import (
    Backend,
    DetailRecord,
    Handle,
    MessageRecord,
    ObjectSnapshot,
    OutputItemRecord,
    PendingToolCall,
    StepRecord,
    UsageRecord,
)

__all__ = [
    "Backend",
    "DetailRecord",
    "Handle",
    "MessageRecord",
    "ObjectSnapshot",
    "OutputItemRecord",
    "PendingToolCall",
    "StepRecord",
    "UsageRecord",
]
