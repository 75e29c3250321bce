"""Streamed runs (`"stream": true`): Server-Sent Events in order, valid, live, and cheap.

Most tests talk to the app in-process with `httpx.AsyncClient` over `httpx.ASGITransport` (which hands
the whole stream over once it ends); the ones over real HTTP read the events as they come.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest

from batchrunner.simulator import BackgroundSimulator, SimConfig, create_app
from batchrunner.simulator.lifecycle import CANCELLING_SECONDS
from batchrunner.simulator.streaming import POLL_CAP_SECONDS
from batchrunner.testing.openapi_contract import OpenApiContract, load_contract
from batchrunner.testing.required import required_module
from tests.simulator.simhelpers import BETA, FakeClock

# Runs of 50-100 ms on the real clock: a stream opens and ends within a few poll intervals.
FAST: dict[str, Any] = {"run_duration_min_s": 0.05, "run_duration_max_s": 0.1, "seed": 7}
PLAIN_RUN_EVENTS = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.message.created",
    "thread.message.completed",
    "thread.run.step.completed",
    "thread.run.completed",
    "done",
]
ANSWER_EVENTS = PLAIN_RUN_EVENTS[3:]
MATH_QUESTION = {"role": "user", "content": "What is 6 * 7?"}

Event = tuple[str, Any]

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def contract() -> OpenApiContract:
    """The official OpenAPI document (skipped without it, except under CI)."""
    try:
        return load_contract()
    except FileNotFoundError as missing:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(str(missing))


# -- helpers ---------------------------------------------------------------------------------------


def parse_events(text: str, contract: OpenApiContract | None) -> list[Event]:
    """The events of a complete SSE body, each exactly `event: ...` and `data: ...`, each valid (given a contract)."""
    assert text.endswith("\n\n"), text[-200:]
    events: list[Event] = []
    for block in text[:-2].split("\n\n"):
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: "), block
        name, raw = event_line.removeprefix("event: "), data_line.removeprefix("data: ")
        data = raw if name == "done" else json.loads(raw)
        if contract is not None:
            contract.validate_stream_event(name, data)
        events.append((name, data))
    assert events and events[-1] == ("done", "[DONE]")
    assert [name for name, _ in events].count("done") == 1
    return events


def iter_events(lines: Iterable[str], contract: OpenApiContract) -> Iterator[Event]:
    """Events as they arrive over a live connection (validated like `parse_events`)."""
    pending: list[str] = []
    for line in lines:
        if line:
            pending.append(line)
            continue
        [event_line, data_line] = pending
        pending = []
        name, raw = event_line.removeprefix("event: "), data_line.removeprefix("data: ")
        data = raw if name == "done" else json.loads(raw)
        contract.validate_stream_event(name, data)
        yield name, data


def names(events: list[Event]) -> list[str]:
    return [name for name, _ in events]


def first(events: list[Event], name: str) -> Any:
    return next(data for event, data in events if event == name)


@dataclass
class AsyncSim:
    """An in-process simulator and an async client on it."""

    app: Any
    client: httpx.AsyncClient

    @property
    def store(self) -> Any:
        return self.app.state.simulator.store

    async def new_thread(self, content: str = "Summarise ticket 42: the printer jams.") -> str:
        response = await self.client.post("/threads", json={"messages": [{"role": "user", "content": content}]})
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    async def create_run(
        self, thread_id: str, assistant_id: str = "asst_support", stream: Any = True, **extra: Any
    ) -> httpx.Response:
        """POST /threads/{thread_id}/runs with `stream: true` (and `extra`)."""
        body = {"assistant_id": assistant_id, "stream": stream, **extra}
        return await self.client.post(f"/threads/{thread_id}/runs", json=body)

    async def get(self, path: str) -> Any:
        response = await self.client.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    async def stats(self) -> Any:
        return (await self.client.get("http://sim.test/_sim/stats")).json()

    async def wait_for_run(self, thread_id: str) -> dict[str, Any]:
        """The thread's run, once the (still open) stream that creates it has created it."""
        for _ in range(200):
            runs = await self.get(f"/threads/{thread_id}/runs")
            if runs["data"]:
                return runs["data"][0]  # type: ignore[no-any-return]
            await anyio.sleep(0.01)
        raise AssertionError("no run was created")

    def listeners(self) -> int:
        """Event queues still attached to runs: none once every stream has ended."""
        return sum(len(run.listeners) for run in self.store.runs.values())


