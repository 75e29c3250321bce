"""The poll policy honours the server's hint, grows with a run's age, and skips ahead to the earliest finish."""

from __future__ import annotations

import pytest

from batchrunner.polling import DurationTracker, PollPolicy

POLICY = PollPolicy(default_interval_s=2.0, max_interval_s=60.0, age_share=0.2)


@pytest.mark.parametrize(
    ("poll_after_ms", "age_s", "earliest", "expected"),
    [
        (1000, 0.0, None, 1.0),  # the hint is the floor of a young run
        (None, 0.0, None, 2.0),  # no hint: the default interval
        (1000, 50.0, None, 10.0),  # a fifth of the run's age
        (1000, 3000.0, None, 60.0),  # capped
        (5000, 10.0, None, 5.0),  # never sooner than the hint
        (1000, 10.0, 100.0, 90.0),  # nothing to see before the earliest finish
        (1000, 95.0, 100.0, 19.0),  # past it, the age rule again
    ],
)
def test_next_delay(poll_after_ms: int | None, age_s: float, earliest: float | None, expected: float) -> None:
    delay = POLICY.next_delay(poll_after_ms=poll_after_ms, age_s=age_s, earliest_finish_s=earliest)
    assert delay == pytest.approx(expected)


def test_no_estimate_before_enough_runs_were_seen() -> None:
    tracker = DurationTracker(min_samples=3)
    tracker.observe("asst", "gpt", 40.0)
    tracker.observe_running("asst", "gpt", "run_1", 80.0)
    assert tracker.earliest_finish("asst", "gpt") is None


def test_finished_runs_give_a_margin_below_the_shortest() -> None:
    tracker = DurationTracker(min_samples=3)
    for duration in (40.0, 30.0, 50.0):
        tracker.observe("asst", "gpt", duration)
    assert tracker.earliest_finish("asst", "gpt") == pytest.approx(27.0)
    assert tracker.earliest_finish("asst", "other-model") is None


def test_runs_still_going_are_evidence_until_runs_finish() -> None:
    tracker = DurationTracker(min_samples=3)
    for run_id, age in (("run_1", 100.0), ("run_2", 10.0), ("run_3", 90.0), ("run_4", 120.0)):
        tracker.observe_running("asst", "gpt", run_id, age)
    tracker.observe_running("asst", "gpt", "run_2", 5.0)  # an older sighting never shrinks the evidence
    # Three runs lived at least 90 s: the third-longest survival is the bound.
    assert tracker.earliest_finish("asst", "gpt") == pytest.approx(81.0)
    tracker.observe("asst", "gpt", 20.0)  # one short finished run lowers it at once
    assert tracker.earliest_finish("asst", "gpt") == pytest.approx(18.0)


def test_the_survival_window_keeps_the_longest_lived_runs() -> None:
    tracker = DurationTracker(min_samples=2, alive_window=2)
    tracker.observe_running("asst", None, "run_old", 500.0)
    tracker.observe_running("asst", None, "run_a", 20.0)
    tracker.observe_running("asst", None, "run_b", 30.0)  # pushes out run_a, the youngest
    assert tracker.earliest_finish("asst", None) == pytest.approx(27.0)
