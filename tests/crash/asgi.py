"""ASGI middleware the crash tests put in front of the simulator: to watch requests, or to hold some back."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from dataclasses import dataclass, field

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CREATE_RUN = re.compile(r"^/v1/threads/(?P<thread>[^/]+)/runs$")


@dataclass
class SeenHeaders:
    """The values of one request header the simulator received, counted."""

    name: bytes
    values: Counter[str] = field(default_factory=Counter)


class RecordHeader:
    """Counts the values of ``seen.name`` on every request (proves what clients really sent)."""

    def __init__(self, app: ASGIApp, seen: SeenHeaders) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == self.seen.name:
                    self.seen.values[value.decode("latin-1")] += 1
        await self.app(scope, receive, send)


@dataclass
class HeldRequests:
    """How long ``HoldFirstRunCreation`` holds requests, and what it held so far."""

    delay_s: float
    threads: set[str] = field(default_factory=set)
    held: int = 0
    served: int = 0


class HoldFirstRunCreation:
    """Serves each thread's first create-run request only ``held.delay_s`` after it arrived.

    The request is read at once and replayed to the simulator later, as when a request sits in a
    load balancer's queue: a client with a shorter timeout gives up, yet the server still creates the run.
    """

    def __init__(self, app: ASGIApp, held: HeldRequests) -> None:
        self.app = app
        self.state = held

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _CREATE_RUN.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope["method"] != "POST" or match["thread"] in self.state.threads:
            await self.app(scope, receive, send)
            return
        self.state.threads.add(match["thread"])
        body = await _read_body(receive)
        self.state.held += 1
        await anyio.sleep(self.state.delay_s)
        self.state.served += 1
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send_if_connected(message: Message) -> None:
            with contextlib.suppress(OSError):  # the client is long gone; the work is done all the same
                await send(message)

        await self.app(scope, replay, send_if_connected)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
