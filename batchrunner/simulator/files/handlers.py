"""The /v1/files endpoints: upload (multipart), retrieve, download the content, delete.

An upload arrives as the form fields the app decoded (`multipart.parse_form`). Files with purpose
`batch` are checked as the Files API does at upload (a `.jsonl` name, at most 200 MB); their lines
are checked later, when a batch validates them (see `batches.inputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from batchrunner.simulator.errors import APIError, invalid
from batchrunner.simulator.files.records import add_file, get_file
from batchrunner.simulator.handlers import Call
from batchrunner.simulator.multipart import FormPart
from batchrunner.simulator.responses.replies import ResponsesReply
from batchrunner.simulator.validation import check_enum

UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
UPLOAD_FIELDS = ("file", "purpose", "expires_after[anchor]", "expires_after[seconds]")
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024
EXPIRY_RANGE_S = (3600, 2_592_000)
NOT_A_FORM_MESSAGE = "This endpoint expects a multipart/form-data body with the fields 'file' and 'purpose'."


@dataclass
class ContentReply:
    """A 200 whose body is a file's raw bytes rather than JSON."""

    content: bytes
    media_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)


def _form(body: Any) -> dict[str, FormPart]:
    if not isinstance(body, dict) or not all(isinstance(part, FormPart) for part in body.values()):
        raise invalid(NOT_A_FORM_MESSAGE, None)
    return body


def _required(form: dict[str, FormPart], name: str) -> FormPart:
    part = form.get(name)
    if part is None:
        raise APIError(400, f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")
    return part


def _check_expiry(form: dict[str, FormPart]) -> None:
    """expires_after (FileExpirationAfter), sent as the SDKs send nested form fields."""
    anchor, seconds = form.get("expires_after[anchor]"), form.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return
    if anchor is None or seconds is None:
        raise invalid("expires_after needs both 'anchor' and 'seconds'.", "expires_after")
    check_enum(anchor.text, "expires_after.anchor", ("created_at",))
    low, high = EXPIRY_RANGE_S
    if not seconds.text.isdigit() or not low <= int(seconds.text) <= high:
        raise invalid(f"Invalid 'expires_after.seconds': expected an integer from {low} to {high}.", "expires_after")


def _check_batch_file(upload: FormPart) -> None:
    if not (upload.filename or "").endswith(".jsonl"):
        raise invalid("Invalid file format for Batch API. Must be .jsonl", "file")
    if len(upload.content) > MAX_BATCH_FILE_BYTES:
        raise invalid("File is too large for the Batch API: the limit is 200 MB.", "file")


def upload_file(call: Call) -> ResponsesReply:
    form = _form(call.body)
    for name in form:
        if name not in UPLOAD_FIELDS:
            raise APIError(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")
    purpose = check_enum(_required(form, "purpose").text, "purpose", UPLOAD_PURPOSES)
    upload = _required(form, "file")
    if upload.filename is None:
        raise invalid("'file' must be a file upload (a form part with a filename), not a text field.", "file")
    if len(upload.content) > MAX_FILE_BYTES:
        raise invalid("File is too large: the limit is 512 MB.", "file")
    _check_expiry(form)
    if purpose == "batch":
        _check_batch_file(upload)
    record = add_file(call.store, upload.filename, purpose, upload.content)
    call.stats.record_file()
    return ResponsesReply(record.to_json())


def retrieve_file(call: Call) -> ResponsesReply:
    return ResponsesReply(get_file(call.store, call.params["file_id"]).to_json())


def download_file(call: Call) -> ContentReply:
    record = get_file(call.store, call.params["file_id"])
    media_type = "application/jsonl" if record.filename.endswith(".jsonl") else "application/octet-stream"
    return ContentReply(record.content, media_type)


def delete_file(call: Call) -> ResponsesReply:
    record = get_file(call.store, call.params["file_id"])
    del call.store.files[record.id]
    return ResponsesReply({"id": record.id, "object": "file", "deleted": True})


FILE = "/v1/files/{file_id}"
ROUTES: tuple[tuple[str, str, Callable[[Call], ResponsesReply | ContentReply]], ...] = (
    ("POST", "/v1/files", upload_file),
    ("GET", FILE, retrieve_file),
    ("GET", f"{FILE}/content", download_file),
    ("DELETE", FILE, delete_file),
)
