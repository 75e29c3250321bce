"""Token estimates made before a request, reconciled with the real usage after the run."""

from __future__ import annotations

import json
import math
from typing import Any

from batchrunner.jobs import JobSpec

# About four characters per token for English text; the budget is corrected by real usage afterwards.
CHARS_PER_TOKEN = 4
# What a run with no max_completion_tokens is assumed to write, until its usage arrives.
DEFAULT_COMPLETION_ESTIMATE = 256


def estimate_text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False)


def estimate_prompt_tokens(spec: JobSpec) -> int:
    """Prompt tokens of what the job sends: its instructions and messages (or a request's instructions and input)."""
    if spec.request is not None:
        return _estimate_request_prompt_tokens(spec.request)
    texts: list[str] = []
    if spec.thread:
        texts.extend(_content_text(message.get("content", "")) for message in spec.thread.get("messages", []))
    params = spec.params
    for message in params.get("additional_messages") or []:
        texts.append(_content_text(message.get("content", "")))
    for key in ("instructions", "additional_instructions"):
        if isinstance(params.get(key), str):
            texts.append(params[key])
    return sum(estimate_text_tokens(text) for text in texts)


def output_token_cap(spec: JobSpec) -> int | None:
    """The most the job lets the model write (``max_output_tokens`` or ``max_completion_tokens``), if it says."""
    if spec.request is not None:
        cap = spec.request.get("max_output_tokens")
    else:
        cap = spec.params.get("max_completion_tokens")
    return int(cap) if cap else None


def estimate_run_tokens(spec: JobSpec) -> int:
    """Prompt tokens of what the job sends, plus the completion it may write."""
    return estimate_prompt_tokens(spec) + (output_token_cap(spec) or DEFAULT_COMPLETION_ESTIMATE)


def _estimate_request_prompt_tokens(request: dict[str, Any]) -> int:
    """The same estimate for a Responses request: its instructions and input."""
    items = request.get("input")
    texts = [items] if isinstance(items, str) else [_content_text(item.get("content", "")) for item in items or ()]
    if isinstance(request.get("instructions"), str):
        texts.append(request["instructions"])
    return sum(estimate_text_tokens(text) for text in texts)
