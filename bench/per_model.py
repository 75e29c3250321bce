"""Per-model figures: each model limited on its own at the simulator, each metered on its own by the fleet.

With ``--model-limits``, the simulator gives each named model a bucket of its own (every other request
shares the ``--rpm`` one) and the jobs are spread over the named models in proportion to their request
limits, so each model has jobs waiting for as long as the others. For each model the table shows the
requests the simulator served for it per minute while that model's jobs still waited to start (from
the first request to the model's last job's first run or response created), against its limit, and
the share of its requests answered 429.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.figures import fmt, ratio, render_table, verdict
from bench.sampler import Sample, rate_per_minute

SERVED_SHARE_TARGET = 0.90
LIMITED_SHARE_TARGET = 0.01

ModelLimits = tuple[tuple[str, int, int], ...]  # (model, requests per minute, tokens per minute)


def spread_over_models(jobs: Sequence[dict[str, Any]], limits: ModelLimits, seed: int) -> list[dict[str, Any]]:
    """The jobs, each with ``params.model`` set to a model of ``limits``, drawn in proportion to its rpm."""
    models = [model for model, _, _ in limits]
    weights = [max(rpm, 1) for _, rpm, _ in limits]
    rng = random.Random(seed)
    spread = []
    for job in jobs:
        params = dict(job.get("params") or {})
        params["model"] = rng.choices(models, weights)[0]
        spread.append({**job, "params": params})
    return spread


def metered(sample: Sample, model: str, outcome: str) -> int:
    """A model's cumulative "served" or "limited" count in a sample (0 before its first request)."""
    return int(sample.metered.get(model, {}).get(outcome, 0))


def served_reader(model: str) -> Callable[[Sample], float]:
    return lambda sample: metered(sample, model, "served")


@dataclass(frozen=True)
class ModelRow:
    model: str
    requests_per_minute: int
    window_s: float
    served_per_min: float
    served: int
    limited: int


def model_rows(
    samples: Sequence[Sample], runs: Sequence[dict[str, Any]], limits: ModelLimits, first_request: float
) -> list[ModelRow]:
    """One row per limited model; ``runs`` are the phase's /_bench records (each with its model)."""
    last = samples[-1]
    rows = []
    for model, rpm, _ in limits:
        starts = [run["created_at"] for run in runs if run.get("model") == model and run.get("chain_start", True)]
        last_start = max(starts, default=first_request)
        served_rate = rate_per_minute(list(samples), first_request, last_start, served_reader(model))
        rows.append(
            ModelRow(
                model,
                rpm,
                last_start - first_request,
                served_rate,
                metered(last, model, "served"),
                metered(last, model, "limited"),
            )
        )
    return rows


def model_table(rows: Sequence[ModelRow], failed_rate_limit: int) -> str:
    """Each model's served rate against its limit and its 429 share, with the targets and verdicts."""
    body = []
    for row in rows:
        share = ratio(row.served_per_min, row.requests_per_minute)
        limited_share = ratio(row.limited, row.served + row.limited)
        body.append(
            [
                row.model,
                str(row.requests_per_minute),
                f"{row.window_s:.0f} s",
                f"{fmt(row.served_per_min, 0)} ({fmt(100 * share)} %)",
                f"{verdict(share >= SERVED_SHARE_TARGET)} (>= {SERVED_SHARE_TARGET:.0%})",
                f"{row.limited} of {row.served + row.limited} ({fmt(100 * limited_share, 2)} %)",
                f"{verdict(limited_share <= LIMITED_SHARE_TARGET)} (<= {LIMITED_SHARE_TARGET:.0%})",
            ]
        )
    header = ["model", "limit rpm", "window", "served/min in window", "target", "429 answers", "target"]
    failed = f"jobs failed by rate limiting: {failed_rate_limit} ({verdict(failed_rate_limit == 0)}, target 0)"
    return render_table(header, body) + "\n" + failed


__all__ = ["ModelLimits", "ModelRow", "model_rows", "model_table", "spread_over_models"]
