"""The 429 and retry policy at the processor: a 429 pauses the whole budget until its retry-after, and
no request leaves meanwhile; failed requests back off exponentially. Both backends, deterministic clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from batchrunner.jobs import BackendName
from batchrunner.processor import ProcessorConfig
from batchrunner.simulator.config import SimConfig
from batchrunner.testing.harness import StepHarness, job, job_states, step_harness


def _answers(harness: StepHarness, status: str | None = None) -> int:
    """Requests the simulator answered so far (with ``status`` only, when given)."""
    requests = harness.sim_stats()["requests"]
    return sum(count for statuses in requests.values() for code, count in statuses.items() if status in (None, code))


@pytest.mark.parametrize("backend", list(BackendName))
def test_a_429_pauses_every_job_until_its_retry_after(sqlite_url: str, backend: BackendName) -> None:
    # The server allows 3 requests a minute; the workers were told no limit, so only 429s can hold them.
    sim = SimConfig(seed=5, rpm=3, run_duration_min_s=1, run_duration_max_s=2)
    with step_harness(sqlite_url, sim) as harness:
        harness.enqueue([job(f"j{n}", line_no=n, backend=backend) for n in range(1, 7)])
        while _answers(harness, "429") == 0:
            assert harness.step() is not None, "the server never answered 429"
        paused_s = harness.budget.paused_for()
        assert paused_s >= 1.0, "the 429's retry-after pauses the fleet budget"
        pause_ends = harness.clock.now + timedelta(seconds=paused_s)
        sent = _answers(harness)
        held = 0
        while harness.queue and harness.queue[0][0] < pause_ends:
            harness.step()
            held += 1
        assert held > 0, "other jobs were due during the pause"
        assert _answers(harness) == sent, "no request leaves while the budget is paused"
        harness.step()
        assert _answers(harness) > sent, "the pause ends when its retry-after does"
    assert "failed" not in job_states(sqlite_url).values(), "a 429 is waited out, never a failure"


def test_failing_requests_back_off_exponentially_up_to_the_cap(sqlite_url: str) -> None:
    # Every request fails with a 5xx: the job's wake-ups must spread out, not hammer the server.
    config = ProcessorConfig(retry_base_s=1.0, retry_max_s=8.0, max_step_retries=6)
    with step_harness(sqlite_url, SimConfig(fault_5xx_rate=1.0), config=config) as harness:
        harness.enqueue([job("flaky")])
        delays: list[float] = []
        while harness.queue:
            harness.step()
            if harness.queue:
                delays.append((harness.queue[0][0] - harness.clock.now).total_seconds())
    # min(cap, base * 2^n), less the jitter: the harness draws 0.5, a quarter of which comes off.
    assert delays == pytest.approx([0.875, 1.75, 3.5, 7.0, 7.0, 7.0], abs=0.01)
    assert job_states(sqlite_url) == {"flaky": "failed"}
