"""ToolRunner: every outcome of a tool call, timeouts, output limits and concurrent calls."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pytest

from batchrunner.testing.tools import registry_of
from batchrunner.tools import ToolHandler, ToolInputError, ToolOutcome, ToolResult, ToolRunner

SLOW_TIMEOUT = 0.2


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event that blocked handlers wait on; set at teardown so no test leaves a thread behind."""
    event = threading.Event()
    yield event
    event.set()


def make_runner(
    handlers: dict[str, ToolHandler],
    *,
    timeout: float = 2.0,
    max_output_chars: int = 1000,
    max_workers: int = 4,
) -> ToolRunner:
    registry = registry_of(handlers)
    return ToolRunner(registry, timeout_seconds=timeout, max_output_chars=max_output_chars, max_workers=max_workers)


def echo(arguments: dict[str, Any], /) -> dict[str, Any]:
    return {"echo": arguments}


def error_of(result: ToolResult) -> str:
    decoded = json.loads(result.output)
    assert set(decoded) == {"error"}
    return str(decoded["error"])


def test_ok_json_value() -> None:
    """A returned value is sent as its JSON; the result records id, name, arguments and timing."""
    arguments = json.dumps({"city": "Zürich", "days": [1, 2]})
    before = datetime.now(UTC)
    with make_runner({"echo": echo}) as runner:
        result = runner.run("call_1", "echo", arguments)
    assert result.outcome == "ok" and result.error is None and not result.fail_job
    assert json.loads(result.output) == {"echo": json.loads(arguments)}
    assert "Zürich" in result.output  # not \u-escaped: the limit counts characters the model reads
    assert (result.tool_call_id, result.name, result.arguments) == ("call_1", "echo", arguments)
    assert before <= result.started_at <= datetime.now(UTC)
    assert result.started_at.tzinfo is not None and result.started_at.utcoffset() == timedelta(0)


def test_ok_string_is_sent_as_is() -> None:
    """A returned str is the output verbatim, not JSON-encoded."""
    with make_runner({"plain": lambda arguments: 'plain text, "quoted"'}) as runner:
        result = runner.run("c", "plain", "{}")
    assert (result.outcome, result.output) == ("ok", 'plain text, "quoted"')


def test_duration_measures_the_handler() -> None:
    """duration_seconds covers the handler's running time."""

    def nap(arguments: dict[str, Any], /) -> str:
        time.sleep(0.1)
        return "done"

    with make_runner({"nap": nap}) as runner:
        result = runner.run("c", "nap", "{}")
    assert result.outcome == "ok"
    assert 0.1 <= result.duration_seconds < 1.0


def test_unknown_tool_is_reported_without_importing_anything() -> None:
    """A name with no handler ends unknown_tool, tells the model so, and imports nothing named by it."""
    names = ["json_tools_never_imported", "os.system", "batchrunner.tools.builtin:calculate"]
    with make_runner({"echo": echo}) as runner:
        results = runner.run_all([(f"c{index}", name, "{}") for index, name in enumerate(names)])
    for name, result in zip(names, results, strict=True):
        assert result.outcome == "unknown_tool" and result.fail_job
        assert f"unknown tool {name!r}" in error_of(result)
        assert result.error is not None and "unknown tool" in result.error
    assert "json_tools_never_imported" not in sys.modules


