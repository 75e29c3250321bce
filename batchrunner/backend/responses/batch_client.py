"""A small synchronous client for the Files and Batch APIs: the transport of a Batch API lane.

Built on the shared ``batchrunner.api.pipeline`` like ``ResponsesClient``: the same error classification,
metrics records and key redaction; it never retries and never sleeps (following a batch to its end is the
caller's loop). Uploads go as multipart/form-data, downloads come back as raw bytes, whole or in chunks;
``batch_models.iter_output_lines`` reads the downloaded output and error files.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from batchrunner.api.models import ApiResponse
from batchrunner.api.pipeline import MAX_PAGE_SIZE, RAW_CHUNK_BYTES, PipelineClient
from batchrunner.backend.responses.batch_models import Batch, BatchList, DeletedFile, FileObject

__all__ = [
    "BATCHES_PATH",
    "BATCH_INPUT_PURPOSE",
    "BATCH_PATH",
    "CANCEL_BATCH_PATH",
    "COMPLETION_WINDOW",
    "FILES_PATH",
    "FILE_CONTENT_PATH",
    "FILE_PATH",
    "RESPONSES_BATCH_ENDPOINT",
    "BatchClient",
]

# Endpoint templates: metrics and errors name requests by these, never by the filled-in path.
FILES_PATH = "/files"
FILE_PATH = "/files/{file_id}"
FILE_CONTENT_PATH = "/files/{file_id}/content"
BATCHES_PATH = "/batches"
BATCH_PATH = "/batches/{batch_id}"
CANCEL_BATCH_PATH = "/batches/{batch_id}/cancel"

BATCH_INPUT_PURPOSE = "batch"
# What a batch's lines are sent to, as the API names it (with its /v1, whatever the base URL's prefix).
RESPONSES_BATCH_ENDPOINT = "/v1/responses"
# The only completion window the API offers.
COMPLETION_WINDOW = "24h"


class BatchClient(PipelineClient):
    """Files and batches of one OpenAI-compatible server.

    ``BatchClient(base_url, api_key, *, timeout=30.0, transport=None, on_response=None,
    default_headers=None)``, like ``ResponsesClient``.
    """

    # -- files ------------------------------------------------------------------------------------

    def upload_file(self, content: bytes, filename: str, purpose: str = BATCH_INPUT_PURPOSE) -> ApiResponse[FileObject]:
        """``POST /files`` as multipart/form-data (fields ``purpose`` and ``file``).

        A batch input file must be named ``*.jsonl``; the server checks that and the size.
        """
        _require_text("filename", filename)
        _require_text("purpose", purpose)
        form = {"file": (filename, content)}
        return self._pipeline.call("POST", FILES_PATH, {}, FileObject, files=form, data={"purpose": purpose})

    def retrieve_file(self, file_id: str) -> ApiResponse[FileObject]:
        return self._pipeline.call("GET", FILE_PATH, {"file_id": file_id}, FileObject)

    def file_content(self, file_id: str) -> bytes:
        """The file's content as stored (``GET /files/{id}/content``), read whole into memory."""
        return self._pipeline.call_raw("GET", FILE_CONTENT_PATH, {"file_id": file_id}).data

    @contextmanager
    def stream_file_content(self, file_id: str, *, chunk_bytes: int = RAW_CHUNK_BYTES) -> Iterator[Iterator[bytes]]:
        """The file's content in chunks, for files too large to hold: ``with client.stream_file_content(id) as
        chunks: ...`` (errors as in ``ApiPipeline.stream_raw``)."""
        with self._pipeline.stream_raw(
            "GET", FILE_CONTENT_PATH, {"file_id": file_id}, chunk_bytes=chunk_bytes
        ) as chunks:
            yield chunks

    def delete_file(self, file_id: str) -> ApiResponse[DeletedFile]:
        return self._pipeline.call("DELETE", FILE_PATH, {"file_id": file_id}, DeletedFile)

    # -- batches ----------------------------------------------------------------------------------

    def create_batch(
        self,
        input_file_id: str,
        *,
        endpoint: str = RESPONSES_BATCH_ENDPOINT,
        completion_window: str = COMPLETION_WINDOW,
        metadata: Mapping[str, str] | None = None,
    ) -> ApiResponse[Batch]:
        """``POST /batches`` for an uploaded input file (purpose ``batch``); the batch starts ``validating``."""
        _require_text("input_file_id", input_file_id)
        body: dict[str, Any] = {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": completion_window,
        }
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return self._pipeline.call("POST", BATCHES_PATH, {}, Batch, json=body)

    def retrieve_batch(self, batch_id: str) -> ApiResponse[Batch]:
        return self._pipeline.call("GET", BATCH_PATH, {"batch_id": batch_id}, Batch)

    def list_batches(self, *, after: str | None = None, limit: int = 20) -> ApiResponse[BatchList]:
        """One page of the organization's batches, newest first; pass the page's ``last_id`` as ``after``."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
        params = {"limit": str(limit)}
        if after is not None:
            _require_text("after", after)
            params["after"] = after
        return self._pipeline.call("GET", BATCHES_PATH, {}, BatchList, params=params)

    def cancel_batch(self, batch_id: str) -> ApiResponse[Batch]:
        """Ask to cancel: the batch is ``cancelling`` (up to 10 minutes), then ``cancelled`` with the
        lines answered so far in its output file."""
        return self._pipeline.call("POST", CANCEL_BATCH_PATH, {"batch_id": batch_id}, Batch)


def _require_text(name: str, value: str) -> None:
    """An empty id, cursor, name or purpose is a caller bug, not something to send."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"missing required {name} parameter")
