"""Streamed runs: one asyncio thread holds many open run streams and says when a run needs a worker.

A worker thread never waits on a stream (DESIGN principle 2). ``open`` sends a request with
``"stream": true`` and returns as soon as its first run event arrives, like a plain create. The stream
stays open on this module's event loop; once the job's run id is committed, ``follow`` asks for the job
to be handed back (``on_settled``) when the stream shows the run ended or needs tool outputs, or when
the stream breaks. Polling is then one request instead of one every poll interval. Until then the job
keeps a fallback wake-up in the database and the broker, so a lost stream or a dead process costs
latency, never a job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from batchrunner.api.errors import ApiError, TransientError
from batchrunner.api.models import ApiResponse
from batchrunner.api.pipeline import PipelineSteps, RequestRecord, path_of, response_meta
from batchrunner.api.sse import EventParser
from batchrunner.backend.assistants.client import ASSISTANTS_HEADERS
from batchrunner.backend.assistants.models import Run

log = logging.getLogger(__name__)

# A run stream goes quiet while the model works; one silent for this long is taken as lost.
DEFAULT_IDLE_TIMEOUT_S = 600.0
# Statuses after which the stream has nothing more to say until a worker acts.
_HANDS_BACK = frozenset({"requires_action", "completed", "failed", "cancelled", "expired", "incomplete"})
# How long a settled stream's run id is remembered for a ``follow`` that comes late.
_UNCLAIMED_TTL_S = 600.0

Settled = Callable[[int, str], None]


class RunStreams:
    """Open run streams of one API server, held on a dedicated event-loop thread."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        max_streams: int,
        on_settled: Settled,
        timeout: float = 30.0,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
        on_response: Callable[[RequestRecord], None] | None = None,
        on_open_count: Callable[[int], None] | None = None,
    ) -> None:
        if max_streams < 1:
            raise ValueError(f"max_streams must be at least 1, got {max_streams}")
        self._max_streams = max_streams
        self._timeout = timeout
        self._on_settled = on_settled
        self._on_open_count = on_open_count
        self._steps = PipelineSteps(base_url, api_key, on_response=on_response, default_headers=ASSISTANTS_HEADERS)
        self._lock = threading.Lock()
        self._open = 0
        self._closed = False
        self._streaming: set[str] = set()
        self._followers: dict[str, int] = {}
        self._unclaimed: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._callbacks = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-streams-cb")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="run-streams", daemon=True)
        self._thread.start()
        limits = httpx.Limits(max_connections=max_streams, max_keepalive_connections=min(max_streams, 32))
        stream_timeout = httpx.Timeout(timeout, read=idle_timeout)
        self._http = httpx.AsyncClient(
            base_url=self._steps.url,
            headers=self._steps.headers({"Accept": "text/event-stream"}),
            timeout=stream_timeout,
            limits=limits,
            transport=transport,
            follow_redirects=False,
        )

    @property
    def open_count(self) -> int:
        with self._lock:
            return self._open

    def open(self, template: str, ids: dict[str, str], body: dict[str, Any]) -> ApiResponse[Run] | None:
        """Send ``body`` with ``stream: true``; return the run its first event shows.

        None when every stream is taken (the caller sends a plain request). Failures are raised as
        ``ApiError`` exactly like the plain request's; a stream that ends before any run event raises a
        ``TransientError`` (the server may or may not have acted).
        """
        with self._lock:
            if self._closed or self._open >= self._max_streams:
                return None
            self._count_open(+1)
        first: concurrent.futures.Future[ApiResponse[Run]] = concurrent.futures.Future()
        path = path_of(template, ids)
        asyncio.run_coroutine_threadsafe(self._start(template, path, {**body, "stream": True}, first), self._loop)
        try:
            return first.result(timeout=self._timeout + 5.0)
        except concurrent.futures.TimeoutError:
            first.cancel()
            raise TransientError(
                f"no event within {self._timeout:.0f}s of opening the stream", endpoint=template, method="POST"
            ) from None

    def follow(self, run_id: str, job_id: int) -> bool:
        """Hand ``job_id`` back through ``on_settled`` when run ``run_id``'s stream settles.

        False when the stream has already settled (or is gone): the caller should look at the run now.
        """
        with self._lock:
            if self._unclaimed.pop(run_id, None) is not None or run_id not in self._streaming:
                return False
            self._followers[run_id] = job_id
            return True

    def is_following(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._followers

    def close(self) -> None:
        """Drop every open stream (their jobs keep their fallback wake-ups) and stop the loop thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        except Exception:  # closing is best effort: the loop thread is a daemon
            log.warning("run streams did not shut down cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._callbacks.shutdown(wait=False)

    # -- the event loop's side --------------------------------------------------------------------

    async def _start(
        self, template: str, path: str, body: dict[str, Any], first: concurrent.futures.Future[ApiResponse[Run]]
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        run_id: str | None = None
        try:
            run_id = await self._read(template, path, body, first)
        except asyncio.CancelledError:
            _resolve(first, TransientError("stream closed by shutdown", endpoint=template, method="POST"))
            return
        except Exception:  # never let a stream's failure go unnoticed: the job falls back to polling
            log.exception("run stream %s failed", template)
        finally:
            self._tasks.discard(task)
            with self._lock:
                self._count_open(-1)
            _resolve(first, TransientError("stream ended before any run event", endpoint=template, method="POST"))
        if run_id is not None:
            self._settle(run_id)

    async def _read(
        self, template: str, path: str, body: dict[str, Any], first: concurrent.futures.Future[ApiResponse[Run]]
    ) -> str | None:
        """Follow one stream; return its run id (None if no run event came)."""
        started = time.perf_counter()
        run_id: str | None = None
        failure: ApiError | None = None
        steps = self._steps
        try:
            async with self._http.stream("POST", path, json=body) as response:
                steps.report(template, "POST", response.status_code, started)
                if not response.is_success:
                    await response.aread()
                    failure = steps.reply_failure(response, template, "POST")
                    return None
                meta = response_meta(response)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    # A server that ignores ``stream`` answers with the run itself: nothing to follow.
                    await response.aread()
                    parsed = steps.parse(response, Run, template, "POST")
                    if isinstance(parsed, ApiError):
                        failure = parsed
                    else:
                        _resolve(first, ApiResponse(data=parsed, meta=meta))
                    return None
                parser = EventParser()
                async for line in response.aiter_lines():
                    event = parser.feed(line)
                    if event is None:
                        continue
                    if event.name in ("done", "error"):
                        break
                    if not event.name.startswith("thread.run.") or event.name.startswith("thread.run.step."):
                        continue
                    run = steps.parse(response, Run, template, "POST", text=event.data, what=f"event {event.name}")
                    if isinstance(run, ApiError):
                        failure = run
                        break
                    if run_id is None:
                        run_id = run.id
                        with self._lock:
                            self._streaming.add(run_id)
                        _resolve(first, ApiResponse(data=run, meta=meta))
                    if str(run.status) in _HANDS_BACK:
                        break
        except httpx.HTTPError as exc:
            if run_id is None and isinstance(exc, httpx.TransportError):
                steps.report(template, "POST", None, started)
            failure = steps.http_failure(exc, template, "POST", what="stream")
        finally:
            if failure is not None:
                _resolve(first, steps.redacted(failure))
                if run_id is not None:
                    log.info("stream of run %s broke (%s); its job polls instead", run_id, failure.message)
        return run_id

    def _settle(self, run_id: str) -> None:
        with self._lock:
            self._streaming.discard(run_id)
            if self._closed:
                return
            job_id = self._followers.pop(run_id, None)
            if job_id is None:
                now = time.monotonic()
                self._unclaimed[run_id] = now
                for stale in [key for key, at in self._unclaimed.items() if now - at > _UNCLAIMED_TTL_S]:
                    del self._unclaimed[stale]
                return
        self._callbacks.submit(self._notify, job_id, run_id)

    def _notify(self, job_id: int, run_id: str) -> None:
        try:
            self._on_settled(job_id, run_id)
        except Exception:  # the job's fallback wake-up still comes
            log.warning(
                "could not wake job %s for run %s; it waits for its fallback wake-up", job_id, run_id, exc_info=True
            )

    async def _shutdown(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._http.aclose()
        await asyncio.get_running_loop().shutdown_asyncgens()

    def _count_open(self, change: int) -> None:
        """Under the lock, so reports reach ``on_open_count`` in order."""
        self._open += change
        if self._on_open_count is not None:
            self._on_open_count(self._open)


def _resolve(future: concurrent.futures.Future[ApiResponse[Run]], outcome: ApiResponse[Run] | ApiError) -> None:
    """Settle ``future`` once; later outcomes (and a caller that gave up) are ignored."""
    if future.done():
        return
    try:
        if isinstance(outcome, ApiError):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except concurrent.futures.InvalidStateError:
        pass


__all__ = ["DEFAULT_IDLE_TIMEOUT_S", "RunStreams", "Settled"]
