"""Results and status of a batch, as JSON-ready dictionaries.

A result names the job's backend, its container (an Assistants thread or a Responses conversation, if
any), its newest API object (a run or the last response of the chain) and how many objects it made;
``usage`` is summed over every one of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from batchrunner.db.repository import TERMINAL_STATES, Repository, ResultRow

_TERMINAL = frozenset(TERMINAL_STATES)

_PAGE = 5000
_JSON_LINE = json.JSONEncoder(ensure_ascii=False).encode


def iter_results(repository: Repository, batch_id: int) -> Iterator[dict[str, Any]]:
    """One dictionary per job, in file order; jobs still in progress show their current status."""
    for rows in repository.result_pages(batch_id, page_size=_PAGE):
        yield from map(_render, sorted(rows, key=_line_no))


def iter_result_text(repository: Repository, batch_id: int) -> Iterator[str]:
    """``iter_results`` as JSON lines, a page of them per string: memory bounded by the page."""
    for rows in repository.result_pages(batch_id, page_size=_PAGE):
        yield "".join(_JSON_LINE(_render(row)) + "\n" for row in sorted(rows, key=_line_no))


def _line_no(row: ResultRow) -> int:
    return int(row.job[1])


def _render(row: ResultRow) -> dict[str, Any]:
    (_, _, custom_id, state, backend, container_id, object_id, attempt, output, prompt, completion, total, *errors) = (
        row.job
    )
    error_code, error_message = errors
    latest_id, latest_status, objects = row.latest
    return {
        "custom_id": custom_id,
        "status": state,
        "finished": state in _TERMINAL,
        "backend": backend,
        "container_id": container_id,
        "api_object_id": latest_id if objects else object_id,
        "api_status": latest_status,
        "attempts": attempt,
        "api_objects": objects,
        "output": output,
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total},
        "error": (
            {"code": error_code, "message": error_message}
            if state != "succeeded" and (error_code or error_message)
            else None
        ),
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
