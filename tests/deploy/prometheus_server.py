"""A real Prometheus server for tests: scrapes given targets on loopback, answers PromQL over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

STARTUP_TIMEOUT_SECONDS = 30.0


class PrometheusServer:
    """``prometheus`` in a child process with a generated config and its storage under ``workdir``."""

    def __init__(
        self, binary: str, targets: list[str], workdir: Path, port: int, *, scrape_interval: str = "1s"
    ) -> None:
        self._binary = binary
        self._targets = targets
        self._workdir = workdir
        self._scrape_interval = scrape_interval
        self.address = f"127.0.0.1:{port}"
        self.url = f"http://{self.address}"
        self.log_path = workdir / "prometheus.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        config = {
            "global": {"scrape_interval": self._scrape_interval, "evaluation_interval": self._scrape_interval},
            "scrape_configs": [{"job_name": "batchrunner", "static_configs": [{"targets": self._targets}]}],
        }
        path = self._workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    def start(self) -> PrometheusServer:
        self._workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            self._binary,
            f"--config.file={self._write_config()}",
            f"--storage.tsdb.path={self._workdir / 'data'}",
            f"--web.listen-address={self.address}",
            "--log.level=warn",
        ]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self._proc.returncode}: {self.log_text()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"prometheus was not ready within {STARTUP_TIMEOUT_SECONDS}s: {self.log_text()}")

    def query(self, expr: str) -> dict[str, Any]:
        """The `data` of an instant query at now; raises with Prometheus' error for a bad expression."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body: dict[str, Any] = response.json()
        if body.get("status") != "success":
            raise ValueError(f"{body.get('errorType')}: {body.get('error')}")
        data: dict[str, Any] = body["data"]
        return data

    def scalar(self, expr: str) -> float:
        """The value of a query returning one sample, or 0.0 when it returns none."""
        result = self.query(expr)["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def targets_up(self) -> int:
        return int(self.scalar("sum(up)"))

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=10)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
