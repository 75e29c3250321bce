"""The client driving the simulator: every request and every response validates against the official spec."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from batchrunner.api.errors import (
    ApiError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    RequestRejectedError,
    TransientError,
)
from batchrunner.backend.assistants.client import AssistantsClient
from batchrunner.backend.assistants.models import Run, ToolOutput
from batchrunner.testing.openapi_contract import ContractCheckingTransport, OpenApiContract

simulator = pytest.importorskip("batchrunner.simulator")

START = 1_700_000_000.0


@dataclass
class FakeClock:
    """The simulator's clock; it moves only when the test says so."""

    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass
class CheckedSimulator:
    """An in-process simulator behind a contract-checking transport, with a client on it."""

    clock: FakeClock
    transport: ContractCheckingTransport
    client: AssistantsClient
    errors: list[ApiError] = field(default_factory=list)

    def wait_for(self, run: Run, statuses: set[str], step_s: float = 0.5, limit: int = 400) -> Run:
        """Poll the run, advancing the fake clock, until it reaches one of ``statuses``."""
        for _ in range(limit):
            run = self.client.retrieve_run(run.thread_id, run.id).data
            if run.status in statuses:
                return run
            self.clock.now += step_s
        raise AssertionError(f"run {run.id} stayed {run.status}")

    def expect(self, error_class: type[ApiError], call: Callable[[], Any]) -> ApiError:
        """Run ``call`` and return the error it must raise."""
        with pytest.raises(error_class) as caught:
            call()
        self.errors.append(caught.value)
        return caught.value

    def assert_no_violations(self, at_least: int) -> None:
        report = "\n".join(f"{v.direction} {v.method} {v.path}: {v.message}" for v in self.transport.violations)
        assert not self.transport.violations, f"{len(self.transport.violations)} contract violations:\n{report}"
        assert self.transport.exchanges >= at_least


@pytest.fixture
def make_checked(openapi_contract: OpenApiContract) -> Iterator[Callable[..., CheckedSimulator]]:
    """Build checked simulators: make_checked(rpm=2, ...) takes SimConfig fields."""
    built: list[CheckedSimulator] = []

    def build(**config: Any) -> CheckedSimulator:
        clock = FakeClock()
        sim_config = simulator.SimConfig(clock=clock, run_duration_min_s=1.0, run_duration_max_s=3.0, **config)
        inner = simulator.SyncASGITransport(simulator.create_app(sim_config))
        transport = ContractCheckingTransport(inner, openapi_contract)
        client = AssistantsClient("http://sim.test/v1", "sk-sim", transport=transport)
        built.append(CheckedSimulator(clock, transport, client))
        return built[-1]

    yield build
    for checked in built:
        checked.client.close()


def test_full_lifecycle_with_tools_validates(make_checked: Callable[..., CheckedSimulator]) -> None:
    """Thread, run, requires_action, submit, completion, steps, messages and runs all match the spec."""
    sim = make_checked(seed=7)
    client = sim.client
    thread = client.create_thread(
        [{"role": "user", "content": "What is (17 + 25) * 3?"}], metadata={"batchrunner_job": "contract:1"}
    ).data
    client.create_message(thread.id, {"role": "user", "content": "Show the result only."})
    created = client.create_run(
        thread.id,
        {"assistant_id": "asst_math", "temperature": 0.2, "metadata": {"batchrunner_job": "contract:1:a1"}},
    )
    assert created.meta.poll_after_ms is not None
    run = sim.wait_for(created.data, {"requires_action", "completed", "failed"})
    assert run.status == "requires_action" and run.tool_calls()
    outputs = [ToolOutput(tool_call_id=call.id, output="126") for call in run.tool_calls()]
    client.submit_tool_outputs(thread.id, run.id, outputs)
    run = sim.wait_for(run, {"completed", "failed", "incomplete", "expired"})
    assert run.status == "completed" and run.usage is not None

    steps = client.list_run_steps(thread.id, run.id)
    assert {step.type for step in steps} >= {"tool_calls", "message_creation"}
    messages = client.list_messages(thread.id, run_id=run.id)
    assert any(message.role == "assistant" and message.text() for message in messages)
    assert len(client.list_messages(thread.id)) >= 3
    assert [r.id for r in client.list_runs(thread.id, page_size=1)] == [run.id]
    sim.assert_no_violations(at_least=10)


