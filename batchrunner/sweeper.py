"""Re-drives jobs whose wake-up is overdue (DESIGN principle 1): a lost message or a dead worker loses nothing.

A job can also be overdue because its wake-up waits behind many others in a busy queue. Re-driving it
then only adds a duplicate to that queue, and with thousands of jobs the duplicates make the workers
later still. So while a queue holds more than ``busy_queue_messages`` due messages, its jobs are
re-driven only once they are ``BUSY_GRACE_FACTOR`` times the grace overdue.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

from batchrunner.db.repository import Repository
from batchrunner.limiter.models import ModelBudgets
from batchrunner.metrics import BUDGET_REMAINING, JOBS_BY_STATE, JOBS_IN_FLIGHT, SWEEPER_REDRIVES
from batchrunner.states import JobState

log = logging.getLogger(__name__)

_IN_FLIGHT_STATES = ("creating_run", "running", "requires_action", "collecting")
BUSY_GRACE_FACTOR = 10


class WakeQueue(Protocol):
    def wake(self, job_id: int, delay_s: float = 0.0, *, starting: bool = False) -> None: ...

    def ready_messages(self, *, starting: bool) -> int | None: ...


class Sweeper:
    def __init__(
        self,
        repository: Repository,
        queue: WakeQueue,
        *,
        grace_s: float = 60.0,
        busy_queue_messages: int = 100,
        batch_size: int = 1000,
        budgets: ModelBudgets | None = None,
    ) -> None:
        self._repo = repository
        self._budgets = budgets
        self._queue = queue
        self._grace = timedelta(seconds=grace_s)
        self._busy_queue_messages = busy_queue_messages
        self._batch_size = batch_size

    def sweep_once(self) -> int:
        """Re-drive every overdue job once; return how many were re-driven."""
        total = self._sweep(starting=True) + self._sweep(starting=False)
        if total:
            SWEEPER_REDRIVES.inc(total)
            log.info("sweeper re-drove %d overdue jobs", total)
        return total

    def _sweep(self, *, starting: bool) -> int:
        grace = self._grace
        waiting = self._queue.ready_messages(starting=starting)
        if waiting is not None and waiting > self._busy_queue_messages:
            grace *= BUSY_GRACE_FACTOR
        total = 0
        while True:
            overdue = self._repo.claim_overdue(
                now=datetime.now(UTC), grace=grace, limit=self._batch_size, starting=starting
            )
            for job_id in overdue:
                self._queue.wake(job_id, starting=starting)
            total += len(overdue)
            if len(overdue) < self._batch_size:
                return total

    def publish_gauges(self) -> None:
        counts = self._repo.count_by_state()
        for state in JobState:
            JOBS_BY_STATE.labels(state=state.value).set(counts.get(state, 0))
        JOBS_IN_FLIGHT.set(sum(counts.get(state, 0) for state in _IN_FLIGHT_STATES))
        if self._budgets is None:
            return
        for model, budget in self._budgets.known().items():
            snapshot = budget.snapshot()
            if snapshot.remaining_requests is not None:
                BUDGET_REMAINING.labels(resource="requests", model=model).set(snapshot.remaining_requests)
            if snapshot.remaining_tokens is not None:
                BUDGET_REMAINING.labels(resource="tokens", model=model).set(snapshot.remaining_tokens)

    def sweep_and_publish(self) -> None:
        """One round of a worker's sweeper thread."""
        self.sweep_once()
        self.publish_gauges()
