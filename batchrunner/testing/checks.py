"""Reusable assertions for "nothing lost, nothing duplicated", over the database and the simulator's stats.

Load a batch's records once with ``load_records`` and run the checks on them::

    records = load_records(engine, "crash")
    assert_all_terminal(records)                      # every job finished (succeeded by default)
    assert_one_run_per_attempt(records, sim_stats)    # the API saw one run per job attempt, as recorded
    assert_complete_records(records)                  # usage, steps, messages, tool calls all stored
    assert_no_half_written_runs(records)              # every run of a finished job is fully recorded

``check_batch`` runs all four. Each raises ``AssertionError`` naming how many jobs are affected and
a few examples.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import sqlalchemy as sa

from batchrunner.processor import TERMINAL_JOB_STATES, run_tag
from batchrunner.testing.jobgen import TOOL_ASSISTANTS

TERMINAL_RUN_STATUSES = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
_EXAMPLES = 10


@dataclass(frozen=True)
class JobRow:
    id: int
    custom_id: str
    assistant_id: str
    state: str
    attempt: int
    run_id: str | None
    step_retries: int
    error_code: str | None
    output_text: str | None


@dataclass(frozen=True)
class RunRow:
    pk: int
    job_id: int
    custom_id: str
    attempt: int
    api_run_id: str
    status: str
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    finished_recorded_at: datetime | None


@dataclass
class BatchRecords:
    """A batch's jobs and runs as stored, with per-run counts of steps, messages and tool invocations."""

    batch: str
    jobs: dict[str, JobRow]
    runs: list[RunRow]
    step_types: dict[int, set[str]] = field(default_factory=dict)
    assistant_messages: Counter[int] = field(default_factory=Counter)
    tool_invocations: Counter[int] = field(default_factory=Counter)

    def runs_of(self, custom_id: str) -> list[RunRow]:
        return sorted((run for run in self.runs if run.custom_id == custom_id), key=lambda run: run.attempt)

    def run_keys(self) -> Counter[str]:
        """How many runs rows each job attempt has, by the key the runs were tagged with."""
        return Counter(run_tag(self.batch, run.custom_id, run.attempt) for run in self.runs)


def _fail(what: str, problems: list[str]) -> None:
    if problems:
        shown = "\n  ".join(problems[:_EXAMPLES])
        more = f"\n  ... and {len(problems) - _EXAMPLES} more" if len(problems) > _EXAMPLES else ""
        raise AssertionError(f"{len(problems)} {what}:\n  {shown}{more}")


def load_records(engine: sa.Engine, batch: str) -> BatchRecords:
    """Read every job and run of ``batch`` and count what each run has stored."""
    where = "JOIN batches b ON b.id = j.batch_id WHERE b.name = :batch"
    params = {"batch": batch}
    with engine.connect() as conn:
        jobs = {
            row.custom_id: JobRow(*row)
            for row in conn.execute(sa.text(
                "SELECT j.id, j.custom_id, j.assistant_id, j.state, j.attempt, j.run_id, j.step_retries,"
                f" j.error_code, j.output_text FROM jobs j {where}"
            ), params)
        }
        runs = [
            RunRow(*row)
            for row in conn.execute(sa.text(
                "SELECT r.id, r.job_id, j.custom_id, r.attempt, r.api_run_id, r.status, r.prompt_tokens,"
                f" r.completion_tokens, r.total_tokens, r.finished_recorded_at FROM runs r JOIN jobs j"
                f" ON j.id = r.job_id {where}"
            ), params)
        ]
        records = BatchRecords(batch, jobs, runs)
        step_types: defaultdict[int, set[str]] = defaultdict(set)
        for run_pk, step_type in conn.execute(sa.text(
            f"SELECT s.run_pk, s.type FROM run_steps s JOIN runs r ON r.id = s.run_pk JOIN jobs j ON j.id = r.job_id"
            f" {where}"
        ), params):
            step_types[run_pk].add(step_type)
        records.step_types = dict(step_types)
        for run_pk, count in conn.execute(sa.text(
            "SELECT m.run_pk, count(*) FROM messages m JOIN jobs j ON j.id = m.job_id"
            f" {where} AND m.role = 'assistant' AND m.content_text <> '' GROUP BY m.run_pk"
        ), params):
            records.assistant_messages[run_pk] = count
        for run_pk, count in conn.execute(sa.text(
            "SELECT t.run_pk, count(*) FROM tool_invocations t JOIN jobs j ON j.id = t.job_id"
            f" {where} AND t.outcome = 'ok' GROUP BY t.run_pk"
        ), params):
            records.tool_invocations[run_pk] = count
    return records


