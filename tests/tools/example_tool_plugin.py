"""A user's tool module as ``tool_modules`` names it: handlers exposed through ``TOOLS``."""

from __future__ import annotations

from typing import Any

from batchrunner.tools import ToolHandler, ToolInputError


def shout(arguments: dict[str, Any], /) -> str:
    text = arguments.get("text")
    if not isinstance(text, str):
        raise ToolInputError("'text' must be a string")
    return text.upper()


def word_count(arguments: dict[str, Any], /) -> dict[str, int]:
    return {"words": len(str(arguments.get("text", "")).split())}


TOOLS: dict[str, ToolHandler] = {"shout": shout, "word_count": word_count}
