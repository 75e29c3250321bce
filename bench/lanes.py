"""Cost lanes benchmark: a mixed job file run with ``auto`` lanes, then all standard, priced side by side.

```bash
python bench/lanes.py [--jobs 400] [--seed 7]
```

The file mixes tool-calling jobs (``asst_math``: one tool round) and tool-less ones (``asst_support``), a
share on a flex model (``o4-mini``), and deadlines from 45 minutes to three days (and none). It runs
in-process on the step harness: the simulator shares a fake clock, so a Batch API day or an 8-hour
window passes in seconds while every request, file and record is real. The same jobs then run with
every lane forced to standard. The benchmark prints, per lane, the jobs and tokens and what they cost
(``report usage --by lane``), the saving the price table implies for those tokens (standard cost x
(1 - the lane's share)) against the saving the report shows, and the two runs' costs. It fails (exit 1)
if any job did not succeed with its output, usage and API objects recorded, if a job ran in a lane its
deadline does not allow, or if the report's saving is not the price table's.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from typing import Any

from batchrunner.db.engine import make_engine
from batchrunner.db.migrate import upgrade
from batchrunner.deadlines import parse_deadline
from batchrunner.jobs import BackendName, JobSpec
from batchrunner.lanes import DEADLINE_MARGIN, LANE_WINDOW, PRICE_SHARE, Lane
from batchrunner.pricing import DEFAULT_MODEL_PRICES
from batchrunner.reports import UsageRow, usage_report
from batchrunner.simulator.config import SimConfig
from batchrunner.testing.harness import FakeClock, job, query_rows, step_harness
from batchrunner.text_table import text_table

DEADLINES = (None, "45m", "3h", "10h", "30h", "3d")
SIM = SimConfig(
    run_duration_min_s=2,
    run_duration_max_s=8,
    batch_validating_s=30,
    batch_line_s=1,
    batch_finalizing_s=30,
)


def mixed_jobs(count: int, seed: int) -> list[JobSpec]:
    rng = random.Random(seed)
    specs = []
    for n in range(1, count + 1):
        kind = rng.random()
        fields: dict[str, Any] = {"line_no": n, "backend": BackendName.RESPONSES}
        deadline = rng.choice(DEADLINES)
        if deadline is not None:
            fields["deadline"] = deadline
        if kind < 0.25:
            spec = job(f"tools-{n}", "asst_math", f"What is {n} * 7?", **fields)
        elif kind < 0.4:
            spec = job(f"flex-{n}", "asst_support", f"Summarise ticket {n}", params={"model": "o4-mini"}, **fields)
        else:
            spec = job(f"plain-{n}", "asst_support", f"Summarise ticket {n}: the printer is jammed.", **fields)
        specs.append(spec)
    return specs


def run(url: str, specs: list[JobSpec]) -> float:
    upgrade(url)
    started = time.perf_counter()
    with step_harness(url, SIM) as harness:
        harness.enqueue(specs)
        harness.drain(max_steps=1_000_000)
    return time.perf_counter() - started


def check_records(url: str) -> list[str]:
    """Problems with the run's records: every job succeeded with output, usage and its objects."""
    problems = []
    rows = query_rows(
        url,
        "SELECT j.custom_id, j.state, j.lane, j.output_text, j.total_tokens, j.deadline_at, j.created_at,"
        " (SELECT COUNT(*) FROM api_objects o WHERE o.job_id = j.id) AS objects,"
        " (SELECT COALESCE(SUM(o.total_tokens), 0) FROM api_objects o WHERE o.job_id = j.id) AS object_tokens"
        " FROM jobs j",
    )
    for row in rows:
        if row.state != "succeeded" or not row.output_text or row.total_tokens <= 0 or row.objects < 1:
            problems.append(f"{row.custom_id}: {row.state}, output {bool(row.output_text)}, {row.objects} objects")
        if row.object_tokens != row.total_tokens:
            problems.append(f"{row.custom_id}: job tokens {row.total_tokens} != its objects' {row.object_tokens}")
    return problems


