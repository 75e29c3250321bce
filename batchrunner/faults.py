"""Named fault-injection points, for crash tests of the real worker (off unless configured).

``BATCHRUNNER_FAULT_POINTS="after_run_create=0.3"`` makes a worker process exit abruptly (as if
SIGKILLed) with probability 0.3 each time it passes that point. Points: ``after_thread_create`` (the
API created the thread, its id is not committed), ``after_run_create`` (the API created the run, its id
is not committed), ``after_tool_outputs`` (outputs submitted, not recorded), ``after_batch_upload`` (a Batch
API input file uploaded, its id not committed), ``after_batch_create`` (the batch created, its id not committed).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

FaultHook = Callable[[str], None]
# The line a crashing process writes to stderr first: a crash is counted from the logs, since a worker
# process whose main process has already exited (its sibling crashed) leaves no exit code to read.
CRASH_LOG_MARK = "batchrunner fault point crash"
KNOWN_POINTS = frozenset(
    {"after_thread_create", "after_run_create", "after_tool_outputs", "after_batch_upload", "after_batch_create"}
)
CRASH_EXIT_CODE = 70


def no_faults(point: str) -> None:
    """The default hook: every point passes."""


def parse_fault_points(spec: str) -> dict[str, float]:
    """``"a=0.5,b=1"`` -> ``{"a": 0.5, "b": 1.0}``; unknown points or bad probabilities raise ValueError."""
    points: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, probability = item.partition("=")
        if name not in KNOWN_POINTS:
            raise ValueError(f"unknown fault point {name!r}; known: {', '.join(sorted(KNOWN_POINTS))}")
        value = float(probability or "1")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"fault point {name}: probability must be within 0..1, got {value}")
        points[name] = value
    return points


def crashing_hook(points: dict[str, float], rand: Callable[[], float] = random.random) -> FaultHook:
    """A hook that ends the process at once (no clean-up, like SIGKILL) at the configured points."""
    if not points:
        return no_faults

    def hook(point: str) -> None:
        probability = points.get(point)
        if probability and rand() < probability:
            os.write(2, f"{CRASH_LOG_MARK}: {point} in process {os.getpid()}\n".encode())
            os._exit(CRASH_EXIT_CODE)

    return hook
