"""How a batch moves through its statuses, computed lazily from the clock, as runs and responses do.

`validating` lasts `batch_validating_s`; then the batch is `failed` (its input file had errors) or
`in_progress`. In progress, the `k`-th line of the batch's shuffled order is answered at
`in_progress_at + (k + 1) * line_interval`; once all are, the batch is `finalizing` for
`batch_finalizing_s`, then `completed`, with its output file (answers with status 200) and error
file (answers with any other status). A batch still in progress at `expires_at` ends `expired`;
cancelling one makes it `cancelling` for `batch_finalizing_s`, then `cancelled`. Either way the
lines answered so far stay in the files and every other line gets an error-file entry
(`batch_expired`, `batch_cancelled`) and counts as failed, so `completed + failed == total` at the end.
"""

from __future__ import annotations

import json
from typing import Any

from batchrunner.simulator.batches.lines import answer_line, unanswered_line
from batchrunner.simulator.batches.records import BatchRecord
from batchrunner.simulator.errors import APIError, invalid
from batchrunner.simulator.files.records import add_file
from batchrunner.simulator.state import Store

UNANSWERED = {
    "expired": ("batch_expired", "This request could not be executed before the completion window expired."),
    "cancelled": ("batch_cancelled", "This request was not executed because the batch was cancelled."),
}


def batch_not_found(batch_id: str) -> APIError:
    return APIError(404, f"No batch found with id '{batch_id}'.")


def get_batch(store: Store, batch_id: str) -> BatchRecord:
    """The batch advanced to now, or a 404."""
    batch = store.batches.get(batch_id)
    if batch is None:
        raise batch_not_found(batch_id)
    advance(store, batch)
    return batch


def validated_at(store: Store, batch: BatchRecord) -> float:
    return batch.created_at + store.config.batch_validating_s


def line_due(batch: BatchRecord, position: int) -> float:
    """When the `position`-th line of the batch's order is answered (0-based)."""
    return batch.times["in_progress_at"] + (position + 1) * batch.line_interval


def advance(store: Store, batch: BatchRecord) -> None:
    """Apply every transition due by now."""
    now = store.now()
    config = store.config
    if batch.status == "validating" and now >= validated_at(store, batch):
        at = validated_at(store, batch)
        if batch.validation_errors:
            batch.status, batch.times["failed_at"] = "failed", at
            return
        batch.status, batch.times["in_progress_at"] = "in_progress", at
    if batch.status == "in_progress":
        _answer_due_lines(store, batch, min(now, batch.expires_at))
        if batch.answered == len(batch.order):
            batch.status = "finalizing"
            batch.times["finalizing_at"] = line_due(batch, len(batch.order) - 1)
        elif now >= batch.expires_at:
            _end(store, batch, "expired", batch.expires_at)
    if batch.status == "finalizing" and now >= batch.times["finalizing_at"] + config.batch_finalizing_s:
        _end(store, batch, "completed", batch.times["finalizing_at"] + config.batch_finalizing_s)
    if batch.status == "cancelling" and now >= batch.times["cancelling_at"] + config.batch_finalizing_s:
        _end(store, batch, "cancelled", batch.times["cancelling_at"] + config.batch_finalizing_s)


def _answer_due_lines(store: Store, batch: BatchRecord, until: float) -> None:
    while batch.answered < len(batch.order) and line_due(batch, batch.answered) <= until:
        line = batch.lines[batch.order[batch.answered]]
        answer = answer_line(store, batch.id, line, line_due(batch, batch.answered))
        batch.answered += 1
        if answer.status_code == 200:
            batch.completed += 1
            batch.output_lines.append(answer.entry)
        else:
            batch.failed += 1
            batch.error_lines.append(answer.entry)
        if answer.usage is not None:
            batch.usage.add(answer.usage)


def _jsonl(entries: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(entry, separators=(",", ":")) + "\n" for entry in entries).encode()


def _end(store: Store, batch: BatchRecord, status: str, at: float) -> None:
    """End the batch: the unanswered lines' errors, then its output and error files."""
    if status in UNANSWERED and "in_progress_at" in batch.times:
        code, message = UNANSWERED[status]
        for index in batch.order[batch.answered :]:
            batch.error_lines.append(unanswered_line(store, batch.lines[index], code, message))
            batch.failed += 1
        batch.answered = len(batch.order)
    if batch.output_lines:
        output = add_file(store, f"batch_{batch.id}_output.jsonl", "batch_output", _jsonl(batch.output_lines), at)
        batch.output_file_id = output.id
    if batch.error_lines:
        errors = add_file(store, f"batch_{batch.id}_error.jsonl", "batch_output", _jsonl(batch.error_lines), at)
        batch.error_file_id = errors.id
    batch.status, batch.times[f"{status}_at"] = status, at


def cancel(store: Store, batch: BatchRecord) -> None:
    """Start cancelling a validating or in-progress batch; a cancelling or cancelled one stays as it is."""
    advance(store, batch)
    if batch.status in ("cancelling", "cancelled"):
        return
    if batch.status not in ("validating", "in_progress"):
        raise invalid(f"Cannot cancel a batch with status '{batch.status}'.", None)
    batch.status, batch.times["cancelling_at"] = "cancelling", store.now()
