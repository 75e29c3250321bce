"""Reading a batch input file: JSONL lines `{"custom_id", "method": "POST", "url", "body"}`.

The checks are the ones the Batch API runs while a batch is `validating`; any failure makes the
batch `failed` with `errors` naming the line (1-based). The line's body itself is not checked here:
a body `/v1/responses` would refuse is answered 400 in the batch's error file, as the API does.
The error codes follow what the API is seen to report (`mismatched_model`, `duplicate_custom_id`);
the others are the simulator's best reading.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from batchrunner.simulator.batches.records import BatchLine

MAX_LINES = 50_000
MAX_BYTES = 200 * 1024 * 1024
# The API stops listing errors after a while; so does the simulator.
MAX_REPORTED_ERRORS = 100
LINE_KEYS = frozenset(("custom_id", "method", "url", "body"))


@dataclass(frozen=True)
class InputFile:
    """The lines of an input file, the errors that fail it, and the one model its requests name."""

    lines: list[BatchLine]
    errors: list[dict[str, Any]]
    model: str | None


def batch_error(code: str, message: str, line: int | None = None, param: str | None = None) -> dict[str, Any]:
    """A BatchError."""
    return {"code": code, "message": message, "param": param, "line": line}


def _line_error(entry: Any, number: int, endpoint: str, seen: set[str]) -> dict[str, Any] | None:
    """The error of one decoded line, or None when it is a well-formed request."""
    if not isinstance(entry, dict):
        return batch_error("invalid_json_line", "This line is not a JSON object.", number)
    unknown = sorted(set(entry) - LINE_KEYS)
    if unknown:
        return batch_error("invalid_request", f"Unrecognized field '{unknown[0]}'.", number, unknown[0])
    custom_id = entry.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return batch_error("missing_required_parameter", "Each line needs a string 'custom_id'.", number, "custom_id")
    if custom_id in seen:
        message = "The custom_id for this request is a duplicate of another request; custom_id must be unique."
        return batch_error("duplicate_custom_id", message, number, "custom_id")
    if entry.get("method") != "POST":
        return batch_error("invalid_method", "The method of each request must be 'POST'.", number, "method")
    if entry.get("url") != endpoint:
        message = f"The URL of this request does not match the batch's endpoint '{endpoint}'."
        return batch_error("mismatched_endpoint", message, number, "url")
    if not isinstance(entry.get("body"), dict):
        return batch_error("invalid_request", "Each line needs a JSON object 'body'.", number, "body")
    return None


def read_input(content: bytes, endpoint: str) -> InputFile:
    """The requests of an input file and the errors that fail it (none: the batch can run)."""
    if len(content) > MAX_BYTES:
        return InputFile([], [batch_error("file_too_large", "The input file is larger than 200 MB.")], None)
    lines: list[BatchLine] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    model: str | None = None
    for number, raw in enumerate(content.decode("utf-8", errors="replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            errors.append(batch_error("invalid_json_line", "This line is not parseable as valid JSON.", number))
            continue
        error = _line_error(entry, number, endpoint, seen)
        if error is None:
            line_model = entry["body"].get("model")
            if isinstance(line_model, str) and model is not None and line_model != model:
                message = f"The model '{line_model}' does not match the batch's model '{model}': one model per file."
                error = batch_error("mismatched_model", message, number, "body.model")
            elif isinstance(line_model, str):
                model = line_model
        if error is not None:
            errors.append(error)
            continue
        seen.add(entry["custom_id"])
        lines.append(BatchLine(number, entry["custom_id"], entry["body"]))
    if not lines and not errors:
        errors.append(batch_error("empty_file", "The input file holds no requests."))
    if len(lines) > MAX_LINES:
        message = f"The input file holds {len(lines)} requests; a batch takes at most {MAX_LINES}."
        errors.append(batch_error("too_many_tasks", message))
    return InputFile(lines, errors[:MAX_REPORTED_ERRORS], model)
