"""GET /_sim/stats and POST /_sim/reset."""

from __future__ import annotations

import threading
from collections.abc import Callable

from tests.simulator.simhelpers import Sim


def test_stats_count_requests_runs_and_job_keys(sim: Sim) -> None:
    """Stats count requests by route template and status, runs, runs per batchrunner_job and active runs."""
    first = sim.thread_and_run("asst_support", "a", metadata={"batchrunner_job": "batch1:job-1"})
    sim.thread_and_run("asst_support", "b", metadata={"batchrunner_job": "batch1:job-2"})
    sim.thread_and_run("asst_support", "c", metadata={"batchrunner_job": "batch1:job-2"})
    sim.thread_and_run("asst_support", "d")
    sim.get_run(first)
    sim.client.get("/threads/thread_nope")
    stats = sim.stats()
    assert stats["runs_created"] == 4
    assert stats["runs_by_job_key"] == {"batch1:job-1": 1, "batch1:job-2": 2}
    assert stats["active_runs"] == 4
    assert stats["requests"]["POST /v1/threads/runs"] == {"200": 4}
    assert stats["requests"]["GET /v1/threads/{thread_id}/runs/{run_id}"] == {"200": 1}
    assert stats["requests"]["GET /v1/threads/{thread_id}"] == {"404": 1}
    assert stats["rate_limited"] == {"requests": 0, "tokens": 0, "insufficient_quota": 0}
    sim.clock.advance(60)
    assert sim.stats()["active_runs"] == 0


def test_reset_clears_counters_but_keeps_objects(sim: Sim) -> None:
    """Reset zeroes the counters; threads and runs stay."""
    run = sim.thread_and_run("asst_support", "a", metadata={"batchrunner_job": "j"})
    assert sim.client.post("http://sim.test/_sim/reset").status_code == 200
    stats = sim.stats()
    assert stats["runs_created"] == 0 and stats["runs_by_job_key"] == {} and stats["requests"] == {}
    assert sim.get_run(run)["id"] == run["id"]


def test_sim_routes_do_not_count_or_rate_limit(make_sim: Callable[..., Sim]) -> None:
    """/_sim requests are neither counted in stats nor subject to rpm."""
    sim = make_sim(rpm=1)
    for _ in range(3):
        assert sim.client.get("http://sim.test/_sim/stats").status_code == 200
    assert sim.stats()["requests"] == {}


def test_concurrent_clients_keep_counts_and_ids_consistent(sim: Sim) -> None:
    """Eight threads creating runs at once get distinct runs, all counted once."""
    created: list[str] = []
    lock = threading.Lock()

    def worker(worker_index: int) -> None:
        for index in range(10):
            run = sim.thread_and_run("asst_support", "hi", metadata={"batchrunner_job": f"{worker_index}-{index}"})
            with lock:
                created.append(run["id"])

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = sim.stats()
    assert len(set(created)) == 80 and stats["runs_created"] == 80
    assert len(stats["runs_by_job_key"]) == 80 and set(stats["runs_by_job_key"].values()) == {1}
