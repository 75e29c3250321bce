"""Payload builders and a recording mock transport for the API client tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from batchrunner.testing.payloads import run_payload

Payload = dict[str, Any]
Handler = Callable[[httpx.Request], httpx.Response]


def message_payload(message_id: str, *texts: str, role: str = "assistant", **fields: Any) -> Payload:
    return {
        "id": message_id,
        "object": "thread.message",
        "created_at": 1_700_000_001,
        "thread_id": "thread_1",
        "status": "completed",
        "incomplete_details": None,
        "completed_at": 1_700_000_002,
        "incomplete_at": None,
        "role": role,
        "assistant_id": "asst_1",
        "run_id": "run_1",
        "attachments": [],
        "metadata": {},
        "content": [{"type": "text", "text": {"value": text, "annotations": []}} for text in texts],
        **fields,
    }


def step_payload(step_id: str, **fields: Any) -> Payload:
    return {
        "id": step_id,
        "object": "thread.run.step",
        "created_at": 1_700_000_001,
        "assistant_id": "asst_1",
        "thread_id": "thread_1",
        "run_id": "run_1",
        "type": "message_creation",
        "status": "completed",
        "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_1"}},
        "last_error": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": 1_700_000_002,
        "metadata": {},
        "usage": None,
        **fields,
    }


def list_payload(items: list[Payload], has_more: bool = False) -> Payload:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


@dataclass
class Recorder:
    """A MockTransport handler that records every request and answers with ``handler``."""

    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handler(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


@pytest.fixture
def record() -> Callable[[Handler], Recorder]:
    """Build a ``Recorder`` around a handler."""
    return Recorder


PayloadFactory = Callable[..., Payload]


@pytest.fixture
def make_run() -> PayloadFactory:
    """Build a complete run object (status and fields overridable)."""
    return run_payload


@pytest.fixture
def make_message() -> PayloadFactory:
    """Build a message object with the given text parts."""
    return message_payload


@pytest.fixture
def make_step() -> PayloadFactory:
    """Build a run-step object."""
    return step_payload


@pytest.fixture
def make_page() -> PayloadFactory:
    """Build a list page envelope around items."""
    return list_payload
