"""A daemon thread that runs one task every few seconds until stopped (the sweeper, the Batch API lane)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PeriodicTask:
    def __init__(self, name: str, task: Callable[[], None], interval_s: float) -> None:
        self._name = name
        self._task = task
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"batchrunner-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._task()
            except Exception:  # the database may be restarting; try again next round
                log.exception("%s failed; retrying in %.0fs", self._name, self._interval)


__all__ = ["PeriodicTask"]
