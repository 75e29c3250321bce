"""Helpers for the simulator tests: a fake clock and an in-process client with shortcuts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from batchrunner.simulator import SimConfig, SyncASGITransport, create_app

BETA = {"OpenAI-Beta": "assistants=v2"}
START = 1_700_000_000.0


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sim:
    """An in-process simulator, its clock and a client on it."""

    def __init__(self, config: SimConfig, clock: FakeClock) -> None:
        self.clock = clock
        self.app = create_app(replace(config, clock=clock))
        self.client = httpx.Client(transport=SyncASGITransport(self.app), base_url="http://sim.test/v1", headers=BETA)

    def stats(self) -> dict[str, Any]:
        return self.client.get("http://sim.test/_sim/stats").json()  # type: ignore[no-any-return]

    def thread_and_run(self, assistant_id: str, text: str, **params: Any) -> dict[str, Any]:
        body = {
            "assistant_id": assistant_id,
            "thread": {"messages": [{"role": "user", "content": text}]},
            **params,
        }
        response = self.client.post("/threads/runs", json=body)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def get_run(self, run: dict[str, Any]) -> dict[str, Any]:
        response = self.client.get(f"/threads/{run['thread_id']}/runs/{run['id']}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait_for(self, run: dict[str, Any], statuses: set[str], step: float = 0.5, limit: int = 200) -> dict[str, Any]:
        """Advance the fake clock until the run reaches one of `statuses`."""
        for _ in range(limit):
            run = self.get_run(run)
            if run["status"] in statuses:
                return run
            self.clock.advance(step)
        raise AssertionError(f"run stayed {run['status']}")

    def submit(self, run: dict[str, Any], outputs: dict[str, str]) -> httpx.Response:
        tool_outputs = [{"tool_call_id": call_id, "output": output} for call_id, output in outputs.items()]
        return self.client.post(
            f"/threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs",
            json={"tool_outputs": tool_outputs},
        )


def tool_calls(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The pending tool calls of a requires_action run."""
    return run["required_action"]["submit_tool_outputs"]["tool_calls"]  # type: ignore[no-any-return]
