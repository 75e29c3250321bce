"""Injected faults: 500/503 answers, dropped connections and slow responses.

Each request's faults come from an RNG seeded with (seed, request number), so a given sequence of
requests meets the same faults every time. A 5xx or a drop strikes either before the request is
served (nothing happened) or after (the work is done but the client never learns it), as on a
real network; so does the delay of a slow response.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from batchrunner.simulator.config import SimConfig


@dataclass(frozen=True)
class FaultPlan:
    """The faults one request meets."""

    kind: str = "none"  # "none", "5xx" or "drop"
    status: int = 0
    after_work: bool = False
    slow_seconds: float = 0.0
    slow_after_work: bool = False


NO_FAULT = FaultPlan()


def draw_faults(config: SimConfig, request_number: int) -> FaultPlan:
    """The faults of the `request_number`-th API request."""
    if not (config.fault_5xx_rate or config.fault_drop_rate or config.fault_slow_rate):
        return NO_FAULT
    rng = random.Random(f"{config.seed}:request:{request_number}")
    draw, after, slow_draw, slow_after = rng.random(), rng.random() < 0.5, rng.random(), rng.random() < 0.5
    status = rng.choice((500, 503))
    kind = "none"
    if draw < config.fault_drop_rate:
        kind = "drop"
    elif draw < config.fault_drop_rate + config.fault_5xx_rate:
        kind = "5xx"
    slow = config.fault_slow_seconds if slow_draw < config.fault_slow_rate else 0.0
    return FaultPlan(kind, status if kind == "5xx" else 0, after, slow, slow_after)
