"""batchrunner.testing.tools: the helpers users test their own handlers with."""

from __future__ import annotations

from typing import Any

import pytest

from batchrunner.testing.tools import output_json, registry_of, run_tool, run_tool_call, tool_runner
from batchrunner.tools.builtin import calculate
from batchrunner.tools.registry import ToolRegistryError


def test_run_tool_passes_keyword_arguments_as_the_arguments_dict() -> None:
    """run_tool(handler, **arguments) calls the handler as a run would and returns its ToolResult."""
    result = run_tool(calculate, expression="6 * 7")
    assert result.outcome == "ok"
    assert output_json(result) == {"expression": "6 * 7", "result": 42}


def test_run_tool_accepts_an_argument_called_handler() -> None:
    """The handler is positional-only, so a tool argument may be called `handler` too."""
    result = run_tool(lambda arguments: arguments, handler="h")
    assert output_json(result) == {"handler": "h"}


def test_run_tool_call_sends_raw_json_and_honours_limits() -> None:
    """run_tool_call passes argument JSON untouched and applies the given name and output limit."""
    malformed = run_tool_call(calculate, "{not json", name="calculate")
    assert malformed.outcome == "invalid_arguments" and malformed.name == "calculate"
    big = run_tool_call(lambda arguments: "x" * 500, "{}", max_output_chars=100)
    assert big.outcome == "output_too_large" and len(big.output) == 100


def test_tool_runner_serves_several_handlers() -> None:
    """tool_runner gives a working runner over exactly the handlers given."""
    handlers: dict[str, Any] = {"calculate": calculate, "echo": lambda arguments: arguments}
    with tool_runner(handlers) as runner:
        results = runner.run_all([("a", "calculate", '{"expression": "1+1"}'), ("b", "other", "{}")])
    assert [result.outcome for result in results] == ["ok", "unknown_tool"]


def test_registry_of_applies_the_name_rules() -> None:
    """registry_of rejects names a loaded registry would reject."""
    with pytest.raises(ToolRegistryError):
        registry_of({"bad name": calculate})


def test_output_json_fails_clearly_on_plain_text() -> None:
    """output_json raises AssertionError quoting the outcome when the output is not JSON."""
    result = run_tool(lambda arguments: "plain words")
    with pytest.raises(AssertionError, match="ended 'ok' with output that is not JSON: 'plain words'"):
        output_json(result)
