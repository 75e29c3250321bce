"""A once-a-second time series of what the benchmark watches, taken on a background thread.

Each sample has the simulator's cumulative request counts and its active runs or responses (a phase
uses one backend, so the two are summed), the jobs by state in the database (when one is given) and
the CPU time and memory of the measured process tree.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
import sqlalchemy as sa

from bench.proctree import TreeSample, sample_tree

RETRIEVE_RUN = "GET /v1/threads/{thread_id}/runs/{run_id}"
RETRIEVE_RESPONSE = "GET /v1/responses/{response_id}"


@dataclass(frozen=True)
class Sample:
    at: float
    requests: int  # answered or dropped, any status
    limited: int  # answered 429
    retrieves: int  # GET run or GET response, any status
    active_runs: int  # runs or responses queued or in progress at the API
    job_states: dict[str, int]
    tree: TreeSample | None
    ready_messages: int  # wake-ups due and waiting in the broker for a worker thread
    # Per model the simulator metered requests against ("" for none): {"served": n, "limited": m}.
    metered: dict[str, dict[str, int]] = field(default_factory=dict)


def request_totals(stats: dict[str, Any]) -> tuple[int, int, int]:
    """(all requests, 429 answers, run and response retrievals) from a /_sim/stats body."""
    routes: dict[str, dict[str, int]] = stats["requests"]
    total = sum(sum(statuses.values()) for statuses in routes.values())
    limited = sum(statuses.get("429", 0) for statuses in routes.values())
    retrieves = sum(sum(routes.get(route, {}).values()) for route in (RETRIEVE_RUN, RETRIEVE_RESPONSE))
    return total, limited, retrieves


def active_objects(stats: dict[str, Any]) -> int:
    """Runs and responses still queued or in progress (or, for runs, waiting for tool outputs)."""
    return int(stats["active_runs"]) + int(stats.get("active_responses", 0))


def job_states(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT state, count(*) FROM jobs GROUP BY state")).all()
    return {str(state): int(count) for state, count in rows}


@dataclass
class Sampler:
    """Samples every ``interval`` seconds until stopped; ``samples`` grows as it goes."""

    stats: Callable[[], dict[str, Any]]
    engine: sa.Engine | None
    root_pid: int | None
    broker: redis.Redis | None = None
    ready_queue_key: str = ""
    interval: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def take(self) -> Sample:
        at = time.time()
        stats = self.stats()
        total, limited, retrieves = request_totals(stats)
        sample = Sample(
            at=at,
            requests=total,
            limited=limited,
            retrieves=retrieves,
            active_runs=active_objects(stats),
            job_states=job_states(self.engine) if self.engine is not None else {},
            tree=sample_tree(self.root_pid) if self.root_pid is not None else None,
            ready_messages=int(self.broker.llen(self.ready_queue_key)) if self.broker is not None else 0,
            metered=stats.get("metered_by_model", {}),
        )
        self.samples.append(sample)
        return sample

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.take()
            except Exception as error:  # a moment without the database or the simulator is a gap, not the end
                self.errors.append(f"{time.strftime('%H:%M:%S')} {type(error).__name__}: {str(error)[:120]}")
            self._stop.wait(max(self.interval - (time.monotonic() - started), 0.0))

    def start(self) -> Sampler:
        self.take()
        self._thread.start()
        return self

    def stop(self) -> Sample:
        """Stop sampling and take one last sample."""
        self._stop.set()
        self._thread.join()
        return self.take()

    def latest(self) -> Sample:
        return self.samples[-1]


def counter_at(samples: list[Sample], at: float, read: Callable[[Sample], float]) -> float:
    """A cumulative counter at time ``at``, interpolated between the samples around it."""
    before = [s for s in samples if s.at <= at]
    after = [s for s in samples if s.at >= at]
    if not before:
        return read(samples[0])
    if not after:
        return read(samples[-1])
    low, high = before[-1], after[0]
    if high.at == low.at:
        return read(low)
    share = (at - low.at) / (high.at - low.at)
    return read(low) + share * (read(high) - read(low))


def rate_per_minute(samples: list[Sample], start: float, end: float, read: Callable[[Sample], float]) -> float:
    """How fast a cumulative counter grew between ``start`` and ``end``, per minute."""
    if end <= start:
        return 0.0
    return (counter_at(samples, end, read) - counter_at(samples, start, read)) / (end - start) * 60.0
