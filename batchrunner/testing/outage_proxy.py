"""A TCP proxy in front of a server that can stage an outage for real processes: 503s, then refused connections.

``OutageProxy(port).start()`` forwards ``127.0.0.1:proxy.port`` to ``127.0.0.1:port`` on its own event-loop
thread. ``set(Outage.SERVER_ERRORS)`` answers every new request with a 503 and cuts the connections in
progress; ``set(Outage.REFUSED)`` also stops listening, so connections are refused; ``set(Outage.NONE)``
forwards again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from batchrunner.testing.outage import Outage

_UNAVAILABLE_BODY = b'{"error": {"message": "The server is temporarily unavailable.", "type": "server_error"}}'
_SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    + f"Content-Length: {len(_UNAVAILABLE_BODY)}\r\n\r\n".encode()
    + _UNAVAILABLE_BODY
)


class OutageProxy:
    def __init__(self, target_port: int, *, host: str = "127.0.0.1") -> None:
        self._host = host
        self._target_port = target_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="outage-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self.outage = Outage.NONE
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}/v1"

    def start(self) -> OutageProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def set(self, outage: Outage) -> None:
        self._call(self._switch(outage))

    def stop(self) -> None:
        self._call(self._switch(Outage.REFUSED))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> OutageProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self._host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _switch(self, outage: Outage) -> None:
        self.outage = outage
        if outage is not Outage.NONE:
            for writer in list(self._connections):  # an outage cuts what was in progress, streams included
                writer.transport.abort()
            self._connections.clear()
        if outage is Outage.REFUSED and self._server is not None:
            self._server.close()
            self._server = None
        elif outage is not Outage.REFUSED and self._server is None:
            await self._listen()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.outage is not Outage.NONE:
            with contextlib.suppress(Exception):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(_SERVICE_UNAVAILABLE)
                await writer.drain()
            writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self._host, self._target_port)
        except OSError:
            writer.transport.abort()
            return
        self._connections.update((writer, upstream_writer))
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        self._connections.difference_update((writer, upstream_writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


__all__ = ["OutageProxy"]
