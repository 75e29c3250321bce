"""Dramatiq middleware of batchrunner workers. Import only after ``prepare_multiprocess_metrics``."""

from __future__ import annotations

import os
from collections.abc import Callable

import dramatiq
from dramatiq.middleware.prometheus import Prometheus

from batchrunner.telemetry import serve_metrics


class MetricsMiddleware(Prometheus):
    """Dramatiq's Prometheus middleware, with our exposition server in place of its own."""

    def __init__(self, directory: str) -> None:
        super().__init__()
        self.directory = directory

    @property
    def forks(self) -> list[Callable[[], int]]:
        return [serve_metrics]

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), self.directory)  # type: ignore[no-untyped-call]
