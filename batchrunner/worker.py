"""Worker entry point: ``dramatiq batchrunner.worker`` (the Procfile's ``worker:`` line).

Importing this module builds the broker from ``Settings`` and declares the actor; nothing connects
until a worker thread handles its first message. Each worker process also runs a sweeper and writes
its metrics to the shared multiprocess directory, served with Dramatiq's on one endpoint.
"""

from __future__ import annotations

import logging
import sys
import threading

from batchrunner.settings import Settings
from batchrunner.telemetry import prepare_multiprocess_metrics

settings = Settings()
prepare_multiprocess_metrics(settings.metrics_dir)

import dramatiq  # noqa: E402  (prometheus_client must see the multiprocess directory first)

from batchrunner.actors import JobQueue  # noqa: E402
from batchrunner.broker import build_broker  # noqa: E402
from batchrunner.metrics import prime_label_sets  # noqa: E402
from batchrunner.periodic import PeriodicTask  # noqa: E402
from batchrunner.runtime import Runtime, unshared_budget_problem  # noqa: E402
from batchrunner.sweeper import Sweeper  # noqa: E402
from batchrunner.worker_middleware import MetricsMiddleware  # noqa: E402

log = logging.getLogger("batchrunner.worker")
# A step is a dozen short network waits (database, Redis, API). Each time one ends the thread must win
# the GIL back, and with the default 5 ms switch interval it can wait that long behind a busy thread,
# every time: most of a step's wall time under load. 1 ms keeps the waits short.
GIL_SWITCH_INTERVAL_S = 0.001
sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
# httpx logs every request at INFO: far too much for a worker making thousands a minute.
logging.getLogger("httpx").setLevel(logging.WARNING)

if not settings.broker_url:
    raise SystemExit(
        "BATCHRUNNER_BROKER_URL is empty: workers need a shared broker (redis://… or amqp://…). "
        "For a single process, use `batchrunner run FILE`."
    )

_unshared = unshared_budget_problem(settings)
if _unshared is not None:
    raise SystemExit(f"batchrunner worker: {_unshared}")

broker = build_broker(settings.broker_url)
broker.add_middleware(MetricsMiddleware(settings.metrics_dir))
dramatiq.set_broker(broker)

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """This process's runtime, built on first use (after the fork, never at import)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime.build(settings)
            _runtime.wake_jobs_with(queue.wake)
            prime_label_sets(_runtime.tools.names())
            sweeper = Sweeper(_runtime.repository, queue, grace_s=settings.sweep_grace_seconds, budgets=_runtime.budget)
            PeriodicTask("sweeper", sweeper.sweep_and_publish, settings.sweep_interval_seconds).start()
            PeriodicTask("batch lane", _runtime.batch_lane.run_once, settings.batch_check_seconds).start()
            log.info("batchrunner worker ready (threads=%s)", settings.worker_threads)
        return _runtime


queue = JobQueue(broker, settings.queue_name, advance=lambda job_id: runtime().processor.advance_step(job_id))


class _BootRuntime(dramatiq.Middleware):
    """Start the sweeper as soon as the worker boots, not on its first message."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        runtime()


broker.add_middleware(_BootRuntime())
