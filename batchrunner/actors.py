"""The thin Dramatiq side: actors that say "advance job N", sent now or with a delay.

Two queues: ``<queue>`` carries wake-ups of jobs with a run in flight (polls, tool rounds, outputs) and
``<queue>.start`` those of jobs still waiting to start. The start actor has a lower priority and its
backlog stays in the broker, so thousands of queued jobs never delay noticing that a run finished.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dramatiq

from batchrunner.broker import ready_messages, send_many
from batchrunner.processor import Wake

ACTOR_NAME = "advance_job"
START_ACTOR_NAME = "start_job"
START_QUEUE_SUFFIX = ".start"
# Dramatiq runs lower numbers first.
_IN_FLIGHT_PRIORITY = 0
_START_PRIORITY = 100
log = logging.getLogger(__name__)

Advance = Callable[[int], Wake | None]


class JobQueue:
    """Sends and handles wake-ups of jobs. A message carries only a job id (DESIGN principle 1)."""

    def __init__(self, broker: dramatiq.Broker, queue_name: str, advance: Advance | None = None) -> None:
        self._advance = advance
        self.broker = broker

        def advance_job(job_id: int) -> None:
            if self._advance is None:
                raise RuntimeError("this process only sends wake-ups; it has no job processor")
            wake = self._advance(job_id)
            if wake is not None:
                self.wake(job_id, wake.delay_s, starting=wake.starting)

        # Dramatiq's own retries cover unexpected failures (a database restart, say); API errors are
        # handled by the state machine, and the sweeper is the backstop for anything lost.
        options: dict[str, Any] = {"max_retries": 20, "min_backoff": 1_000, "max_backoff": 60_000}
        self._in_flight = dramatiq.actor(
            broker=broker, actor_name=ACTOR_NAME, queue_name=queue_name, priority=_IN_FLIGHT_PRIORITY, **options
        )(advance_job)
        self._start = dramatiq.actor(
            broker=broker,
            actor_name=START_ACTOR_NAME,
            queue_name=queue_name + START_QUEUE_SUFFIX,
            priority=_START_PRIORITY,
            **options,
        )(advance_job)

    def set_processor(self, advance: Advance) -> None:
        self._advance = advance

    def wake(self, job_id: int, delay_s: float = 0.0, *, starting: bool = False) -> None:
        delay_ms = int(delay_s * 1000)
        actor = self._start if starting else self._in_flight
        actor.send_with_options(args=(job_id,), delay=delay_ms if delay_ms > 0 else None)

    def ready_messages(self, *, starting: bool) -> int | None:
        """Wake-ups due now and not yet taken by a worker, on the start or the in-flight queue."""
        actor = self._start if starting else self._in_flight
        try:
            return ready_messages(self.broker, actor.queue_name)
        except Exception:  # a broker that cannot answer tells the sweeper nothing; it sweeps as usual
            log.warning("could not read the length of queue %s", actor.queue_name, exc_info=True)
            return None

    def wake_all(self, job_ids: list[int], *, starting: bool = False) -> None:
        """Wake every job of ``job_ids`` now (pipelined on Redis: ``broker.send_many``)."""
        actor = self._start if starting else self._in_flight
        send_many(self.broker, (actor.message_with_options(args=(job_id,)) for job_id in job_ids))
