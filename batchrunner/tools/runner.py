"""Run tool calls through their handlers and turn every possible ending into an output for the model.

``ToolRunner.run_all`` answers all the calls of one ``requires_action`` at once, because their outputs go
back in a single ``submit_tool_outputs`` request. Every call ends in exactly one ``ToolResult`` whose
``output`` is what the model is sent; ``run_all`` itself never raises for a bad call.

Outcomes, and what the model is sent:

==========================  ==================================================================================
``ok``                      the handler's ``str`` as is, or ``json.dumps`` of any other return value
``unknown_tool``            ``{"error": "unknown tool 'x': ..."}``; nothing is imported or called
``invalid_arguments``       ``{"error": ...}`` when the arguments are not a JSON object (blank arguments count
                            as ``{}``), or when the handler raised ``ToolInputError``
``error``                   ``{"error": "<ExceptionType>: <message>"}`` when the handler raised anything else;
                            no traceback, local variables or arguments, so secrets stay on the worker (the
                            traceback is logged there)
``timeout``                 ``{"error": "tool 'x' did not finish within N seconds"}``
``output_not_serialisable`` ``{"error": ...}`` naming the type; NaN and infinities count, as JSON has neither
``output_too_large``        the output cut to ``max_output_chars`` characters *including* the marker
                            ``"\\n[truncated: N characters, limit L]"``, which ends it
==========================  ==================================================================================

Error outputs are also kept within ``max_output_chars``. NUL and unpaired surrogates (which UTF-8 cannot
encode, so no request could carry them) are replaced by U+FFFD in outputs and errors alike.
``ToolResult.fail_job`` is true for every outcome but ``ok``: under the ``fail`` policy any of them fails
the job.

Timeouts: handlers run on a bounded ``ThreadPoolExecutor`` and the caller waits with ``future.result``. The
timeout counts from submission, so a call queued behind busy threads spends its timeout waiting, and
``run_all`` returns within about ``timeout_seconds`` however many calls it has. Python cannot kill a thread:
a handler that overruns keeps its thread until it returns, and its late result is thrown away. So a pool
whose every thread is held by such a handler is retired (``shutdown(wait=False, cancel_futures=True)``,
which fails its queued calls at once as timeouts) and replaced, rather than left to time out every call
after it. Retired threads still run to completion, and the interpreter waits for them at exit, so handlers
that may block should use their own timeouts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from batchrunner.metrics import TEXT_REPLACED
from batchrunner.storable_text import ReplacedIn, storable
from batchrunner.tools.protocol import ToolHandler, ToolInputError
from batchrunner.tools.registry import ToolRegistry

ToolOutcome = Literal[
    "ok",
    "error",
    "timeout",
    "unknown_tool",
    "invalid_arguments",
    "output_not_serialisable",
    "output_too_large",
]
ToolCall = tuple[str, str, str]
"""``(tool_call_id, function name, arguments JSON)``, as the run lists them."""

TRUNCATION_MARKER = "\n[truncated: {total} characters, limit {limit}]"
_MAX_ERROR_MESSAGE_CHARS = 2000

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolResult:
    """How one tool call ended, and the output sent back to the run for it."""

    tool_call_id: str
    name: str
    arguments: str
    output: str
    error: str | None
    outcome: ToolOutcome
    duration_seconds: float
    started_at: datetime

    @property
    def fail_job(self) -> bool:
        """Whether, under the ``fail`` tool error policy, this call fails its job."""
        return self.outcome != "ok"


@dataclass(frozen=True)
class _Ending:
    """What a call came to before it was stamped with its id and timing."""

    outcome: ToolOutcome
    output: str
    error: str | None = None


class ToolRunner:
    """Runs tool calls on a bounded thread pool with a timeout, an output limit and no leaking exceptions."""

    def __init__(
        self, registry: ToolRegistry, *, timeout_seconds: float, max_output_chars: int, max_workers: int = 4
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if max_output_chars < 1:
            raise ValueError("max_output_chars must be at least 1")
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._registry = registry
        self._timeout = timeout_seconds
        self._max_output_chars = max_output_chars
        self._max_workers = max_workers
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        self._overrunning = 0  # handlers of the current pool still running past their timeout
        self._closed = False

    @property
    def registry(self) -> ToolRegistry:
        return self._registry

    def names(self) -> list[str]:
        """The tool names this runner can answer, sorted."""
        return self._registry.names()

    def run(self, call_id: str, name: str, arguments_json: str) -> ToolResult:
        """Run one tool call; see the module docstring for every outcome."""
        return self.run_all([(call_id, name, arguments_json)])[0]

    def run_all(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Run the calls of one ``requires_action`` concurrently; results come back in the calls' order."""
        started_at = datetime.now(UTC)
        submitted = time.monotonic()
        deadline = submitted + self._timeout
        pending: dict[int, tuple[Future[_Timed], ThreadPoolExecutor]] = {}
        endings: dict[int, _Timed] = {}
        for index, (_call_id, name, arguments_json) in enumerate(calls):
            prepared = self._prepare(name, arguments_json)
            if isinstance(prepared, _Ending):
                endings[index] = _Timed(prepared, 0.0)
            else:
                pending[index] = self._submit(name, prepared)
        for index, (future, pool) in pending.items():
            endings[index] = self._await(calls[index][1], future, pool, deadline, submitted)
        return [self._result(calls[index], endings[index], started_at) for index in range(len(calls))]

    def _result(self, call: tuple[str, str, str], timed: _Timed, started_at: datetime) -> ToolResult:
        call_id, name, arguments_json = call
        error = timed.ending.error
        return ToolResult(
            tool_call_id=call_id,
            name=name,
            arguments=arguments_json,
            output=_sendable(_within_limit(timed.ending.output, self._max_output_chars)),
            error=None if error is None else _sendable(error),
            outcome=timed.ending.outcome,
            duration_seconds=timed.seconds,
            started_at=started_at,
        )

    def close(self) -> None:
        """Stop accepting calls and cancel queued ones; running handlers cannot be stopped, so they finish."""
        with self._lock:
            self._closed = True
            self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> ToolRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _prepare(self, name: str, arguments_json: str) -> _Ending | dict[str, Any]:
        """The parsed arguments of a call that can run, or how a call that cannot run ends."""
        if name not in self._registry:
            message = f"unknown tool {name!r}: no function with this name is available"
            return _Ending("unknown_tool", _error_json(message), message)
        try:
            arguments = _parse_arguments(arguments_json)
        except ValueError as exc:
            message = f"invalid arguments for tool {name!r}: {exc}"
            return _Ending("invalid_arguments", _error_json(message), message)
        return arguments

    def _submit(self, name: str, arguments: dict[str, Any]) -> tuple[Future[_Timed], ThreadPoolExecutor]:
        handler = self._registry.get(name)
        assert handler is not None
        with self._lock:
            if self._closed:
                raise RuntimeError("ToolRunner is closed")
            pool = self._pool
            return pool.submit(_call_handler, name, handler, arguments, self._max_output_chars), pool

    def _await(
        self, name: str, future: Future[_Timed], pool: ThreadPoolExecutor, deadline: float, submitted: float
    ) -> _Timed:
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except (FutureTimeout, CancelledError):
            self._abandon(future, pool)
            message = f"tool {name!r} did not finish within {self._timeout:g} seconds"
            return _Timed(_Ending("timeout", _error_json(message), message), time.monotonic() - submitted)

    def _abandon(self, future: Future[_Timed], pool: ThreadPoolExecutor) -> None:
        """Give up on a timed-out call; retire its pool if overrunning handlers now hold every thread."""
        if future.cancel() or future.done():
            return  # it never started or has just finished, so it holds no thread
        with self._lock:
            if pool is not self._pool or self._closed:
                return
            self._overrunning += 1
            if self._overrunning >= self._max_workers:
                logger.warning(
                    "all %d tool threads are held by handlers past their timeout; starting a new pool",
                    self._max_workers,
                )
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                self._overrunning = 0
        # Outside the lock: the callback runs at once, in this thread, if the handler has returned meanwhile.
        future.add_done_callback(lambda _: self._handler_returned(pool))

    def _handler_returned(self, pool: ThreadPoolExecutor) -> None:
        with self._lock:
            if pool is self._pool:
                self._overrunning -= 1

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="batchrunner-tool")


