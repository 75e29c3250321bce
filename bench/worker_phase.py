"""The batchrunner phase: enqueue the jobs, let real workers run them, and measure.

``run_to_completion`` waits for every job to end (the throughput scenario); ``run_until_in_flight``
stops once every job has a run in flight plus a measurement window (the long scenario), unless asked
to wait for the end too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from batchrunner.testing.processes import WorkerProcess, run_cli
from bench.children import REPO, SimulatorProcess
from bench.figures import (
    COLLECT_REQUESTS_BATCHRUNNER,
    first_request_at,
    last_start_at,
    mean_minimum_requests,
    mean_response_floor,
    mean_response_minimum,
    percentile,
    ratio,
    requests_by_route,
)
from bench.phase import PhaseFigures
from bench.sampler import Sample, Sampler, rate_per_minute

TERMINAL = ("succeeded", "failed", "cancelled", "expired", "incomplete")
NOT_STARTED = ("pending", "creating_run")
HAS_RUN = ("running", "requires_action", "collecting")
DIAGNOSTIC_METRICS = (
    "batchrunner_rate_limit_waits_total",
    "batchrunner_rate_limited_total",
    "batchrunner_step_retries_total",
    "batchrunner_sweeper_redrives_total",
)


@dataclass
class WorkerContext:
    sim: SimulatorProcess
    engine: sa.Engine
    env: dict[str, str]
    workers: WorkerProcess
    metrics_port: int
    poll_hint_s: float
    batch: str
    broker: redis.Redis
    ready_queue_key: str  # the Redis list of Dramatiq messages ready to be processed
    backend: str = "assistants"  # "assistants" (runs) or "responses" (chains of responses)
    poll_interval_s: float = 2.0  # BATCHRUNNER_POLL_INTERVAL_SECONDS: how often a response is polled, young


@dataclass
class WorkerRun:
    """Raw material of a worker phase, kept for the long scenario's own figures."""

    figures: PhaseFigures
    sampler: Sampler
    runs: list[dict[str, Any]]  # /_bench/runs (Assistants) or /_bench/responses (Responses) records
    enqueue_s: float
    diagnostics: dict[str, float]


def finished(sample: Sample) -> int:
    return sum(sample.job_states.get(state, 0) for state in TERMINAL)


def not_started(sample: Sample) -> int:
    return sum(sample.job_states.get(state, 0) for state in NOT_STARTED)


def _enqueue(ctx: WorkerContext, jobs_path: Path) -> float:
    started = time.time()
    result = run_cli(["enqueue", str(jobs_path), "--batch", ctx.batch], ctx.env, cwd=REPO, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"enqueue failed: {result.stderr}")
    return time.time() - started


