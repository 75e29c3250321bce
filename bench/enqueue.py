"""Enqueue benchmark: `batchrunner enqueue` of an N-job file into Postgres and Redis, timed.

    python bench/enqueue.py --jobs 100000 [--jobs 1000000 ...] [--tool-share 0.2]

For each size: a fresh Postgres database (migrated) and an empty Redis database of the benchmark's
own; the file is written first (not timed), then `batchrunner enqueue FILE` runs as a user would run
it. Printed per size: wall time, jobs per second, the CLI's CPU seconds and its peak resident memory
(the child's ``ru_maxrss`` from ``wait4``), the file's size, and whether every job landed (rows in
``jobs`` and wake-ups in the broker's start queue).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Run as a script, Python puts bench/ on the path, not the repository holding the `bench` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis
import sqlalchemy as sa

from batchrunner.db.migrate import upgrade
from batchrunner.testing.databases import postgres_available, temporary_postgres_url
from batchrunner.testing.jobgen import generate_jobs
from batchrunner.testing.processes import batchrunner_env
from batchrunner.testing.redis_scratch import scratch_redis_db
from bench.figures import fmt, render_table

CHUNK = 10_000  # jobs generated at a time, so the file is written in constant memory
QUEUE = "batchrunner"
# The assistants the generated jobs name, for the Responses backend (the default).
ASSISTANTS = ["--assistants", str(Path(__file__).resolve().parents[1] / "examples" / "assistants.yaml")]


@dataclass(frozen=True)
class EnqueueRun:
    jobs: int
    file_bytes: int
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    jobs_stored: int
    wakeups_sent: int
    exit_code: int


def write_file(path: Path, jobs: int, tool_share: float) -> int:
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, jobs, CHUNK):
            count = min(CHUNK, jobs - start)
            chunk = generate_jobs(count, tool_share=tool_share, shared_thread_jobs=0, seed=start, prefix=f"e{start}")
            out.writelines(json.dumps(job) + "\n" for job in chunk)
    return path.stat().st_size


def run_enqueue(path: Path, env: dict[str, str]) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, peak RSS bytes, exit code) of `batchrunner enqueue path`."""
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "batchrunner", "enqueue", str(path), "--batch", "bench-enqueue", *ASSISTANTS],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0 and child.stderr is not None:
        print(child.stderr.read().decode(errors="replace")[-2000:], file=sys.stderr)
    if child.stderr is not None:
        child.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, child.returncode


def measure(jobs: int, tool_share: float, work_dir: Path) -> EnqueueRun:
    path = work_dir / f"jobs-{jobs}.jsonl"
    size = write_file(path, jobs, tool_share)
    with temporary_postgres_url() as db_url, scratch_redis_db() as redis_url:
        upgrade(db_url)
        env = batchrunner_env(BATCHRUNNER_DATABASE_URL=db_url, BATCHRUNNER_BROKER_URL=redis_url)
        wall, cpu, rss, code = run_enqueue(path, env)
        engine = sa.create_engine(db_url)
        try:
            with engine.connect() as conn:
                stored = int(conn.scalar(sa.text("SELECT count(*) FROM jobs")) or 0)
        finally:
            engine.dispose()
        client = redis.Redis.from_url(redis_url)
        queues = [key for key in client.scan_iter(match=f"dramatiq:{QUEUE}*") if client.type(key) == b"list"]
        sent = sum(int(client.llen(key)) for key in queues)
        client.close()
    path.unlink()
    return EnqueueRun(jobs, size, wall, cpu, rss, stored, sent, code)


def table(runs: list[EnqueueRun]) -> str:
    header = ["jobs", "file", "wall", "jobs/s", "CPU s", "peak RSS", "stored / wake-ups", "exit"]
    rows = [
        [
            f"{run.jobs:,}",
            f"{run.file_bytes / 2**20:,.0f} MiB",
            f"{run.wall_s:.1f} s",
            fmt(run.jobs / run.wall_s if run.wall_s else float("nan"), 0),
            f"{run.cpu_s:.1f}",
            f"{run.peak_rss_bytes / 2**20:,.0f} MiB",
            f"{run.jobs_stored:,} / {run.wakeups_sent:,}",
            str(run.exit_code),
        ]
        for run in runs
    ]
    return render_table(header, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="batchrunner enqueue benchmark", allow_abbrev=False)
    parser.add_argument("--jobs", type=int, action="append", help="file sizes to measure (repeatable; 100000)")
    parser.add_argument("--tool-share", type=float, default=0.2)
    args = parser.parse_args(argv)
    if not postgres_available():
        print("PostgreSQL is not reachable", file=sys.stderr)
        return 2
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"enqueue into Postgres + Redis; machine: {os.cpu_count()} CPUs, load average {load}", flush=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="batchrunner-enqueue-") as work:
        for jobs in args.jobs or [100_000]:
            runs.append(measure(jobs, args.tool_share, Path(work)))
            print(table(runs[-1:]), flush=True)
    print(table(runs))
    return 0 if all(run.exit_code == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