@asynccontextmanager
async def async_sim(clock: FakeClock | None = None, **overrides: Any) -> AsyncIterator[AsyncSim]:
    config = SimConfig(**overrides) if clock is None else SimConfig(clock=clock, **overrides)
    app = create_app(config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test/v1", headers=BETA) as client:
        yield AsyncSim(app, client)


def assert_stream_headers(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"].startswith("req_")
    assert "openai-poll-after-ms" not in response.headers


# -- in-process ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_streamed_run_emits_its_events_in_order(contract: OpenApiContract) -> None:
    """created, queued, in_progress, step and message events, completed, done; objects match GET."""
    async with async_sim(rpm=100, **FAST) as sim:
        thread_id = await sim.new_thread()
        response = await sim.create_run(thread_id, metadata={"batchrunner_job": "b/1#1"})
        assert_stream_headers(response)
        assert response.headers["x-ratelimit-limit-requests"] == "100"
        assert response.headers["x-ratelimit-remaining-requests"] == "98"
        events = parse_events(response.text, contract)
        assert names(events) == PLAIN_RUN_EVENTS

        run_events = [data for name, data in events if name.startswith("thread.run.") and ".step." not in name]
        assert [run["status"] for run in run_events] == ["queued", "queued", "in_progress", "completed"]
        assert run_events[0]["started_at"] is None and run_events[2]["started_at"] is not None
        assert [run["usage"] is None for run in run_events] == [True, True, True, False]
        run = run_events[-1]
        assert run["thread_id"] == thread_id and run["metadata"] == {"batchrunner_job": "b/1#1"}
        assert run == await sim.get(f"/threads/{thread_id}/runs/{run['id']}")

        step_created, step_done = first(events, "thread.run.step.created"), first(events, "thread.run.step.completed")
        assert step_created["status"] == "in_progress" and step_created["usage"] is None
        [step] = (await sim.get(f"/threads/{thread_id}/runs/{run['id']}/steps"))["data"]
        assert step_done == step and step["status"] == "completed" and step["id"] == step_created["id"]

        message_created = first(events, "thread.message.created")
        message_done = first(events, "thread.message.completed")
        assert message_created["status"] == "in_progress" and message_created["content"] == []
        assert step["step_details"]["message_creation"]["message_id"] == message_created["id"]
        [message] = (await sim.get(f"/threads/{thread_id}/messages?run_id={run['id']}"))["data"]
        assert message_done == message and message["content"][0]["text"]["value"]
        assert message["run_id"] == run["id"] and message["role"] == "assistant"

        stats = await sim.stats()
        assert stats["requests"]["POST /v1/threads/{thread_id}/runs"] == {"200": 1}
        assert stats["runs_created"] == 1 and stats["runs_by_job_key"] == {"b/1#1": 1}
        assert sim.listeners() == 0


@pytest.mark.anyio
async def test_tool_run_stream_stops_at_requires_action_and_submit_streams_the_rest(
    contract: OpenApiContract,
) -> None:
    """The create stream ends at requires_action with the tool calls; a streamed submit ends completed."""
    async with async_sim(**FAST) as sim:
        thread_id = await sim.new_thread("What is 6 * 7?")
        response = await sim.create_run(thread_id, "asst_math")
        assert_stream_headers(response)
        events = parse_events(response.text, contract)
        assert names(events) == [
            "thread.run.created",
            "thread.run.queued",
            "thread.run.in_progress",
            "thread.run.step.created",
            "thread.run.requires_action",
            "done",
        ]
        waiting = first(events, "thread.run.requires_action")
        [call] = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
        assert call["function"]["name"] == "calculate"
        assert json.loads(call["function"]["arguments"]) == {"expression": "6 * 7"}
        tool_step = first(events, "thread.run.step.created")
        assert tool_step["step_details"]["tool_calls"][0]["id"] == call["id"]
        assert tool_step["step_details"]["tool_calls"][0]["function"]["output"] is None
        path = f"/threads/{thread_id}/runs/{waiting['id']}"
        assert waiting == await sim.get(path)

        outputs = {"tool_outputs": [{"tool_call_id": call["id"], "output": "42"}], "stream": True}
        submitted = await sim.client.post(f"{path}/submit_tool_outputs", json=outputs)
        assert_stream_headers(submitted)
        after = parse_events(submitted.text, contract)
        assert names(after) == ["thread.run.step.completed", "thread.run.in_progress", *ANSWER_EVENTS]
        done_step = after[0][1]
        assert done_step["id"] == tool_step["id"] and done_step["status"] == "completed"
        assert done_step["step_details"]["tool_calls"][0]["function"]["output"] == "42"
        assert after[1][1]["required_action"] is None
        assert first(after, "thread.message.completed")["content"][0]["text"]["value"] == (
            "The result of calculate is 42."
        )
        final = first(after, "thread.run.completed")
        assert final == await sim.get(path)
        assert final["usage"]["total_tokens"] > 0
        steps = (await sim.get(f"{path}/steps?order=asc"))["data"]
        assert steps == [done_step, after[-3][1]] and after[-3][0] == "thread.run.step.completed"
        stats = await sim.stats()
        assert stats["requests"]["POST /v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"] == {"200": 1}
        assert stats["runs_created"] == 1 and sim.listeners() == 0


@pytest.mark.anyio
async def test_create_thread_and_run_streams_the_thread_first(contract: OpenApiContract) -> None:
    """POST /threads/runs with stream: thread.created, then the run's events."""
    async with async_sim(**FAST) as sim:
        body = {"assistant_id": "asst_support", "stream": True, "thread": {"messages": [MATH_QUESTION]}}
        response = await sim.client.post("/threads/runs", json=body)
        assert_stream_headers(response)
        events = parse_events(response.text, contract)
        assert names(events) == ["thread.created", *PLAIN_RUN_EVENTS]
        thread = events[0][1]
        assert thread == await sim.get(f"/threads/{thread['id']}")
        assert first(events, "thread.run.completed")["thread_id"] == thread["id"]
        assert (await sim.stats())["requests"]["POST /v1/threads/runs"] == {"200": 1}


@pytest.mark.anyio
async def test_cut_short_answer_streams_incomplete_message_and_run(contract: OpenApiContract) -> None:
    """An answer over max_completion_tokens: thread.message.incomplete, then thread.run.incomplete."""
    async with async_sim(**FAST) as sim:
        text = "Write a detailed essay about warehouse logistics and staffing"
        thread_id = await sim.new_thread(text)
        events = parse_events((await sim.create_run(thread_id, max_completion_tokens=256)).text, contract)
        assert names(events) == [
            *PLAIN_RUN_EVENTS[:5],
            "thread.message.incomplete",
            "thread.run.step.completed",
            "thread.run.incomplete",
            "done",
        ]
        assert first(events, "thread.message.incomplete")["incomplete_details"] == {"reason": "max_tokens"}
        run = first(events, "thread.run.incomplete")
        assert run["incomplete_details"] == {"reason": "max_completion_tokens"}
        assert run == await sim.get(f"/threads/{thread_id}/runs/{run['id']}")


@pytest.mark.anyio
async def test_cancel_during_a_stream_is_streamed(contract: OpenApiContract) -> None:
    """A cancel from another request shows on the open stream as cancelling, then cancelled."""
    clock = FakeClock()
    async with async_sim(clock, run_duration_min_s=10, run_duration_max_s=10) as sim:
        thread_id = await sim.new_thread()
        answers: list[httpx.Response] = []

        async def stream() -> None:
            answers.append(await sim.create_run(thread_id))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(stream)
            run = await sim.wait_for_run(thread_id)
            clock.advance(2)  # past the queue (a tenth of the run)
            cancel = await sim.client.post(f"/threads/{thread_id}/runs/{run['id']}/cancel")
            assert cancel.json()["status"] == "cancelling"
            await anyio.sleep(2 * POLL_CAP_SECONDS)
            assert not answers, "the stream ended before the run was cancelled"
            clock.advance(CANCELLING_SECONDS)
        [response] = answers
        events = parse_events(response.text, contract)
        assert names(events) == [
            "thread.run.created",
            "thread.run.queued",
            "thread.run.in_progress",
            "thread.run.cancelling",
            "thread.run.cancelled",
            "done",
        ]
        assert first(events, "thread.run.cancelling")["cancelled_at"] is None
        cancelled = first(events, "thread.run.cancelled")
        assert cancelled == await sim.get(f"/threads/{thread_id}/runs/{run['id']}")
        assert cancelled["cancelled_at"] is not None and sim.listeners() == 0


@pytest.mark.parametrize(
    ("overrides", "ending"),
    [
        ({"run_fail_server_error_rate": 1.0}, "thread.run.failed"),
        ({"run_expiry_s": 5.0}, "thread.run.expired"),
    ],
)
@pytest.mark.anyio
async def test_stream_ends_with_the_runs_terminal_status(
    contract: OpenApiContract, overrides: dict[str, Any], ending: str
) -> None:
    """Failed and expired runs end their stream with that status (several transitions in one step)."""
    clock = FakeClock()
    async with async_sim(clock, run_duration_min_s=10, run_duration_max_s=10, **overrides) as sim:
        thread_id = await sim.new_thread()
        answers: list[httpx.Response] = []

        async def stream() -> None:
            answers.append(await sim.create_run(thread_id))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(stream)
            run = await sim.wait_for_run(thread_id)
            clock.advance(11)  # queued -> in_progress -> the end, all due at once
        events = parse_events(answers[0].text, contract)
        assert names(events) == ["thread.run.created", "thread.run.queued", "thread.run.in_progress", ending, "done"]
        final = events[-2][1]
        assert final == await sim.get(f"/threads/{thread_id}/runs/{run['id']}")
        if ending == "thread.run.failed":
            assert final["last_error"]["code"] == "server_error" and final["failed_at"] is not None
        else:
            assert final["expires_at"] is not None and final["status"] == "expired"


@pytest.mark.anyio
async def test_invalid_streamed_requests_are_plain_errors_before_any_event(contract: OpenApiContract) -> None:
    """Validation and state errors of streamed requests are JSON errors, and change nothing."""
    async with async_sim(**FAST) as sim:
        thread_id = await sim.new_thread("What is 6 * 7?")
        unknown = await sim.create_run(thread_id, "asst_no")
        assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/json"
        not_boolean = await sim.create_run(thread_id, "asst_math", stream=1)
        assert not_boolean.status_code == 400 and not_boolean.json()["error"]["param"] == "stream"
        assert (await sim.stats())["runs_created"] == 0

        created = parse_events((await sim.create_run(thread_id, "asst_math")).text, contract)
        assert created[-2][0] == "thread.run.requires_action"
        path = f"/threads/{thread_id}/runs/{created[-2][1]['id']}"
        wrong = {"tool_outputs": [{"tool_call_id": "call_nope", "output": "1"}], "stream": True}
        rejected = await sim.client.post(f"{path}/submit_tool_outputs", json=wrong)
        assert rejected.status_code == 400 and rejected.headers["content-type"] == "application/json"
        assert rejected.json()["error"]["param"] == "tool_outputs"
        assert (await sim.get(path))["status"] == "requires_action"
        assert sim.listeners() == 0


@pytest.mark.anyio
async def test_rate_limited_stream_request_is_a_json_429() -> None:
    """Under rpm=1 the second request is a normal 429 (JSON, retry-after), counted once, with no run."""
    async with async_sim(rpm=1, **FAST) as sim:
        thread_id = await sim.new_thread()
        response = await sim.create_run(thread_id)
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/json"
        assert int(response.headers["retry-after"]) >= 1
        assert response.headers["x-ratelimit-remaining-requests"] == "0"
        assert response.json()["error"]["type"] == "requests"
        stats = await sim.stats()
        assert stats["requests"]["POST /v1/threads/{thread_id}/runs"] == {"429": 1}
        assert stats["rate_limited"]["requests"] == 1 and stats["runs_created"] == 0


@pytest.mark.anyio
async def test_5xx_faults_hit_streamed_requests_like_any_other() -> None:
    """An injected 5xx answers JSON, whether it struck before or after the run was created; no queue leaks."""
    async with async_sim(fault_5xx_rate=1.0, **FAST) as sim:
        statuses = []
        for _ in range(6):
            body = {"assistant_id": "asst_support", "stream": True, "thread": {"messages": [MATH_QUESTION]}}
            response = await sim.client.post("/threads/runs", json=body)
            assert response.headers["content-type"] == "application/json"
            statuses.append(response.status_code)
        assert set(statuses) <= {500, 503}
        stats = await sim.stats()
        assert sum(stats["requests"]["POST /v1/threads/runs"].values()) == 6
        assert 0 < stats["runs_created"] < 6  # the seed strikes both before and after the work
        assert sim.listeners() == 0


@pytest.mark.anyio
async def test_many_concurrent_streams_share_one_thread() -> None:
    """Hundreds of open streams at once all complete, without a thread per stream."""
    count = 300
    async with async_sim(run_duration_min_s=0.5, run_duration_max_s=0.8) as sim:
        threads_before = threading.active_count()
        peak: list[int] = []
        results: list[list[Event]] = []

        async def stream(index: int) -> None:
            body = {"assistant_id": "asst_support", "stream": True, "thread": {"messages": [MATH_QUESTION]}}
            response = await sim.client.post("/threads/runs", json=body)
            results.append(parse_events(response.text, None))  # the schemas are checked by the tests above

        async def watch() -> None:
            while len(results) < count:
                peak.append(sum(len(run.listeners) for run in sim.store.runs.values()))
                await anyio.sleep(0.05)

        started = time.monotonic()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch)
            for index in range(count):
                tasks.start_soon(stream, index)
        assert len(results) == count
        assert all(names(events)[-2:] == ["thread.run.completed", "done"] for events in results)
        assert max(peak) > count // 2  # they really were open at the same time
        assert threading.active_count() == threads_before
        assert time.monotonic() - started < 10
        assert sim.listeners() == 0


# -- over real HTTP --------------------------------------------------------------------------------


def test_stream_over_http_is_live_and_sees_a_cancel(contract: OpenApiContract) -> None:
    """Over a socket, events arrive as they happen: the client reacts to each, and sees the result live."""
    clock = FakeClock()
    config = SimConfig(run_duration_min_s=20, run_duration_max_s=20, rpm=1000, clock=clock)
    with (
        BackgroundSimulator(config) as server,
        httpx.Client(base_url=server.base_url, headers=BETA, timeout=10) as client,
    ):
        thread_id = client.post("/threads", json={"messages": [MATH_QUESTION]}).json()["id"]
        body = {"assistant_id": "asst_support", "stream": True}
        events: list[Event] = []
        with client.stream("POST", f"/threads/{thread_id}/runs", json=body) as response:
            assert_stream_headers(response)
            assert response.headers["x-ratelimit-limit-requests"] == "1000"
            for name, data in iter_events(response.iter_lines(), contract):
                events.append((name, data))
                if name == "thread.run.queued":
                    clock.advance(3)  # past the queue: the stream itself notices the run started
                elif name == "thread.run.in_progress":
                    cancel = client.post(f"/threads/{thread_id}/runs/{data['id']}/cancel")
                    assert cancel.json()["status"] == "cancelling"
                elif name == "thread.run.cancelling":
                    clock.advance(CANCELLING_SECONDS)
        assert names(events) == [
            "thread.run.created",
            "thread.run.queued",
            "thread.run.in_progress",
            "thread.run.cancelling",
            "thread.run.cancelled",
            "done",
        ]
        run = events[-2][1]
        assert run == client.get(f"/threads/{thread_id}/runs/{run['id']}").json()
        stats = httpx.get(f"{server.root_url}/_sim/stats").json()
        assert stats["requests"]["POST /v1/threads/{thread_id}/runs"] == {"200": 1}
        assert stats["requests"]["POST /v1/threads/{thread_id}/runs/{run_id}/cancel"] == {"200": 1}


@contextmanager
def server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    """Error records logged by the server meanwhile (uvicorn's logger does not propagate to the root).

    Enter it after creating the server: uvicorn's config resets the handlers of its loggers.
    """
    server_log = logging.getLogger("uvicorn.error")
    server_log.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING)
    errors: list[logging.LogRecord] = []
    try:
        yield errors
    finally:
        server_log.removeHandler(caplog.handler)
        errors.extend(record for record in caplog.records if record.levelno >= logging.ERROR)


