"""With no limit configured the fleet learns the server's from its headers, instead of finding it by 429s."""

from __future__ import annotations

from typing import Any

import pytest

from batchrunner.jobs import BackendName
from batchrunner.limiter import Learning
from batchrunner.simulator.config import SimConfig
from batchrunner.testing.harness import job, job_states, step_harness

SIM = SimConfig(run_duration_min_s=2, run_duration_max_s=8, rpm=40)


def _run(url: str, backend: BackendName, learning: Learning | None) -> dict[str, Any]:
    """20 jobs against a 40 rpm server, for at most 4,000 steps; the simulator's stats."""
    specs = [job(f"j{n}", line_no=n, backend=backend) for n in range(1, 21)]
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


@pytest.mark.parametrize("backend", [BackendName.ASSISTANTS, BackendName.RESPONSES])
def test_two_models_with_different_limits_are_metered_each_at_its_own(sqlite_url: str, backend: BackendName) -> None:
    """With BATCHRUNNER_BUDGET_PER_MODEL: gpt-4o at 30 rpm, gpt-4o-mini at 120 and the rest at 600, each
    budget learns its own limit, and almost no request is answered 429."""
    sim = SimConfig(
        run_duration_min_s=2, run_duration_max_s=8, rpm=600, model_limits=(("gpt-4o", 30, 0), ("gpt-4o-mini", 120, 0))
    )
    specs = [
        job(f"j{n}", assistant_id="asst_support" if n % 2 else "asst_clock", line_no=n, backend=backend)
        for n in range(1, 9)
    ] + [job(f"m{n}", assistant_id="asst_analyst", line_no=100 + n, backend=backend) for n in range(1, 4)]
    learning = Learning(share=0.95, probe_requests_per_minute=60)
    with step_harness(sqlite_url, sim, learning=learning, per_model=True) as harness:
        harness.enqueue(specs)
        # gpt-4o jobs: created on the side, at 30 rpm
        harness.enqueue(
            [job(f"big{n}", assistant_id="asst_math", text="What is 6 * 7?", line_no=200 + n, backend=backend)
             for n in range(1, 5)],
            batch="big",
        )  # fmt: skip
        harness.drain(max_steps=20_000)
        stats = harness.sim_stats()
        learned = {model: budget.server_limits for model, budget in harness.budgets.known().items()}
    assert set(job_states(sqlite_url).values()) == {"succeeded"}
    assert learned["gpt-4o"] is not None and learned["gpt-4o"].requests_per_minute == 30
    assert learned["gpt-4o-mini"] is not None and learned["gpt-4o-mini"].requests_per_minute == 120
    assert learned["gpt-4.1-mini"] is not None and learned["gpt-4.1-mini"].requests_per_minute == 600
    metered = stats["metered_by_model"]
    sent = sum(counts["served"] + counts["limited"] for counts in metered.values())
    assert sum(counts["limited"] for counts in metered.values()) <= 0.01 * sent, metered


@pytest.mark.parametrize("backend", [BackendName.ASSISTANTS, BackendName.RESPONSES])
def test_models_sharing_one_limit_stay_under_it_though_metered_apart(sqlite_url: str, backend: BackendName) -> None:
    """Per-model budgets (the default) of three models the server limits together, at 40 rpm: each budget
    learns 40 but follows the server's remaining count, so together they meet almost no 429."""
    assistants = ("asst_support", "asst_math", "asst_analyst")  # gpt-4o-mini, gpt-4o, gpt-4.1-mini
    specs = [job(f"j{n}", assistant_id=assistants[n % 3], line_no=n, backend=backend) for n in range(1, 31)]
    with step_harness(sqlite_url, SIM, learning=Learning(0.95, 60), per_model=True) as harness:
        harness.enqueue(specs)
        harness.drain(max_steps=20_000)
        stats = harness.sim_stats()
        budgets = harness.budgets.known()
    assert set(job_states(sqlite_url).values()) == {"succeeded"}
    assert {"gpt-4o", "gpt-4o-mini", "gpt-4.1-mini"} <= set(budgets)
    assert all(budget.server_limits is not None for model, budget in budgets.items() if model)
    sent = sum(sum(by_status.values()) for by_status in stats["requests"].values())
    assert stats["rate_limited"]["requests"] <= 0.01 * sent, (stats["rate_limited"], sent)
