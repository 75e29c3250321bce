"""Child processes of the benchmark: the simulator server and the SDK baseline.

Each runs in its own process group, with its output in a log file, and is stopped by its own pid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SimSettings:
    """The ``SimConfig`` fields the benchmark sets."""

    seed: int
    run_duration_min_s: float
    run_duration_max_s: float
    poll_after_ms: int
    rpm: int
    tpm: int
    run_expiry_s: float
    # (model, rpm, tpm): models the simulator limits on their own; every other request shares rpm/tpm.
    model_limits: tuple[tuple[str, int, int], ...] = ()


def _spawn(argv: list[str], log_path: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv, cwd=REPO, env=dict(env or os.environ), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM the child's process group, SIGKILL it if it does not stop in time."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


class SimulatorProcess:
    """``python -m bench.simserver`` on ``port``; a context manager that waits until it answers."""

    def __init__(self, settings: SimSettings, port: int, log_path: Path) -> None:
        self.settings = settings
        self.root_url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.root_url}/v1"
        self._argv = [
            sys.executable,
            "-m",
            "bench.simserver",
            "--port",
            str(port),
            "--config",
            json.dumps(asdict(settings)),
        ]
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._http = httpx.Client(timeout=60)

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> SimulatorProcess:
        self._process = _spawn(self._argv, self._log_path)
        deadline = time.monotonic() + 30
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"the simulator exited; see {self._log_path}")
            try:
                self.stats()
                return self
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self._http.close()
        if self._process is not None:
            stop(self._process)

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self._http.get(f"{self.root_url}/_sim/stats").json()
        return data

    def reset(self) -> None:
        self._http.post(f"{self.root_url}/_sim/reset").raise_for_status()

    def runs(self, since: float) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._http.get(f"{self.root_url}/_bench/runs", params={"since": since}).json()
        return data

    def responses(self, since: float) -> list[dict[str, Any]]:
        url = f"{self.root_url}/_bench/responses"
        data: list[dict[str, Any]] = self._http.get(url, params={"since": since}).json()
        return data


class BaselineProcess:
    """``python -m <module>`` over a job file; ``result()`` waits and reads its output.

    ``module`` is ``bench.baseline`` (Assistants) or ``bench.baseline_responses`` (Responses); both
    take the same arguments and write the same kind of result.
    """

    def __init__(
        self,
        jobs_path: Path,
        threads: int,
        base_url: str,
        work_dir: Path,
        env: Mapping[str, str],
        module: str = "bench.baseline",
    ) -> None:
        self._out = work_dir / "baseline-result.json"
        self._log_path = work_dir / "baseline.log"
        argv = [
            sys.executable,
            "-m",
            module,
            "--jobs",
            str(jobs_path),
            "--threads",
            str(threads),
            "--base-url",
            base_url,
            "--out",
            str(self._out),
        ]
        self._process = _spawn(argv, self._log_path, env)

    @property
    def pid(self) -> int:
        return self._process.pid

    def done(self) -> bool:
        return self._process.poll() is not None

    def result(self) -> dict[str, Any]:
        code = self._process.wait()
        if code != 0 or not self._out.exists():
            raise RuntimeError(f"the baseline exited with {code}; see {self._log_path}")
        data: dict[str, Any] = json.loads(self._out.read_text())
        return data

    def stop(self) -> None:
        stop(self._process)