def test_client_disconnect_releases_the_stream(contract: OpenApiContract, caplog: pytest.LogCaptureFixture) -> None:
    """A client that walks away mid-stream leaves no queue behind and no error in the logs."""
    server = BackgroundSimulator(SimConfig(run_duration_min_s=20, run_duration_max_s=20))
    with (
        server_errors(caplog) as errors,
        server,
        httpx.Client(base_url=server.base_url, headers=BETA, timeout=10) as client,
    ):
        store = server.app.state.simulator.store
        thread_id = client.post("/threads", json={"messages": [MATH_QUESTION]}).json()["id"]
        body = {"assistant_id": "asst_support", "stream": True}
        with client.stream("POST", f"/threads/{thread_id}/runs", json=body) as response:
            events = iter_events(response.iter_lines(), contract)
            name, run = next(events)
            assert name == "thread.run.created"
            assert len(store.runs[run["id"]].listeners) == 1
        deadline = time.monotonic() + 5
        while store.runs[run["id"]].listeners and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.runs[run["id"]].listeners == []
        assert client.get(f"/threads/{thread_id}/runs/{run['id']}").json()["status"] == "queued"
    assert [record.getMessage() for record in errors] == []


def test_official_sdk_streams_a_tool_run(contract: OpenApiContract) -> None:
    """The openai SDK's stream helpers (when installed) follow a tool run to the end."""
    openai: Any = required_module("openai", "the bench extra brings it")
    config = SimConfig(run_duration_min_s=0.05, run_duration_max_s=0.1)
    with BackgroundSimulator(config) as server, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-simulator")
        thread = client.beta.threads.create(messages=[MATH_QUESTION])
        with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id="asst_math") as stream:
            seen = [event.event for event in stream]
            run = stream.get_final_run()
        assert seen[-1] == "thread.run.requires_action" and run.status == "requires_action"
        [call] = run.required_action.submit_tool_outputs.tool_calls
        with client.beta.threads.runs.submit_tool_outputs_stream(
            thread_id=thread.id,
            run_id=run.id,
            tool_outputs=[{"tool_call_id": call.id, "output": "42"}],
        ) as stream:
            stream.until_done()
            run = stream.get_final_run()
            [message] = stream.get_final_messages()
        assert run.status == "completed"
        assert message.content[0].text.value == "The result of calculate is 42."


def test_stopping_the_server_ends_open_streams(contract: OpenApiContract) -> None:
    """stop() does not wait for open streams to finish: they end at once, without `done`."""
    server = BackgroundSimulator(SimConfig(run_duration_min_s=20, run_duration_max_s=20)).start()
    try:
        with httpx.Client(base_url=server.base_url, headers=BETA, timeout=10) as client:
            thread_id = client.post("/threads", json={"messages": [MATH_QUESTION]}).json()["id"]
            body = {"assistant_id": "asst_support", "stream": True}
            with client.stream("POST", f"/threads/{thread_id}/runs", json=body) as response:
                events = iter_events(response.iter_lines(), contract)
                received = [next(events)]
                started = time.monotonic()
                server.stop()
                assert time.monotonic() - started < 3
                received.extend(events)
    finally:
        server.stop()
    assert names(received) == ["thread.run.created", "thread.run.queued"]