@dataclass(frozen=True)
class _Timed:
    ending: _Ending
    seconds: float


def _sendable(text: str) -> str:
    """``text`` with NUL and unpaired surrogates replaced: the latter cannot be encoded to send at all,
    and what is sent is what is stored (``batchrunner.storable_text``)."""
    cleaned, replaced = storable(text)
    if replaced:
        TEXT_REPLACED.labels(where=ReplacedIn.TOOL).inc(replaced)
    return cleaned


def _call_handler(name: str, handler: ToolHandler, arguments: dict[str, Any], max_output_chars: int) -> _Timed:
    """Run one handler on a pool thread and classify how it ended; never raises."""
    started = time.monotonic()
    try:
        value = handler(arguments)
    except ToolInputError as exc:
        message = _describe(exc)
        return _Timed(_Ending("invalid_arguments", _error_json(message), message), time.monotonic() - started)
    except BaseException as exc:  # SystemExit too: a handler must never end the worker thread
        seconds = time.monotonic() - started
        logger.warning("tool handler %r raised", name, exc_info=exc)
        message = _describe(exc)
        return _Timed(_Ending("error", _error_json(message), message), seconds)
    seconds = time.monotonic() - started
    if isinstance(value, str):
        output = value
    else:
        try:
            output = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except Exception as exc:  # TypeError, ValueError for NaN or cycles, or a container that raises
            message = f"tool {name!r} returned output that is not JSON-serialisable: {_describe(exc)}"
            return _Timed(_Ending("output_not_serialisable", _error_json(message), message), seconds)
    if len(output) > max_output_chars:
        message = f"tool {name!r} returned {len(output)} characters; the limit is {max_output_chars}"
        return _Timed(_Ending("output_too_large", _truncate(output, max_output_chars), message), seconds)
    return _Timed(_Ending("ok", output), seconds)


def _parse_arguments(arguments_json: str) -> dict[str, Any]:
    if not isinstance(arguments_json, str):
        raise ValueError(f"expected a JSON object as a string, got {type(arguments_json).__name__}")
    if not arguments_json.strip():
        return {}  # some models send "" for a function without parameters
    try:
        arguments = json.loads(arguments_json, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(arguments, dict):
        raise ValueError(f"expected a JSON object, got {_json_type(arguments)}")
    return arguments


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not valid JSON ({name} is not a JSON number)")


def _describe(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:
        message = "(the exception's message could not be read)"
    if len(message) > _MAX_ERROR_MESSAGE_CHARS:
        message = message[:_MAX_ERROR_MESSAGE_CHARS] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _error_json(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)


def _within_limit(output: str, limit: int) -> str:
    return _truncate(output, limit) if len(output) > limit else output


def _truncate(output: str, limit: int) -> str:
    marker = TRUNCATION_MARKER.format(total=len(output), limit=limit)
    return (output[: max(0, limit - len(marker))] + marker)[:limit]


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
