"""Reusable assertions for "nothing lost, nothing duplicated", over the database and the simulator's stats.

Load a batch's records once with ``load_records`` and run the checks on them::

    records = load_records(engine, "crash")
    assert_all_terminal(records)                      # every job finished (succeeded by default)
    assert_one_run_per_attempt(records, sim_stats)    # the API saw one object chain per attempt, as recorded
    assert_complete_records(records)                  # usage, details, messages, tool calls all stored
    assert_no_half_written_runs(records)              # every API object of a finished job is fully recorded

The checks hold on both backends: an Assistants attempt is one run (its steps are its detail), a
Responses attempt is a chain of responses (its output items are their detail), and the simulator
counts both by the attempt's tag.

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
# The simulator's per-tag counts of attempts started: Assistants runs, and Responses chain starts.
_ATTEMPT_COUNTS = ("runs_by_job_key", "response_chains_by_job_key")
_EXAMPLES = 10


@dataclass(frozen=True)
class JobRow:
    id: int
    custom_id: str
    assistant_id: str
    state: str
    attempt: int
    object_id: str | None
    step_retries: int
    error_code: str | None
    output_text: str | None


@dataclass(frozen=True)
class RunRow:
    """One API object (a run, or one response of a chain) as stored."""

    pk: int
    job_id: int
    custom_id: str
    attempt: int
    round: int
    backend: str
    api_id: str
    status: str
    outcome: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    finished_recorded_at: datetime | None


@dataclass
class BatchRecords:
    """A batch's jobs and API objects as stored, with per-object counts of details, messages and tool calls."""

    batch: str
    jobs: dict[str, JobRow]
    runs: list[RunRow]
    # Per object: the types of its detail records (Assistants step types, Responses output item types).
    step_types: dict[int, set[str]] = field(default_factory=dict)
    assistant_messages: Counter[int] = field(default_factory=Counter)
    tool_invocations: Counter[int] = field(default_factory=Counter)

    def runs_of(self, custom_id: str) -> list[RunRow]:
        return sorted(
            (run for run in self.runs if run.custom_id == custom_id), key=lambda run: (run.attempt, run.round)
        )

    def run_keys(self) -> Counter[str]:
        """How many attempts (objects that start one) each job attempt has, by the key they were tagged with."""
        return Counter(run_tag(self.batch, run.custom_id, run.attempt) for run in self.runs if run.round == 0)


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
            for row in conn.execute(
                sa.text(
                    "SELECT j.id, j.custom_id, j.assistant_id, j.state, j.attempt, j.object_id, j.step_retries,"
                    f" j.error_code, j.output_text FROM jobs j {where}"
                ),
                params,
            )
        }
        runs = [
            RunRow(*row)
            for row in conn.execute(
                sa.text(
                    "SELECT o.id, o.job_id, j.custom_id, o.attempt, o.round, o.backend, o.api_id, o.status, o.outcome,"
                    " o.prompt_tokens, o.completion_tokens, o.total_tokens, o.finished_recorded_at FROM api_objects o"
                    f" JOIN jobs j ON j.id = o.job_id {where}"
                ),
                params,
            )
        ]
        records = BatchRecords(batch, jobs, runs)
        step_types: defaultdict[int, set[str]] = defaultdict(set)
        for table in ("assistant_run_steps", "response_output_items"):
            for object_pk, detail_type in conn.execute(
                sa.text(
                    f"SELECT s.object_pk, s.type FROM {table} s JOIN api_objects o ON o.id = s.object_pk"
                    f" JOIN jobs j ON j.id = o.job_id {where}"
                ),
                params,
            ):
                step_types[object_pk].add(detail_type)
        records.step_types = dict(step_types)
        for object_pk, count in conn.execute(
            sa.text(
                "SELECT m.object_pk, count(*) FROM messages m JOIN jobs j ON j.id = m.job_id"
                f" {where} AND m.role = 'assistant' AND m.content_text <> '' GROUP BY m.object_pk"
            ),
            params,
        ):
            records.assistant_messages[object_pk] = count
        for object_pk, count in conn.execute(
            sa.text(
                "SELECT t.object_pk, count(*) FROM tool_invocations t JOIN jobs j ON j.id = t.job_id"
                f" {where} AND t.outcome = 'ok' GROUP BY t.object_pk"
            ),
            params,
        ):
            records.tool_invocations[object_pk] = count
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
        rows = conn.execute(
            sa.text(
                "SELECT j.id, j.custom_id, j.state, j.attempt, j.container_id, j.object_id, j.next_wake_at, j.version,"
                " j.step_retries, j.target_container_id FROM jobs j JOIN batches b ON b.id = j.batch_id"
                f" WHERE b.name = :batch AND j.state NOT IN ({states}) ORDER BY j.id LIMIT :limit"
            ),
            {"batch": batch, "limit": limit},
        ).all()
    return [
        f"job {row.id} {row.custom_id}: {row.state}, attempt {row.attempt}, container {row.container_id}"
        f" (target {row.target_container_id}), object {row.object_id}, wakes {row.next_wake_at}, version {row.version},"
        f" step_retries {row.step_retries}"
        for row in rows
    ]


def job_keys_in_stats(sim_stats: Mapping[str, Any], batch: str) -> Counter[str]:
    """The simulator's attempts-per-job-key counts (``<batch>/<custom_id>#<attempt>``) of ``batch``.

    An attempt is an Assistants run or a Responses chain start (a response with no ``previous_response_id``).
    """
    counts: Counter[str] = Counter()
    for name in _ATTEMPT_COUNTS:
        by_key: Mapping[str, int] = sim_stats.get(name) or {}
        counts.update({key: count for key, count in by_key.items() if key.startswith(f"{batch}/")})
    return counts


