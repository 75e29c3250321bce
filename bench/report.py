"""The benchmark's one table per scenario, with targets and PASS/MISS beside the figures."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.figures import duration, fmt, mib, ratio, render_table, short_route, verdict
from bench.phase import PhaseFigures

SERVED_SHARE_TARGET = 0.95
LIMITED_SHARE_TARGET = 0.005
SPEEDUP_TARGET = 5.0
REQUESTS_RATIO_TARGET = 1.2


def _share(part: float, whole: float) -> str:
    return "n/a" if not whole else f"{100.0 * part / whole:.2f} %"


@dataclass(frozen=True)
class Wording:
    """What the rows that differ between the backends say."""

    objects: str  # what a job makes at the API: "runs" or "responses"
    last_start: str  # the end of the window while jobs wait to start
    minimum: str  # the minimum requests row
    floor: bool  # a floor row (a create and one retrieval per response)


ASSISTANTS_WORDING = Wording("runs", "last run created", "minimum implied by poll hints", False)


def responses_wording(poll_interval_s: float) -> Wording:
    """The Responses API sends no poll hint: its minimum is that of polling every ``poll_interval_s``."""
    return Wording(
        "responses", "last job's first response created", f"minimum polling every {poll_interval_s:g} s (no hint)", True
    )


def _phase_rows(phases: Sequence[PhaseFigures], rpm: int, words: Wording = ASSISTANTS_WORDING) -> list[list[str]]:
    """Metric rows: one cell per phase, then the target and the verdict (on the first phase)."""
    main = phases[0]
    other = phases[1] if len(phases) > 1 else None
    speedup = ratio(main.jobs_per_min, other.jobs_per_min) if other else float("nan")
    served_share = ratio(main.served_per_min_queued, rpm) if rpm else float("nan")
    limited_share = ratio(main.limited, main.requests)
    requests_ratio = ratio(main.requests_per_job, main.min_requests_per_job)

    def cells(render: Callable[[PhaseFigures], str]) -> list[str]:
        return [render(phase) for phase in phases]

    speedup_verdict = "n/a" if other is None else f"{verdict(speedup >= SPEEDUP_TARGET)} ({fmt(speedup, 2)}x)"

    rows = [
        ["jobs (finished)", *cells(lambda p: f"{p.jobs} ({p.finished_jobs})"), "", ""],
        ["wall time, first request -> last result", *cells(lambda p: duration(p.wall_s)), "", ""],
        [
            "jobs per minute",
            *cells(lambda p: fmt(p.jobs_per_min)),
            f">= {SPEEDUP_TARGET:.0f}x baseline",
            speedup_verdict,
        ],
        [
            "ceiling the limit implies (rpm / min req per job)",
            *cells(lambda p: fmt(ratio(rpm, p.min_requests_per_job)) if rpm else "no limit"),
            "",
            "",
        ],
        [
            "served requests/min while jobs wait to start",
            *cells(lambda p: f"{fmt(p.served_per_min_queued, 0)} ({_share(p.served_per_min_queued, rpm)})"),
            f">= {SERVED_SHARE_TARGET:.0%} of {rpm}" if rpm else "",
            verdict(served_share >= SERVED_SHARE_TARGET) if rpm else "n/a",
        ],
        [f"  (window: first request -> {words.last_start})", *cells(lambda p: duration(p.queued_window_s)), "", ""],
        [
            "429 answers (share of requests)",
            *cells(lambda p: f"{p.limited} ({_share(p.limited, p.requests)})"),
            f"<= {LIMITED_SHARE_TARGET:.1%}",
            verdict(limited_share <= LIMITED_SHARE_TARGET),
        ],
        [
            "jobs failed: rate limiting / other",
            *cells(lambda p: f"{p.failed_rate_limit} / {p.failed_other}"),
            "0 for rate limiting",
            verdict(main.failed_rate_limit == 0),
        ],
        [f"{words.objects} open at the API, mean while queued", *cells(lambda p: fmt(p.active_runs_mean)), "", ""],
        [
            f"{words.objects} finished, not yet recorded, mean while queued",
            *cells(lambda p: fmt(p.awaiting_record_mean)),
            "",
            "",
        ],
        [
            "wake-ups due, waiting in the broker: mean while queued / peak",
            *cells(lambda p: f"{fmt(p.ready_messages_mean, 0)} / {fmt(p.ready_messages_peak, 0)}"),
            "",
            "",
        ],
        ["API requests per job", *cells(lambda p: fmt(p.requests_per_job, 2)), "", ""],
        [f"  {words.minimum}", *cells(lambda p: fmt(p.min_requests_per_job, 2)), "", ""],
        [
            "  ratio to the minimum",
            *cells(lambda p: fmt(ratio(p.requests_per_job, p.min_requests_per_job), 2) + "x"),
            f"<= {REQUESTS_RATIO_TARGET}x",
            verdict(requests_ratio <= REQUESTS_RATIO_TARGET),
        ],
    ]
    if words.floor:
        rows.append(
            ["  floor: create + 1 retrieval per response", *cells(lambda p: fmt(p.floor_requests_per_job, 2)), "", ""]
        )
    routes = sorted({route for phase in phases for route in phase.per_route})
    for route in routes:
        per_job = [fmt(phase.per_route.get(route, 0.0), 2) for phase in phases]
        rows.append([f"  {short_route(route)}", *per_job, "", ""])
    rows += [
        ["finish -> recorded (SDK: output in hand) p50", *cells(lambda p: f"{fmt(p.delay_p50_s, 2)} s"), "", ""],
        ["finish -> recorded (SDK: output in hand) p95", *cells(lambda p: f"{fmt(p.delay_p95_s, 2)} s"), "", ""],
        ["CPU seconds per job (worker tree / SDK process)", *cells(lambda p: fmt(p.cpu_s_per_job, 4)), "", ""],
        ["peak RSS, sampled sum over the process tree", *cells(lambda p: mib(p.peak_rss_bytes)), "", ""],
        ["peak RSS, sum of each process's VmHWM", *cells(lambda p: mib(p.hwm_rss_bytes)), "", ""],
        ["steps deferred for budget, per job", *cells(lambda p: fmt(p.budget_waits_per_job, 1)), "", ""],
        ["tool handler runs per planned tool call", *cells(lambda p: fmt(p.tool_runs_per_call, 2)), "1.00", ""],
    ]
    return rows


def throughput_table(phases: Sequence[PhaseFigures], rpm: int, words: Wording = ASSISTANTS_WORDING) -> str:
    header = ["metric", *(phase.name for phase in phases), "target", "verdict"]
    return render_table(header, _phase_rows(phases, rpm, words))


def long_table(rows: Sequence[tuple[str, str]]) -> str:
    return render_table(["metric", "batchrunner"], [list(row) for row in rows])


def rate_text(per_minute: float, rpm: int) -> str:
    if math.isnan(per_minute):
        return "n/a"
    return f"{per_minute:,.0f}/min" + (f" ({_share(per_minute, rpm)} of the limit)" if rpm else "")
