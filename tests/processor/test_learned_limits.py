"""With no limit configured the fleet learns the server's from its headers, instead of finding it by 429s."""

from __future__ import annotations

from typing import Any

import pytest

from batchrunner.jobs import BackendName
from batchrunner.limiter import Learning
from batchrunner.simulator.config import SimConfig
from batchrunner.testing.harness import job, job_states, step_harness

SIM = SimConfig(run_duration_min_s=2, run_duration_max_s=8, rpm=120)


def _run(url: str, backend: BackendName, learning: Learning | None) -> dict[str, Any]:
    """40 jobs against a 120 rpm server, for at most 4,000 steps; the simulator's stats."""
    specs = [job(f"j{n}", line_no=n, backend=backend) for n in range(1, 41)]
    with step_harness(url, SIM, learning=learning) as harness:
        harness.enqueue(specs)
        while harness.queue and harness.steps < 4000:
            harness.step()
        stats = harness.sim_stats()
    stats["finished"] = not harness.queue
    return stats


@pytest.mark.parametrize("backend", [BackendName.ASSISTANTS, BackendName.RESPONSES])
def test_no_configured_limit_and_almost_no_429(sqlite_url: str, backend: BackendName) -> None:
    stats = _run(sqlite_url, backend, Learning(share=0.95, probe_requests_per_minute=60))
    assert stats["finished"] and set(job_states(sqlite_url).values()) == {"succeeded"}
    sent = sum(sum(by_status.values()) for by_status in stats["requests"].values())
    assert stats["rate_limited"]["requests"] <= 0.01 * sent, (stats["rate_limited"], sent)


def test_without_learning_the_same_batch_meets_the_limit_by_429s(sqlite_url: str) -> None:
    """The baseline the test above improves on: an unmetered fleet hits the server's limit head on."""
    stats = _run(sqlite_url, BackendName.RESPONSES, None)
    sent = sum(sum(by_status.values()) for by_status in stats["requests"].values())
    assert stats["rate_limited"]["requests"] > 0.05 * sent, (stats["rate_limited"], sent)