@pytest.mark.parametrize(
    ("arguments_json", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"a": 1', "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got an array"),
        ('"text"', "expected a JSON object, got a string"),
        ("null", "expected a JSON object, got null"),
        ("3", "expected a JSON object, got a number"),
        ("true", "expected a JSON object, got a boolean"),
        ('{"x": NaN}', "NaN is not a JSON number"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_arguments_that_are_not_a_json_object(arguments_json: str, message: str) -> None:
    """Arguments that are not a JSON object end invalid_arguments and the handler is never called."""
    calls: list[dict[str, Any]] = []
    with make_runner({"echo": lambda arguments: calls.append(arguments)}) as runner:
        result = runner.run("c", "echo", arguments_json)
    assert result.outcome == "invalid_arguments" and result.fail_job
    assert message in error_of(result)
    assert calls == []


@pytest.mark.parametrize("arguments_json", ["", "  \n"])
def test_blank_arguments_mean_no_arguments(arguments_json: str) -> None:
    """Blank arguments, which models send for parameterless functions, reach the handler as {}."""
    with make_runner({"echo": echo}) as runner:
        result = runner.run("c", "echo", arguments_json)
    assert (result.outcome, json.loads(result.output)) == ("ok", {"echo": {}})


def test_tool_input_error_is_invalid_arguments() -> None:
    """A handler raising ToolInputError ends invalid_arguments with its message for the model."""

    def picky(arguments: dict[str, Any], /) -> str:
        raise ToolInputError("'count' must be a positive integer")

    with make_runner({"picky": picky}) as runner:
        result = runner.run("c", "picky", '{"count": -1}')
    assert result.outcome == "invalid_arguments" and result.fail_job
    assert error_of(result) == "ToolInputError: 'count' must be a positive integer"


def test_raising_handler_sends_only_type_and_message(caplog: pytest.LogCaptureFixture) -> None:
    """A raising handler ends error; its output holds the exception type and message and nothing else."""

    def leaky(arguments: dict[str, Any], /) -> str:
        api_key = "sk-secret-in-a-local"
        try:
            raise ConnectionError(f"database password hunter2 rejected ({len(api_key)})")
        except ConnectionError as inner:
            raise RuntimeError("lookup failed") from inner

    caplog.set_level(logging.WARNING, logger="batchrunner.tools.runner")
    with make_runner({"leaky": leaky}) as runner:
        result = runner.run("c", "leaky", '{"query": "x"}')
    assert result.outcome == "error" and result.fail_job
    assert json.loads(result.output) == {"error": "RuntimeError: lookup failed"}
    assert result.error == "RuntimeError: lookup failed"
    for secret in ("sk-secret", "hunter2", "Traceback"):
        assert secret not in result.output
    assert any(record.exc_info for record in caplog.records), "the traceback is logged on the worker"


@pytest.mark.parametrize("exception", [SystemExit(3), KeyError("k"), ValueError()])
def test_any_exception_ends_error_and_never_escapes(exception: BaseException) -> None:
    """Even SystemExit from a handler becomes an error output instead of ending the caller."""

    def raiser(arguments: dict[str, Any], /) -> str:
        raise exception

    with make_runner({"raiser": raiser}) as runner:
        result = runner.run("c", "raiser", "{}")
    assert result.outcome == "error"
    assert error_of(result).startswith(type(exception).__name__)


def test_error_output_keeps_within_the_limit() -> None:
    """A huge exception message is cut so the output stays within max_output_chars."""

    def verbose(arguments: dict[str, Any], /) -> str:
        raise ValueError("x" * 50_000)

    with make_runner({"verbose": verbose}, max_output_chars=300) as runner:
        result = runner.run("c", "verbose", "{}")
    assert result.outcome == "error"
    assert len(result.output) <= 300
    assert result.error is not None and len(result.error) < 2100


def test_timeout_returns_promptly(release: threading.Event) -> None:
    """A handler running past the timeout ends timeout well before it finishes, with an error output."""
    with make_runner({"stuck": lambda arguments: release.wait(5) and "late"}, timeout=SLOW_TIMEOUT) as runner:
        started = time.monotonic()
        result = runner.run("c", "stuck", "{}")
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert result.outcome == "timeout" and result.fail_job
    assert "did not finish within 0.2 seconds" in error_of(result)
    assert SLOW_TIMEOUT <= result.duration_seconds < 1.0


def test_run_all_shares_one_deadline(release: threading.Event) -> None:
    """Several stuck calls in one run_all time out together, not one timeout after another."""
    stuck: ToolHandler = lambda arguments: release.wait(5) and "late"  # noqa: E731
    with make_runner({"stuck": stuck}, timeout=SLOW_TIMEOUT, max_workers=3) as runner:
        started = time.monotonic()
        results = runner.run_all([(f"c{index}", "stuck", "{}") for index in range(3)])
        elapsed = time.monotonic() - started
    assert [result.outcome for result in results] == ["timeout"] * 3
    assert elapsed < 2 * SLOW_TIMEOUT + 0.3


def test_threads_held_by_stuck_handlers_are_replaced(release: threading.Event) -> None:
    """When overrunning handlers hold every thread, later calls still run on a fresh pool."""
    handlers: dict[str, ToolHandler] = {"stuck": lambda arguments: release.wait(5) and "late", "echo": echo}
    with make_runner(handlers, timeout=SLOW_TIMEOUT, max_workers=1) as runner:
        assert runner.run("c1", "stuck", "{}").outcome == "timeout"
        result = runner.run("c2", "echo", '{"n": 1}')
    assert (result.outcome, json.loads(result.output)) == ("ok", {"echo": {"n": 1}})


def test_queued_calls_behind_a_busy_pool_time_out(release: threading.Event) -> None:
    """With one thread held by a stuck call, a call queued behind it in the same run_all times out too."""
    handlers: dict[str, ToolHandler] = {"stuck": lambda arguments: release.wait(5) and "late", "echo": echo}
    with make_runner(handlers, timeout=SLOW_TIMEOUT, max_workers=1) as runner:
        results = runner.run_all([("c1", "stuck", "{}"), ("c2", "echo", "{}")])
        after = runner.run("c3", "echo", "{}")
    assert [result.outcome for result in results] == ["timeout", "timeout"]
    assert after.outcome == "ok"


class Opaque:
    pass


def circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Opaque(), "Object of type Opaque is not JSON serializable"),
        ({"when": datetime(2024, 1, 1)}, "datetime"),
        ({1, 2}, "set"),
        (b"bytes", "bytes"),
        ({"ratio": float("nan")}, "ValueError"),
        ([float("inf")], "ValueError"),
        (circular(), "Circular reference"),
        ({(1, 2): "tuple key"}, "keys must be"),
    ],
)
def test_output_that_is_not_json(value: Any, message: str) -> None:
    """A return value json.dumps cannot encode strictly ends output_not_serialisable, naming the problem."""
    with make_runner({"odd": lambda arguments: value}) as runner:
        result = runner.run("c", "odd", "{}")
    assert result.outcome == "output_not_serialisable" and result.fail_job
    assert message in error_of(result)
    assert result.error is not None and "not JSON-serialisable" in result.error