def test_create_thread_and_run_and_cancel_validate(make_checked: Callable[..., CheckedSimulator]) -> None:
    """createThreadAndRun and cancel (cancelling, then cancelled) match the spec."""
    sim = make_checked(seed=3)
    run = sim.client.create_thread_and_run(
        {
            "assistant_id": "asst_support",
            "thread": {"messages": [{"role": "user", "content": "Summarise ticket 42."}]},
            "max_completion_tokens": 512,
        }
    ).data
    cancelled = sim.client.cancel_run(run.thread_id, run.id).data
    assert cancelled.status in ("cancelling", "cancelled")
    assert sim.wait_for(cancelled, {"cancelled"}).status == "cancelled"
    sim.client.list_run_steps(run.thread_id, run.id)
    sim.assert_no_violations(at_least=4)


def test_error_answers_validate(make_checked: Callable[..., CheckedSimulator]) -> None:
    """404s, 400s for wrong state and an active-run conflict are spec-valid ErrorResponses."""
    sim = make_checked(seed=5)
    client = sim.client
    thread = client.create_thread([{"role": "user", "content": "Hello"}]).data
    sim.expect(NotFoundError, lambda: client.retrieve_run(thread.id, "run_missing"))
    sim.expect(NotFoundError, lambda: client.list_runs("thread_missing"))
    sim.expect(NotFoundError, lambda: client.create_run(thread.id, {"assistant_id": "asst_missing"}))
    run = client.create_run(thread.id, {"assistant_id": "asst_support"}).data
    sim.expect(RequestRejectedError, lambda: client.create_run(thread.id, {"assistant_id": "asst_support"}))
    sim.expect(
        RequestRejectedError,
        lambda: client.submit_tool_outputs(thread.id, run.id, [ToolOutput(tool_call_id="call_nope", output="x")]),
    )
    sim.wait_for(run, {"completed"})
    sim.expect(ApiError, lambda: client.cancel_run(thread.id, run.id))
    assert all(error.message for error in sim.errors)
    sim.assert_no_violations(at_least=8)


def test_rate_limit_and_quota_answers_validate(make_checked: Callable[..., CheckedSimulator]) -> None:
    """429 rate_limit_exceeded (with its headers) and insufficient_quota bodies match the spec."""
    limited = make_checked(rpm=2)
    limited.client.create_thread([])
    limited.client.create_thread([])
    error = limited.expect(RateLimitedError, lambda: limited.client.create_thread([]))
    assert isinstance(error, RateLimitedError) and error.retry_after is not None and error.retry_after > 0
    limited.assert_no_violations(at_least=3)

    broke = make_checked(quota_tokens=1)
    thread = broke.client.create_thread([{"role": "user", "content": "A long question " * 20}]).data
    broke.expect(
        QuotaExhaustedError,
        lambda: [broke.client.create_run(thread.id, {"assistant_id": "asst_support"}) for _ in range(3)],
    )
    broke.assert_no_violations(at_least=2)


def test_injected_server_errors_validate(make_checked: Callable[..., CheckedSimulator]) -> None:
    """Injected 500/503 answers are spec-valid ErrorResponses; dropped connections reach the client."""
    failing = make_checked(fault_5xx_rate=1.0, seed=11)
    error = failing.expect(TransientError, lambda: failing.client.create_thread([]))
    assert error.status_code in (500, 503)
    failing.assert_no_violations(at_least=1)

    dropping = make_checked(fault_drop_rate=1.0, seed=11)
    error = dropping.expect(TransientError, lambda: dropping.client.create_thread([]))
    assert error.status_code is None
    assert dropping.transport.violations == []


def test_over_real_http(openapi_contract: OpenApiContract) -> None:
    """The same contract holds through uvicorn and a real socket (BackgroundSimulator)."""
    config = simulator.SimConfig(seed=1, run_duration_min_s=0.0, run_duration_max_s=0.05, poll_after_ms=10)
    with simulator.BackgroundSimulator(config) as server:
        transport = ContractCheckingTransport(httpx.HTTPTransport(), openapi_contract)
        with AssistantsClient(server.base_url, None, transport=transport, timeout=5.0) as client:
            run = client.create_thread_and_run(
                {"assistant_id": "asst_support", "thread": {"messages": [{"role": "user", "content": "Hi"}]}}
            ).data
            deadline = time.monotonic() + 5.0
            while not run.is_terminal and time.monotonic() < deadline:
                time.sleep(0.02)  # the test waits; the client itself never sleeps
                run = client.retrieve_run(run.thread_id, run.id).data
            assert run.status == "completed"
            assert client.list_messages(run.thread_id, run_id=run.id)
    report = "\n".join(f"{v.direction} {v.method} {v.path}: {v.message}" for v in transport.violations)
    assert not transport.violations, report
    assert transport.exchanges >= 3
