"""The Assistants v2 backend: its client, models, run streams and the adapter onto the neutral seam."""

from batchrunner.backend.assistants.adapter import AssistantsBackend, snapshot_of
from batchrunner.backend.assistants.client import AssistantsClient
from batchrunner.backend.assistants.streams import RunStreams

__all__ = ["AssistantsBackend", "AssistantsClient", "RunStreams", "snapshot_of"]
