"""A synchronous httpx transport that calls an ASGI app in-process, without a socket.

httpx's own ASGITransport is async-only; this runs it in a private event loop per request, so a
plain `httpx.Client` (and the workers' threads) can talk to the simulator directly. A connection
the simulator drops surfaces as `httpx.RemoteProtocolError`, and the request's read timeout is
honoured (as `httpx.ReadTimeout`), like over a real socket.
"""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import ASGIApp

from batchrunner.simulator.errors import DroppedConnection


class SyncASGITransport(httpx.BaseTransport):
    """Send each request to `app` in a fresh event loop on the calling thread."""

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        timeout = request.extensions.get("timeout", {}).get("read")
        try:
            status, headers, body = asyncio.run(self._send(request, timeout))
        except DroppedConnection:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        except TimeoutError:
            raise httpx.ReadTimeout("Timed out waiting for the simulator's response.", request=request) from None
        return httpx.Response(status, headers=headers, content=body, request=request)

    async def _send(
        self, request: httpx.Request, timeout: float | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        async def exchange() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = await self._inner.handle_async_request(request)
            return response.status_code, response.headers.raw, await response.aread()

        return await asyncio.wait_for(exchange(), timeout)
