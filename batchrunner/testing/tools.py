"""Helpers for testing tool handlers exactly as batchrunner will call them.

::

    from batchrunner.testing.tools import output_json, run_tool

    def test_lookup_order_finds_a_shipped_order() -> None:
        result = run_tool(lookup_order, order_id="A-1")
        assert result.outcome == "ok"
        assert output_json(result)["status"] == "shipped"

``run_tool`` goes through a real ``ToolRunner`` (JSON encoding of the arguments, the thread pool, the timeout,
serialisation and the output limit), so what it returns is what the model would be sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from batchrunner.tools.protocol import ToolHandler
from batchrunner.tools.registry import ToolRegistry
from batchrunner.tools.runner import ToolResult, ToolRunner

DEFAULT_TOOL_NAME = "tool_under_test"
DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_OUTPUT_CHARS = 32_768


def run_tool(handler: ToolHandler, /, **arguments: Any) -> ToolResult:
    """Call ``handler`` with ``arguments`` through a one-off registry and runner, on the default limits."""
    return run_tool_call(handler, json.dumps(arguments))


def run_tool_call(
    handler: ToolHandler,
    arguments_json: str,
    *,
    name: str = DEFAULT_TOOL_NAME,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
) -> ToolResult:
    """Call ``handler`` with raw argument JSON (which may be malformed, as a model's can be)."""
    handlers = {name: handler}
    with tool_runner(handlers, timeout_seconds=timeout_seconds, max_output_chars=max_output_chars) as runner:
        return runner.run("call_test", name, arguments_json)


@contextmanager
def tool_runner(
    handlers: Mapping[str, ToolHandler],
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    max_workers: int = 4,
) -> Iterator[ToolRunner]:
    """A ``ToolRunner`` over exactly ``handlers``, closed on exit."""
    runner = ToolRunner(
        registry_of(handlers),
        timeout_seconds=timeout_seconds,
        max_output_chars=max_output_chars,
        max_workers=max_workers,
    )
    try:
        yield runner
    finally:
        runner.close()


def registry_of(handlers: Mapping[str, ToolHandler]) -> ToolRegistry:
    """A registry holding exactly ``handlers``, with the same name checks as a loaded one."""
    registry = ToolRegistry()
    for name, handler in handlers.items():
        registry.register(name, handler, source="batchrunner.testing.tools")
    return registry


def output_json(result: ToolResult) -> Any:
    """The output the model was sent, decoded; AssertionError naming the outcome if it is not JSON."""
    try:
        return json.loads(result.output)
    except json.JSONDecodeError:
        raise AssertionError(
            f"tool {result.name!r} ended {result.outcome!r} with output that is not JSON: {result.output[:500]!r}"
        ) from None
