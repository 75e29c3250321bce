"""What a Responses or Conversations handler answers: a JSON body, or a stream of response events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batchrunner.simulator.errors import APIError
from batchrunner.simulator.responses.streaming import ResponseStream


@dataclass
class ResponsesReply:
    """A 200 answer: JSON body and extra headers, or a stream of response events."""

    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    stream: ResponseStream | None = None


def query_bool(query: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter (`true`/`false`), false when absent."""
    raw = query.get(name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise APIError(400, f"Invalid type for '{name}': expected a boolean, but got a string instead.", param=name)
    return raw == "true"


def query_int(query: Mapping[str, str], name: str) -> int | None:
    """An integer query parameter, None when absent."""
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise APIError(
            400, f"Invalid type for '{name}': expected an integer, but got a string instead.", param=name
        ) from None
