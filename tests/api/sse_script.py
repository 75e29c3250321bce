"""A scripted SSE server over real HTTP for stream tests: it answers each POST the way ``Script`` says."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from batchrunner.testing.payloads import run_payload
from batchrunner.testing.processes import free_port

# The create endpoints a stream is opened on.
ROUTES = ("/v1/threads/{thread_id}/runs", "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", "/v1/responses")


def sse_event(name: str, data: Any) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return f"event: {name}\ndata: {text}\n\n".encode()


class Script:
    """What the server answers next; ``release`` lets a held stream go on."""

    def __init__(self) -> None:
        queued = run_payload("run_1", status="queued")
        self.respond: Callable[[dict[str, Any]], Response] = lambda body: JSONResponse(queued)
        self.release = threading.Event()
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    def stream(self, *chunks: bytes, hold_after: int | None = None) -> None:
        """Answer with these events; with ``hold_after``, wait for ``release`` after that many."""

        async def events() -> AsyncIterator[bytes]:
            for index, chunk in enumerate(chunks):
                if hold_after is not None and index == hold_after:
                    while not self.release.is_set():
                        await anyio.sleep(0.02)
                yield chunk

        self.respond = lambda body: StreamingResponse(events(), media_type="text/event-stream")


@contextmanager
def scripted_server(script: Script) -> Iterator[str]:
    async def create_run(request: Request) -> Response:
        body = await request.json()
        script.bodies.append(body)
        script.headers.append(dict(request.headers))
        return script.respond(body)

    app = Starlette(routes=[Route(route, create_run, methods=["POST"]) for route in ROUTES])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "scripted server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        script.release.set()
        server.should_exit = True
        thread.join(timeout=10)


class Settled:
    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []
        self.arrived = threading.Event()

    def __call__(self, job_id: int, run_id: str) -> None:
        self.calls.append((job_id, run_id))
        self.arrived.set()


__all__ = ["ROUTES", "Script", "Settled", "scripted_server", "sse_event"]