@pytest.mark.parametrize("limit", [60, 100, 5000])
def test_oversize_output_is_truncated_with_a_marker(limit: int) -> None:
    """Output over the limit ends output_too_large, cut to exactly the limit and ending in the marker."""
    text = "".join(f"{index:05d} " for index in range(2000))
    with make_runner({"big": lambda arguments: text}, max_output_chars=limit) as runner:
        result = runner.run("c", "big", "{}")
    marker = f"\n[truncated: {len(text)} characters, limit {limit}]"
    assert result.outcome == "output_too_large" and result.fail_job
    assert len(result.output) == limit
    assert result.output.endswith(marker)
    assert text.startswith(result.output.removesuffix(marker))
    assert result.error == f"tool 'big' returned {len(text)} characters; the limit is {limit}"


def test_limit_smaller_than_the_marker_still_holds() -> None:
    """Even a limit shorter than the marker is never exceeded."""
    with make_runner({"big": lambda arguments: "y" * 100}, max_output_chars=10) as runner:
        result = runner.run("c", "big", "{}")
    assert result.outcome == "output_too_large"
    assert len(result.output) == 10


def test_output_exactly_at_the_limit_is_ok() -> None:
    """Output of exactly max_output_chars is sent whole."""
    with make_runner({"fit": lambda arguments: "z" * 100}, max_output_chars=100) as runner:
        result = runner.run("c", "fit", "{}")
    assert (result.outcome, result.output) == ("ok", "z" * 100)


def test_run_all_runs_calls_concurrently() -> None:
    """The calls of one run_all run at the same time: four handlers meet at a four-party barrier."""
    barrier = threading.Barrier(4, timeout=1.5)

    def meet(arguments: dict[str, Any], /) -> dict[str, Any]:
        barrier.wait()
        return {"index": arguments["index"], "thread": threading.current_thread().name}

    calls = [(f"call_{index}", "meet", json.dumps({"index": index})) for index in range(4)]
    with make_runner({"meet": meet}, max_workers=4) as runner:
        results = runner.run_all(calls)
    assert [result.outcome for result in results] == ["ok"] * 4
    assert [json.loads(result.output)["index"] for result in results] == [0, 1, 2, 3]
    assert len({json.loads(result.output)["thread"] for result in results}) == 4


def test_run_all_keeps_order_across_mixed_outcomes() -> None:
    """Results come back in the calls' order, each with its own id and outcome."""

    def fail(arguments: dict[str, Any], /) -> str:
        raise RuntimeError("no")

    calls = [
        ("a", "echo", "{}"),
        ("b", "missing", "{}"),
        ("c", "echo", "[]"),
        ("d", "fail", "{}"),
        ("e", "echo", ""),
    ]
    with make_runner({"echo": echo, "fail": fail}) as runner:
        results = runner.run_all(calls)
    assert [(result.tool_call_id, result.outcome) for result in results] == [
        ("a", "ok"),
        ("b", "unknown_tool"),
        ("c", "invalid_arguments"),
        ("d", "error"),
        ("e", "ok"),
    ]


def test_runner_lists_the_names_it_answers() -> None:
    """names() and registry expose the tools the runner was built with, for validating job files."""
    with make_runner({"echo": echo, "alpha": echo}) as runner:
        assert runner.names() == ["alpha", "echo"]
        assert "echo" in runner.registry


def test_run_all_of_nothing_is_nothing() -> None:
    """An empty list of calls gives an empty list of results."""
    with make_runner({"echo": echo}) as runner:
        assert runner.run_all([]) == []


@pytest.mark.parametrize("outcome", get_args(ToolOutcome))
def test_fail_job_for_every_outcome_but_ok(outcome: ToolOutcome) -> None:
    """Under the fail policy every outcome except ok fails the job."""
    result = ToolResult("c", "t", "{}", "out", None, outcome, 0.0, datetime.now(UTC))
    assert result.fail_job is (outcome != "ok")


def test_closed_runner_refuses_calls() -> None:
    """After close() a call is refused instead of hanging on a stopped pool."""
    runner = make_runner({"echo": echo})
    runner.close()
    with pytest.raises(RuntimeError, match="closed"):
        runner.run("c", "echo", "{}")


@pytest.mark.parametrize(("keyword", "value"), [("timeout", 0.0), ("max_output_chars", 0), ("max_workers", 0)])
def test_limits_must_be_positive(keyword: str, value: float) -> None:
    """A zero timeout, output limit or pool size is refused at construction."""
    options: dict[str, Any] = {keyword: value}
    with pytest.raises(ValueError, match="must be"):
        make_runner({"echo": echo}, **options)
