"""The SDK baseline phase: the same jobs through the SDK loop against the same simulator.

``bench.baseline`` on the Assistants backend, ``bench.baseline_responses`` on the Responses one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench.children import BaselineProcess, SimulatorProcess
from bench.figures import (
    COLLECT_REQUESTS_SDK,
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
from bench.sampler import Sampler, rate_per_minute

API_KEY = "sk-bench-local"
BASELINE_MODULES = {"assistants": "bench.baseline", "responses": "bench.baseline_responses"}


def _delays(records: list[dict[str, Any]], runs: list[dict[str, Any]]) -> list[float]:
    """Seconds from each run finishing (the simulator's exact time) to the SDK loop holding its output."""
    finished_at = {run["id"]: run["finished_at"] for run in runs if run["finished_at"] is not None}
    return [
        record["finished"] - finished_at[record["run_id"]]
        for record in records
        if record.get("run_id") in finished_at and "finished" in record
    ]


def response_delays(records: list[dict[str, Any]], responses: list[dict[str, Any]]) -> list[float]:
    """Seconds from each response ending (the simulator's exact time) to the SDK loop holding it ended.

    Every response of a chain counts, as batchrunner's side counts every response it records.
    """
    finished_at = {item["id"]: item["finished_at"] for item in responses if item["finished_at"] is not None}
    return [
        seen["done_at"] - finished_at[seen["id"]]
        for record in records
        for seen in record.get("responses", ())
        if seen["id"] in finished_at
    ]


def _mean_active(sampler: Sampler, start: float, end: float) -> float:
    active = [sample.active_runs for sample in sampler.samples if start <= sample.at <= end]
    return sum(active) / len(active) if active else float("nan")


def run_baseline(
    sim: SimulatorProcess,
    jobs_path: Path,
    jobs: int,
    threads: int,
    work_dir: Path,
    poll_hint_s: float,
    backend: str = "assistants",
) -> PhaseFigures:
    sim.reset()
    phase_start = time.time()
    env = {**os.environ, "OPENAI_API_KEY": API_KEY, "PYTHONUNBUFFERED": "1"}
    child = BaselineProcess(jobs_path, threads, sim.base_url, work_dir, env, BASELINE_MODULES[backend])
    sampler = Sampler(sim.stats, None, child.pid).start()
    try:
        result = child.result()
    finally:
        child.stop()
        sampler.stop()
    records: list[dict[str, Any]] = result["jobs"]
    responses = backend == "responses"
    runs = sim.responses(since=phase_start) if responses else sim.runs(since=phase_start)
    stats = sim.stats()
    by_route = requests_by_route(stats)
    ok = [record for record in records if record.get("status") == "completed"]
    errors = [record for record in records if record.get("status") == "error"]
    rate_limited = sum(1 for record in errors if "RateLimit" in record.get("error", ""))
    first_request = first_request_at(runs, default=result["started"])
    last_start = last_start_at(runs, default=result["finished"])
    wall = max(record["finished"] for record in records) - first_request
    trees = [sample.tree for sample in sampler.samples if sample.tree is not None]
    delays = response_delays(records, runs) if responses else _delays(records, runs)
    limited = sum(statuses.get("429", 0) for statuses in stats["requests"].values())
    figures = PhaseFigures(
        name="baseline (openai SDK)",
        jobs=jobs,
        finished_jobs=len(records) - len(errors),
        wall_s=wall,
        jobs_per_min=ratio((len(records) - len(errors)) * 60.0, wall),
        served_per_min_queued=rate_per_minute(
            sampler.samples, first_request, last_start, lambda sample: sample.requests - sample.limited
        ),
        queued_window_s=last_start - first_request,
        requests=sum(by_route.values()),
        limited=limited,
        failed_rate_limit=rate_limited,
        failed_other=len(records) - len(ok) - rate_limited,
        requests_per_job=ratio(sum(by_route.values()), jobs),
        min_requests_per_job=(
            mean_response_minimum(runs, float(result["poll_interval_s"]))
            if responses
            else mean_minimum_requests(runs, poll_hint_s, COLLECT_REQUESTS_SDK)
        ),
        floor_requests_per_job=mean_response_floor(runs) if responses else float("nan"),
        per_route={route: count / jobs for route, count in sorted(by_route.items())},
        delay_p50_s=percentile(delays, 0.5),
        delay_p95_s=percentile(delays, 0.95),
        cpu_s_per_job=ratio(result["cpu_seconds"], len(records)),
        peak_rss_bytes=max((tree.rss_bytes for tree in trees), default=0),
        hwm_rss_bytes=float(result["max_rss_bytes"]),
        active_runs_mean=_mean_active(sampler, first_request, last_start),
        tool_runs_per_call=ratio(
            sum(record.get("tool_runs", 0) for record in records), sum(run["tool_calls"] for run in runs)
        ),
    )
    for record in errors[:3]:
        figures.notes.append(f"baseline job {record['custom_id']} failed: {record['error'][:200]}")
    return figures