def assert_all_terminal(records: BatchRecords, states: Collection[str] = ("succeeded",)) -> None:
    """Every job of the batch ended, in one of ``states``."""
    _fail(
        "jobs did not end in " + "/".join(states),
        [
            f"{job.custom_id}: {job.state} (attempt {job.attempt}, error {job.error_code})"
            for job in records.jobs.values()
            if job.state not in states
        ],
    )


def assert_one_run_per_attempt(
    records: BatchRecords, sim_stats: Mapping[str, Any], *, blind_recreates_allowed: int = 0
) -> None:
    """The API created exactly one run per job attempt, and the runs table holds exactly those runs.

    ``blind_recreates_allowed``: how many extra objects the API may hold in all, on a backend whose
    objects cannot be looked up after a crash (the documented residual window); the records must still
    hold exactly one per attempt.
    """
    at_api = job_keys_in_stats(sim_stats, records.batch)
    recorded = records.run_keys()
    extra = sum(count - 1 for count in at_api.values() if count > 1)
    if 0 < extra <= blind_recreates_allowed:
        at_api = Counter(dict.fromkeys(at_api, 1))
    problems = [f"{key}: {count} runs created at the API" for key, count in sorted(at_api.items()) if count != 1]
    problems += [f"{key}: {count} runs rows" for key, count in sorted(recorded.items()) if count != 1]
    problems += [f"{key}: created at the API, not in the runs table" for key in sorted(set(at_api) - set(recorded))]
    problems += [f"{key}: in the runs table, never created at the API" for key in sorted(set(recorded) - set(at_api))]
    for job in records.jobs.values():
        attempts = [run.attempt for run in records.runs_of(job.custom_id)]
        if attempts and max(attempts) > job.attempt:
            problems.append(f"{job.custom_id}: runs of attempts {attempts} but the job is at attempt {job.attempt}")
    _fail("job attempts without exactly one run", problems)


# The detail a finished object holds when it wrote a message, and when it asked for tools, per backend.
_MESSAGE_DETAIL = {"assistants": "message_creation", "responses": "message"}
_TOOL_DETAIL = {"assistants": "tool_calls", "responses": "function_call"}


def _incomplete_success(records: BatchRecords, job: JobRow, tool_assistants: Collection[str]) -> str | None:
    runs = records.runs_of(job.custom_id)
    if not runs:
        return "no API object row"
    last = runs[-1]
    if last.attempt != job.attempt or last.api_id != job.object_id:
        return f"last object {last.api_id} (attempt {last.attempt}) is not the job's {job.object_id} ({job.attempt})"
    if last.status != "completed":
        return f"object {last.api_id} has status {last.status}"
    chain = [run for run in runs if run.attempt == job.attempt]
    for run in chain:
        usage = (run.prompt_tokens, run.completion_tokens, run.total_tokens)
        if (
            None in usage
            or not run.total_tokens
            or run.total_tokens != (run.prompt_tokens or 0) + (run.completion_tokens or 0)
        ):
            return f"object {run.api_id} has usage {usage}"
    steps = records.step_types.get(last.pk, set())
    if _MESSAGE_DETAIL.get(last.backend, "message") not in steps:
        return f"object {last.api_id} has details {sorted(steps)}"
    if not records.assistant_messages[last.pk] or not job.output_text:
        return f"object {last.api_id} has no assistant message or the job no output text"
    tool_details = set().union(*(records.step_types.get(run.pk, set()) for run in chain))
    tool_calls = sum(records.tool_invocations[run.pk] for run in chain)
    if job.assistant_id in tool_assistants and (
        _TOOL_DETAIL.get(last.backend, "") not in tool_details or not tool_calls
    ):
        return f"tool job {last.api_id} has details {sorted(tool_details)} and {tool_calls} ok tool calls"
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
    """Every API object of a finished job ended and was recorded; each attempt's last one as concluded."""
    finished = {job.id for job in records.jobs.values() if job.state in TERMINAL_JOB_STATES}
    last_of_attempt: dict[tuple[int, int], int] = {}
    for run in records.runs:
        key = (run.job_id, run.attempt)
        last_of_attempt[key] = max(last_of_attempt.get(key, run.round), run.round)
    _fail(
        "API objects of finished jobs left half-written",
        [
            f"{run.custom_id}#{run.attempt}.{run.round} ({run.api_id}): status {run.status}, outcome {run.outcome}, "
            f"finished_recorded_at {run.finished_recorded_at}"
            for run in records.runs
            if run.job_id in finished
            and (
                run.outcome is None
                or (run.round == last_of_attempt[(run.job_id, run.attempt)] and run.finished_recorded_at is None)
            )
        ],
    )


def check_batch(
    engine: sa.Engine,
    batch: str,
    sim_stats: Mapping[str, Any],
    *,
    states: Collection[str] = ("succeeded",),
    expected_jobs: Iterable[str] | None = None,
    blind_recreates_allowed: int = 0,
) -> BatchRecords:
    """Run every check on ``batch`` (and that it holds exactly ``expected_jobs``, if given); return its records."""
    records = load_records(engine, batch)
    if expected_jobs is not None:
        expected = set(expected_jobs)
        missing, extra = sorted(expected - set(records.jobs)), sorted(set(records.jobs) - expected)
        _fail(
            "jobs missing from or unexpected in the batch",
            [f"missing {m}" for m in missing] + [f"unexpected {e}" for e in extra],
        )
    assert_all_terminal(records, states)
    assert_one_run_per_attempt(records, sim_stats, blind_recreates_allowed=blind_recreates_allowed)
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
