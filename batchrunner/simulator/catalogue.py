"""The assistants and threads every simulator starts with (the example job file uses them).

Ids are fixed strings so job files can name them; everything here is plain data.
"""

from __future__ import annotations

from typing import Any

# 2025-01-01T00:00:00Z: a fixed creation time keeps the catalogue identical across runs.
CATALOGUE_CREATED_AT = 1735689600

CALCULATE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "calculate",
        "description": "Evaluate an arithmetic expression and return the result.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "For example (17 + 25) * 3"}},
            "required": ["expression"],
        },
    },
}
CURRENT_TIME_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "current_time",
        "description": "Return the current date and time in a time zone.",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string", "description": "IANA zone name, e.g. Europe/Paris"}},
        },
    },
}
TEXT_STATISTICS_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "text_statistics",
        "description": "Count the characters, words and sentences of a text.",
        "parameters": {
            "type": "object",
            "properties": {"text": {"type": "string", "description": "The text to measure."}},
            "required": ["text"],
        },
    },
}

BUILTIN_ASSISTANTS: tuple[dict[str, Any], ...] = (
    {
        "id": "asst_support",
        "name": "Support",
        "model": "gpt-4o-mini",
        "instructions": "You are a concise customer-support assistant.",
        "tools": [],
    },
    {
        "id": "asst_math",
        "name": "Math",
        "model": "gpt-4o",
        "instructions": "You solve arithmetic questions. Use the calculate tool for every computation.",
        "tools": [CALCULATE_TOOL],
    },
    {
        "id": "asst_clock",
        "name": "Clock",
        "model": "gpt-4o-mini",
        "instructions": "You tell the time. Use the current_time tool.",
        "tools": [CURRENT_TIME_TOOL],
    },
    {
        "id": "asst_analyst",
        "name": "Analyst",
        "model": "gpt-4.1-mini",
        "instructions": "You analyse numbers and texts with your tools and report the results.",
        "tools": [CALCULATE_TOOL, TEXT_STATISTICS_TOOL],
    },
)

BUILTIN_THREADS: tuple[dict[str, Any], ...] = (
    {
        "id": "thread_demo_shared",
        "metadata": {"purpose": "demo"},
        "messages": [
            {"id": "msg_demo_shared_1", "role": "user", "content": "We are reviewing the Q3 support backlog."}
        ],
    },
)
