"""A stored file (the OpenAIFile schema) and how files are added to and looked up in the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from batchrunner.simulator.errors import APIError
from batchrunner.simulator.records import unix

# Batch input and output files expire after 30 days (the Files and Batch API references).
BATCH_FILE_RETENTION_S = 2_592_000.0
EXPIRING_PURPOSES = frozenset(("batch", "batch_output"))


@dataclass
class FileRecord:
    """An uploaded or generated file and its bytes."""

    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: float
    expires_at: float | None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": unix(self.created_at),
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }
        if self.expires_at is not None:  # the schema types it as an integer: absent rather than null
            body["expires_at"] = unix(self.expires_at)
        return body


class FileStore(Protocol):
    """What file bookkeeping needs of the store (`state.Store` has it)."""

    files: dict[str, FileRecord]

    def now(self) -> float: ...

    def new_id(self, prefix: str) -> str: ...


def file_not_found(file_id: str) -> APIError:
    return APIError(404, f"No such File object: {file_id}", param="id")


def add_file(store: FileStore, filename: str, purpose: str, content: bytes, at: float | None = None) -> FileRecord:
    """Store a new file created at `at` (default now); batch files get their 30-day expiry."""
    created = store.now() if at is None else at
    expires = created + BATCH_FILE_RETENTION_S if purpose in EXPIRING_PURPOSES else None
    # OpenAI file ids use a hyphen ("file-abc123"), unlike the other objects' underscores.
    file_id = store.new_id("file").replace("file_", "file-", 1)
    record = FileRecord(file_id, filename, purpose, content, created, expires)
    store.files[record.id] = record
    return record


def find_file(store: FileStore, file_id: str) -> FileRecord | None:
    """The file, or None when unknown, deleted or expired (an expired file is dropped)."""
    record = store.files.get(file_id)
    if record is not None and record.expires_at is not None and store.now() >= record.expires_at:
        del store.files[file_id]
        return None
    return record


def get_file(store: FileStore, file_id: str) -> FileRecord:
    """The file, or a 404."""
    record = find_file(store, file_id)
    if record is None:
        raise file_not_found(file_id)
    return record
