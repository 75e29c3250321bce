"""Builders of job lines for the job-file tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
OMIT: Any = object()


def job(**fields: Any) -> dict[str, Any]:
    """A valid job (new thread, one user message) with ``fields`` set; a field set to OMIT is removed."""
    base: dict[str, Any] = {
        "assistant_id": "asst_1",
        "thread": {"messages": [{"role": "user", "content": "hi"}]},
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not OMIT}


def line(**fields: Any) -> str:
    """``job(**fields)`` as one JSON line."""
    return json.dumps(job(**fields))


def params_line(**params: Any) -> str:
    """A job line on a new thread with ``params``."""
    return line(params=params)


def message_line(**message: Any) -> str:
    """A job line whose thread has one message: a valid user message updated with ``message``."""
    base: dict[str, Any] = {"role": "user", "content": "hi"}
    base.update(message)
    return line(thread={"messages": [{k: v for k, v in base.items() if v is not OMIT}]})


def function_tool(name: str) -> dict[str, Any]:
    """A function tool definition named ``name``."""
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


def pairs(count: int, *, key_length: int = 4, value_length: int = 1) -> dict[str, str]:
    """Metadata with ``count`` distinct pairs."""
    return {f"k{index:0{key_length - 1}d}": "v" * value_length for index in range(count)}


def write_lines(path: Path, lines: list[str | bytes], *, newline: bytes = b"\n") -> Path:
    """Write ``lines`` (text is UTF-8 encoded) joined by ``newline``, with a final newline."""
    encoded = [item if isinstance(item, bytes) else item.encode("utf-8") for item in lines]
    path.write_bytes(newline.join(encoded) + newline)
    return path
