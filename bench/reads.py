"""Reads benchmark: `status`, `results` and `report usage` of a batch of a million jobs, timed.

    python bench/reads.py [--jobs 1000000] [--before DIR]

A fresh Postgres database (migrated) gets one batch of ``--jobs`` finished jobs, written by SQL
(``generate_series``: 97 % succeeded with an output and usage, 2 % failed with an error, 1 % still
running), each with one API object; then each command runs as a user would run it: wall time, CPU
seconds and peak RSS of the CLI (``wait4``), and for ``results`` the lines written per second. With
``--before DIR`` (a checkout of an earlier build), the same commands run from it too, side by side.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Run as a script, Python puts bench/ on the path, not the repository holding the `bench` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from batchrunner.db.migrate import upgrade
from batchrunner.testing.databases import postgres_available, temporary_postgres_url
from batchrunner.testing.processes import batchrunner_env
from bench.figures import render_table

BATCH = "bench-reads"
_FILL = [
    "INSERT INTO batches (name, status, created_at, updated_at) VALUES (:batch, 'active', now(), now())",
    """
    INSERT INTO jobs (batch_id, custom_id, line_no, backend, spec, assistant_id, state, attempt, container_id,
                      object_id, output_text, error_code, error_message, prompt_tokens, completion_tokens,
                      total_tokens, next_wake_at, created_at, updated_at, finished_at)
    SELECT b.id, 'ticket-' || g, g, 'responses',
           '{"line_no": 1, "custom_id": "x", "assistant_id": "asst_support", "thread": null, "thread_id": null,
             "params": {}, "backend": "responses", "request": {"model": "gpt-4o-mini", "input": "Hi"}}'::jsonb,
           'asst_support',
           CASE WHEN g % 100 = 0 THEN 'running' WHEN g % 50 = 1 THEN 'failed' ELSE 'succeeded' END,
           1, NULL, 'resp_' || g,
           CASE WHEN g % 100 = 0 OR g % 50 = 1 THEN NULL
                ELSE 'The customer was charged twice this month and asks for a refund of ticket ' || g || '.' END,
           CASE WHEN g % 50 = 1 AND g % 100 <> 0 THEN 'server_error' END,
           CASE WHEN g % 50 = 1 AND g % 100 <> 0 THEN 'The server had an error while processing your request.' END,
           120 + g % 40, 30 + g % 20, 150 + g % 40 + g % 20,
           CASE WHEN g % 100 = 0 THEN now() END, now(), now(), CASE WHEN g % 100 <> 0 THEN now() END
    FROM generate_series(1, :jobs) AS g, batches AS b WHERE b.name = :batch
    """,
    """
    INSERT INTO api_objects (job_id, attempt, round, backend, kind, api_id, assistant_id, model, status, outcome,
                             prompt_tokens, completion_tokens, total_tokens, recorded_at)
    SELECT j.id, 1, 0, 'responses', 'response', j.object_id, j.assistant_id,
           CASE WHEN j.id % 3 = 0 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END,
           CASE j.state WHEN 'running' THEN 'in_progress' WHEN 'failed' THEN 'failed' ELSE 'completed' END,
           CASE j.state WHEN 'running' THEN NULL ELSE j.state END,
           j.prompt_tokens, j.completion_tokens, j.total_tokens, now()
    FROM jobs AS j
    """,
]
COMMANDS = {
    "status": ["status", BATCH],
    "results": ["results", BATCH, "-o", "{out}"],
    "report usage --batch": ["report", "usage", "--batch", BATCH],
    "report usage --by day": ["report", "usage", "--by", "day"],
}


@dataclass(frozen=True)
class Timed:
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    exit_code: int
    lines: int | None


def fill(db_url: str, jobs: int) -> float:
    started = time.monotonic()
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            for statement in _FILL:
                conn.execute(sa.text(statement), {"batch": BATCH, "jobs": jobs})
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
    return time.monotonic() - started


def run_command(args: list[str], env: dict[str, str], out: Path) -> Timed:
    command = [sys.executable, "-m", "batchrunner", *(arg.format(out=out) for arg in args)]
    started = time.monotonic()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    if child.stderr is not None:
        if code != 0:
            print(child.stderr.read().decode(errors="replace")[-2000:], file=sys.stderr)
        child.stderr.close()
    lines = None
    if "{out}" in args and out.exists():
        with out.open("rb") as written:
            lines = sum(1 for _ in written)
        out.unlink()
    return Timed(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, code, lines)


def _cell(timed: Timed) -> str:
    text = f"{timed.wall_s:.1f} s, {timed.cpu_s:.1f} CPU s, {timed.peak_rss_bytes / 2**20:,.0f} MiB"
    if timed.lines is not None and timed.wall_s > 0:
        text += f", {timed.lines / timed.wall_s:,.0f} lines/s"
    return text if timed.exit_code == 0 else f"{text} (exit {timed.exit_code})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="batchrunner reads benchmark", allow_abbrev=False)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--before", type=Path, help="a checkout of an earlier build to run side by side")
    args = parser.parse_args(argv)
    if not postgres_available():
        print("PostgreSQL is not reachable", file=sys.stderr)
        return 2
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"reads of a {args.jobs:,}-job batch in Postgres; {os.cpu_count()} CPUs, load average {load}", flush=True)
    builds = {"this build": None, **({f"before ({args.before})": args.before} if args.before else {})}
    rows = []
    with temporary_postgres_url() as db_url, tempfile.TemporaryDirectory(prefix="batchrunner-reads-") as work:
        upgrade(db_url)
        print(f"filled in {fill(db_url, args.jobs):.1f} s", flush=True)
        out = Path(work) / "results.jsonl"
        base_env = batchrunner_env(BATCHRUNNER_DATABASE_URL=db_url)
        timings: dict[str, dict[str, Timed]] = {}
        for build, checkout in builds.items():
            env = {**base_env, **({"PYTHONPATH": str(checkout)} if checkout else {})}
            for name, command in COMMANDS.items():
                timings.setdefault(name, {})[build] = run_command(command, env, out)
                print(f"{build}: {name}: {_cell(timings[name][build])}", flush=True)
        for name, by_build in timings.items():
            rows.append([name, *(_cell(by_build[build]) for build in builds)])
    print(render_table(["command", *builds], rows))
    return 0 if all(t.exit_code == 0 for by_build in timings.values() for t in by_build.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
