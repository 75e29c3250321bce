"""Injected faults: 5xx answers, dropped connections, slow responses; deterministic and state-safe."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from batchrunner.simulator import BackgroundSimulator, SimConfig, SyncASGITransport, create_app
from tests.simulator.simhelpers import BETA, Sim


def test_5xx_faults_answer_server_errors(make_sim: Callable[..., Sim]) -> None:
    """At rate 1 every request gets a 500 or 503 with a server_error body."""
    sim = make_sim(fault_5xx_rate=1.0)
    statuses = set()
    for _ in range(20):
        response = sim.client.get("/assistants/asst_support")
        statuses.add(response.status_code)
        assert response.json()["error"]["type"] == "server_error"
    assert statuses == {500, 503}


def test_dropped_connections_in_process(make_sim: Callable[..., Sim]) -> None:
    """A dropped connection reaches an in-process client as httpx.RemoteProtocolError and is counted."""
    sim = make_sim(fault_drop_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        sim.client.get("/assistants/asst_support")
    assert sim.stats()["requests"]["GET /v1/assistants/{assistant_id}"] == {"dropped": 1}


def test_faults_before_or_after_the_work_leave_consistent_state(make_sim: Callable[..., Sim]) -> None:
    """A failed create may or may not have created its run; the runs that exist are exactly those counted."""
    sim = make_sim(fault_5xx_rate=0.5, fault_drop_rate=0.3, seed=11)
    attempts = 0
    outcomes = set()
    for index in range(30):
        attempts += 1
        try:
            body = {"assistant_id": "asst_support", "metadata": {"batchrunner_job": f"job-{index}"}}
            response = sim.client.post("/threads/runs", json=body)
            outcomes.add(response.status_code)
        except httpx.RemoteProtocolError:
            outcomes.add(0)
    stats = sim.stats()
    created = stats["runs_created"]
    assert 0 < created < attempts
    assert {0, 200} <= outcomes and (500 in outcomes or 503 in outcomes)
    ok = stats["requests"]["POST /v1/threads/runs"].get("200", 0)
    assert created > ok, "some faults struck after the run was created"
    assert sum(stats["runs_by_job_key"].values()) == created


def test_fault_sequence_is_deterministic_under_the_seed() -> None:
    """Two simulators with the same seed meet the same faults on the same request sequence."""

    def statuses(seed: int) -> list[int]:
        app = create_app(SimConfig(seed=seed, fault_5xx_rate=0.3, fault_drop_rate=0.2))
        client = httpx.Client(transport=SyncASGITransport(app), base_url="http://sim/v1", headers=BETA)
        result = []
        for _ in range(30):
            try:
                result.append(client.get("/assistants/asst_math").status_code)
            except httpx.RemoteProtocolError:
                result.append(0)
        return result

    assert statuses(5) == statuses(5)
    assert statuses(5) != statuses(6)


def test_slow_responses_are_delayed(make_sim: Callable[..., Sim]) -> None:
    """With the slow fault a response takes at least fault_slow_seconds."""
    sim = make_sim(fault_slow_rate=1.0, fault_slow_seconds=0.2)
    started = time.monotonic()
    assert sim.client.get("/assistants/asst_support").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_in_process_transport_honours_read_timeout() -> None:
    """A slow response beyond the client's read timeout raises httpx.ReadTimeout."""
    app = create_app(SimConfig(fault_slow_rate=1.0, fault_slow_seconds=2.0))
    client = httpx.Client(transport=SyncASGITransport(app), base_url="http://sim/v1", headers=BETA, timeout=0.1)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.get("/assistants/asst_support")
    assert time.monotonic() - started < 1.5


def test_dropped_connection_over_real_http() -> None:
    """Over a socket, a dropped connection is a transport error and the server keeps serving."""
    with (
        BackgroundSimulator(SimConfig(fault_drop_rate=1.0)) as server,
        httpx.Client(base_url=server.base_url, headers=BETA) as client,
    ):
        with pytest.raises(httpx.TransportError):
            client.get("/assistants/asst_support")
        stats = httpx.get(f"{server.root_url}/_sim/stats").json()
        assert stats["requests"]["GET /v1/assistants/{assistant_id}"] == {"dropped": 1}