def fetch_sim_stats(root_url: str) -> dict[str, Any]:
    """``GET <root_url>/_sim/stats`` of a simulator served over HTTP."""
    response = httpx.get(f"{root_url.rstrip('/')}/_sim/stats", timeout=30)
    response.raise_for_status()
    return dict(response.json())


def unfinished_jobs(engine: sa.Engine, batch: str | None = None) -> int:
    """How many jobs (of ``batch``, or of every batch) are not in a terminal state."""
    states = ", ".join(f"'{state}'" for state in sorted(TERMINAL_JOB_STATES))
    query = f"SELECT count(*) FROM jobs j JOIN batches b ON b.id = j.batch_id WHERE j.state NOT IN ({states})"
    params = {}
    if batch is not None:
        query += " AND b.name = :batch"
        params["batch"] = batch
    with engine.connect() as conn:
        return int(conn.scalar(sa.text(query), params) or 0)


def describe_unfinished(engine: sa.Engine, batch: str, *, limit: int = 20) -> list[str]:
    """One line per unfinished job of ``batch`` (state, attempt, ids, wake-up, version), for failure messages."""
    states = ", ".join(f"'{state}'" for state in sorted(TERMINAL_JOB_STATES))
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT j.id, j.custom_id, j.state, j.attempt, j.thread_id, j.run_id, j.next_wake_at, j.version,"
            " j.step_retries, j.target_thread_id FROM jobs j JOIN batches b ON b.id = j.batch_id"
            f" WHERE b.name = :batch AND j.state NOT IN ({states}) ORDER BY j.id LIMIT :limit"
        ), {"batch": batch, "limit": limit}).all()
    return [
        f"job {row.id} {row.custom_id}: {row.state}, attempt {row.attempt}, thread {row.thread_id}"
        f" (target {row.target_thread_id}), run {row.run_id}, wakes {row.next_wake_at}, version {row.version},"
        f" step_retries {row.step_retries}"
        for row in rows
    ]


def job_keys_in_stats(sim_stats: Mapping[str, Any], batch: str) -> Counter[str]:
    """The simulator's runs-per-job-key counts (``<batch>/<custom_id>#<attempt>``) of ``batch``."""
    by_key: Mapping[str, int] = sim_stats["runs_by_job_key"]
    return Counter({key: count for key, count in by_key.items() if key.startswith(f"{batch}/")})


def assert_all_terminal(records: BatchRecords, states: Collection[str] = ("succeeded",)) -> None:
    """Every job of the batch ended, in one of ``states``."""
    _fail("jobs did not end in " + "/".join(states), [
        f"{job.custom_id}: {job.state} (attempt {job.attempt}, error {job.error_code})"
        for job in records.jobs.values()
        if job.state not in states
    ])


def assert_one_run_per_attempt(records: BatchRecords, sim_stats: Mapping[str, Any]) -> None:
    """The API created exactly one run per job attempt, and the runs table holds exactly those runs."""
    at_api = job_keys_in_stats(sim_stats, records.batch)
    recorded = records.run_keys()
    problems = [f"{key}: {count} runs created at the API" for key, count in sorted(at_api.items()) if count != 1]
    problems += [f"{key}: {count} runs rows" for key, count in sorted(recorded.items()) if count != 1]
    problems += [f"{key}: created at the API, not in the runs table" for key in sorted(set(at_api) - set(recorded))]
    problems += [f"{key}: in the runs table, never created at the API" for key in sorted(set(recorded) - set(at_api))]
    for job in records.jobs.values():
        attempts = [run.attempt for run in records.runs_of(job.custom_id)]
        if attempts and max(attempts) > job.attempt:
            problems.append(f"{job.custom_id}: runs of attempts {attempts} but the job is at attempt {job.attempt}")
    _fail("job attempts without exactly one run", problems)


