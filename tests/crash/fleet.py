"""The crash tests' stack: simulator over HTTP, Postgres, a scratch Redis db, and supervised worker processes."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from batchrunner.faults import CRASH_LOG_MARK
from batchrunner.simulator.server import BackgroundSimulator
from batchrunner.testing.checks import describe_unfinished, fetch_sim_stats, unfinished_jobs
from batchrunner.testing.jobgen import JobLine, write_job_file
from batchrunner.testing.processes import WorkerProcess, run_cli

API_KEY = "sk-crash-test-key-0000"
# Short timings so that a crashed step is re-driven within seconds (lease 5 s + sweeper grace 5 s).
FAST_SETTINGS = {
    "BATCHRUNNER_SWEEP_INTERVAL_SECONDS": "2",
    "BATCHRUNNER_SWEEP_GRACE_SECONDS": "5",
    "BATCHRUNNER_STEP_LEASE_SECONDS": "5",
    "BATCHRUNNER_POLL_INTERVAL_SECONDS": "0.5",
    "BATCHRUNNER_MAX_POLL_INTERVAL_SECONDS": "2",
    "BATCHRUNNER_RETRY_BASE_SECONDS": "0.2",
    "BATCHRUNNER_RETRY_MAX_SECONDS": "3",
    "BATCHRUNNER_THREAD_BUSY_RECHECK_SECONDS": "0.5",
    # The simulator here announces no limits: probing for them at the default 60 rpm would space the
    # first starts of a scenario by seconds, and the scenarios' timings assume they are not.
    "BATCHRUNNER_PROBE_REQUESTS_PER_MINUTE": "6000",
    # A create-run answered 5xx is looked for after max(15 s, 3x this) before a new one: 15 s here,
    # not 90 s, or two such faults in a row outlast a test's timeout.
    "BATCHRUNNER_API_TIMEOUT_SECONDS": "5",
    # The crash scenarios were written for the Assistants backend, which closes every duplicate window;
    # the Responses scenarios (test_responses_crash.py) say so explicitly.
    "BATCHRUNNER_BACKEND": "assistants",
    "BATCHRUNNER_ASSISTANTS_FILE": str(Path(__file__).resolve().parents[2] / "examples" / "assistants.yaml"),
}


def unique_queue_name() -> str:
    """A queue of this test's own, so concurrent test sessions sharing the Redis db never swap messages."""
    return f"crash-{uuid.uuid4().hex[:10]}"


class Supervisor:
    """Keeps one worker (a process group) running: ``ensure_running`` restarts it whenever it has exited."""

    def __init__(self, start_worker: Callable[[int], WorkerProcess]) -> None:
        self._start_worker = start_worker
        self.generation = 0
        self.exit_codes: list[int | None] = []
        self.workers: list[WorkerProcess] = []

    @property
    def current(self) -> WorkerProcess:
        return self.workers[-1]

    def start(self) -> Supervisor:
        self.workers.append(self._start_worker(self.generation).start())
        return self

    def ensure_running(self) -> bool:
        """Restart the worker if it is dead; return whether it was restarted."""
        if self.current.alive():
            return False
        self.exit_codes.append(self.current.terminate(timeout=5))
        self.generation += 1
        self.start()
        return True

    def kill_and_restart(self) -> None:
        """SIGKILL the whole process group, then start a new worker at once."""
        self.current.kill()
        self.exit_codes.append(-9)
        self.generation += 1
        self.start()

    def stop(self) -> None:
        for worker in self.workers:
            worker.terminate(timeout=30)

    def log_text(self) -> str:
        return "\n".join(worker.log_text() for worker in self.workers)

    def fault_crashes(self) -> int:
        """Processes a fault point ended, from their last words: a worker process whose main process had
        already exited (after its sibling crashed) may crash too, and leaves no exit code to count."""
        return self.log_text().count(CRASH_LOG_MARK)


@dataclass
class CrashStack:
    """Everything a crash test drives; ``env`` is what worker and CLI processes get."""

    env: dict[str, str]
    simulator: BackgroundSimulator
    engine: sa.Engine
    redis_client: redis.Redis
    workdir: Path
    queue_name: str
    supervisors: list[Supervisor] = field(default_factory=list)

    def worker(self, name: str = "worker", *, processes: int = 2, threads: int = 8, **settings: str) -> WorkerProcess:
        """A worker process group (not started) with ``settings`` added to the environment."""
        env = {**self.env, **settings}
        return WorkerProcess(env, self.workdir / f"{name}.log", processes=processes, threads=threads)

    def supervise(self, name: str = "worker", *, processes: int = 2, threads: int = 8, **settings: str) -> Supervisor:
        """Start a supervised worker (stopped when the test ends)."""
        supervisor = Supervisor(
            lambda generation: self.worker(f"{name}-{generation}", processes=processes, threads=threads, **settings)
        ).start()
        self.supervisors.append(supervisor)
        return supervisor

    def stop_workers(self) -> None:
        for supervisor in self.supervisors:
            supervisor.stop()

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_cli(list(args), self.env, cwd=self.workdir, timeout=timeout)

    def enqueue(self, jobs: list[JobLine], batch: str) -> Path:
        """Write ``jobs`` to a file and ``batchrunner enqueue`` it into ``batch``; fail loudly if that fails."""
        path = write_job_file(self.workdir / f"{batch}.jsonl", jobs)
        done = self.cli("enqueue", str(path), "--batch", batch)
        assert done.returncode == 0, done.stderr
        assert f"{len(jobs)} new jobs" in done.stdout, done.stdout
        return path

    def stats(self) -> dict[str, Any]:
        return fetch_sim_stats(self.simulator.root_url)

    def unfinished(self, batch: str | None = None) -> int:
        return unfinished_jobs(self.engine, batch)

    def wait_finished(
        self, batch: str, *, timeout: float, supervisor: Supervisor | None = None, interval: float = 0.5
    ) -> float:
        """Wait until every job of ``batch`` is terminal, restarting dead workers; return the seconds waited."""
        started = time.monotonic()
        while self.unfinished(batch):
            if time.monotonic() - started > timeout:
                stuck = "\n  ".join(describe_unfinished(self.engine, batch))
                raise TimeoutError(f"jobs of {batch} unfinished after {timeout:.0f}s:\n  {stuck}")
            if supervisor is not None:
                supervisor.ensure_running()
            time.sleep(interval)
        return time.monotonic() - started
