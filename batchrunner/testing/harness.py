"""Drive the job state machine in-process and deterministically: fake clock, simulator, no broker.

``StepHarness`` plays the broker's part: it keeps a queue of (wake-up time, job id), moves a shared fake
clock to the next wake-up and calls ``JobProcessor.advance``. The simulator runs on the same clock
through its ASGI app, so runs that "take" minutes finish in milliseconds.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from batchrunner.backend.assistants.adapter import AssistantsBackend
from batchrunner.backend.assistants.client import AssistantsClient
from batchrunner.backend.base import Backend
from batchrunner.backend.responses.adapter import ResponsesBackend
from batchrunner.backend.responses.batch_client import BatchClient
from batchrunner.backend.responses.client import ResponsesClient
from batchrunner.batch_lane import BatchLane, BatchLaneConfig, LineRecorder
from batchrunner.db.api_batches import ApiBatchStore
from batchrunner.db.engine import make_engine, make_session_factory
from batchrunner.db.repository import Repository
from batchrunner.faults import FaultHook, no_faults
from batchrunner.jobfile.assistants import AssistantDefinition, load_assistants
from batchrunner.jobs import BackendName, JobSpec, parse_job_line
from batchrunner.limiter import Budget, Learning, MemoryBudget
from batchrunner.limiter.breaker import CircuitBreaker, MemoryBreakerStore
from batchrunner.limiter.breaker_state import BreakerPolicy
from batchrunner.limiter.models import ModelBudgets
from batchrunner.polling import DurationTracker
from batchrunner.processor import JobProcessor, ProcessorConfig
from batchrunner.recording import RunRecorder
from batchrunner.simulator.app import create_app
from batchrunner.simulator.config import SimConfig
from batchrunner.simulator.transport import SyncASGITransport
from batchrunner.testing.outage import OutageTransport
from batchrunner.tools.registry import ToolRegistry
from batchrunner.tools.runner import ToolRunner

_EPOCH = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    now: datetime = _EPOCH

    def __call__(self) -> datetime:
        return self.now

    def timestamp(self) -> float:
        return self.now.timestamp()

    def advance_to(self, when: datetime) -> None:
        self.now = max(self.now, when)


@dataclass
class StepHarness:
    repository: Repository
    processor: JobProcessor
    clock: FakeClock
    transport: httpx.BaseTransport
    budget: Budget
    outage: OutageTransport
    breaker: CircuitBreaker
    budgets: ModelBudgets
    batch_lane: BatchLane | None = None
    batch_check_s: float = 30.0
    queue: list[tuple[datetime, int, int]] = field(default_factory=list)
    steps: int = 0
    batch_rounds: int = 0
    _order: Iterator[int] = field(default_factory=itertools.count)
    _next_batch_check: datetime | None = None

    def wake_all(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self.wake(job_id)

    def wake(self, job_id: int, delay_s: float = 0.0) -> None:
        heapq.heappush(self.queue, (self.clock.now + timedelta(seconds=delay_s), next(self._order), job_id))

    def enqueue(self, specs: Iterable[JobSpec], batch: str = "batch") -> list[int]:
        batch_id = self.repository.get_or_create_batch(batch)
        ids = self.repository.insert_jobs(batch_id, list(specs))
        for job_id in ids:
            self.wake(job_id)
        return ids

    def cancel_batch(self, batch: str = "batch") -> None:
        """Cancel ``batch`` as ``batchrunner cancel`` does, and wake its jobs."""
        batch_id = self.repository.batch_id(batch)
        if batch_id is None:
            raise AssertionError(f"no batch {batch!r}")
        for job_id in self.repository.cancel_batch(batch_id):
            self.wake(job_id)

    def step(self) -> int | None:
        """Deliver the next wake-up; return the job id, or None when nothing is queued."""
        if not self.queue:
            return None
        when, _, job_id = heapq.heappop(self.queue)
        self.clock.advance_to(when)
        self.steps += 1
        delay = self.processor.advance(job_id)
        if delay is not None:
            self.wake(job_id, delay)
        return job_id

    def batch_round(self) -> None:
        """One round of the Batch API lane's driver, at the clock's time."""
        assert self.batch_lane is not None
        self.batch_lane.run_once()
        self.batch_rounds += 1
        self._next_batch_check = self.clock.now + timedelta(seconds=self.batch_check_s)

    def drain(self, max_steps: int = 10_000) -> int:
        """Deliver wake-ups, and run the Batch API lane every ``batch_check_s`` while it has work, until
        nothing is left; return how many wake-ups and rounds were delivered.

        The lane is asked whether it has work only when a round is due (a worker's first round comes one
        interval after it starts), not before each wake-up: that costs database queries.
        """
        delivered = 0
        interval = timedelta(seconds=self.batch_check_s)
        while delivered < max_steps:
            if self._next_batch_check is None:
                self._next_batch_check = self.clock.now + interval
            if self.queue and self.queue[0][0] < self._next_batch_check:
                self.step()
            elif self.batch_lane is not None and self.batch_lane.has_work():
                self.clock.advance_to(self._next_batch_check)
                self.batch_round()
            elif self.queue:
                # Nothing for the lane now: the next round is due an interval after the next wake-up.
                self._next_batch_check = self.queue[0][0] + interval
                self.step()
            else:
                return delivered
            delivered += 1
        raise AssertionError(f"jobs still queued after {max_steps} steps")

    def sim_stats(self) -> dict[str, Any]:
        with httpx.Client(transport=self.transport, base_url="http://sim") as client:
            return dict(client.get("/_sim/stats").json())


def example_assistants() -> dict[str, AssistantDefinition]:
    """The assistants of ``examples/assistants.yaml`` (every assistant the simulator's catalogue knows)."""
    return load_assistants(repo_path() / "examples" / "assistants.yaml")


def job(
    custom_id: str,
    assistant_id: str = "asst_support",
    text: str = "Summarise: the printer is jammed.",
    line_no: int = 1,
    *,
    backend: BackendName = BackendName.ASSISTANTS,
    **fields: Any,
) -> JobSpec:
    """A valid job spec with a new thread (on the Responses backend: the example assistants), for tests."""
    import json

    body: dict[str, Any] = {"custom_id": custom_id, "assistant_id": assistant_id}
    if "thread_id" not in fields:
        body["thread"] = {"messages": [{"role": "user", "content": text}]}
    body.update(fields)
    assistants = example_assistants() if backend is BackendName.RESPONSES else None
    return parse_job_line(json.dumps(body), line_no, default_backend=backend, assistants=assistants)


@contextmanager
def step_harness(
    database_url: str,
    sim: SimConfig | None = None,
    *,
    config: ProcessorConfig | None = None,
    budget: Budget | None = None,
    tools: ToolRegistry | None = None,
    fault_hook: FaultHook = no_faults,
    api_timeout: float = 30.0,
    backend_factory: Callable[[AssistantsClient], Backend] = AssistantsBackend,
    responses_backend_factory: Callable[[ResponsesClient], Backend] = ResponsesBackend,
    breaker_policy: BreakerPolicy | None = None,
    learning: Learning | None = None,
    per_model: bool = False,
    clock: FakeClock | None = None,
    batch_lane: BatchLaneConfig | None = None,
) -> Iterator[StepHarness]:
    """The processor, the simulator over ASGI on a fake clock, and a database; ``drain`` runs the jobs.

    The clients reach the simulator through ``StepHarness.outage`` (switch it to stage an outage)
    and report every request to ``StepHarness.breaker``; ``transport`` reaches the simulator directly.
    """
    clock = clock or FakeClock()
    sim_config = replace(sim or SimConfig(run_duration_min_s=2, run_duration_max_s=8), clock=clock.timestamp)
    transport = SyncASGITransport(create_app(sim_config))
    outage = OutageTransport(transport)
    breaker = CircuitBreaker(MemoryBreakerStore(), breaker_policy, clock=clock.timestamp)
    engine = make_engine(database_url, pool_size=2)
    repository = Repository(make_session_factory(engine), clock=clock)
    api: dict[str, Any] = {"timeout": api_timeout, "transport": outage, "on_response": breaker.observe}
    client = AssistantsClient("http://sim/v1", "sk-harness", **api)
    responses_client = ResponsesClient("http://sim/v1", "sk-harness", **api)
    backends: list[Backend] = [backend_factory(client), responses_backend_factory(responses_client)]
    runner = ToolRunner(tools or ToolRegistry.load(), timeout_seconds=5, max_output_chars=4000)
    fleet_budget = budget or MemoryBudget(0, 0, clock=clock.timestamp, learning=learning)
    if per_model:  # a budget per model, each learning its own limits
        budgets = ModelBudgets(lambda model, rpm, tpm: MemoryBudget(rpm, tpm, clock=clock.timestamp, learning=learning))
    else:
        budgets = ModelBudgets.single(fleet_budget)
    processor_config = config or ProcessorConfig()
    processor = JobProcessor(
        repository,
        {backend.name: backend for backend in backends},
        runner,
        budgets,
        processor_config,
        clock=clock,
        rand=lambda: 0.5,
        fault_hook=fault_hook,
        breaker=breaker,
    )
    harness = StepHarness(repository, processor, clock, transport, fleet_budget, outage, breaker, budgets)
    batch_client = BatchClient("http://sim/v1", "sk-harness", **api)
    lane_config = batch_lane or BatchLaneConfig(
        check_interval_s=30.0, max_run_attempts=processor_config.max_run_attempts
    )
    lines = LineRecorder(
        repository,
        RunRecorder(repository, DurationTracker()),
        harness.wake_all,
        max_run_attempts=lane_config.max_run_attempts,
        clock=clock,
    )
    harness.batch_lane = BatchLane(
        ApiBatchStore(engine, clock=clock),
        repository,
        batch_client,
        lines,
        harness.wake_all,
        lane_config,
        clock=clock,
        fault_hook=fault_hook,
    )
    harness.batch_check_s = lane_config.check_interval_s
    try:
        yield harness
    finally:
        client.close()
        responses_client.close()
        batch_client.close()
        runner.close()
        engine.dispose()


class Crash(Exception):
    """Stands for a process dying at a fault point."""


def crash_once_at(point: str) -> tuple[FaultHook, list[str]]:
    """A fault hook that raises ``Crash`` the first time ``point`` is reached, and the list it records that in."""
    crashed: list[str] = []

    def hook(name: str) -> None:
        if name == point and not crashed:
            crashed.append(name)
            raise Crash(name)

    return hook, crashed


def query_rows(url: str, query: str, **params: Any) -> list[Any]:
    """The rows of one SQL query on the database at ``url`` (for tests' assertions)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(query), params).all())
    finally:
        engine.dispose()


def job_states(url: str) -> dict[str, str]:
    """custom_id -> state of every job in the database at ``url``."""
    return {row.custom_id: row.state for row in query_rows(url, "SELECT custom_id, state FROM jobs")}


def repo_path() -> Path:
    return Path(__file__).resolve().parents[2]
