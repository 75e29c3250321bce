"""Complete Assistants API response bodies for tests (valid against the official schemas)."""

from __future__ import annotations

from typing import Any

Payload = dict[str, Any]


def run_payload(run_id: str = "run_1", status: str = "in_progress", **fields: Any) -> Payload:
    return {
        "id": run_id,
        "object": "thread.run",
        "created_at": 1_700_000_000,
        "thread_id": "thread_1",
        "assistant_id": "asst_1",
        "status": status,
        "required_action": None,
        "last_error": None,
        "expires_at": None,
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "incomplete_details": None,
        "model": "gpt-4o-mini",
        "instructions": "",
        "tools": [],
        "metadata": {},
        "usage": None,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_prompt_tokens": None,
        "max_completion_tokens": None,
        "truncation_strategy": None,
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "response_format": "auto",
        **fields,
    }
