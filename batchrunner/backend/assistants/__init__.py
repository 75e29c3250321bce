"""The Assistants v2 backend: its client, models, run-stream dialect and the adapter onto the neutral seam."""

from batchrunner.backend.assistants.adapter import AssistantsBackend, snapshot_of
from batchrunner.backend.assistants.client import AssistantsClient
from batchrunner.backend.assistants.streams import RUN_STREAMS

__all__ = ["RUN_STREAMS", "AssistantsBackend", "AssistantsClient", "snapshot_of"]
