"""Helpers to run batchrunner's real processes in tests: workers, the CLI, and a Redis namespace."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def batchrunner_env(**settings: str) -> dict[str, str]:
    """The environment for a child process: this one's, with ``BATCHRUNNER_*`` settings and the API key."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BATCHRUNNER_")}
    env.update(settings)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_cli(
    args: list[str], env: Mapping[str, str], *, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batchrunner", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class WorkerProcess:
    """``dramatiq batchrunner.worker`` in a child process group, with its output captured to a file."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *, processes: int = 1, threads: int = 4) -> None:
        self._env = dict(env)
        self._log_path = log_path
        self._argv = [
            sys.executable,
            "-m",
            "dramatiq",
            "batchrunner.worker",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
        ]
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = self._log_path.open("ab")
        self._proc = subprocess.Popen(
            self._argv, env=self._env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its worker processes."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=30)

    def terminate(self, timeout: float = 60) -> int | None:
        """SIGTERM to the main process, as Kubernetes sends it (graceful); SIGKILL after ``timeout``.

        Only the main process is signalled: it forwards the signal to its worker processes, and a
        second SIGTERM sent to them directly would make Dramatiq kill them at once.
        """
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._proc.returncode

    def log_text(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.terminate()


def wait_until(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.25, message: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {message}")
