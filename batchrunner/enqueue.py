"""The producer: validate a whole job file, record its jobs, and wake them."""

from __future__ import annotations

import os
import sys
from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from batchrunner.actors import JobQueue
from batchrunner.db.job_rows import DEFAULT_LANES, RowSpool, job_row
from batchrunner.db.repository import Repository
from batchrunner.deadlines import Deadline
from batchrunner.jobfile.assistants import AssistantDefinition, default_assistants_path, load_assistants
from batchrunner.jobs import BackendName, LineError, LineErrorLog, scan_job_file
from batchrunner.lanes import LanePolicy

# Jobs written per transaction (and wake-ups sent after it).
ROWS_PER_CHUNK = 10_000


@dataclass(frozen=True)
class EnqueueResult:
    batch_id: int
    batch_name: str
    jobs_in_file: int
    new_jobs: int
    # The first of the skipped lines' problems (``MAX_KEPT_ERRORS``), and how many there were.
    skipped_lines: list[LineError]
    skipped_count: int = 0
    # New jobs whose wake-ups may not have reached the broker (its error): the sweeper starts them.
    unwoken_jobs: int = 0
    wake_up_error: str | None = None


def default_batch_name(path: str | Path) -> str:
    return Path(path).stem


def assistants_for(job_file: str | Path, assistants_file: str | Path | None) -> dict[str, AssistantDefinition] | None:
    """The assistants a job file's Responses jobs may name: ``assistants_file``, else ``assistants.yaml``
    beside the job file if there is one (None when neither exists: jobs that name an assistant then fail
    validation, each with its line)."""
    if assistants_file:
        return load_assistants(assistants_file)
    beside = default_assistants_path(job_file)
    return load_assistants(beside) if beside.is_file() else None


def enqueue_file(
    path: str | Path,
    repository: Repository,
    queue: JobQueue,
    *,
    batch_name: str | None = None,
    known_tools: Collection[str] | None = None,
    skip_invalid: bool = False,
    default_backend: BackendName = BackendName.RESPONSES,
    assistants_file: str | Path | None = None,
    deadline: Deadline | None = None,
    lanes: LanePolicy = DEFAULT_LANES,
    progress: bool | None = False,
    rows_per_chunk: int = ROWS_PER_CHUNK,
) -> EnqueueResult:
    """Enqueue every job of ``path`` that its batch does not hold yet.

    ``deadline`` applies to every new job (the earlier of it and the job's own wins); ``lanes`` gives
    each its cost lane (``lanes.LanePolicy``).

    Two passes, in memory that does not grow with the file: the first validates every line and spools
    the rows of the valid jobs to a temporary file (about the size of the job file, in ``TMPDIR``);
    with any invalid line (unless ``skip_invalid``) ``JobFileError`` is raised and nothing is recorded
    or sent. The second writes the rows ``rows_per_chunk`` at a time, one transaction each (the first
    creates the batch too, so a failure before it leaves nothing behind), and sends each chunk's
    wake-ups once it is committed. After a crash the same command adds only the jobs still missing;
    jobs committed whose wake-ups were not sent are picked up by the sweeper. A broker that fails
    stops the wake-ups, not the writing: the result says how many new jobs wait for the sweeper, and
    why. A Responses job is stored with its whole request (the assistant's settings resolved), so
    workers need no assistants file. ``progress``: show progress
    bars on stderr (None: when it is a terminal).
    """
    display = str(path)
    errors = LineErrorLog(display)
    now = repository.now()
    batch_deadline = deadline.resolve(now) if deadline is not None else None
    name = batch_name or default_batch_name(path)
    with RowSpool() as spool:
        with _bar(progress, "validating", _file_size(path), "B") as bar:
            for spec in scan_job_file(
                path,
                errors,
                known_tools=known_tools,
                default_backend=default_backend,
                assistants=assistants_for(path, assistants_file),
                on_line=bar.update,
            ):
                spool.add(job_row(spec, now, batch_deadline, lanes))
        if any(error.line_no == 0 for error in errors.errors) or (errors.count and not skip_invalid):
            raise errors.file_error()
        batch: int | str = name
        new_jobs = 0
        with _bar(progress, "enqueueing", spool.count, "job") as bar, _WakeUps(queue) as wake_ups:
            for rows in spool.chunks(rows_per_chunk):
                batch, new_ids = repository.add_job_rows(batch, rows, source_file=display)
                new_jobs += len(new_ids)
                wake_ups.send(new_ids)
                bar.update(len(rows))
        if isinstance(batch, str):  # every line was invalid and skipped: the batch still exists
            batch, _ = repository.add_job_rows(batch, [], source_file=display)
    return EnqueueResult(
        batch_id=batch,
        batch_name=name,
        jobs_in_file=spool.count,
        new_jobs=new_jobs,
        skipped_lines=list(errors.errors),
        skipped_count=errors.count,
        unwoken_jobs=wake_ups.unsent,
        wake_up_error=wake_ups.error,
    )


class _WakeUps:
    """Each chunk's wake-ups, sent on a thread of their own while the next chunk is written (the
    database's work and the broker's overlap: a million jobs took 81-84 s so, 118 s one after the other).
    After a failure no more are sent; ``unsent`` counts the jobs left to the sweeper, ``error`` says why."""

    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue
        self._thread = ThreadPoolExecutor(1, "wake-ups")
        self._sending: Future[None] | None = None
        self._sending_jobs = 0
        self.unsent = 0
        self.error: str | None = None

    def send(self, job_ids: list[int]) -> None:
        self._settle()
        if self.error is not None:
            self.unsent += len(job_ids)
            return
        self._sending = self._thread.submit(self._queue.wake_all, job_ids, starting=True)
        self._sending_jobs = len(job_ids)

    def _settle(self) -> None:
        if self._sending is None:
            return
        try:
            self._sending.result()
        except Exception as error:  # the jobs are recorded: the sweeper starts them, so the writing goes on
            self.error = f"{type(error).__name__}: {error}"
            self.unsent += self._sending_jobs
        finally:
            self._sending = None

    def __enter__(self) -> _WakeUps:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._settle()
        finally:
            self._thread.shutdown()


def _file_size(path: str | Path) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None  # the scan reports it


def _bar(progress: bool | None, what: str, total: int | None, unit: str) -> tqdm[Any]:
    scale = unit == "B"
    return tqdm(
        total=total,
        desc=what,
        unit=unit,
        unit_scale=scale,
        unit_divisor=1024 if scale else 1000,
        disable=None if progress is None else not progress,
        leave=False,
        file=sys.stderr,
    )
