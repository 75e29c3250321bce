"""Cost lanes on the Responses backend: each job runs in the lane its deadline allows, and flex falls back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from batchrunner.db.engine import make_engine
from batchrunner.jobs import BackendName, JobSpec
from batchrunner.lanes import PRICE_SHARE, Lane
from batchrunner.metrics import BLIND_RECREATES, LANE_FALLBACKS, RATE_LIMITED
from batchrunner.reports import render, usage_report
from batchrunner.simulator.config import SimConfig
from batchrunner.testing.harness import job, query_rows, step_harness

CREATE = "POST /v1/responses"


def _count(counter: Any) -> float:
    return float(counter._value.get())


def _responses_job(custom_id: str, **fields: Any) -> JobSpec:
    return job(custom_id, backend=BackendName.RESPONSES, **fields)


def _lanes(url: str) -> dict[str, tuple[str, str]]:
    """custom_id -> (the job's lane, its state)."""
    return {row.custom_id: (row.lane, row.state) for row in query_rows(url, "SELECT custom_id, lane, state FROM jobs")}


def _objects(url: str, custom_id: str) -> list[Any]:
    query = (
        "SELECT o.round, o.lane, o.service_tier, o.status FROM api_objects o JOIN jobs j ON j.id = o.job_id"
        " WHERE j.custom_id = :custom_id ORDER BY o.attempt, o.round"
    )
    return query_rows(url, query, custom_id=custom_id)


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
def test_each_job_runs_in_the_cheapest_lane_its_deadline_allows(request: pytest.FixtureRequest, database: str) -> None:
    """No deadline runs standard; 3h a 2h window; 10h an 8h window (tool rounds too); a flex model flex."""
    url = request.getfixturevalue(database)
    specs = [
        _responses_job("now"),
        _responses_job("in-3h", deadline="3h"),
        _responses_job("in-10h", deadline="10h"),
        _responses_job("tools-in-10h", assistant_id="asst_math", text="What is 6 * 7?", deadline="10h"),
        _responses_job("flex-model", deadline="3h", params={"model": "o4-mini"}),
        _responses_job("forced", deadline="10h", lane="standard"),
    ]
    with step_harness(url) as harness:
        harness.enqueue(specs)
        harness.drain()
    assert _lanes(url) == {
        "now": ("standard", "succeeded"),
        "in-3h": ("background-2h", "succeeded"),
        "in-10h": ("background-8h", "succeeded"),
        "tools-in-10h": ("background-8h", "succeeded"),
        "flex-model": ("flex", "succeeded"),
        "forced": ("standard", "succeeded"),
    }
    # Each object records its lane and the tier the API reported; a tool round's follow-up keeps the window.
    assert [(o.round, o.lane, o.service_tier) for o in _objects(url, "tools-in-10h")] == [
        (0, "background-8h", "default"),
        (1, "background-8h", "default"),
    ]
    assert [(o.lane, o.service_tier) for o in _objects(url, "flex-model")] == [("flex", "flex")]
    assert [(o.lane, o.service_tier) for o in _objects(url, "now")] == [("standard", "default")]


def test_a_flex_capacity_shortage_waits_alone_then_falls_back_to_standard_before_the_deadline(
    sqlite_url: str,
) -> None:
    """Flex's 429 resource_unavailable pauses no other job, spends no retry; near the deadline the job runs standard."""
    sim = SimConfig(run_duration_min_s=2, run_duration_max_s=8, flex_unavailable_rate=1.0)
    flex = _responses_job("flex", deadline="2h", params={"model": "o4-mini"}, line_no=1)
    other = _responses_job("standard", line_no=2)
    fallbacks_before = LANE_FALLBACKS.labels(from_lane="flex", to_lane="standard")._value.get()
    counted_before = {kind: _count(RATE_LIMITED.labels(kind=kind)) for kind in ("requests", "resource_unavailable")}
    recreates_before = _count(BLIND_RECREATES.labels(backend="responses"))
    with step_harness(sqlite_url, sim) as harness:
        started = harness.clock.now
        harness.enqueue([flex, other])
        while _lanes(sqlite_url)["standard"][1] != "succeeded":
            assert harness.step() is not None
        # The shortage paused nobody: the standard job finished within its run's time.
        assert harness.clock.now - started < timedelta(seconds=30)
        harness.drain()
        stats = harness.sim_stats()
        finished = harness.clock.now
    assert _lanes(sqlite_url)["flex"] == ("standard", "succeeded")
    assert [(o.lane, o.status) for o in _objects(sqlite_url, "flex")] == [("standard", "completed")]
    # Retried every 30-60 s until flex could no longer meet the deadline (1h window + 30 min margin).
    shortages = stats["requests"][CREATE].get("429", 0)
    assert 30 <= shortages <= 61
    assert timedelta(minutes=29) <= finished - started <= timedelta(minutes=31)
    (row,) = query_rows(sqlite_url, "SELECT step_retries, error_code FROM jobs WHERE custom_id = 'flex'")
    assert (row.step_retries, row.error_code) == (0, None)
    assert LANE_FALLBACKS.labels(from_lane="flex", to_lane="standard")._value.get() == fallbacks_before + 1
    # Counted as capacity shortages, not rate limits (which would pause the fleet); a refused create is no
    # object created, so nothing counts as created twice.
    assert (
        _count(RATE_LIMITED.labels(kind="resource_unavailable")) == counted_before["resource_unavailable"] + shortages
    )
    assert _count(RATE_LIMITED.labels(kind="requests")) == counted_before["requests"]
    assert _count(BLIND_RECREATES.labels(backend="responses")) == recreates_before


def test_a_flex_job_without_a_deadline_keeps_waiting_for_capacity(sqlite_url: str) -> None:
    """A job forced into flex with no deadline is never moved: it tries again later, again and again."""
    sim = SimConfig(flex_unavailable_rate=1.0)
    with step_harness(sqlite_url, sim) as harness:
        harness.enqueue([_responses_job("flex", lane="flex", params={"model": "o4-mini"})])
        started = harness.clock.now
        for _ in range(40):
            harness.step()
        waited = harness.clock.now - started
        stats = harness.sim_stats()
    assert _lanes(sqlite_url)["flex"] == ("flex", "pending")
    assert stats["requests"][CREATE] == {"429": 40}
    assert waited >= timedelta(minutes=39 * 30 / 60)


def test_lane_names_only_a_responses_backend_job_may_give(sqlite_url: str) -> None:
    """The standard lane stays the only one of an Assistants job, whatever its deadline."""
    with step_harness(sqlite_url) as harness:
        harness.enqueue([job("assistants", deadline="10h")])
        harness.drain()
    assert _lanes(sqlite_url) == {"assistants": ("standard", "succeeded")}
    assert [o.lane for o in _objects(sqlite_url, "assistants")] == ["standard"]


def test_usage_by_lane_prices_each_object_in_its_lane_and_shows_the_saving(sqlite_url: str) -> None:
    """report usage --by lane: each lane's cost is its standard cost times the lane's share; the rest is saved."""
    specs = [
        _responses_job("now", line_no=1),
        _responses_job("in-3h", deadline="3h", line_no=2),
        _responses_job("in-10h", deadline="10h", line_no=3),
        _responses_job("tools-in-10h", assistant_id="asst_math", text="What is 6 * 7?", deadline="10h", line_no=4),
    ]
    with step_harness(sqlite_url) as harness:
        harness.enqueue(specs)
        harness.drain()
    engine = make_engine(sqlite_url, pool_size=1)
    try:
        by_lane = {row.key: row for row in usage_report(engine, "lane")}
        by_model = usage_report(engine, "model")
    finally:
        engine.dispose()
    assert set(by_lane) == {"standard", "background-2h", "background-8h"}
    assert by_lane["background-8h"].api_objects == 3  # the tool job's two responses and the plain one
    for lane, row in by_lane.items():
        assert row.standard_cost_usd is not None and row.standard_cost_usd > 0
        assert row.estimated_cost_usd == pytest.approx(row.standard_cost_usd * PRICE_SHARE[Lane(lane)])
        assert row.saving_usd == pytest.approx(row.standard_cost_usd * (1 - PRICE_SHARE[Lane(lane)]))
    # Every grouping prices objects in their lanes: the models' costs add up to the lanes'.
    total_by_model = sum(row.estimated_cost_usd or 0.0 for row in by_model)
    assert total_by_model == pytest.approx(sum(row.estimated_cost_usd or 0.0 for row in by_lane.values()))
    table = render(list(by_lane.values()), "table", "lane")
    assert table.splitlines()[0].split()[-1] == "saving_usd"


class _RefuseFirstContinuation(httpx.BaseTransport):
    """Answers the first tool-round continuation 429 resource_unavailable (flex had no capacity)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.refused and request.method == "POST" and b"function_call_output" in request.content:
            self.refused += 1
            body = {
                "error": {"message": "Resource unavailable", "type": "server_error", "code": "resource_unavailable"}
            }
            return httpx.Response(429, json=body, request=request)
        return self._inner.handle_request(request)


def test_a_tool_round_refused_for_capacity_runs_its_handlers_once(sqlite_url: str) -> None:
    """The answer is sent again later with the outputs already recorded: no handler runs twice, no row doubles."""
    spec = _responses_job(
        "math", assistant_id="asst_math", text="What is 6 * 7?", lane="flex", params={"model": "o4-mini"}
    )
    with step_harness(sqlite_url) as harness:
        refusing = _RefuseFirstContinuation(harness.outage._inner)
        harness.outage._inner = refusing
        harness.enqueue([spec])
        harness.drain()
    assert refusing.refused == 1
    assert _lanes(sqlite_url)["math"] == ("flex", "succeeded")
    invocations = query_rows(sqlite_url, "SELECT tool_call_id FROM tool_invocations")
    assert len(invocations) == len({row.tool_call_id for row in invocations}) >= 1
    assert [(o.round, o.status) for o in _objects(sqlite_url, "math")] == [(0, "completed"), (1, "completed")]


def test_a_response_in_a_discount_window_is_polled_less_often_than_a_standard_one(sqlite_url: str) -> None:
    """Window lanes may take hours: polled from 30 s to 5 minutes apart, not the standard lane's 2 s to 1 minute."""
    sim = SimConfig(run_duration_min_s=1200, run_duration_max_s=1200, background_window_slowdown=1.0)
    specs = [_responses_job("window", lane="background-2h", line_no=1), _responses_job("standard", line_no=2)]
    with step_harness(sqlite_url, sim) as harness:
        harness.enqueue(specs)
        looks = {"window": 0, "standard": 0}
        ids = {row.id: row.custom_id for row in query_rows(sqlite_url, "SELECT id, custom_id FROM jobs")}
        while (job_id := harness.step()) is not None:
            looks[ids[job_id]] += 1
    assert _lanes(sqlite_url) == {"window": ("background-2h", "succeeded"), "standard": ("standard", "succeeded")}
    # Both ran 20 minutes: the standard one is looked at every 2 s at first and once a minute at the end; the
    # window one every 30 s at first and at most every 5 minutes.
    assert looks["window"] <= 20 and looks["standard"] >= 35, looks
