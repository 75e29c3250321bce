"""An in-process simulator for the Files and Batch API tests: fake clock, spec-checked traffic, shortcuts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from batchrunner.simulator import SimConfig, SyncASGITransport, create_app
from batchrunner.testing.openapi_contract import ContractViolation, PathsContract, load_paths_contract
from tests.simulator.simhelpers import FakeClock

PREFIXES = ("/files", "/batches")
TERMINAL = {"completed", "failed", "expired", "cancelled"}


def files_contract() -> PathsContract:
    """The /files and /batches operations of the official document (shared per process)."""
    return load_paths_contract(PREFIXES)


@dataclass
class CheckedTransport(httpx.BaseTransport):
    """Checks JSON bodies of /files and /batches traffic against the spec (raw file content excepted)."""

    inner: httpx.BaseTransport
    contract: PathsContract
    violations: list[str] = field(default_factory=list)
    checked: int = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode().removeprefix("/v1")
        response = self.inner.handle_request(request)
        content = response.read()
        is_content = path.split("?", 1)[0].endswith("/content") and response.status_code == 200
        if path.startswith(PREFIXES) and not is_content:
            self.checked += 1
            try:
                # Requests the simulator accepted must be spec-valid; the 4xx tests send invalid ones on purpose.
                accepted = response.status_code < 400
                if accepted and request.headers.get("content-type", "").startswith("application/json"):
                    self.contract.validate_request(request.method, path, json.loads(request.content))
                self.contract.validate_response(request.method, path, response.status_code, json.loads(content))
            except (ContractViolation, ValueError) as violation:
                self.violations.append(f"{request.method} {path}: {violation}")
        return httpx.Response(response.status_code, headers=response.headers, content=content, request=request)


def request_line(custom_id: str, text: str, model: str = "gpt-4o-mini", **body: Any) -> dict[str, Any]:
    """One batch input line asking /v1/responses to answer `text`."""
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/responses",
        "body": {"model": model, "input": text, **body},
    }


def jsonl(entries: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(entry) + "\n" for entry in entries).encode()


class BSim:
    """A simulator on a fake clock with a spec-checked client (no `OpenAI-Beta` header)."""

    def __init__(self, config: SimConfig, clock: FakeClock) -> None:
        self.clock = clock
        self.app = create_app(replace(config, clock=clock))
        self.transport = CheckedTransport(SyncASGITransport(self.app), files_contract())
        self.client = httpx.Client(transport=self.transport, base_url="http://sim.test/v1")

    def stats(self) -> dict[str, Any]:
        return self.client.get("http://sim.test/_sim/stats").json()  # type: ignore[no-any-return]

    def upload(self, content: bytes, filename: str = "requests.jsonl", purpose: str = "batch") -> httpx.Response:
        return self.client.post("/files", files={"file": (filename, content)}, data={"purpose": purpose})

    def upload_lines(self, entries: list[dict[str, Any]]) -> str:
        """Upload a batch input file of these lines; its file id."""
        response = self.upload(jsonl(entries))
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def create_batch(self, file_id: str, **extra: Any) -> dict[str, Any]:
        body = {"input_file_id": file_id, "endpoint": "/v1/responses", "completion_window": "24h", **extra}
        response = self.client.post("/batches", json=body)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def batch(self, batch_id: str) -> dict[str, Any]:
        response = self.client.get(f"/batches/{batch_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def run(self, entries: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        """Upload the lines, create a batch of them and return it."""
        return self.create_batch(self.upload_lines(entries), **extra)

    def wait(self, batch_id: str, statuses: set[str] = TERMINAL, step: float = 1.0, limit: int = 500) -> dict[str, Any]:
        """Advance the fake clock until the batch reaches one of `statuses`."""
        for _ in range(limit):
            current = self.batch(batch_id)
            if current["status"] in statuses:
                return current
            self.clock.advance(step)
        raise AssertionError(f"batch {batch_id} stayed {current['status']}")

    def read(self, file_id: str) -> list[dict[str, Any]]:
        """The lines of a JSONL file, decoded."""
        response = self.client.get(f"/files/{file_id}/content")
        assert response.status_code == 200, response.text
        return [json.loads(line) for line in response.text.splitlines()]

    def close(self) -> None:
        self.client.close()
