"""Unit tests of the benchmark's arithmetic and helpers (run: pytest bench/test_bench.py)."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import pytest

from batchrunner.jobs import parse_job_line
from batchrunner.polling import PollPolicy
from batchrunner.simulator.catalogue import BUILTIN_ASSISTANTS
from batchrunner.simulator.toolcalls import plan_tool_calls
from bench.figures import minimum_requests, percentile, render_table, short_route
from bench.jobgen import TOOL_ASSISTANT, generate_jobs, make_jobs
from bench.long_scenario import policy_poll_rate
from bench.proctree import descendants, sample_tree
from bench.sampler import Sample, counter_at, rate_per_minute, request_totals


def _run(first: float, second: float = 0.0, tools: int = 0) -> dict[str, Any]:
    return {"queue_s": first / 10, "first_turn_s": first * 9 / 10, "second_turn_s": second, "tool_calls": tools}


def _sample(at: float, requests: int) -> Sample:
    return Sample(at, requests, 0, 0, 0, {}, None, 0)


def test_minimum_requests_counts_a_retrieval_per_started_hint() -> None:
    """A 2.5 s run polled every second needs 3 retrievals besides create and collect."""
    assert minimum_requests(_run(2.5), 1.0, collect_requests=2) == 2 + 3 + 2


def test_minimum_requests_adds_submit_and_second_turn_for_a_tool_round() -> None:
    """A tool round costs the submit plus the retrievals of the second turn."""
    plain = minimum_requests(_run(2.0), 1.0, collect_requests=1)
    assert minimum_requests(_run(2.0, second=1.5, tools=1), 1.0, collect_requests=1) == plain + 1 + 2


def test_percentile_is_nearest_rank() -> None:
    """p50 of 1..10 is 5 and p95 is 10; no values give NaN."""
    values = [float(v) for v in range(10, 0, -1)]
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (5.0, 10.0)
    assert math.isnan(percentile([], 0.5))


def test_rate_per_minute_interpolates_between_samples() -> None:
    """A counter growing 10 per second reads 600 a minute over any sub-window."""
    samples = [_sample(100.0 + t, 10 * t) for t in range(0, 11)]
    assert counter_at(samples, 102.5, lambda s: s.requests) == pytest.approx(25.0)
    assert rate_per_minute(samples, 101.3, 107.9, lambda s: s.requests) == pytest.approx(600.0)


def test_request_totals_separates_429s_and_retrievals() -> None:
    """Totals count every status; 429s and GET run are read out separately."""
    stats = {"requests": {"GET /v1/threads/{thread_id}/runs/{run_id}": {"200": 5, "429": 2},
                          "POST /v1/threads": {"200": 3}}}
    assert request_totals(stats) == (10, 2, 7)


def test_generate_jobs_makes_the_asked_share_of_valid_tool_jobs() -> None:
    """Every line is a valid job; exactly round(n * share) target the tool assistant and plan one call."""
    jobs = generate_jobs(50, 0.2, seed=3)
    tools = next(a["tools"] for a in BUILTIN_ASSISTANTS if a["id"] == TOOL_ASSISTANT)
    tool_jobs = [job for job in jobs if job["assistant_id"] == TOOL_ASSISTANT]
    assert len(tool_jobs) == 10 and len({job["custom_id"] for job in jobs}) == 50
    for number, job in enumerate(jobs, start=1):
        parse_job_line(json.dumps(job), number)
    for job in tool_jobs:
        text = job["thread"]["messages"][0]["content"]
        assert [call.name for call in plan_tool_calls(tools, "auto", True, text)] == ["calculate"]


def test_make_jobs_gives_valid_jobs_on_new_threads_with_the_tool_share() -> None:
    """Whichever generator is used, every job is valid, starts a new thread, and a fifth use tools."""
    jobs, _ = make_jobs(40, 0.2, seed=5)
    tool_assistants = {a["id"] for a in BUILTIN_ASSISTANTS if a["tools"]}
    assert len(jobs) == 40 and all("thread" in job and "thread_id" not in job for job in jobs)
    assert sum(job["assistant_id"] in tool_assistants for job in jobs) == 8
    for number, job in enumerate(jobs, start=1):
        parse_job_line(json.dumps(job), number)


def test_policy_poll_rate_counts_only_active_runs() -> None:
    """Runs not yet created or already finished ask for no polls; a 5 s old run asks for one a second."""
    runs: list[dict[str, Any]] = [
        {"created_at": 95.0, "finished_at": None},
        {"created_at": 101.0, "finished_at": None},
        {"created_at": 50.0, "finished_at": 90.0},
    ]
    assert policy_poll_rate(runs, 100.0, 1.0, PollPolicy()) == pytest.approx(60.0)


def test_sample_tree_sees_this_process() -> None:
    """The tree of this process holds it, with CPU time and memory."""
    sample = sample_tree(os.getpid())
    assert os.getpid() in descendants(os.getpid())
    assert sample.cpu_seconds > 0 and sample.rss_bytes > 0 and sample.hwm_bytes >= sample.rss_bytes


def test_render_table_pads_columns_and_short_route_trims_the_path() -> None:
    """Columns line up under the header; routes lose their /v1/threads prefix."""
    table = render_table(["a", "bb"], [["xyz", "1"]]).splitlines()
    assert table[0].index("bb") == table[2].index("1")
    assert short_route("GET /v1/threads/{thread_id}/runs/{run_id}") == "GET threads/{t}/runs/{r}"