def _incomplete_success(records: BatchRecords, job: JobRow, tool_assistants: Collection[str]) -> str | None:
    runs = records.runs_of(job.custom_id)
    if not runs:
        return "no runs row"
    last = runs[-1]
    if last.attempt != job.attempt or last.api_run_id != job.run_id:
        return f"last run {last.api_run_id} (attempt {last.attempt}) is not the job's {job.run_id} ({job.attempt})"
    if last.status != "completed":
        return f"run {last.api_run_id} has status {last.status}"
    usage = (last.prompt_tokens, last.completion_tokens, last.total_tokens)
    if None in usage or not last.total_tokens or last.total_tokens != (last.prompt_tokens or 0) + (
        last.completion_tokens or 0
    ):
        return f"run {last.api_run_id} has usage {usage}"
    steps = records.step_types.get(last.pk, set())
    if "message_creation" not in steps:
        return f"run {last.api_run_id} has steps {sorted(steps)}"
    if not records.assistant_messages[last.pk] or not job.output_text:
        return f"run {last.api_run_id} has no assistant message or the job no output text"
    tool_calls = records.tool_invocations[last.pk]
    if job.assistant_id in tool_assistants and ("tool_calls" not in steps or not tool_calls):
        return f"tool job run {last.api_run_id} has steps {sorted(steps)} and {tool_calls} ok tool calls"
    return None


def assert_complete_records(records: BatchRecords, tool_assistants: Collection[str] = TOOL_ASSISTANTS) -> None:
    """Every succeeded job's last run is stored whole: usage, steps, messages, and tool calls for tool jobs."""
    problems = []
    for job in records.jobs.values():
        if job.state == "succeeded":
            problem = _incomplete_success(records, job, tool_assistants)
            if problem:
                problems.append(f"{job.custom_id}: {problem}")
    _fail("succeeded jobs with incomplete records", problems)


def assert_no_half_written_runs(records: BatchRecords) -> None:
    """Every run of a finished job ended at the API and was recorded as finished (``finished_recorded_at``)."""
    finished = {job.id for job in records.jobs.values() if job.state in TERMINAL_JOB_STATES}
    _fail("runs of finished jobs left half-written", [
        f"{run.custom_id}#{run.attempt} ({run.api_run_id}): status {run.status}, "
        f"finished_recorded_at {run.finished_recorded_at}"
        for run in records.runs
        if run.job_id in finished and (run.status not in TERMINAL_RUN_STATUSES or run.finished_recorded_at is None)
    ])


def check_batch(
    engine: sa.Engine,
    batch: str,
    sim_stats: Mapping[str, Any],
    *,
    states: Collection[str] = ("succeeded",),
    expected_jobs: Iterable[str] | None = None,
) -> BatchRecords:
    """Run every check on ``batch`` (and that it holds exactly ``expected_jobs``, if given); return its records."""
    records = load_records(engine, batch)
    if expected_jobs is not None:
        expected = set(expected_jobs)
        missing, extra = sorted(expected - set(records.jobs)), sorted(set(records.jobs) - expected)
        _fail("jobs missing from or unexpected in the batch", [f"missing {m}" for m in missing] + [
            f"unexpected {e}" for e in extra
        ])
    assert_all_terminal(records, states)
    assert_one_run_per_attempt(records, sim_stats)
    assert_complete_records(records)
    assert_no_half_written_runs(records)
    return records


__all__ = [
    "TERMINAL_RUN_STATUSES",
    "BatchRecords",
    "JobRow",
    "RunRow",
    "assert_all_terminal",
    "assert_complete_records",
    "assert_no_half_written_runs",
    "assert_one_run_per_attempt",
    "check_batch",
    "describe_unfinished",
    "fetch_sim_stats",
    "job_keys_in_stats",
    "load_records",
    "unfinished_jobs",
]
