"""Reply bodies shaped like the official Responses API examples, and the spec's Responses paths."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchrunner.backend.responses import ResponsesClient
from batchrunner.testing.openapi_contract import (
    ContractCheckingTransport,
    PathsContract,
    find_openapi_spec,
    load_paths_contract,
)
from tests.api.conftest import Handler, Recorder

Payload = dict[str, Any]
SECRET = "sk-proj-RESPONSES-KEY-MUST-NOT-LEAK-42"
BASE_URL = "https://api.example/v1"


def response_payload(status: str | None = "completed", output: list[Payload] | None = None, **fields: Any) -> Payload:
    """A ``Response`` with every field the schema requires (``status`` left out when None)."""
    body: Payload = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1_741_476_777,
        "status": status,
        "background": False,
        "completed_at": 1_741_476_778 if status == "completed" else None,
        "error": None,
        "incomplete_details": None,
        "instructions": "Be brief.",
        "max_output_tokens": None,
        "model": "gpt-4o-2024-08-06",
        "output": output if output is not None else [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "metadata": {"batchrunner_job": "b:1"},
        **fields,
    }
    if status is None:
        del body["status"]
    return body


def usage_payload(input_tokens: int = 36, output_tokens: int = 87, cached: int = 4, reasoning: int = 0) -> Payload:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


def message_item(*texts: str, status: str = "completed", item_id: str = "msg_1") -> Payload:
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []} for text in texts],
    }


def function_call_item(call_id: str, name: str, arguments: str, item_id: str | None = None) -> Payload:
    return {
        "type": "function_call",
        "id": item_id or f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def error_body(message: str, error_type: str, code: str | None = None, param: str | None = None) -> Payload:
    """An ``ErrorResponse``."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


@pytest.fixture(scope="session")
def responses_contract() -> PathsContract:
    """The Responses and Conversations paths of the OpenAPI document (spec/openai-openapi/)."""
    return load_paths_contract(spec_path=str(find_openapi_spec(Path(__file__).parent)))


class Served:
    """A ``ResponsesClient`` whose every exchange goes through a recorder and, optionally, the contract."""

    def __init__(self, handler: Handler, contract: PathsContract | None, **options: Any) -> None:
        self.recorder = Recorder(handler)
        inner: httpx.BaseTransport = self.recorder.transport()
        self.checked = ContractCheckingTransport(inner, contract, base_path="/v1") if contract else None
        self.client = ResponsesClient(BASE_URL, SECRET, transport=self.checked or inner, **options)

    @property
    def request(self) -> httpx.Request:
        """The only request sent."""
        assert len(self.recorder.requests) == 1, self.recorder.requests
        return self.recorder.requests[0]

    def violations(self) -> list[str]:
        assert self.checked is not None and self.checked.exchanges > 0
        return [f"{v.direction} {v.method} {v.path}: {v.message}" for v in self.checked.violations]


ServeFactory = Callable[..., Served]


@pytest.fixture
def serve(responses_contract: PathsContract) -> Iterator[ServeFactory]:
    """``serve(handler, checked=True)``: a client answering with ``handler``, checked against the spec."""
    served: list[Served] = []

    def make(handler: Handler, *, checked: bool = True, **options: Any) -> Served:
        result = Served(handler, responses_contract if checked else None, **options)
        served.append(result)
        return result

    yield make
    for result in served:
        result.client.close()
