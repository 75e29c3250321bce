"""``batchrunner run``: everything in one process (in-process broker, worker threads), with progress."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import dramatiq
from dramatiq.brokers.stub import StubBroker
from tqdm import tqdm

from batchrunner.actors import JobQueue
from batchrunner.db.job_rows import DEFAULT_LANES
from batchrunner.db.migrate import upgrade
from batchrunner.db.repository import TERMINAL_STATES
from batchrunner.deadlines import Deadline
from batchrunner.enqueue import EnqueueResult, enqueue_file
from batchrunner.lanes import LanePolicy
from batchrunner.runtime import Runtime, load_tools, make_fleet_budgets
from batchrunner.settings import Settings
from batchrunner.simulator.config import SimConfig
from batchrunner.simulator.server import BackgroundSimulator
from batchrunner.sweeper import Sweeper

_PROGRESS_INTERVAL_S = 0.5


@dataclass(frozen=True)
class RunSummary:
    batch_name: str
    counts: dict[str, int]
    stop_reason: str | None

    @property
    def failed(self) -> int:
        return sum(n for state, n in self.counts.items() if state != "succeeded")


@contextlib.contextmanager
def _api_target(settings: Settings, simulate: bool, seed: int) -> Iterator[Settings]:
    if not simulate:
        yield settings
        return
    with BackgroundSimulator(SimConfig(seed=seed)) as simulator:
        yield settings.model_copy(update={"api_base_url": simulator.base_url})


def run_file(
    settings: Settings,
    path: str,
    *,
    batch_name: str | None = None,
    simulate: bool = False,
    seed: int = 0,
    show_progress: bool = True,
    deadline: Deadline | None = None,
    lanes: LanePolicy = DEFAULT_LANES,
) -> tuple[EnqueueResult, RunSummary]:
    """Enqueue ``path`` and work on it in this process until every job of its batch is finished."""
    upgrade(settings.database_url)
    with _api_target(settings, simulate, seed) as effective:
        broker = StubBroker()
        broker.emit_after("process_boot")
        queue = JobQueue(broker, effective.queue_name)
        runtime = Runtime.build(effective, budget=make_fleet_budgets(effective, in_memory=True))
        queue.set_processor(runtime.processor.advance_step)
        runtime.wake_jobs_with(queue.wake)
        worker = dramatiq.Worker(broker, worker_threads=effective.worker_threads, worker_timeout=100)
        try:
            enqueued = enqueue_file(
                path,
                runtime.repository,
                queue,
                batch_name=batch_name,
                known_tools=runtime.tools.names(),
                default_backend=effective.backend,
                assistants_file=effective.assistants_file or None,
                deadline=deadline,
                lanes=lanes,
            )
            # Jobs of an earlier, interrupted run of this batch are due again: wake them too.
            queue.wake_all(runtime.repository.unfinished_job_ids(enqueued.batch_id))
            worker.start()
            summary = _wait(runtime, queue, enqueued, effective, show_progress)
        finally:
            worker.stop()
            broker.close()
            runtime.close()
    return enqueued, summary


def _wait(
    runtime: Runtime, queue: JobQueue, enqueued: EnqueueResult, settings: Settings, show_progress: bool
) -> RunSummary:
    repository = runtime.repository
    sweeper = Sweeper(repository, queue, grace_s=settings.sweep_grace_seconds)
    last_sweep = last_batch_check = time.monotonic()
    bar = tqdm(total=enqueued.jobs_in_file, unit="job", disable=not show_progress, desc=enqueued.batch_name)
    try:
        while True:
            counts = repository.count_by_state(enqueued.batch_id)
            done = sum(counts.get(state, 0) for state in TERMINAL_STATES)
            bar.update(done - bar.n)
            bar.set_postfix({state: n for state, n in sorted(counts.items()) if state not in TERMINAL_STATES})
            batch = repository.batch(enqueued.batch_name)
            stop_reason = batch.stop_reason if batch is not None and batch.status == "stopped" else None
            if done >= sum(counts.values()) or stop_reason:
                return RunSummary(enqueued.batch_name, counts, stop_reason)
            if time.monotonic() - last_sweep > settings.sweep_interval_seconds:
                sweeper.sweep_once()
                last_sweep = time.monotonic()
            if time.monotonic() - last_batch_check > settings.batch_check_seconds:
                runtime.batch_lane.run_once()
                last_batch_check = time.monotonic()
            time.sleep(_PROGRESS_INTERVAL_S)
    finally:
        bar.close()


__all__ = ["RunSummary", "load_tools", "run_file"]
