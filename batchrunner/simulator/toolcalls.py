"""Which functions the simulated model calls, and with which arguments.

The "model" reads the thread's last user message: `calculate` gets the first arithmetic expression,
`current_time` the first IANA-looking zone, `text_statistics` the first quoted text; any other
function gets its required JSON-schema properties filled from the message. With tool_choice `auto`
or `required` a run that has function tools always makes one tool round; it calls every function the
message asks for (in parallel unless `parallel_tool_calls` is false), or the first function when the
message names none.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_EXPRESSION = re.compile(r"[-(]*\d[\d\s.+\-*/%^()]*")
_OPERATOR_BETWEEN = re.compile(r"[\d)]\s*[-+*/%^]\s*[-(]*\d")
_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_TIMEZONE = re.compile(r"\b(?:[A-Z][A-Za-z_]+/)+[A-Z][A-Za-z_\-]+\b|\b(?:UTC|GMT)\b")
_QUOTED = re.compile(r"\"([^\"]+)\"|\u201c([^\u201d]+)\u201d|(?<!\w)'([^']+)'(?!\w)")
_TIME_WORDS = re.compile(r"\b(time|clock|timezone|hour|o'clock)\b", re.IGNORECASE)
_STATS_WORDS = re.compile(r"\b(statistics|stats|word count|how many words|count the words)\b", re.IGNORECASE)


@dataclass(frozen=True)
class PlannedCall:
    """One function call the simulated model makes: its name and JSON-encoded arguments."""

    name: str
    arguments: str


def _balanced(text: str) -> str:
    """Trim unmatched parentheses and dangling operators from a candidate expression."""
    text = text.strip()
    while True:
        before = text
        text = text.strip().rstrip("+-*/%^.( ").lstrip("*/%^) ")
        if text.count("(") > text.count(")") and text.startswith("("):
            text = text[1:]
        elif text.count(")") > text.count("(") and text.endswith(")"):
            text = text[:-1]
        if text == before:
            return text


def extract_expression(text: str) -> str | None:
    """The first arithmetic expression in the text: "What is (17 + 25) * 3?" -> "(17 + 25) * 3"."""
    for match in _EXPRESSION.finditer(text):
        candidate = _balanced(match.group(0))
        if _DATE.match(candidate):
            continue
        if candidate.count("(") == candidate.count(")") and _OPERATOR_BETWEEN.search(candidate):
            return candidate
    return None


def extract_timezone(text: str) -> str | None:
    """The first IANA-looking zone name ("Europe/Paris", "America/New_York") or UTC/GMT."""
    match = _TIMEZONE.search(text)
    return match.group(0) if match else None


def extract_quoted(text: str) -> str | None:
    """The first text in double quotes, curly quotes or single quotes."""
    match = _QUOTED.search(text)
    if match is None:
        return None
    return next(group for group in match.groups() if group is not None)


def _placeholder(schema: Any, text: str) -> Any:
    kind = schema.get("type") if isinstance(schema, dict) else None
    defaults: dict[str, Any] = {"integer": 0, "number": 0, "boolean": False, "array": [], "object": {}}
    return defaults.get(kind, text) if isinstance(kind, str) else text


def arguments_from_schema(parameters: dict[str, Any] | None, text: str) -> dict[str, Any]:
    """Arguments for an unknown function: its required properties, strings filled with the text."""
    if not parameters:
        return {}
    properties = parameters.get("properties")
    required = parameters.get("required")
    if not isinstance(properties, dict) or not isinstance(required, list):
        return {}
    return {name: _placeholder(properties.get(name), text) for name in required if isinstance(name, str)}


def arguments_for(name: str, parameters: dict[str, Any] | None, text: str) -> dict[str, Any]:
    """The arguments the simulated model passes to function `name` for this message."""
    if name == "calculate":
        number = _NUMBER.search(text)
        return {"expression": extract_expression(text) or (number.group(0) if number else "0")}
    if name == "current_time":
        return {"timezone": extract_timezone(text) or "UTC"}
    if name == "text_statistics":
        return {"text": extract_quoted(text) or text}
    return arguments_from_schema(parameters, text)


def is_requested(name: str, text: str) -> bool:
    """Whether the message asks for what function `name` does."""
    if name == "calculate":
        return extract_expression(text) is not None
    if name == "current_time":
        return extract_timezone(text) is not None or _TIME_WORDS.search(text) is not None
    if name == "text_statistics":
        return extract_quoted(text) is not None or _STATS_WORDS.search(text) is not None
    words = [word for word in re.split(r"[_\-]+", name.lower()) if len(word) >= 4]
    lowered = text.lower()
    return any(word in lowered for word in words)


def plan_tool_calls(
    tools: list[dict[str, Any]],
    tool_choice: str | dict[str, Any] | None,
    parallel_tool_calls: bool,
    text: str,
) -> list[PlannedCall]:
    """The function calls of the run's one tool round (empty: the run answers directly)."""
    functions = [tool["function"] for tool in tools if tool.get("type") == "function"]
    if not functions or tool_choice == "none":
        return []
    if isinstance(tool_choice, dict):
        if tool_choice.get("type") != "function":
            return []
        wanted = tool_choice["function"]["name"]
        chosen = [function for function in functions if function["name"] == wanted]
    else:
        chosen = [function for function in functions if is_requested(function["name"], text)] or functions[:1]
    if not parallel_tool_calls:
        chosen = chosen[:1]
    return [
        PlannedCall(function["name"], json.dumps(arguments_for(function["name"], function.get("parameters"), text)))
        for function in chosen
    ]
