"""Same seed and same requests give the same simulation; another seed gives another."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.simulator.simhelpers import Sim, tool_calls


def _transcript(sim: Sim) -> list[Any]:
    """Drive a fixed script of runs and record every response body."""
    seen: list[Any] = []
    runs = [
        sim.thread_and_run("asst_support", "Summarise the Q3 backlog of printer tickets"),
        sim.thread_and_run("asst_math", "What is (2 + 3) * 4?"),
        sim.thread_and_run("asst_support", "Another question about refunds", metadata={"batchrunner_job": "x"}),
    ]
    seen += runs
    for _ in range(24):
        sim.clock.advance(0.5)
        for run in runs:
            current = sim.get_run(run)
            seen.append(current)
            if current["status"] == "requires_action":
                seen.append(sim.submit(current, {call["id"]: "20" for call in tool_calls(current)}).json())
    for run in runs:
        seen.append(sim.client.get(f"/threads/{run['thread_id']}/messages").json())
        seen.append(sim.client.get(f"/threads/{run['thread_id']}/runs/{run['id']}/steps").json())
    return seen


def test_same_seed_same_transcript(make_sim: Callable[..., Sim]) -> None:
    """Two simulators with one seed answer a request script identically (ids, timings, texts, usage)."""
    first = _transcript(make_sim(seed=7, run_fail_server_error_rate=0.3))
    second = _transcript(make_sim(seed=7, run_fail_server_error_rate=0.3))
    assert first == second
    assert any(item.get("status") == "completed" for item in first if isinstance(item, dict))


def test_other_seed_other_transcript(make_sim: Callable[..., Sim]) -> None:
    """A different seed changes ids and the drawn run timings."""
    first = _transcript(make_sim(seed=7))
    second = _transcript(make_sim(seed=8))
    assert first[0]["id"] != second[0]["id"]
    strip = [[item.get("status") for item in transcript if isinstance(item, dict)] for transcript in (first, second)]
    assert strip[0] != strip[1]
