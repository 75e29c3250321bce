"""Streamed runs (`"stream": true`): a run's events as Server-Sent Events.

The handler that creates (or resumes) the run attaches an `EventQueue` to it under the store lock,
so the stream misses nothing from the first event on. The response then loops: under the lock,
advance the run to now and take the queued events; without the lock, send them, and sleep until the
run's next due transition, at most `POLL_CAP_SECONDS`, so a cancel by another request or a moved
test clock is seen soon. The stream ends after the event of a terminal status or of
`requires_action`, with `event: done`, or early (without `done`, like a dropped connection) once
the server is stopping. A stream is one coroutine and a queue: no thread, no task of its own beyond
the ones the server gives every response.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Mapping
from typing import Protocol

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from batchrunner.simulator import lifecycle
from batchrunner.simulator.events import DONE_EVENT, EventQueue, StreamEvent
from batchrunner.simulator.records import Run
from batchrunner.simulator.state import Store

POLL_CAP_SECONDS = 0.25


class RunStream:
    """One open stream of a run: the queue it reads, and how to read and release it."""

    def __init__(self, store: Store, run: Run, queue: EventQueue) -> None:
        self.store = store
        self.run = run
        self.queue = queue

    def close(self) -> None:
        """Stop listening to the run (idempotent)."""
        with self.store.lock:
            self.run.listeners[:] = [queue for queue in self.run.listeners if queue is not self.queue]

    def _poll(self) -> tuple[list[StreamEvent], bool, float]:
        """Under the lock: the events due by now, whether the queue still listens, and how long to wait."""
        with self.store.lock:
            lifecycle.advance(self.store, self.run)
            events = self.queue.drain()
            listening = any(queue is self.queue for queue in self.run.listeners)
            due = lifecycle.next_due(self.run)
            wait = POLL_CAP_SECONDS if due is None else due - self.store.now()
        return events, listening, min(max(wait, 0.0), POLL_CAP_SECONDS)

    async def events(self, stopping: threading.Event | None = None) -> AsyncGenerator[bytes, None]:
        """The SSE bytes of the stream, one chunk per batch of events, ending with `done`.

        Once `stopping` is set the stream ends at its next poll, without `done`.
        """
        try:
            while stopping is None or not stopping.is_set():
                events, listening, wait = self._poll()
                chunks: list[bytes] = []
                for event in events:
                    chunks.append(event.encode())
                    if event.ends_stream:
                        chunks.append(DONE_EVENT)
                        break
                if chunks:
                    yield b"".join(chunks)
                if chunks[-1:] == [DONE_EVENT]:
                    return
                if not listening:  # released without an ending event: end as a broken stream would
                    return
                await anyio.sleep(wait)
        finally:
            self.close()


class EventSource(Protocol):
    """A stream an `EventStreamResponse` sends: its encoded events, and a way to release it."""

    def events(self, stopping: threading.Event | None = None) -> AsyncGenerator[bytes, None]: ...

    def close(self) -> None: ...


class EventStreamResponse(StreamingResponse):
    """A `text/event-stream` response of one run stream, released however the response ends.

    A client that disconnects cancels the response (Starlette watches for `http.disconnect`); the
    generator is then closed here and the run forgets its queue.
    """

    media_type = "text/event-stream"

    def __init__(
        self, stream: EventSource, headers: Mapping[str, str], stopping: threading.Event | None = None
    ) -> None:
        self._stream = stream
        self._events = stream.events(stopping)
        super().__init__(self._events, headers={**headers, "cache-control": "no-cache"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._events.aclose()
            self._stream.close()
