"""Deadline text: durations from enqueueing and ISO 8601 times, in job lines and on the command line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batchrunner.deadlines import earliest, parse_deadline
from batchrunner.jobfile.errors import LineErrors
from batchrunner.testing.harness import job

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "after"),
    [
        ("90s", timedelta(seconds=90)),
        ("45m", timedelta(minutes=45)),
        ("6h", timedelta(hours=6)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 1d2h3m4s ", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ],
)
def test_durations_count_from_enqueueing(text: str, after: timedelta) -> None:
    assert parse_deadline(text).resolve(NOW) == NOW + after


def test_iso_times_with_a_zone_are_moments() -> None:
    assert parse_deadline("2026-12-04T06:00Z").resolve(NOW) == datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
    moment = parse_deadline("2026-12-04T07:00:00+01:00").resolve(NOW)
    assert moment == datetime(2026, 12, 4, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("6x", "is not a duration"),
        ("", "is not a duration"),
        ("h", "is not a duration"),
        ("0m", "no time at all"),
        ("400d", "more than a year"),
        ("2026-12-04T06:00", "has no time zone"),
        ("6 hours", "is not a duration"),
    ],
)
def test_bad_deadlines_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_deadline(text)


def test_earliest_ignores_missing_moments() -> None:
    assert earliest(None, None) is None
    assert earliest(NOW, None, NOW - timedelta(1)) == NOW - timedelta(1)


def test_a_job_line_keeps_its_deadline_and_names_a_bad_one_by_field() -> None:
    assert job("a", deadline="6h").deadline == "6h"
    assert job("a").deadline is None
    with pytest.raises(LineErrors) as caught:
        job("a", deadline="soon")
    [error] = caught.value.errors
    assert error.field == "deadline" and "'soon' is not a duration" in error.message
