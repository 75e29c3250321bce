"""Streamed API objects: one asyncio thread holds many open streams and says when an object needs a worker.

A worker thread never waits on a stream (DESIGN principle 2). ``open`` sends a request with
``"stream": true`` and returns as soon as its first object event arrives, like a plain create. The
stream stays open on this module's event loop; once the job's object id is committed, ``follow`` asks
for the job to be handed back (``on_settled``) when the stream shows the object ended or needs tool
outputs, or when the stream breaks. Polling is then one request instead of one every poll interval.
Until then the job keeps a fallback wake-up in the database and the broker, so a lost stream or a
dead process costs latency, never a job.

What an event means belongs to each backend: a ``StreamDialect`` reads one stream's lines into
``StreamUpdate``s (an Assistants run stream, a Responses response stream). The object a stream's
hand-back showed is kept (``Kept``, with what else the stream showed: an Assistants run's steps and
messages), so the look that follows the hand-back costs no request in the process that held the
stream (``take_kept``). A final object can change no more, so its copy answers any look. A copy of
one waiting for the worker (a run in ``requires_action``) answers only the look of the round it was
followed for (``round_key``): once another process has answered that round, it is stale.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import httpx

from batchrunner.api.errors import ApiError, TransientError, invalid_response_error
from batchrunner.api.models import ApiModel, ApiResponse, ResponseMeta
from batchrunner.api.pipeline import PipelineSteps, RequestRecord, path_of, response_meta

log = logging.getLogger(__name__)

# A stream goes quiet while the model works; one silent for this long is taken as lost.
DEFAULT_IDLE_TIMEOUT_S = 600.0
# How long a settled stream's object id (and its ended object) is remembered for a late ``follow``/look.
_UNCLAIMED_TTL_S = 600.0

ModelT = TypeVar("ModelT", bound=ApiModel)
Settled = Callable[[int, str], None]


class InvalidStreamEvent(ValueError):
    """An event whose data is not what the API promises (not JSON, or no valid object)."""

    def __init__(self, event_type: str, problem: str) -> None:
        super().__init__(f"stream event {event_type}: {problem}")
        self.event_type = event_type
        self.problem = problem


@dataclass(frozen=True)
class StreamUpdate(Generic[ModelT]):
    """What one event of a stream says: the object as it stands now (if it shows one), and whether
    the stream has nothing more to say (its ``done`` or ``error`` event)."""

    obj: ModelT | None
    ends: bool = False


class StreamReader(Protocol[ModelT]):
    def feed(self, line: str) -> StreamUpdate[ModelT] | None:
        """One line without its line ending; raises ``InvalidStreamEvent`` for a broken object event."""
        ...

    def seen(self) -> Any:
        """What the stream showed besides its object so far (None when the dialect keeps nothing else)."""
        ...


@dataclass(frozen=True)
class Kept(Generic[ModelT]):
    """The object a stream's hand-back showed, and what else the stream showed (its reader's ``seen``)."""

    obj: ModelT
    seen: Any
    final: bool


@dataclass
class _KeptEntry:
    kept_at: float
    kept: Kept[Any]
    round_key: str | None = None


class StreamDialect(Protocol[ModelT]):
    """One backend's streams: headers, the model of a plain answer, and what its events mean."""

    model: type[ModelT]
    headers: Mapping[str, str]

    def reader(self) -> StreamReader[ModelT]: ...

    def object_id(self, obj: ModelT) -> str: ...

    def hands_back(self, obj: ModelT) -> bool:
        """The stream has nothing more to say until a worker acts (ended, or waiting for tool outputs)."""
        ...

    def ended(self, obj: ModelT) -> bool:
        """The object reached a final status: it can change no more, so a copy of it stays true."""
        ...

    def keepable(self, obj: ModelT) -> bool:
        """A copy of the object as a hand-back showed it answers the next look (it is whole)."""
        ...


