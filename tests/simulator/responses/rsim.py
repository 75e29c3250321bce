"""An in-process simulator for the Responses tests: fake clock, schema-checked clients, shortcuts."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import httpx

from batchrunner.simulator import SimConfig, SyncASGITransport, create_app
from tests.simulator.responses.schemas import CheckingTransport, ResponsesContract, parse_sse
from tests.simulator.simhelpers import FakeClock

CALCULATE: dict[str, Any] = {
    "type": "function",
    "name": "calculate",
    "description": "Evaluate an arithmetic expression.",
    "parameters": {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
        "additionalProperties": False,
    },
    "strict": True,
}
TEXT_STATISTICS: dict[str, Any] = {
    "type": "function",
    "name": "text_statistics",
    "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    "strict": False,
}
TERMINAL = {"completed", "failed", "incomplete", "cancelled"}


class RSim:
    """A simulator on a fake clock with two clients (no `OpenAI-Beta` header on either).

    `client` checks its requests and every answer against the official schemas; `raw` sends any
    request (for the 4xx tests) but still checks the answers. Violations collect in `violations`.
    """

    def __init__(self, config: SimConfig, clock: FakeClock, contract: ResponsesContract) -> None:
        self.clock = clock
        self.app = create_app(replace(config, clock=clock))
        self._checked = CheckingTransport(SyncASGITransport(self.app), contract)
        self._raw = CheckingTransport(SyncASGITransport(self.app), contract, check_requests=False)
        self.client = httpx.Client(transport=self._checked, base_url="http://sim.test/v1")
        self.raw = httpx.Client(transport=self._raw, base_url="http://sim.test/v1")

    @property
    def store(self) -> Any:
        return self.app.state.simulator.store

    @property
    def violations(self) -> list[str]:
        return self._checked.violations + self._raw.violations

    @property
    def checked(self) -> int:
        return self._checked.checked + self._raw.checked

    def close(self) -> None:
        self.client.close()
        self.raw.close()

    def stats(self) -> dict[str, Any]:
        return self.client.get("http://sim.test/_sim/stats").json()  # type: ignore[no-any-return]

    def create(self, **body: Any) -> dict[str, Any]:
        """POST /responses (model gpt-4o unless given); asserts a 200."""
        response = self.client.post("/responses", json={"model": "gpt-4o", **body})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def get(self, response_id: str) -> dict[str, Any]:
        response = self.client.get(f"/responses/{response_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait(
        self, response_id: str, statuses: set[str] = TERMINAL, step: float = 0.5, limit: int = 100
    ) -> dict[str, Any]:
        """Advance the fake clock until the response reaches one of `statuses`."""
        for _ in range(limit):
            current = self.get(response_id)
            if current["status"] in statuses:
                return current
            self.clock.advance(step)
        raise AssertionError(f"response {response_id} stayed {current['status']}")

    def error(self, method: str, path: str, status: int, **kwargs: Any) -> dict[str, Any]:
        """Send a request with the raw client; assert its status and return the error object."""
        response = self.raw.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json()["error"]  # type: ignore[no-any-return]


def outputs_for(response: dict[str, Any], value: str = "42") -> list[dict[str, Any]]:
    """function_call_output items answering every call of the response."""
    return [
        {"type": "function_call_output", "call_id": item["call_id"], "output": value}
        for item in response["output"]
        if item["type"] == "function_call"
    ]


class OpenStream:
    """A streamed request read in a thread."""

    def __init__(self, sim: RSim, method: str, path: str, **kwargs: Any) -> None:
        self.response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._read, args=(sim, method, path, kwargs), daemon=True)
        self._thread.start()

    def _read(self, sim: RSim, method: str, path: str, kwargs: dict[str, Any]) -> None:
        self.response = sim.client.request(method, path, **kwargs)

    def events(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        self._thread.join(timeout)
        assert self.response is not None, "the stream did not end"
        assert self.response.status_code == 200, self.response.text
        assert self.response.headers["content-type"].startswith("text/event-stream")
        return parse_sse(self.response.text)


def wait_for_response(sim: RSim) -> str:
    """The id of the (only) response, once the open stream's request has created it."""
    for _ in range(500):
        with sim.store.lock:
            if sim.store.responses:
                return str(next(iter(sim.store.responses)))
        time.sleep(0.01)
    raise AssertionError("no response was created")
