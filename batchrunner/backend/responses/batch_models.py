"""Typed views of the Files and Batch API objects, and a reader of batch output and error files.

Lenient like ``models.py``: unknown fields are kept, only ids (and a batch's ``status``, without which a
batch cannot be followed) are required, and statuses stay plain strings (``BatchStatus`` names the known
ones). The Batch guide says optional fields may be missing or empty strings, so a file id that is
missing, null or blank reads as None, and missing ``request_counts`` read as zeros.

``iter_output_lines`` reads the JSONL of an output or error file, whole or in chunks as downloaded. A line
that is not JSON, is not an object, lacks its ``custom_id`` or has a malformed ``response``/``error``
raises ``InvalidBatchOutputLine`` naming its line number; the lines before it have been yielded. Raising
(rather than yielding an error record) is deliberate: such a line is a server bug that no job can be
matched to, and the caller must decide to fail loudly or to treat the custom_ids it never saw as
unanswered, not carry on as if the file were whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError

from batchrunner.api.errors import ApiError
from batchrunner.api.models import ApiModel, ListPage
from batchrunner.api.pipeline import validation_problems
from batchrunner.backend.responses.models import Response, ResponseUsage

__all__ = [
    "FINAL_BATCH_STATUSES",
    "Batch",
    "BatchError",
    "BatchLineError",
    "BatchLineResponse",
    "BatchList",
    "BatchOutputLine",
    "BatchRequestCounts",
    "BatchStatus",
    "DeletedFile",
    "FileObject",
    "InvalidBatchOutputLine",
    "iter_output_lines",
]


class BatchStatus(StrEnum):
    """The statuses the spec names for a batch (``Batch.status`` may hold others)."""

    VALIDATING = "validating"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


# A batch in one of these changes no more; its output and error files (if any) are final.
FINAL_BATCH_STATUSES: frozenset[str] = frozenset(
    {BatchStatus.FAILED, BatchStatus.COMPLETED, BatchStatus.EXPIRED, BatchStatus.CANCELLED}
)


def _blank_as_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _none_as(default: Any) -> BeforeValidator:
    return BeforeValidator(lambda value: default if value is None else value)


# A file id a server may leave out, send as null or as "": all three mean "no file".
OptionalFileId = Annotated[str | None, BeforeValidator(_blank_as_none)]
Count = Annotated[int, _none_as(0)]
Timestamp = int | float | None


class FileObject(ApiModel):
    """An uploaded or generated file (the spec's ``OpenAIFile``)."""

    id: str
    object: str = "file"
    bytes: int | None = None
    created_at: Timestamp = None
    expires_at: Timestamp = None
    filename: str | None = None
    purpose: str | None = None
    # Deprecated in the spec, still sent.
    status: str | None = None
    status_details: str | None = None


class DeletedFile(ApiModel):
    """The answer to ``DELETE /files/{id}``; a 2xx without ``deleted`` counts as deleted, as for responses."""

    id: str | None = None
    object: str | None = "file"
    deleted: bool = True


class BatchRequestCounts(ApiModel):
    total: Count = 0
    completed: Count = 0
    failed: Count = 0


class BatchError(ApiModel):
    """Why an input file failed validation (one per problem; ``line`` is 1-based when given)."""

    code: str | None = None
    message: str | None = None
    line: int | None = None
    param: str | None = None


def _error_list(value: Any) -> Any:
    """``errors`` as a list: the spec's ``{"object": "list", "data": [...]}``, a bare list, or one error."""
    if value is None:
        return []
    if isinstance(value, dict):
        data = value.get("data")
        if isinstance(data, list):
            return data
        return [] if data is None and set(value) <= {"object", "data"} else [value]
    return value


class Batch(ApiModel):
    """A batch (the spec's ``Batch``): its status, files, counts and, once ``failed``, its errors."""

    id: str
    status: str
    object: str = "batch"
    endpoint: str | None = None
    model: str | None = None
    completion_window: str | None = None
    input_file_id: OptionalFileId = None
    output_file_id: OptionalFileId = None
    error_file_id: OptionalFileId = None
    request_counts: Annotated[BatchRequestCounts, _none_as({})] = Field(default_factory=BatchRequestCounts)
    metadata: Annotated[dict[str, Any], _none_as({})] = Field(default_factory=dict)
    errors: Annotated[list[BatchError], BeforeValidator(_error_list)] = Field(default_factory=list)
    usage: ResponseUsage | None = None
    created_at: Timestamp = None
    expires_at: Timestamp = None
    in_progress_at: Timestamp = None
    finalizing_at: Timestamp = None
    completed_at: Timestamp = None
    failed_at: Timestamp = None
    expired_at: Timestamp = None
    cancelling_at: Timestamp = None
    cancelled_at: Timestamp = None

    @property
    def known_status(self) -> BatchStatus | None:
        """``status`` as a ``BatchStatus``; None when it is not one the spec names."""
        try:
            return BatchStatus(self.status)
        except ValueError:
            return None

    @property
    def is_final(self) -> bool:
        """True for failed, completed, expired and cancelled; False for active or unknown statuses."""
        return self.status in FINAL_BATCH_STATUSES


class BatchList(ListPage[Batch]):
    """One page of batches, newest first (``data``, ``has_more``, ``first_id``, ``last_id``)."""


class BatchLineResponse(ApiModel):
    """The HTTP answer one input line got: its status code, request id and body (a Response or an error)."""

    status_code: int
    request_id: str | None = None
    body: Annotated[dict[str, Any], _none_as({})] = Field(default_factory=dict)


class BatchLineError(ApiModel):
    """Why a line got no HTTP answer at all (``batch_expired``, ``batch_cancelled``, ...)."""

    code: str | None = None
    message: str | None = None


class BatchOutputLine(ApiModel):
    """One line of an output or error file: the answer to the input line with the same ``custom_id``."""

    custom_id: str
    id: str | None = None
    response: BatchLineResponse | None = None
    error: BatchLineError | None = None

    @property
    def succeeded(self) -> bool:
        """A 2xx answer and no error: the body is the endpoint's reply (a ``Response`` for /v1/responses)."""
        return self.error is None and self.response is not None and 200 <= self.response.status_code < 300

    def response_body(self) -> Response:
        """The body of a succeeded line as a ``Response``; ValueError for a line that did not succeed."""
        if not self.succeeded or self.response is None:
            raise ValueError(f"line {self.custom_id!r} has no successful response")
        return Response.model_validate(self.response.body)


class InvalidBatchOutputLine(ApiError):
    """A line of an output or error file that cannot be read (a server bug); ``line_number`` is 1-based."""

    def __init__(self, message: str, *, line_number: int, file_id: str | None = None) -> None:
        super().__init__(message)
        self.line_number = line_number
        self.file_id = file_id


def iter_output_lines(content: bytes | Iterable[bytes], *, file_id: str | None = None) -> Iterator[BatchOutputLine]:
    """The lines of an output or error file (``content`` whole, or chunks split anywhere), blank ones skipped.

    Raises ``InvalidBatchOutputLine`` at the first line that cannot be read (see the module docstring).
    """
    for number, raw in enumerate(_split_lines(content), start=1):
        if raw.strip():
            yield _parse_line(raw, number, file_id)


def _split_lines(content: bytes | Iterable[bytes]) -> Iterator[bytes]:
    chunks = [content] if isinstance(content, bytes) else content
    pending = b""
    for chunk in chunks:
        *complete, pending = (pending + chunk).split(b"\n")
        yield from complete
    if pending:
        yield pending


def _parse_line(raw: bytes, number: int, file_id: str | None) -> BatchOutputLine:
    where = f"line {number}" + (f" of file {file_id}" if file_id else "")
    problem: str
    try:
        entry = json.loads(raw)
    except ValueError as exc:  # also a UnicodeDecodeError
        problem = f"not JSON ({type(exc).__name__})"
    else:
        if not isinstance(entry, dict):
            problem = f"not a JSON object but {type(entry).__name__}"
        elif not isinstance(entry.get("custom_id"), str) or not entry["custom_id"]:
            problem = "no custom_id"
        else:
            try:
                return BatchOutputLine.model_validate(entry)
            except ValidationError as exc:
                problem = f"not a valid output line: {validation_problems(exc)}"
    raise InvalidBatchOutputLine(f"{where}: {problem}", line_number=number, file_id=file_id)
