"""When to look at a run again: honour the server's hint, spend as few polls as possible.

A pure policy. The server's ``openai-poll-after-ms`` is a floor: polling sooner wastes budget. Above the
floor, two facts let us wait longer without noticing a finished run late:

* the shortest duration observed for runs of the same assistant and model: before a run is that old it is
  very unlikely to be done, so the first poll can wait until then;
* the run's age: a run that has already taken minutes is polled at a proportion of its age (capped), so
  thousands of long runs in flight cost a bounded poll rate.
"""

from __future__ import annotations

import heapq
import threading
from collections import defaultdict, deque
from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class PollPolicy:
    default_interval_s: float = 2.0
    max_interval_s: float = 60.0
    # A run this many seconds old is polled every age * this share at most (within the cap).
    age_share: float = 0.2

    def next_delay(self, *, poll_after_ms: int | None, age_s: float, earliest_finish_s: float | None) -> float:
        """Seconds until the next poll of a run that is ``age_s`` seconds old."""
        floor = poll_after_ms / 1000.0 if poll_after_ms is not None and poll_after_ms >= 0 else None
        base = floor if floor is not None else self.default_interval_s
        delay = max(base, min(self.max_interval_s, age_s * self.age_share))
        if earliest_finish_s is not None and earliest_finish_s - age_s > delay:
            delay = min(earliest_finish_s - age_s, self.max_interval_s * 10)
        return delay


class DurationTracker:
    """Recent run durations per (assistant, model), remembered in this process.

    Until enough runs of a kind have finished, the ages at which its runs were seen still running are
    evidence too: if several runs were all still going at 90 s, a new one is unlikely to end before.
    Any finished run shorter than that evidence lowers the estimate at once.
    """

    def __init__(self, window: int = 50, min_samples: int = 5, alive_window: int = 256) -> None:
        self._window = window
        self._min_samples = min_samples
        self._alive_window = alive_window
        self._samples: dict[tuple[str, str], deque[float]] = defaultdict(lambda: deque(maxlen=window))
        self._alive: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        self._lock = threading.Lock()

    def observe(self, assistant_id: str, model: str | None, duration_s: float) -> None:
        if duration_s < 0:
            return
        with self._lock:
            self._samples[(assistant_id, model or "")].append(duration_s)

    def observe_running(self, assistant_id: str, model: str | None, run_id: str, age_s: float) -> None:
        """Run ``run_id`` was seen still in progress at ``age_s`` seconds."""
        with self._lock:
            ages = self._alive[(assistant_id, model or "")]
            ages[run_id] = max(age_s, ages.get(run_id, 0.0))
            if len(ages) > self._alive_window:  # keep the longest-lived runs: they are the evidence
                del ages[min(ages, key=ages.__getitem__)]

    def earliest_finish(self, assistant_id: str, model: str | None) -> float | None:
        """A conservative lower bound of how long such a run takes, once enough runs were seen."""
        key = (assistant_id, model or "")
        # Called on every poll: the common case (enough finished runs) reads no survival evidence.
        with self._lock:
            finished: Collection[float] = self._samples.get(key, ())
            if len(finished) >= self._min_samples:
                return min(finished) * 0.9
            ages = self._alive.get(key, {})
            if len(ages) < self._min_samples:
                return None
            lived_at_least = heapq.nlargest(self._min_samples, ages.values())[-1]
        return min((lived_at_least, *finished)) * 0.9
