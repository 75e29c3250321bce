"""Streamed responses: a response's event log as Server-Sent Events, live or replayed.

The same machinery as run streams (`simulator.streaming`): one coroutine per stream, which loops
under the store lock to advance the response and take the events logged since its cursor, then,
without the lock, sends them and sleeps until the response's next due transition (at most
`POLL_CAP_SECONDS`, so a cancel or a moved test clock is seen soon). A stream reads the response's
own log instead of a queue of its own, so a replay (`starting_after=N`) is a stream whose cursor
starts at N + 1. It ends once the response has ended and its events are sent (a cancelled response
has no event of its own: its stream just ends), or early, without an ending event, once the server
is stopping. Responses streams have no `[DONE]` sentinel.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator

import anyio

from batchrunner.simulator.events import StreamEvent
from batchrunner.simulator.responses import lifecycle
from batchrunner.simulator.responses.records import ResponseRecord
from batchrunner.simulator.state import Store
from batchrunner.simulator.streaming import POLL_CAP_SECONDS


class ResponseStream:
    """One open stream of a response: where it is in the response's event log."""

    def __init__(self, store: Store, record: ResponseRecord, cursor: int = 0) -> None:
        self.store = store
        self.record = record
        self.cursor = cursor
        self.closed = False

    def close(self) -> None:
        """Stop streaming (idempotent)."""
        self.closed = True

    def _poll(self) -> tuple[list[StreamEvent], bool, float]:
        """Under the lock: the events logged since the cursor, whether that is all, and how long to wait."""
        with self.store.lock:
            lifecycle.advance(self.store, self.record)
            events = self.record.events[self.cursor :]
            self.cursor += len(events)
            due = lifecycle.next_due(self.record)
            wait = POLL_CAP_SECONDS if due is None else due - self.store.now()
            ended = not self.record.active
        return events, ended, min(max(wait, 0.0), POLL_CAP_SECONDS)

    async def events(self, stopping: threading.Event | None = None) -> AsyncGenerator[bytes, None]:
        """The SSE bytes of the stream, one chunk per batch of events."""
        try:
            while not self.closed and (stopping is None or not stopping.is_set()):
                events, ended, wait = self._poll()
                if events:
                    yield b"".join(event.encode() for event in events)
                if ended:
                    return
                await anyio.sleep(wait)
        finally:
            self.close()
