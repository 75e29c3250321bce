"""The seam between the job state machine and the API that runs the model.

``base`` holds backend-neutral records; ``assistants`` drives Assistants v2. A Responses API backend
fits the same interface: its tool rounds are chained responses, and its usage is summed per job.
"""

from batchrunner.backend.base import (
    MessageRecord,
    PendingToolCall,
    RunBackend,
    RunSnapshot,
    StepRecord,
    UsageRecord,
)

__all__ = [
    "MessageRecord",
    "PendingToolCall",
    "RunBackend",
    "RunSnapshot",
    "StepRecord",
    "UsageRecord",
]
