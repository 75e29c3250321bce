"""Results and status of a batch, as JSON-ready dictionaries.

A result names the job's backend, its container (an Assistants thread or a Responses conversation, if
any), its newest API object (a run or the last response of the chain) and how many objects it made;
``usage`` is summed over every one of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from batchrunner.db.repository import TERMINAL_STATES, Repository, ResultRow

_TERMINAL = frozenset(TERMINAL_STATES)

_PAGE = 5000


def iter_results(repository: Repository, batch_id: int) -> Iterator[dict[str, Any]]:
    """One dictionary per job, in file order; jobs still in progress show their current status."""
    for page in iter_result_pages(repository, batch_id):
        yield from page


def iter_result_pages(repository: Repository, batch_id: int) -> Iterator[list[dict[str, Any]]]:
    """``iter_results`` a page at a time: memory bounded by the page, whatever the batch's size."""
    for rows in repository.result_pages(batch_id, page_size=_PAGE):
        yield [_render(row) for row in sorted(rows, key=lambda row: row.job.line_no)]


def _render(row: ResultRow) -> dict[str, Any]:
    job, latest = row.job, row.latest
    error = (
        {"code": job.error_code, "message": job.error_message}
        if job.state != "succeeded" and (job.error_code or job.error_message)
        else None
    )
    return {
        "custom_id": job.custom_id,
        "status": job.state,
        "finished": job.state in _TERMINAL,
        "backend": job.backend,
        "container_id": job.container_id,
        "api_object_id": latest[0] if latest else job.object_id,
        "api_status": latest[1] if latest else None,
        "attempts": job.attempt,
        "api_objects": latest[2] if latest else 0,
        "output": job.output_text,
        "usage": {
            "prompt_tokens": job.prompt_tokens,
            "completion_tokens": job.completion_tokens,
            "total_tokens": job.total_tokens,
        },
        "error": error,
    }


def batch_status(repository: Repository, name: str | None = None) -> list[dict[str, Any]]:
    """Per batch: its status, why it stopped, and its jobs counted by state."""
    rows = []
    for batch in repository.batches():
        if name is not None and batch.name != name:
            continue
        counts = repository.count_by_state(batch.id)
        total = sum(counts.values())
        done = sum(counts.get(state, 0) for state in TERMINAL_STATES)
        rows.append(
            {
                "batch": batch.name,
                "status": batch.status,
                "stop_reason": batch.stop_reason,
                "jobs": total,
                "finished": done,
                "by_state": dict(sorted(counts.items())),
            }
        )
    return rows
