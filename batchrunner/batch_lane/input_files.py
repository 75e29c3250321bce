"""Batch API input files: one JSONL line per job, packed within the API's limits.

A line is ``{"custom_id", "method": "POST", "url": "/v1/responses", "body"}``; its body is the job's
request as a standard lane would send it, minus what a batch refuses (``background``, ``stream``) and
tagged with the attempt like every object batchrunner creates. ``custom_id`` names the job by its key
(``job-<id>``): short, unique in any file, and read back from output lines without a lookup.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from batchrunner.backend.base import TAG_KEY
from batchrunner.backend.responses.batch_client import RESPONSES_BATCH_ENDPOINT
from batchrunner.db.api_batches import BatchLaneJob
from batchrunner.jobs import JobSpec

# The API's limits of one input file.
MAX_FILE_LINES = 50_000
MAX_FILE_BYTES = 200 * 1024 * 1024
_CUSTOM_ID_PREFIX = "job-"
# Create-body fields a batch line must not carry: a batch is neither streamed nor run in the background.
_NOT_IN_BATCH = frozenset({"background", "stream", "background_options", "service_tier"})


def line_custom_id(job_id: int) -> str:
    return f"{_CUSTOM_ID_PREFIX}{job_id}"


def job_id_of(custom_id: str) -> int | None:
    """The job an output line answers; None for a custom_id batchrunner did not write."""
    if not custom_id.startswith(_CUSTOM_ID_PREFIX):
        return None
    digits = custom_id[len(_CUSTOM_ID_PREFIX) :]
    return int(digits) if digits.isdigit() else None


def batch_body(spec: JobSpec, tag: str) -> dict[str, Any]:
    """The job's request as one line of a batch, tagged with its attempt."""
    if spec.request is None:
        raise ValueError(f"job {spec.custom_id!r} has no Responses request: the batch lane serves Responses jobs")
    body = {key: value for key, value in spec.request.items() if key not in _NOT_IN_BATCH}
    body["metadata"] = {**(body.get("metadata") or {}), TAG_KEY: tag}
    return body


def input_line(job: BatchLaneJob, tag: str) -> bytes:
    line = {
        "custom_id": line_custom_id(job.id),
        "method": "POST",
        "url": RESPONSES_BATCH_ENDPOINT,
        "body": batch_body(job.spec, tag),
    }
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def pack(
    lines: Sequence[tuple[BatchLaneJob, bytes]], *, max_lines: int = MAX_FILE_LINES, max_bytes: int = MAX_FILE_BYTES
) -> Iterator[list[tuple[BatchLaneJob, bytes]]]:
    """Split encoded lines, in order, into files of at most ``max_lines`` lines and ``max_bytes`` bytes.

    A line larger than ``max_bytes`` alone still gets a file of its own: the API then refuses that file,
    and its job fails with the API's reason rather than silently never running.
    """
    current: list[tuple[BatchLaneJob, bytes]] = []
    size = 0
    for job, line in lines:
        if current and (len(current) >= max_lines or size + len(line) > max_bytes):
            yield current
            current, size = [], 0
        current.append((job, line))
        size += len(line)
    if current:
        yield current


__all__ = [
    "MAX_FILE_BYTES",
    "MAX_FILE_LINES",
    "batch_body",
    "input_line",
    "job_id_of",
    "line_custom_id",
    "pack",
]
