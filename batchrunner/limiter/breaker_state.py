"""The circuit breaker's arithmetic: pure transitions on the fleet's view of the API (``breaker`` stores it).

- **Closed** (``down_since`` is None): every request goes. Each request that got no answer or a 5xx
  adds one to ``failures``; any other answer resets it, so one job's bad luck among working requests
  never adds up. ``failure_threshold`` failures in a row, fleet-wide, open the breaker, if they came
  from more than one source (job): one job whose own request keeps failing, alone in the fleet, ends
  by its own retry bound instead of holding the fleet back.
- **Open**: no request goes until ``probe_at``. Then ``probe_requests`` requests go as probes (a
  probe is any request a job wants to make). One answered resets the breaker: closed, full speed.
  A probe that fails moves ``probe_at`` by an interval that doubles up to ``max_probe_interval_s``.
  A failure before ``probe_at`` is a request sent before the breaker opened and changes nothing.
- Probes whose outcome never arrives (their worker died) are given up after ``probe_timeout_s``: the
  next request starts a new round of probes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    probe_requests: int = 2
    first_probe_s: float = 5.0
    max_probe_interval_s: float = 60.0
    probe_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.probe_requests < 1:
            raise ValueError("failure_threshold and probe_requests must be >= 1")
        if not 0 < self.first_probe_s <= self.max_probe_interval_s:
            raise ValueError("need 0 < first_probe_s <= max_probe_interval_s")


@dataclass(frozen=True)
class BreakerState:
    """``down_since``/``probe_at`` are epoch seconds; ``interval`` is the wait before the current probes."""

    failures: int = 0
    down_since: float | None = None
    probe_at: float = 0.0
    interval: float = 0.0
    probes_left: int = 0
    first_source: str = ""
    mixed: bool = False

    @property
    def down(self) -> bool:
        return self.down_since is not None


CLOSED = BreakerState()


def admit(state: BreakerState, policy: BreakerPolicy, now: float) -> tuple[BreakerState, float]:
    """Whether a request may go now: (new state, 0.0), or (state, seconds to wait before asking again)."""
    if not state.down:
        return state, 0.0
    if now < state.probe_at:
        return state, state.probe_at - now
    if state.probes_left > 0:
        return replace(state, probes_left=state.probes_left - 1), 0.0
    given_up_at = state.probe_at + policy.probe_timeout_s
    if now >= given_up_at:
        return replace(state, probe_at=now, probes_left=policy.probe_requests - 1), 0.0
    return state, min(policy.first_probe_s, given_up_at - now)  # the probes in flight will tell


def failure(state: BreakerState, policy: BreakerPolicy, now: float, source: str) -> BreakerState:
    """A request made for ``source`` (a job) got no answer or a 5xx."""
    failures = state.failures + 1
    if not state.down:
        first_source = state.first_source if state.failures else source
        mixed = state.mixed or source != first_source
        if failures < policy.failure_threshold or not mixed:
            return replace(state, failures=failures, first_source=first_source, mixed=mixed)
        first = policy.first_probe_s
        return BreakerState(
            failures, down_since=now, probe_at=now + first, interval=first, probes_left=policy.probe_requests
        )
    if now < state.probe_at:
        return state  # sent before the breaker opened (or by a worker that had not heard yet)
    interval = min(state.interval * 2, policy.max_probe_interval_s)
    return replace(
        state, failures=failures, probe_at=now + interval, interval=interval, probes_left=policy.probe_requests
    )


def success(state: BreakerState) -> BreakerState:
    """A request was answered (anything but a 5xx): the API is up."""
    return CLOSED


__all__ = ["CLOSED", "BreakerPolicy", "BreakerState", "admit", "failure", "success"]