def scrape_metrics(port: int) -> dict[str, float]:
    """The diagnostic counters from the workers' metrics endpoint, one entry per label set."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    except httpx.HTTPError:
        return {}
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in DIAGNOSTIC_METRICS:
                labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
                found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


def _job_outcomes(engine: sa.Engine) -> tuple[int, int, float | None]:
    """(jobs failed because of rate limiting, jobs ended otherwise than succeeded, last finish time)."""
    with engine.connect() as conn:
        rate_limited = conn.scalar(
            sa.text(
                "SELECT count(*) FROM jobs WHERE state IN ('failed', 'expired', 'incomplete') AND ("
                " error_code ILIKE '%rate_limit%' OR error_code ILIKE '%quota%' OR error_message ILIKE '%rate limit%')"
            )
        )
        unsuccessful = conn.scalar(
            sa.text("SELECT count(*) FROM jobs WHERE state IN ('failed', 'cancelled', 'expired', 'incomplete')")
        )
        last = conn.scalar(sa.text("SELECT extract(epoch FROM max(finished_at)) FROM jobs"))
    return int(rate_limited or 0), int(unsuccessful or 0), float(last) if last is not None else None


def record_delays(engine: sa.Engine, runs: list[dict[str, Any]]) -> list[float]:
    """Seconds from each run or response finishing (the simulator's exact time) to its outcome being committed.

    batchrunner keeps every run, and every response of a chain, in ``api_objects`` under its API id.
    """
    with engine.connect() as conn:
        recorded: dict[str, float] = dict(
            conn.execute(
                sa.text(
                    "SELECT api_id, extract(epoch FROM finished_recorded_at) FROM api_objects"
                    " WHERE finished_recorded_at IS NOT NULL"
                )
            ).all()
        )
    return [
        float(recorded[run["id"]]) - run["finished_at"]
        for run in runs
        if run["finished_at"] is not None and run["id"] in recorded
    ]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def awaiting_record(sample: Sample) -> float:
    """Jobs whose run has finished at the API but whose outcome is not committed yet."""
    return float(sum(sample.job_states.get(state, 0) for state in HAS_RUN) - sample.active_runs)


def tool_runs(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.text("SELECT count(*) FROM tool_invocations")) or 0)


def _budget_waits(diagnostics: dict[str, float]) -> float:
    return sum(value for key, value in diagnostics.items() if key.startswith("batchrunner_rate_limit_waits_total"))


def _figures(
    ctx: WorkerContext,
    sampler: Sampler,
    runs: list[dict[str, Any]],
    jobs: int,
    cpu_before: float,
    diagnostics: dict[str, float],
) -> PhaseFigures:
    last = sampler.latest()
    stats = ctx.sim.stats()
    first_request = first_request_at(runs, default=last.at)
    last_start = last_start_at(runs, default=last.at)
    rate_limited, unsuccessful, last_finish = _job_outcomes(ctx.engine)
    done = finished(last)
    end = last_finish if done == jobs and last_finish is not None else last.at
    wall = end - first_request
    delays = record_delays(ctx.engine, runs)
    trees = [sample.tree for sample in sampler.samples if sample.tree is not None]
    by_route = requests_by_route(stats)
    queued = [sample for sample in sampler.samples if first_request <= sample.at <= last_start]
    return PhaseFigures(
        name="batchrunner",
        jobs=jobs,
        finished_jobs=done,
        wall_s=wall,
        jobs_per_min=ratio(done * 60.0, wall),
        served_per_min_queued=rate_per_minute(
            sampler.samples, first_request, last_start, lambda sample: sample.requests - sample.limited
        ),
        queued_window_s=last_start - first_request,
        requests=sum(by_route.values()),
        limited=last.limited,
        failed_rate_limit=rate_limited,
        failed_other=unsuccessful - rate_limited,
        requests_per_job=ratio(sum(by_route.values()), jobs),
        min_requests_per_job=(
            mean_response_minimum(runs, ctx.poll_interval_s)
            if ctx.backend == "responses"
            else mean_minimum_requests(runs, ctx.poll_hint_s, COLLECT_REQUESTS_BATCHRUNNER)
        ),
        floor_requests_per_job=mean_response_floor(runs) if ctx.backend == "responses" else float("nan"),
        per_route={route: count / jobs for route, count in sorted(by_route.items())},
        delay_p50_s=percentile(delays, 0.5),
        delay_p95_s=percentile(delays, 0.95),
        cpu_s_per_job=ratio(trees[-1].cpu_seconds - cpu_before, done) if trees else float("nan"),
        peak_rss_bytes=max((tree.rss_bytes for tree in trees), default=0),
        hwm_rss_bytes=trees[-1].hwm_bytes if trees else 0,
        active_runs_mean=_mean([float(sample.active_runs) for sample in queued]),
        awaiting_record_mean=_mean([awaiting_record(sample) for sample in queued]),
        ready_messages_mean=_mean([float(sample.ready_messages) for sample in queued]),
        ready_messages_peak=max((float(sample.ready_messages) for sample in sampler.samples), default=float("nan")),
        tool_runs_per_call=ratio(tool_runs(ctx.engine), sum(run["tool_calls"] for run in runs)),
        budget_waits_per_job=ratio(_budget_waits(diagnostics), jobs),
    )


def _start(ctx: WorkerContext, jobs_path: Path) -> tuple[Sampler, float, float, float]:
    ctx.sim.reset()
    phase_start = time.time()
    sampler = Sampler(ctx.sim.stats, ctx.engine, ctx.workers.pid, ctx.broker, ctx.ready_queue_key).start()
    tree = sampler.latest().tree
    cpu_before = tree.cpu_seconds if tree is not None else 0.0
    enqueue_s = _enqueue(ctx, jobs_path)
    return sampler, phase_start, cpu_before, enqueue_s


def _wait(sampler: Sampler, ctx: WorkerContext, until: float, condition: Any) -> bool:
    while time.time() < until:
        if condition(sampler.latest()):
            return True
        if not ctx.workers.alive():
            raise RuntimeError("the worker process exited; see its log")
        time.sleep(0.5)
    return False


def _finish(
    ctx: WorkerContext, sampler: Sampler, phase_start: float, jobs: int, cpu_before: float, enqueue_s: float
) -> WorkerRun:
    sampler.stop()
    runs = ctx.sim.responses(since=phase_start) if ctx.backend == "responses" else ctx.sim.runs(since=phase_start)
    diagnostics = scrape_metrics(ctx.metrics_port)
    figures = _figures(ctx, sampler, runs, jobs, cpu_before, diagnostics)
    if sampler.errors:
        figures.notes.append(f"{len(sampler.errors)} samples failed, first: {sampler.errors[0]}")
    return WorkerRun(figures, sampler, runs, enqueue_s, diagnostics)


def run_to_completion(ctx: WorkerContext, jobs_path: Path, jobs: int, timeout_s: float) -> WorkerRun:
    sampler, phase_start, cpu_before, enqueue_s = _start(ctx, jobs_path)
    completed = _wait(sampler, ctx, phase_start + timeout_s, lambda sample: finished(sample) >= jobs)
    result = _finish(ctx, sampler, phase_start, jobs, cpu_before, enqueue_s)
    if not completed:
        result.figures.notes.append(f"timed out after {timeout_s:.0f}s with {result.figures.finished_jobs} done")
    return result


def run_until_in_flight(
    ctx: WorkerContext, jobs_path: Path, jobs: int, window_s: float, timeout_s: float, until_done: bool
) -> tuple[WorkerRun, float | None, float]:
    """Returns the phase, when every job was in flight (epoch, None if never), and the window's end."""
    sampler, phase_start, cpu_before, enqueue_s = _start(ctx, jobs_path)
    deadline = phase_start + timeout_s
    all_in = _wait(
        sampler, ctx, deadline, lambda sample: sum(sample.job_states.values()) >= jobs and not_started(sample) == 0
    )
    in_flight_at = sampler.latest().at if all_in else None
    window_end = time.time() + window_s
    _wait(sampler, ctx, min(window_end, deadline), lambda sample: finished(sample) >= jobs)
    window_end = min(time.time(), window_end)
    if until_done:
        _wait(sampler, ctx, deadline, lambda sample: finished(sample) >= jobs)
    return _finish(ctx, sampler, phase_start, jobs, cpu_before, enqueue_s), in_flight_at, window_end
