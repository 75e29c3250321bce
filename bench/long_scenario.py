"""Figures of the long scenario: thousands of long runs in flight at once on one worker process."""

from __future__ import annotations

from typing import Any

from batchrunner.polling import PollPolicy
from bench.figures import duration, first_request_at, fmt, mib, percentile, ratio
from bench.report import rate_text
from bench.sampler import Sample, rate_per_minute
from bench.worker_phase import WorkerRun


def policy_poll_rate(runs: list[dict[str, Any]], at: float, hint_s: float | None, policy: PollPolicy) -> float:
    """Retrievals per minute the policy's age rule alone asks for at ``at``, over the runs active then.

    Each run (or response) polled every ``max(hint, min(cap, age * share))`` seconds; with no hint
    (``None``: the Responses API sends none) the policy's default interval stands for it. The worker polls less than
    this once it has an earliest-finish estimate (runs seen still going, or finished), so this is an
    upper bound of what it asks for, not a measure of whether it keeps up: the broker's ready queue is.
    """
    total = 0.0
    for run in runs:
        finished = run["finished_at"]
        if run["created_at"] > at or (finished is not None and finished <= at):
            continue
        total += 60.0 / policy.next_delay(
            poll_after_ms=None if hint_s is None else int(hint_s * 1000),
            age_s=at - run["created_at"],
            earliest_finish_s=None,
        )
    return total


def _window(samples: list[Sample], start: float, end: float) -> list[Sample]:
    return [sample for sample in samples if start <= sample.at <= end]


def long_rows(
    result: WorkerRun,
    jobs: int,
    rpm: int,
    in_flight_at: float | None,
    window_end: float,
    hint_s: float | None,
    poll_interval_s: float = 2.0,
) -> list[tuple[str, str]]:
    """The long scenario's rows; ``hint_s`` None for the Responses API (polled at ``poll_interval_s``)."""
    samples = result.sampler.samples
    runs = result.runs
    figures = result.figures
    first_request = first_request_at(runs, default=samples[0].at)
    window_start = in_flight_at if in_flight_at is not None else samples[0].at
    window = _window(samples, window_start, window_end) or samples[-1:]
    trees = [sample.tree for sample in samples if sample.tree is not None]
    window_trees = [sample.tree for sample in window if sample.tree is not None]
    window_s = window[-1].at - window[0].at
    cpu_busy = (
        ratio(window_trees[-1].cpu_seconds - window_trees[0].cpu_seconds, window_s) if len(window_trees) > 1 else 0.0
    )
    policy = PollPolicy(default_interval_s=poll_interval_s)
    asked = [policy_poll_rate(runs, sample.at, hint_s, policy) for sample in window]
    retrieves = rate_per_minute(samples, window[0].at, window[-1].at, lambda sample: sample.retrieves)
    requests = rate_per_minute(samples, window[0].at, window[-1].at, lambda sample: sample.requests)
    mean_asked = sum(asked) / len(asked) if asked else float("nan")
    rows = [
        ("jobs", str(jobs)),
        ("enqueue (CLI) took", duration(result.enqueue_s)),
        (
            "first request -> every job in flight",
            duration(in_flight_at - first_request) if in_flight_at is not None else "never (timed out)",
        ),
        ("peak in-flight runs (simulator's active runs)", str(max(sample.active_runs for sample in samples))),
        ("peak worker RSS, sampled sum over the tree", mib(max((tree.rss_bytes for tree in trees), default=0))),
        ("peak worker RSS, sum of VmHWM", mib(trees[-1].hwm_bytes if trees else 0)),
        ("measurement window (all in flight ->)", duration(window_s)),
        (f"  poll rate (GET {'run' if hint_s is not None else 'response'}) in the window", rate_text(retrieves, rpm)),
        ("  all requests in the window", rate_text(requests, rpm)),
        ("  poll rate of the age rule alone (mean)", rate_text(mean_asked, rpm)),
        ("  polls served / age rule alone", f"{fmt(100 * ratio(retrieves, mean_asked))} %"),
        ("  worker CPU busy (1.0 = one core)", fmt(cpu_busy, 2)),
        (
            "  wake-ups due, waiting in the broker: end / peak",
            f"{window[-1].ready_messages} / {max(sample.ready_messages for sample in samples)}",
        ),
        ("  429 answers, whole phase", f"{figures.limited} of {figures.requests}"),
        ("jobs finished", str(figures.finished_jobs)),
    ]
    if figures.finished_jobs:
        rows += [
            ("jobs per minute", fmt(figures.jobs_per_min)),
            (
                "API requests per job (min implied by hints)"
                if hint_s is not None
                else f"API requests per job (min polling every {poll_interval_s:g} s)",
                f"{fmt(figures.requests_per_job, 1)} ({fmt(figures.min_requests_per_job, 1)})",
            ),
            ("finish -> recorded p50 / p95", f"{fmt(figures.delay_p50_s, 2)} s / {fmt(figures.delay_p95_s, 2)} s"),
            ("CPU seconds per job", fmt(figures.cpu_s_per_job, 4)),
        ]
    lateness = [sample.active_runs for sample in window]
    rows.append(("in-flight runs during the window (p50)", fmt(percentile([float(v) for v in lateness], 0.5), 0)))
    return rows
