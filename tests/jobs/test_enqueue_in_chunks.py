"""``enqueue_file`` at scale: a validating first pass, chunked writes that resume, pipelined wake-ups.

Against real Postgres (the COPY path) and SQLite (the executemany path), and a real Redis broker.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import sqlalchemy as sa
from dramatiq.brokers.redis import RedisBroker

from batchrunner.actors import JobQueue
from batchrunner.broker import send_many
from batchrunner.db.engine import make_engine, make_session_factory
from batchrunner.db.repository import Repository
from batchrunner.enqueue import enqueue_file
from batchrunner.jobs import BackendName, JobFileError, JobSpec, LineError, LineErrorLog
from batchrunner.testing.processes import wait_until

QUEUE = "chunks"
START_QUEUE = f"dramatiq:{QUEUE}.start"
# Strings COPY's text format must escape (or could mistake for NULL), and JSON's escapes.
AWKWARD = ["tab\there", "new\nline", "cr\rhere", "back\\slash", "\\N", "\\\\N", "\\t", 'quote"s', "ünï ☃ 😀"]


@pytest.fixture
def broker(scratch_redis_url: str) -> Iterator[RedisBroker]:
    broker = RedisBroker(url=scratch_redis_url)  # type: ignore[no-untyped-call]
    yield broker
    broker.close()


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


def _repository(url: str) -> Repository:
    return Repository(make_session_factory(make_engine(url, pool_size=2)))


def _line(custom_id: str, text: str = "Hello") -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "assistant_id": "asst_1",
        "thread": {"messages": [{"role": "user", "content": text}]},
    }


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _enqueue(path: Path, repository: Repository, queue: JobQueue, **options: Any) -> Any:
    return enqueue_file(path, repository, queue, default_backend=BackendName.ASSISTANTS, **options)


def _jobs(url: str) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT custom_id, line_no, spec, state FROM jobs ORDER BY line_no")))
    finally:
        engine.dispose()


def _batches(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text("SELECT count(*) FROM batches")) or 0)
    finally:
        engine.dispose()


class CrashAfter(Repository):
    """A repository whose process dies (raises) when asked to write chunk ``crash_at``."""

    def __init__(self, url: str, crash_at: int) -> None:
        engine = make_engine(url, pool_size=2)
        super().__init__(make_session_factory(engine))
        self.calls = 0
        self.crash_at = crash_at

    def add_job_rows(self, batch: int | str, rows: list[bytes], *, source_file: str | None = None) -> Any:
        self.calls += 1
        if self.calls == self.crash_at:
            raise KeyboardInterrupt("killed while writing a chunk")
        return super().add_job_rows(batch, rows, source_file=source_file)


def test_awkward_ids_and_texts_are_stored_exactly(database_url: str, broker: RedisBroker, tmp_path: Path) -> None:
    """Tabs, newlines, backslashes and a literal \\N survive the spool and COPY: each spec reads back equal."""
    lines = [_line(f"id {text}", f"text {text}") for text in AWKWARD] + [_line("plain")]
    path = _write(tmp_path / "awkward.jsonl", lines)
    result = _enqueue(path, _repository(database_url), JobQueue(broker, QUEUE))
    assert result.new_jobs == len(lines)
    stored = _jobs(database_url)
    assert [row.custom_id for row in stored] == [line["custom_id"] for line in lines]
    for row, line in zip(stored, lines, strict=True):
        spec = row.spec if isinstance(row.spec, dict) else json.loads(row.spec)
        assert JobSpec.from_json(spec).thread == line["thread"], row.custom_id
        assert row.state == "pending"


def test_a_crash_between_chunks_is_resumed_by_running_the_same_command_again(
    database_url: str, broker: RedisBroker, tmp_path: Path
) -> None:
    """Chunks committed before the crash stay; the rerun adds only the missing jobs and wakes only them."""
    lines = [_line(f"job-{n:04d}") for n in range(2500)]
    path = _write(tmp_path / "big.jsonl", lines)
    queue = JobQueue(broker, QUEUE)
    with pytest.raises(KeyboardInterrupt):
        _enqueue(path, CrashAfter(database_url, crash_at=2), queue, rows_per_chunk=1000)
    assert len(_jobs(database_url)) == 1000, "the first chunk was committed, the second never"
    assert broker.client.llen(START_QUEUE) == 1000

    again = _enqueue(path, _repository(database_url), queue, rows_per_chunk=1000)
    assert (again.jobs_in_file, again.new_jobs) == (2500, 1500)
    stored = _jobs(database_url)
    assert [row.custom_id for row in stored] == [line["custom_id"] for line in lines]
    assert broker.client.llen(START_QUEUE) == 2500, "each job woken once"
    assert _enqueue(path, _repository(database_url), queue, rows_per_chunk=1000).new_jobs == 0


def test_a_bad_line_after_the_first_chunk_writes_nothing(
    database_url: str, broker: RedisBroker, tmp_path: Path
) -> None:
    """The whole file is validated before the first chunk is written: no batch, no job, no wake-up."""
    lines = [_line(f"job-{n:04d}") for n in range(2500)]
    lines[2400]["params"] = {"temperature": 9}
    lines.append(_line("job-0001"))  # a duplicate, found without holding the jobs
    path = _write(tmp_path / "bad.jsonl", lines)
    with pytest.raises(JobFileError) as raised:
        _enqueue(path, _repository(database_url), JobQueue(broker, QUEUE), rows_per_chunk=1000)
    problems = [(error.line_no, error.field) for error in raised.value.errors]
    assert problems == [(2401, "params.temperature"), (2501, "custom_id")]
    assert "also on line 2" in raised.value.errors[1].message
    assert _jobs(database_url) == [] and _batches(database_url) == 0
    assert broker.client.llen(START_QUEUE) == 0


def test_skipped_lines_are_kept_up_to_a_bound_and_all_counted(tmp_path: Path) -> None:
    """A file of many bad lines is not held in memory: the first problems are kept, every one is counted."""
    log = LineErrorLog("jobs.jsonl", keep=3)
    for line_no in range(1, 11):
        log.add(LineError(line_no, "thread", "required", "jobs.jsonl"))
    assert [error.line_no for error in log.errors] == [1, 2, 3] and log.count == 10
    error = log.file_error()
    assert error.total == 10 and str(error).endswith("... and 7 more"), "the problems not kept are counted"
    many = LineErrorLog("jobs.jsonl", keep=60)
    for line_no in range(1, 101):
        many.add(LineError(line_no, "", "invalid JSON", "jobs.jsonl"))
    assert str(many.file_error()).endswith("... and 50 more")


def test_wake_ups_sent_together_each_reach_a_worker_once(broker: RedisBroker) -> None:
    """send_many on Redis: every message is delivered once, middleware told before and after each."""

    class Counting(dramatiq.Middleware):
        def __init__(self) -> None:
            self.before = 0
            self.after = 0

        def before_enqueue(self, broker: dramatiq.Broker, message: Any, delay: Any) -> None:
            self.before += 1

        def after_enqueue(self, broker: dramatiq.Broker, message: Any, delay: Any) -> None:
            self.after += 1

    counting = Counting()
    broker.add_middleware(counting)
    seen: list[int] = []
    lock = threading.Lock()

    def advance(job_id: int) -> None:
        with lock:
            seen.append(job_id)

    queue = JobQueue(broker, QUEUE, advance=advance)
    count = 2_345  # more than one round trip's worth, and not a multiple of it
    queue.wake_all(list(range(count)), starting=True)
    assert counting.before == counting.after == count
    assert broker.client.llen(START_QUEUE) == count
    worker = dramatiq.Worker(broker, worker_threads=2)
    worker.start()
    try:
        wait_until(lambda: len(seen) >= count, timeout=60, message="every wake-up handled")
    finally:
        worker.stop()
    assert sorted(seen) == list(range(count))


def test_send_many_on_a_broker_without_pipelines_enqueues_one_by_one() -> None:
    """The stub broker (embedded mode) gets each message through its own enqueue."""
    from dramatiq.brokers.stub import StubBroker

    stub = StubBroker()
    queue = JobQueue(stub, QUEUE)
    queue.wake_all([1, 2, 3], starting=True)
    assert stub.queues[f"{QUEUE}.start"].qsize() == 3
    send_many(stub, [])
    assert stub.queues[f"{QUEUE}.start"].qsize() == 3


def test_a_broker_that_fails_stops_the_wake_ups_not_the_writing(database_url: str, tmp_path: Path) -> None:
    """Redis down mid-enqueue: every job is still recorded (due now, for the sweeper) and the result says why."""
    from batchrunner.testing.processes import free_port

    lines = [_line(f"job-{n:04d}") for n in range(1500)]
    path = _write(tmp_path / "jobs.jsonl", lines)
    unreachable = RedisBroker(url=f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)  # type: ignore[no-untyped-call]
    result = _enqueue(path, _repository(database_url), JobQueue(unreachable, QUEUE), rows_per_chunk=1000)
    assert (result.new_jobs, result.unwoken_jobs) == (1500, 1500)
    assert result.wake_up_error is not None and "ConnectionError" in result.wake_up_error
    stored = _jobs(database_url)
    assert len(stored) == 1500 and {row.state for row in stored} == {"pending"}
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            due = conn.scalar(sa.text("SELECT count(*) FROM jobs WHERE next_wake_at IS NOT NULL"))
    finally:
        engine.dispose()
    assert due == 1500, "each job keeps a wake-up time, which the sweeper re-drives once it is overdue"
