"""Scenario 9: the API key never leaves the HTTP client, and local endpoints listen on 127.0.0.1 only."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from batchrunner.simulator.config import SimConfig
from batchrunner.testing.checks import load_records
from batchrunner.testing.jobgen import generate_jobs
from batchrunner.testing.processes import batchrunner_env, free_port, wait_until
from tests.crash.asgi import RecordHeader, SeenHeaders
from tests.crash.conftest import MakeStack
from tests.crash.fleet import CrashStack
from tests.crash.probes import connects, listening_addresses, non_loopback_ipv4, scrape_metrics

pytestmark = pytest.mark.crash

BATCH = "secrets"


def _database_text(engine: sa.Engine) -> str:
    """Every row of every table and view of the public schema, as text."""
    with engine.connect() as conn:
        relations = conn.scalars(
            sa.text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name"
            )
        ).all()
        assert {"jobs", "api_objects", "messages", "tool_invocations", "usage_by_model"} <= set(relations)
        return "\n".join(
            f"{relation}: {row}"
            for relation in relations
            for row in conn.scalars(sa.text(f'SELECT t::text FROM "{relation}" t'))
        )


def _redis_text(stack: CrashStack) -> str:
    """Every string, list and hash value in the broker's Redis db."""
    client = stack.redis_client
    parts: list[bytes | str] = []
    for key in client.scan_iter("*"):
        kind = client.type(key)
        if kind == b"string":
            parts.append(client.get(key) or b"")
        elif kind == b"list":
            parts.extend(client.lrange(key, 0, -1))
        elif kind == b"hash":
            parts.extend(client.hgetall(key).values())
    return "\n".join(part.decode("utf-8", errors="replace") if isinstance(part, bytes) else part for part in parts)


def _assert_loopback_only(port: int) -> None:
    assert listening_addresses(port) == {"127.0.0.1"}
    assert connects("127.0.0.1", port)
    address = non_loopback_ipv4()
    if address is not None:
        assert not connects(address, port), f"port {port} answers on {address}"


def test_api_key_appears_in_no_log_row_metric_or_output(make_stack: MakeStack) -> None:
    """A distinctive API key, sent on every request, shows up in no log, row, metric, CLI output or broker message."""
    api_key = f"sk-proj-canary{uuid.uuid4().hex}"
    seen = SeenHeaders(b"authorization")

    def record_authorization(app: Starlette) -> None:
        app.add_middleware(RecordHeader, seen=seen)

    # Faults and a job naming an unknown assistant exercise the logged and stored error paths too.
    stack = make_stack(
        SimConfig(
            seed=909,
            run_duration_min_s=0.2,
            run_duration_max_s=0.6,
            poll_after_ms=200,
            fault_5xx_rate=0.1,
            fault_drop_rate=0.05,
        ),
        prepare_app=record_authorization,
        OPENAI_API_KEY=api_key,
    )
    jobs = generate_jobs(30, tool_share=0.3, shared_thread_jobs=2, seed=909)
    jobs[0]["assistant_id"] = "asst_does_not_exist"
    supervisor = stack.supervise(processes=2, threads=4)
    stack.enqueue(jobs, BATCH)
    stack.wait_finished(BATCH, timeout=180)
    metrics = scrape_metrics(int(stack.env["BATCHRUNNER_METRICS_PORT"]))
    outputs = [stack.cli(*args) for args in (["status", BATCH], ["results", BATCH], ["report", "usage"])]
    supervisor.stop()

    assert seen.values[f"Bearer {api_key}"] > 0, "the key was never sent: this test would prove nothing"
    records = load_records(stack.engine, BATCH)
    assert records.jobs[jobs[0]["custom_id"]].state == "failed"
    assert all(done.returncode == 0 for done in outputs), [done.stderr for done in outputs]
    assert "batchrunner_api_requests_total" in metrics
    places = {
        "worker logs": supervisor.log_text(),
        "database": _database_text(stack.engine),
        "metrics": metrics,
        "CLI output": "\n".join(done.stdout + done.stderr for done in outputs),
        "broker": _redis_text(stack),
    }
    assert "Traceback" in places["worker logs"] or "retry" in places["worker logs"]
    leaks = [place for place, text in places.items() if api_key in text or api_key[-16:] in text]
    assert leaks == []


def test_metrics_endpoint_listens_on_loopback_only(make_stack: MakeStack) -> None:
    """The worker's metrics endpoint binds 127.0.0.1: it answers there and not on the machine's other address."""
    stack = make_stack(SimConfig(seed=910))
    stack.supervise(processes=1, threads=1)
    port = int(stack.env["BATCHRUNNER_METRICS_PORT"])
    assert "batchrunner_jobs_in_flight" in scrape_metrics(port)
    _assert_loopback_only(port)


def test_simulate_command_listens_on_loopback_only(tmp_path: Path) -> None:
    """`batchrunner simulate` binds 127.0.0.1 by default: it answers there and not on the machine's other address."""
    port = free_port()
    log = (tmp_path / "simulate.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "batchrunner", "simulate", "--port", str(port)],
        env=batchrunner_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: connects("127.0.0.1", port), timeout=30, message="the simulator to listen")
        _assert_loopback_only(port)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
