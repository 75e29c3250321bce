"""Cost lanes: the choice a deadline makes, the job line's ``lane`` field, and the request each lane sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchrunner.backend.responses.adapter import _streamable, continuation_body, continuation_id, create_body
from batchrunner.db.job_rows import job_row, parse_row
from batchrunner.jobfile.errors import LineErrors
from batchrunner.jobs import BackendName, JobSpec
from batchrunner.lanes import Lane, LanePolicy, choose_lane, running_lane
from batchrunner.testing.harness import job

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
HOURS = timedelta(hours=1)


@pytest.mark.parametrize(
    ("time_left", "uses_tools", "model", "lane"),
    [
        (None, False, "gpt-4o-mini", Lane.STANDARD),  # no deadline: nothing says the job may wait
        (90 * timedelta(minutes=1), False, "gpt-4o-mini", Lane.STANDARD),  # too close for any window
        (3 * HOURS, False, "gpt-4o-mini", Lane.BACKGROUND_2H),
        (2.5 * HOURS, False, "gpt-4o-mini", Lane.STANDARD),  # the window and its margin must fit, strictly
        (2.6 * HOURS, False, "gpt-4o-mini", Lane.BACKGROUND_2H),
        (2.6 * HOURS, False, "o4-mini", Lane.FLEX),  # flex costs less than a 2h window
        (8.5 * HOURS, True, "gpt-4o", Lane.BACKGROUND_2H),
        (8.6 * HOURS, True, "gpt-4o", Lane.BACKGROUND_8H),
        (25 * HOURS, False, "gpt-4o-mini", Lane.BATCH),
        (25 * HOURS, True, "gpt-4o-mini", Lane.BACKGROUND_8H),  # tool rounds never go to the Batch API
        (25 * HOURS, False, "o4-mini", Lane.FLEX),  # priced as batch, and sooner
    ],
)
def test_the_cheapest_lane_that_meets_the_deadline_and_the_jobs_needs(
    time_left: timedelta | None, uses_tools: bool, model: str, lane: Lane
) -> None:
    """A window plus a 30-minute margin must fit the time left; tools rule out batch; flex needs its models."""
    assert choose_lane(time_left=time_left, uses_tools=uses_tools, model=model) is lane


def test_a_day_and_more_picks_the_batch_api_for_tool_less_jobs_only() -> None:
    """With more than the Batch API's day (and the margin) left, auto picks batch; a tool job the 8h window;
    a batch-wide ``--lane batch`` leaves a tool job to auto."""
    policy = LanePolicy()
    assert policy.resolve(None, responses=True, time_left=25 * HOURS, uses_tools=False, model="gpt-4o-mini") is (
        Lane.BATCH
    )
    assert policy.resolve(None, responses=True, time_left=24 * HOURS, uses_tools=False, model="gpt-4o-mini") is (
        Lane.BACKGROUND_8H
    )
    assert policy.resolve(None, responses=True, time_left=25 * HOURS, uses_tools=True, model="gpt-4o-mini") is (
        Lane.BACKGROUND_8H
    )
    forced = LanePolicy(default=Lane.BATCH)
    assert forced.resolve(None, responses=True, time_left=None, uses_tools=False, model="gpt-4o-mini") is Lane.BATCH
    assert forced.resolve(None, responses=True, time_left=None, uses_tools=True, model="gpt-4o-mini") is (Lane.STANDARD)


def test_a_named_lane_wins_and_the_assistants_backend_runs_standard() -> None:
    """A line's lane (or its batch's) is kept as named; an Assistants job is standard whatever it says."""
    policy = LanePolicy(default=Lane.FLEX)

    def resolve(requested: str | None, *, responses: bool) -> Lane:
        return policy.resolve(requested, responses=responses, time_left=None, uses_tools=False, model="gpt-4o-mini")

    assert resolve("standard", responses=True) is Lane.STANDARD
    assert resolve(None, responses=True) is Lane.FLEX
    assert resolve("background-2h", responses=False) is Lane.STANDARD
    assert running_lane(None) is running_lane("auto") is Lane.STANDARD


def test_a_job_line_names_its_lane_and_a_bad_one_by_field() -> None:
    """``lane`` is kept as written; an unknown lane, or a discount lane on the Assistants backend, names the field."""
    assert job("a", backend=BackendName.RESPONSES, lane="flex").lane == "flex"
    assert job("a", backend=BackendName.RESPONSES).lane is None
    with pytest.raises(LineErrors) as unknown:
        job("a", backend=BackendName.RESPONSES, lane="cheapest")
    assert [error.field for error in unknown.value.errors] == ["lane"]
    with pytest.raises(LineErrors) as assistants:
        job("a", lane="background-8h")
    [error] = assistants.value.errors
    assert error.field == "lane" and "responses backend only" in error.message


def test_a_line_may_name_the_batch_lane_only_for_a_single_request() -> None:
    """``"lane": "batch"`` suits a tool-less job on its own; with function tools or a conversation the line is
    refused."""
    assert job("plain", backend=BackendName.RESPONSES, lane="batch").lane == "batch"
    cases: list[dict[str, Any]] = [
        {"assistant_id": "asst_math", "text": "What is 6 * 7?"},
        {"thread_id": "conv_existing"},
        {"new_conversation": True},
    ]
    for fields in cases:
        with pytest.raises(LineErrors) as refused_line:
            job("x", backend=BackendName.RESPONSES, lane="batch", **fields)
        [error] = refused_line.value.errors
        assert error.field == "lane" and "one request per job" in error.message, fields


def _row_lane(spec: JobSpec, batch_deadline: datetime | None = None, policy: LanePolicy | None = None) -> str:
    return str(parse_row(job_row(spec, NOW, batch_deadline, policy or LanePolicy()))["lane"])


def test_a_new_jobs_row_carries_the_lane_its_deadline_resolves_to() -> None:
    """The row's lane: the line's deadline or the batch's (the earlier), tools, and the batch's --lane."""
    plain = job("a", backend=BackendName.RESPONSES, deadline="3h")
    assert _row_lane(plain) == "background-2h"
    assert _row_lane(plain, batch_deadline=NOW + HOURS) == "standard"
    tools = job("t", assistant_id="asst_math", backend=BackendName.RESPONSES, deadline="2d")
    assert _row_lane(tools) == "background-8h"
    assert _row_lane(job("b", backend=BackendName.RESPONSES), policy=LanePolicy(default=Lane.FLEX)) == "flex"


def test_each_lane_shapes_its_request() -> None:
    """Windows send background_options (with one continuation id per attempt) and are polled; flex sends its tier."""
    window = job("w", backend=BackendName.RESPONSES, lane="background-8h")
    body = create_body(window, "batch/w#1")
    assert body["background_options"] == {"completion_window": "8h", "continuation_id": continuation_id("batch/w#1")}
    assert not _streamable(body)
    follow_up = continuation_body(window, "batch/w#1", "resp_1", [("call_1", "42")])
    assert follow_up["background_options"] == body["background_options"]
    assert continuation_id("batch/w#1") != continuation_id("batch/w#2")
    flex = create_body(job("f", backend=BackendName.RESPONSES, lane="flex"), "batch/f#1")
    assert flex["service_tier"] == "flex" and "background_options" not in flex and _streamable(flex)
    standard = create_body(job("s", backend=BackendName.RESPONSES), "batch/s#1")
    assert "service_tier" not in standard and _streamable(standard)
