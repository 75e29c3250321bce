"""Every request ``AssistantsClient`` can send validates against the official OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from batchrunner.api.errors import RateLimitedError
from batchrunner.backend.assistants.client import AssistantsClient
from batchrunner.backend.assistants.models import ToolOutput
from batchrunner.testing.openapi_contract import ContractCheckingTransport, OpenApiContract

FUNCTION_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Find an order by id.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
        "strict": False,
    },
}
FULL_RUN_BODY: dict[str, Any] = {
    "assistant_id": "asst_1",
    "model": "gpt-4o-mini",
    "instructions": "Be brief.",
    "additional_instructions": "Answer in English.",
    "additional_messages": [{"role": "user", "content": "And the shipping date?"}],
    "tools": [FUNCTION_TOOL, {"type": "code_interpreter"}],
    "metadata": {"batchrunner_job": "batch:ticket-42", "team": "support"},
    "temperature": 0.2,
    "top_p": 0.9,
    "max_prompt_tokens": 2048,
    "max_completion_tokens": 512,
    "truncation_strategy": {"type": "last_messages", "last_messages": 10},
    "tool_choice": {"type": "function", "function": {"name": "lookup_order"}},
    "parallel_tool_calls": True,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object"}},
    },
}


def _router(canned: Any) -> Callable[[httpx.Request], httpx.Response]:
    """A fake server answering each endpoint with a spec-valid body; list endpoints return two pages."""
    routes: list[tuple[str, str, Callable[[httpx.Request], Any]]] = [
        ("POST", r"/threads", lambda r: canned.thread()),
        ("POST", r"/threads/runs", lambda r: canned.run(status="queued")),
        ("POST", r"/threads/[^/]+/messages", lambda r: canned.message(role="user")),
        ("GET", r"/threads/[^/]+/messages", lambda r: _page(canned, r, canned.message, "msg")),
        ("POST", r"/threads/[^/]+/runs", lambda r: canned.run(status="queued")),
        ("GET", r"/threads/[^/]+/runs", lambda r: _page(canned, r, canned.run, "run")),
        ("GET", r"/threads/[^/]+/runs/[^/]+", lambda r: canned.run()),
        ("GET", r"/threads/[^/]+/runs/[^/]+/steps", lambda r: _page(canned, r, canned.step, "step")),
        ("POST", r"/threads/[^/]+/runs/[^/]+/submit_tool_outputs", lambda r: canned.run(status="queued")),
        ("POST", r"/threads/[^/]+/runs/[^/]+/cancel", lambda r: canned.run(status="cancelling")),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")
        for method, pattern, body in routes:
            if request.method == method and re.fullmatch(pattern, path):
                return httpx.Response(200, json=body(request))
        return httpx.Response(404, json=canned.error("no route", "invalid_request_error"))

    return handler


def _page(canned: Any, request: httpx.Request, build: Callable[[str], Any], prefix: str) -> Any:
    first = "after" not in request.url.params
    return canned.page([build(f"{prefix}_{'a' if first else 'b'}")], has_more=first)


@pytest.fixture
def checked(openapi_contract: OpenApiContract, canned: Any) -> ContractCheckingTransport:
    """A contract-checking transport around the fake server."""
    return ContractCheckingTransport(httpx.MockTransport(_router(canned)), openapi_contract)


def _assert_clean(transport: ContractCheckingTransport, expected_requests: int) -> None:
    messages = "\n".join(f"{v.direction} {v.method} {v.path}: {v.message}" for v in transport.violations)
    assert not transport.violations, messages
    assert transport.exchanges == expected_requests


def test_thread_and_message_requests_validate(checked: ContractCheckingTransport) -> None:
    """create_thread (text and content-part messages, metadata) and create_message match the spec."""
    with AssistantsClient("http://sim/v1", "sk-test", transport=checked) as client:
        client.create_thread([{"role": "user", "content": "Summarise ticket 42."}])
        client.create_thread(
            [
                {"role": "user", "content": [{"type": "text", "text": "Part one."}]},
                {"role": "assistant", "content": "Earlier answer.", "metadata": {"source": "import"}},
            ],
            metadata={"batchrunner_job": "batch:ticket-42"},
        )
        client.create_thread([], tool_resources={"code_interpreter": {"file_ids": ["file_1"]}})
        client.create_message("thread_1", {"role": "user", "content": "One more thing."})
    _assert_clean(checked, 4)


@pytest.mark.parametrize(
    "body",
    [
        {"assistant_id": "asst_1"},
        FULL_RUN_BODY,
        {
            "assistant_id": "asst_1",
            "temperature": None,
            "metadata": None,
            "response_format": "auto",
            "tool_choice": "required",
            "truncation_strategy": {"type": "auto"},
        },
    ],
)
def test_create_run_requests_validate(checked: ContractCheckingTransport, body: dict[str, Any]) -> None:
    """create_run with a minimal, a full and a null-heavy body matches CreateRunRequest."""
    with AssistantsClient("http://sim/v1", None, transport=checked) as client:
        assert client.create_run("thread_1", body).data.status == "queued"
    _assert_clean(checked, 1)


def test_create_thread_and_run_validates(checked: ContractCheckingTransport) -> None:
    """create_thread_and_run with a nested thread matches CreateThreadAndRunRequest."""
    body = {
        key: value
        for key, value in FULL_RUN_BODY.items()
        if key not in ("additional_instructions", "additional_messages")
    }
    body["thread"] = {"messages": [{"role": "user", "content": "Hi"}], "metadata": {"team": "support"}}
    with AssistantsClient("http://sim/v1", None, transport=checked) as client:
        client.create_thread_and_run(body)
    _assert_clean(checked, 1)


def test_run_lifecycle_requests_validate(checked: ContractCheckingTransport) -> None:
    """retrieve, submit_tool_outputs and cancel requests match their operations."""
    with AssistantsClient("http://sim/v1", "sk-test", transport=checked) as client:
        client.retrieve_run("thread_1", "run_1")
        client.submit_tool_outputs(
            "thread_1",
            "run_1",
            [
                ToolOutput(tool_call_id="call_1", output='{"ok": true}'),
                ToolOutput(tool_call_id="call_2", output=""),
            ],
        )
        assert client.cancel_run("thread_1", "run_1").data.status == "cancelling"
    _assert_clean(checked, 3)


def test_list_requests_and_pagination_validate(checked: ContractCheckingTransport) -> None:
    """list_runs, list_run_steps and list_messages (with cursors and filters) send valid queries."""
    with AssistantsClient("http://sim/v1", None, transport=checked) as client:
        assert [run.id for run in client.list_runs("thread_1", page_size=1)] == ["run_a", "run_b"]
        assert len(client.list_runs("thread_1", order="asc", max_items=1)) == 1
        assert [s.id for s in client.list_run_steps("thread_1", "run_1")] == ["step_a", "step_b"]
        assert len(client.list_messages("thread_1")) == 2
        assert len(client.list_messages("thread_1", run_id="run_1")) == 2
    _assert_clean(checked, 9)


def test_error_responses_are_checked_too(openapi_contract: OpenApiContract, canned: Any) -> None:
    """A spec-valid 429 passes the contract and the client classifies it as a rate limit."""
    body = canned.error("Rate limit reached for requests", "requests", "rate_limit_exceeded")
    transport = ContractCheckingTransport(
        httpx.MockTransport(lambda request: httpx.Response(429, json=body, headers={"Retry-After": "3"})),
        openapi_contract,
    )
    with (
        AssistantsClient("http://sim/v1", None, transport=transport) as client,
        pytest.raises(RateLimitedError) as caught,
    ):
        client.retrieve_run("thread_1", "run_1")
    assert caught.value.retry_after == 3.0 and caught.value.kind == "requests"
    _assert_clean(transport, 1)
