"""The simulator over real HTTP (uvicorn in a thread) and the catalogue."""

from __future__ import annotations

import json
import time
import warnings
from typing import Any

import httpx

from batchrunner.simulator import BackgroundSimulator, SimConfig
from batchrunner.simulator.catalogue import BUILTIN_ASSISTANTS, BUILTIN_THREADS
from batchrunner.testing.required import required_module
from tests.simulator.simhelpers import BETA


def test_background_simulator_serves_a_tool_run_over_http() -> None:
    """A run with a tool round completes over a real socket, on the real clock."""
    config = SimConfig(run_duration_min_s=0.2, run_duration_max_s=0.3, poll_after_ms=50, rpm=1000)
    with (
        BackgroundSimulator(config) as server,
        httpx.Client(base_url=server.base_url, headers=BETA) as client,
    ):
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        thread = {"messages": [{"role": "user", "content": "What is 6 * 7?"}]}
        created = client.post("/threads/runs", json={"assistant_id": "asst_math", "thread": thread})
        assert created.status_code == 200 and created.headers["x-ratelimit-limit-requests"] == "1000"
        run = created.json()
        path = f"/threads/{run['thread_id']}/runs/{run['id']}"
        deadline = time.monotonic() + 5
        while run["status"] not in ("requires_action", "completed") and time.monotonic() < deadline:
            time.sleep(int(created.headers["openai-poll-after-ms"]) / 1000)
            run = client.get(path).json()
        [call] = run["required_action"]["submit_tool_outputs"]["tool_calls"]
        assert json.loads(call["function"]["arguments"]) == {"expression": "6 * 7"}
        client.post(
            f"{path}/submit_tool_outputs",
            json={"tool_outputs": [{"tool_call_id": call["id"], "output": "42"}]},
        )
        while run["status"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.05)
            run = client.get(path).json()
        assert run["status"] == "completed"
        message = client.get(f"/threads/{run['thread_id']}/messages").json()["data"][0]
        assert message["content"][0]["text"]["value"] == "The result of calculate is 42."
        assert httpx.get(f"{server.root_url}/_sim/stats").json()["runs_created"] == 1


def test_background_simulator_stops_and_frees_its_port() -> None:
    """After stop() the port no longer accepts connections."""
    server = BackgroundSimulator().start()
    url = server.base_url
    assert httpx.get(f"{url}/assistants/asst_support", headers=BETA).status_code == 200
    server.stop()
    try:
        httpx.get(f"{url}/assistants/asst_support", headers=BETA, timeout=1)
    except httpx.ConnectError:
        return
    raise AssertionError("the server still answered after stop()")


def test_catalogue_is_served_as_declared() -> None:
    """The built-in assistants and the shared demo thread exist from the start with their fixed ids."""
    with BackgroundSimulator() as server, httpx.Client(base_url=server.base_url, headers=BETA) as client:
        for entry in BUILTIN_ASSISTANTS:
            assistant = client.get(f"/assistants/{entry['id']}").json()
            assert assistant["model"] == entry["model"] and assistant["tools"] == entry["tools"]
        assert client.get("/assistants/asst_support").json()["instructions"] == (
            "You are a concise customer-support assistant."
        )
        thread = BUILTIN_THREADS[0]
        assert client.get(f"/threads/{thread['id']}").json()["created_at"] == 1735689600
        [message] = client.get(f"/threads/{thread['id']}/messages").json()["data"]
        assert message["content"][0]["text"]["value"] == "We are reviewing the Q3 support backlog."


def test_official_openai_sdk_drives_a_tool_run() -> None:
    """The official openai SDK (when installed) parses the simulator's answers through a full tool round."""
    openai: Any = required_module("openai", "the bench extra brings it")
    config = SimConfig(run_duration_min_s=0.1, run_duration_max_s=0.2, poll_after_ms=20)
    with BackgroundSimulator(config) as server, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-simulator")
        thread = {"messages": [{"role": "user", "content": 'Compute 2 * 21 and count "a b c"'}]}
        run = client.beta.threads.create_and_run_poll(assistant_id="asst_analyst", thread=thread)
        calls = run.required_action.submit_tool_outputs.tool_calls
        assert [call.function.name for call in calls] == ["calculate", "text_statistics"]
        outputs = [{"tool_call_id": call.id, "output": "42"} for call in calls]
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs
        )
        assert run.status == "completed" and run.usage.total_tokens > 0
        steps = list(client.beta.threads.runs.steps.list(run_id=run.id, thread_id=run.thread_id))
        assert sum(step.usage.total_tokens for step in steps) == run.usage.total_tokens
        assert len(list(client.beta.assistants.list(limit=2))) == 4
