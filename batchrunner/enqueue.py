"""The producer: validate a whole job file, record its jobs, and wake them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from batchrunner.actors import JobQueue
from batchrunner.db.repository import Repository
from batchrunner.deadlines import Deadline
from batchrunner.jobfile.assistants import AssistantDefinition, default_assistants_path, load_assistants
from batchrunner.jobs import BackendName, JobFileReadResult, LineError, read_job_file


@dataclass(frozen=True)
class EnqueueResult:
    batch_id: int
    batch_name: str
    jobs_in_file: int
    new_jobs: int
    skipped_lines: list[LineError]


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


def read_jobs(
    path: str | Path,
    *,
    default_backend: BackendName = BackendName.RESPONSES,
    assistants_file: str | Path | None = None,
    known_tools: Collection[str] | None = None,
    skip_invalid: bool = False,
) -> JobFileReadResult:
    """Validate the whole job file for ``default_backend`` (a line may name its own backend)."""
    return read_job_file(
        path,
        known_tools=known_tools,
        skip_invalid=skip_invalid,
        default_backend=default_backend,
        assistants=assistants_for(path, assistants_file),
    )


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
) -> EnqueueResult:
    """Enqueue every job of ``path`` that its batch does not hold yet.

    ``deadline`` applies to every new job (the earlier of it and the job's own wins).

    The file is validated as a whole first: with any invalid line, ``JobFileError`` is raised and
    nothing is recorded or sent. The batch and its jobs are written in one transaction (a failure
    leaves neither behind), and committed before their wake-ups are sent, so a crash in
    between leaves jobs that the sweeper picks up. A Responses job is stored with its whole request
    (the assistant's settings resolved), so workers need no assistants file.
    """
    parsed = read_jobs(
        path,
        default_backend=default_backend,
        assistants_file=assistants_file,
        known_tools=known_tools,
        skip_invalid=skip_invalid,
    )
    name = batch_name or default_batch_name(path)
    batch_id, new_ids = repository.add_batch_jobs(name, parsed.jobs, source_file=str(path), deadline=deadline)
    queue.wake_all(new_ids, starting=True)
    return EnqueueResult(
        batch_id=batch_id,
        batch_name=name,
        jobs_in_file=len(parsed.jobs),
        new_jobs=len(new_ids),
        skipped_lines=list(parsed.errors),
    )