class ObjectStreams:
    """Open object streams of one API server, held on a dedicated event-loop thread."""

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
        self._steps = PipelineSteps(base_url, api_key, on_response=on_response)
        self._lock = threading.Lock()
        self._open = 0
        self._closed = False
        self._streaming: set[str] = set()
        # Object id -> (job id, round key) of the job waiting for the stream to settle.
        self._followers: dict[str, tuple[int, str | None]] = {}
        self._unclaimed: dict[str, float] = {}
        # Objects as their streams' hand-backs showed them, oldest first.
        self._kept: OrderedDict[str, _KeptEntry] = OrderedDict()
        self._max_kept = 4 * max_streams
        self._tasks: set[asyncio.Task[None]] = set()
        self._callbacks = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="streams-cb")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="object-streams", daemon=True)
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

    def open(
        self, dialect: StreamDialect[ModelT], template: str, ids: dict[str, str], body: dict[str, Any]
    ) -> ApiResponse[ModelT] | None:
        """Send ``body`` with ``stream: true``; return the object its first event shows.

        None when every stream is taken (the caller sends a plain request). Failures are raised as
        ``ApiError`` exactly like the plain request's; a stream that ends before any object event
        raises a ``TransientError`` (the server may or may not have acted).
        """
        with self._lock:
            if self._closed or self._open >= self._max_streams:
                return None
            self._count_open(+1)
        first: concurrent.futures.Future[ApiResponse[ModelT]] = concurrent.futures.Future()
        path = path_of(template, ids)
        stream = self._start(dialect, template, path, {**body, "stream": True}, first)
        asyncio.run_coroutine_threadsafe(stream, self._loop)
        try:
            return first.result(timeout=self._timeout + 5.0)
        except concurrent.futures.TimeoutError:
            first.cancel()
            raise TransientError(
                f"no event within {self._timeout:.0f}s of opening the stream", endpoint=template, method="POST"
            ) from None

    def follow(self, object_id: str, job_id: int, round_key: str | None = None) -> bool:
        """Hand ``job_id`` back through ``on_settled`` when object ``object_id``'s stream settles.

        ``round_key`` names the job's round the stream was followed for: a kept copy of an object that
        waits for the worker answers only a look with the same key. False when the stream has already
        settled (or is gone): the caller should look at the object now.
        """
        with self._lock:
            if (entry := self._kept.get(object_id)) is not None:
                entry.round_key = round_key  # kept by the newest stream of the object: the one followed
            if self._unclaimed.pop(object_id, None) is not None or object_id not in self._streaming:
                return False
            self._followers[object_id] = (job_id, round_key)
            return True

    def is_following(self, object_id: str) -> bool:
        with self._lock:
            return object_id in self._followers

    def holds_kept(self, object_id: str, round_key: str | None = None) -> bool:
        """Whether ``take_kept`` would give the object (so a look at it costs no request)."""
        with self._lock:
            entry = self._kept.get(object_id)
            return entry is not None and _answers(entry, round_key)

    def take_kept(self, object_id: str, round_key: str | None = None) -> Kept[Any] | None:
        """What a stream of this process last showed of ``object_id`` (once) if it answers this look, else None."""
        with self._lock:
            entry = self._kept.pop(object_id, None)
        return entry.kept if entry is not None and _answers(entry, round_key) else None

    def close(self) -> None:
        """Drop every open stream (their jobs keep their fallback wake-ups) and stop the loop thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        except Exception:  # closing is best effort: the loop thread is a daemon
            log.warning("object streams did not shut down cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._callbacks.shutdown(wait=False)

    # -- the event loop's side --------------------------------------------------------------------

    async def _start(
        self,
        dialect: StreamDialect[ModelT],
        template: str,
        path: str,
        body: dict[str, Any],
        first: concurrent.futures.Future[ApiResponse[ModelT]],
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        object_id: str | None = None
        try:
            object_id = await self._read(dialect, template, path, body, first)
        except asyncio.CancelledError:
            _resolve(first, TransientError("stream closed by shutdown", endpoint=template, method="POST"))
            return
        except Exception:  # never let a stream's failure go unnoticed: the job falls back to polling
            log.exception("stream %s failed", template)
        finally:
            self._tasks.discard(task)
            with self._lock:
                self._count_open(-1)
            _resolve(first, TransientError("stream ended before any object event", endpoint=template, method="POST"))
        if object_id is not None:
            self._settle(object_id)

    async def _read(
        self,
        dialect: StreamDialect[ModelT],
        template: str,
        path: str,
        body: dict[str, Any],
        first: concurrent.futures.Future[ApiResponse[ModelT]],
    ) -> str | None:
        """Follow one stream; return its object's id (None if no object event came)."""
        started = time.perf_counter()
        object_id: str | None = None
        failure: ApiError | None = None
        steps = self._steps
        try:
            async with self._http.stream("POST", path, json=body, headers=dialect.headers) as response:
                steps.report(template, "POST", response.status_code, started)
                if not response.is_success:
                    await response.aread()
                    failure = steps.reply_failure(response, template, "POST")
                    return None
                meta = response_meta(response)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    # A server that ignores ``stream`` answers with the object itself: nothing to follow.
                    await response.aread()
                    parsed = steps.parse(response, dialect.model, template, "POST")
                    if isinstance(parsed, ApiError):
                        failure = parsed
                    else:
                        _resolve(first, ApiResponse(data=parsed, meta=meta))
                    return None
                reader = dialect.reader()
                async for line in response.aiter_lines():
                    try:
                        update = reader.feed(line)
                    except InvalidStreamEvent as exc:
                        failure = invalid_response_error(response, str(exc), endpoint=template, method="POST")
                        break
                    if update is None:
                        continue
                    obj = update.obj
                    if obj is not None:
                        if object_id is None:
                            object_id = dialect.object_id(obj)
                            with self._lock:
                                self._streaming.add(object_id)
                                # A copy an earlier stream of the object kept is older than anything this one shows.
                                self._kept.pop(object_id, None)
                            _resolve(first, ApiResponse(data=obj, meta=meta))
                        if dialect.hands_back(obj):
                            if dialect.keepable(obj):
                                self._keep(object_id, Kept(obj, reader.seen(), final=dialect.ended(obj)))
                            break
                    if update.ends:
                        break
        except httpx.HTTPError as exc:
            if object_id is None and isinstance(exc, httpx.TransportError):
                steps.report(template, "POST", None, started)
            failure = steps.http_failure(exc, template, "POST", what="stream")
        finally:
            if failure is not None:
                _resolve(first, steps.redacted(failure))
                if object_id is not None:
                    log.info("stream of %s broke (%s); its job polls instead", object_id, failure.message)
        return object_id

    def _keep(self, object_id: str, kept: Kept[Any]) -> None:
        now = time.monotonic()
        with self._lock:
            self._kept[object_id] = _KeptEntry(now, kept)
            self._kept.move_to_end(object_id)
            while self._kept:
                oldest_id, oldest = next(iter(self._kept.items()))
                if len(self._kept) <= self._max_kept and now - oldest.kept_at <= _UNCLAIMED_TTL_S:
                    break
                del self._kept[oldest_id]

    def _settle(self, object_id: str) -> None:
        with self._lock:
            self._streaming.discard(object_id)
            if self._closed:
                return
            follower = self._followers.pop(object_id, None)
            entry = self._kept.get(object_id)
            if entry is not None and follower is not None:
                entry.round_key = follower[1]
            if follower is None:
                now = time.monotonic()
                self._unclaimed[object_id] = now
                for stale in [key for key, at in self._unclaimed.items() if now - at > _UNCLAIMED_TTL_S]:
                    del self._unclaimed[stale]
                return
        self._callbacks.submit(self._notify, follower[0], object_id)

    def _notify(self, job_id: int, object_id: str) -> None:
        try:
            self._on_settled(job_id, object_id)
        except Exception:  # the job's fallback wake-up still comes
            log.warning(
                "could not wake job %s for %s; it waits for its fallback wake-up", job_id, object_id, exc_info=True
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


class DialectStreams(Generic[ModelT]):
    """One backend's side of the shared streams (its dialect fixed); with no streams, every open is None."""

    def __init__(self, streams: ObjectStreams | None, dialect: StreamDialect[ModelT]) -> None:
        self._streams = streams
        self._dialect = dialect

    def open(self, template: str, ids: dict[str, str], body: dict[str, Any]) -> ApiResponse[ModelT] | None:
        """The object a streamed request shows, or None when no stream is free (send a plain request)."""
        return self._streams.open(self._dialect, template, ids, body) if self._streams is not None else None

    def follow(self, object_id: str, job_id: int, round_key: str | None = None) -> bool:
        return self._streams is not None and self._streams.follow(object_id, job_id, round_key)

    def is_following(self, object_id: str) -> bool:
        return self._streams is not None and self._streams.is_following(object_id)

    def holds_kept(self, object_id: str, round_key: str | None = None) -> bool:
        return self._streams is not None and self._streams.holds_kept(object_id, round_key)

    def take_kept(self, object_id: str, round_key: str | None = None) -> tuple[ApiResponse[ModelT], Any] | None:
        """The object a stream showed, as an answer with no headers (the budget learns nothing new), and
        what else that stream showed."""
        kept = self._streams.take_kept(object_id, round_key) if self._streams is not None else None
        if kept is None or not isinstance(kept.obj, self._dialect.model):
            return None
        return ApiResponse(data=kept.obj, meta=ResponseMeta(status_code=200)), kept.seen


def _answers(entry: _KeptEntry, round_key: str | None) -> bool:
    """A final copy answers any look; a waiting one only the look of the round it was followed for."""
    return entry.kept.final or (round_key is not None and entry.round_key == round_key)


def _resolve(future: concurrent.futures.Future[ApiResponse[ModelT]], outcome: ApiResponse[ModelT] | ApiError) -> None:
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


__all__ = [
    "DEFAULT_IDLE_TIMEOUT_S",
    "DialectStreams",
    "InvalidStreamEvent",
    "Kept",
    "ObjectStreams",
    "Settled",
    "StreamDialect",
    "StreamReader",
    "StreamUpdate",
]
