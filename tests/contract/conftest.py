"""The official OpenAPI contract, loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchrunner.testing.openapi_contract import OpenApiContract, find_openapi_spec, load_contract
from batchrunner.testing.payloads import run_payload


@pytest.fixture(scope="session")
def openapi_contract() -> OpenApiContract:
    """The Assistants part of the OpenAPI document (spec/openai-openapi/ in the repository)."""
    return load_contract(str(find_openapi_spec(Path(__file__).parent)))


class CannedResponses:
    """Complete response bodies that satisfy the official schemas (checked in test_openapi_contract)."""

    @staticmethod
    def run(run_id: str = "run_1", status: str = "in_progress", **fields: object) -> dict[str, object]:
        values: dict[str, object] = {
            "expires_at": 1_700_000_600,
            "started_at": 1_700_000_001,
            "instructions": "Be brief.",
            "metadata": {"batchrunner_job": "b:1"},
            "max_completion_tokens": 512,
            "truncation_strategy": {"type": "auto", "last_messages": None},
            **fields,
        }
        return run_payload(run_id, status, **values)

    @staticmethod
    def thread(thread_id: str = "thread_1") -> dict[str, object]:
        return {
            "id": thread_id,
            "object": "thread",
            "created_at": 1_700_000_000,
            "tool_resources": None,
            "metadata": {"batchrunner_job": "b:1"},
        }

    @staticmethod
    def message(message_id: str = "msg_1", text: str = "Hello.", role: str = "assistant") -> dict[str, object]:
        return {
            "id": message_id,
            "object": "thread.message",
            "created_at": 1_700_000_002,
            "thread_id": "thread_1",
            "status": "completed",
            "incomplete_details": None,
            "completed_at": 1_700_000_003,
            "incomplete_at": None,
            "role": role,
            "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
            "assistant_id": "asst_1" if role == "assistant" else None,
            "run_id": "run_1" if role == "assistant" else None,
            "attachments": [],
            "metadata": {},
        }

    @staticmethod
    def step(step_id: str = "step_1", kind: str = "message_creation") -> dict[str, object]:
        details: dict[str, object] = (
            {"type": "message_creation", "message_creation": {"message_id": "msg_1"}}
            if kind == "message_creation"
            else {
                "type": "tool_calls",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": "{}", "output": "42"},
                    }
                ],
            }
        )
        return {
            "id": step_id,
            "object": "thread.run.step",
            "created_at": 1_700_000_001,
            "assistant_id": "asst_1",
            "thread_id": "thread_1",
            "run_id": "run_1",
            "type": kind,
            "status": "completed",
            "step_details": details,
            "last_error": None,
            "expired_at": None,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": 1_700_000_002,
            "metadata": {},
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    @staticmethod
    def page(items: list[dict[str, object]], has_more: bool = False) -> dict[str, object]:
        return {
            "object": "list",
            "data": items,
            "first_id": str(items[0]["id"]) if items else "",
            "last_id": str(items[-1]["id"]) if items else "",
            "has_more": has_more,
        }

    @staticmethod
    def error(message: str, error_type: str, code: str | None = None) -> dict[str, object]:
        return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


@pytest.fixture(scope="session")
def canned() -> type[CannedResponses]:
    """Builders of spec-valid response bodies."""
    return CannedResponses
