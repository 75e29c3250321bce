"""Prometheus plumbing for worker processes: the multiprocess directory and one exposition endpoint.

Our metrics and Dramatiq's Prometheus middleware write to the same multiprocess directory; one
process forked by Dramatiq serves them all on ``metrics_host:metrics_port`` (127.0.0.1 by default).
"""

from __future__ import annotations

import os
import re
from http.server import HTTPServer
from pathlib import Path

_PID_IN_NAME = re.compile(r"_(\d+)\.db$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare_multiprocess_metrics(directory: str) -> None:
    """Point prometheus-client at ``directory`` and delete files left by processes that are gone.

    Must run before ``prometheus_client`` is imported. Without the clean-up the directory would gain a
    file per process and restart forever, and every scrape would read them all.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for file in path.glob("*.db"):
        match = _PID_IN_NAME.search(file.name)
        if match and not _pid_alive(int(match.group(1))):
            file.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    os.environ["prometheus_multiproc_dir"] = str(path)  # noqa: SIM112  (older readers)
    os.environ["dramatiq_prom_db"] = str(path)  # noqa: SIM112  (the name Dramatiq reads)


def serve_metrics() -> int:
    """Dramatiq fork process: serve every worker process's metrics until terminated."""
    from prometheus_client import CollectorRegistry, multiprocess
    from prometheus_client.exposition import MetricsHandler

    from batchrunner.settings import Settings

    settings = Settings()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=settings.metrics_dir)  # type: ignore[no-untyped-call]
    server = HTTPServer((settings.metrics_host, settings.metrics_port), MetricsHandler.factory(registry))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.shutdown()
    return 0
