"""The producer: validate a whole job file, record its jobs, and wake them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from batchrunner.actors import JobQueue
from batchrunner.db.repository import Repository
from batchrunner.jobs import LineError, read_job_file


@dataclass(frozen=True)
class EnqueueResult:
    batch_id: int
    batch_name: str
    jobs_in_file: int
    new_jobs: int
    skipped_lines: list[LineError]


def default_batch_name(path: str | Path) -> str:
    return Path(path).stem


def enqueue_file(
    path: str | Path,
    repository: Repository,
    queue: JobQueue,
    *,
    batch_name: str | None = None,
    known_tools: Collection[str] | None = None,
    skip_invalid: bool = False,
) -> EnqueueResult:
    """Enqueue every job of ``path`` that its batch does not hold yet.

    The file is validated as a whole first: with any invalid line, ``JobFileError`` is raised and
    nothing is recorded or sent. Jobs are committed before their wake-ups are sent, so a crash in
    between leaves jobs that the sweeper picks up.
    """
    parsed = read_job_file(path, known_tools=known_tools, skip_invalid=skip_invalid)
    name = batch_name or default_batch_name(path)
    batch_id = repository.get_or_create_batch(name, source_file=str(path))
    new_ids = repository.insert_jobs(batch_id, parsed.jobs)
    queue.wake_all(new_ids, starting=True)
    return EnqueueResult(
        batch_id=batch_id,
        batch_name=name,
        jobs_in_file=len(parsed.jobs),
        new_jobs=len(new_ids),
        skipped_lines=list(parsed.errors),
    )