def lane_problems(url: str, specs: list[JobSpec]) -> list[str]:
    """Jobs whose lane's window (and the margin) does not fit their deadline, or tool jobs in the batch lane."""
    by_id = {spec.custom_id: spec for spec in specs}
    problems = []
    enqueued_at = FakeClock().now  # the harness's clock when the jobs were enqueued
    for row in query_rows(url, "SELECT custom_id, lane FROM jobs"):
        spec, lane = by_id[row.custom_id], Lane(row.lane)
        if lane is Lane.BATCH and spec.needs_more_than_one_request:
            problems.append(f"{row.custom_id}: a tool job in the batch lane")
        if lane is not Lane.STANDARD:
            if spec.deadline is None:
                problems.append(f"{row.custom_id}: lane {lane} without a deadline")
                continue
            time_left = parse_deadline(spec.deadline).resolve(enqueued_at) - enqueued_at
            if time_left <= LANE_WINDOW[lane] + DEADLINE_MARGIN:
                problems.append(f"{row.custom_id}: lane {lane} does not fit its deadline {spec.deadline}")
    return problems


def by_lane(url: str) -> list[UsageRow]:
    engine = make_engine(url)
    try:
        return usage_report(engine, "lane", prices=DEFAULT_MODEL_PRICES)
    finally:
        engine.dispose()


def implied_saving(rows: list[UsageRow]) -> float:
    """The saving the price table implies: each lane's tokens at standard prices times (1 - its share)."""
    return sum((row.standard_cost_usd or 0.0) * (1 - PRICE_SHARE[Lane(row.key)]) for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    specs = mixed_jobs(args.jobs, args.seed)
    standard_specs = [replace(spec, lane=Lane.STANDARD.value) for spec in specs]
    with tempfile.TemporaryDirectory() as scratch:
        auto_url, standard_url = f"sqlite:///{scratch}/auto.db", f"sqlite:///{scratch}/standard.db"
        auto_seconds = run(auto_url, specs)
        standard_seconds = run(standard_url, standard_specs)
        problems = check_records(auto_url) + check_records(standard_url) + lane_problems(auto_url, specs)
        lanes, standard = by_lane(auto_url), by_lane(standard_url)
        jobs_per_lane = Counter(row.lane for row in query_rows(auto_url, "SELECT lane FROM jobs"))
    print(f"cost lanes benchmark: {args.jobs} jobs (seed {args.seed})")
    print(f"kinds: {dict(Counter(spec.custom_id.split('-')[0] for spec in specs))}")
    print(f"deadlines: {dict(Counter(spec.deadline or 'none' for spec in specs))}")
    table = [
        [
            row.key,
            str(jobs_per_lane.get(row.key, 0)),
            str(row.api_objects),
            str(row.total_tokens),
            f"{row.estimated_cost_usd or 0:.6f}",
            f"{row.standard_cost_usd or 0:.6f}",
            f"{row.saving_usd or 0:.6f}",
        ]
        for row in lanes
    ]
    print(text_table(["lane", "jobs", "objects", "tokens", "cost_usd", "standard_usd", "saving_usd"], table))
    cost = sum(row.estimated_cost_usd or 0 for row in lanes)
    same_tokens_standard = sum(row.standard_cost_usd or 0 for row in lanes)
    all_standard = sum(row.estimated_cost_usd or 0 for row in standard)
    reported_saving, implied = same_tokens_standard - cost, implied_saving(lanes)
    print(f"auto lanes: {cost:.6f} USD for {sum(r.total_tokens for r in lanes)} tokens ({auto_seconds:.1f} s)")
    print(f"the same tokens at standard prices: {same_tokens_standard:.6f} USD")
    print(f"saving: reported {reported_saving:.6f} USD, implied by the price table {implied:.6f} USD")
    print(
        f"all-standard run of the same file: {all_standard:.6f} USD for {sum(r.total_tokens for r in standard)} "
        f"tokens ({standard_seconds:.1f} s)"
    )
    print(
        f"auto / all-standard: measured {cost / all_standard:.3f}, "
        f"price table on the auto run's tokens {cost / same_tokens_standard:.3f}"
    )
    if abs(reported_saving - implied) > 1e-9:
        problems.append(f"reported saving {reported_saving} != implied {implied}")
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
