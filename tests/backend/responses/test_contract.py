"""The sample replies against the official schemas, and proof that the contract check can fail."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from batchrunner.testing.openapi_contract import ContractViolation, PathsContract
from tests.backend.responses.conftest import (
    ServeFactory,
    error_body,
    function_call_item,
    message_item,
    response_payload,
    usage_payload,
)

SAMPLES: dict[str, dict[str, Any]] = {
    "queued background": response_payload("queued", background=True, completed_at=None),
    "completed message": response_payload("completed", [message_item("Hi")], usage=usage_payload()),
    "two function calls": response_payload(
        "completed", [function_call_item("call_a", "f", "{}"), function_call_item("call_b", "g", '{"x":1}')]
    ),
    "failed": response_payload("failed", error={"code": "server_error", "message": "boom"}),
    "incomplete": response_payload(
        "incomplete", [message_item("par", status="incomplete")], incomplete_details={"reason": "max_output_tokens"}
    ),
    "cancelled": response_payload("cancelled", [message_item("x", status="in_progress")], background=True),
    "no status or usage": response_payload(None),
}


@pytest.mark.parametrize("name", list(SAMPLES))
@pytest.mark.parametrize(("method", "path"), [("GET", "/responses/resp_1"), ("POST", "/responses/resp_1/cancel")])
def test_sample_replies_are_valid_responses(
    responses_contract: PathsContract, name: str, method: str, path: str
) -> None:
    """Each sample reply the client tests use is a valid 200 body of getResponse and cancelResponse."""
    responses_contract.validate_response(method, path, 200, SAMPLES[name])


@pytest.mark.parametrize(
    "body",
    [
        error_body("Response with id 'resp_1' not found.", "invalid_request_error"),
        error_body("Rate limit reached", "tokens", code="rate_limit_exceeded"),
    ],
)
def test_sample_errors_are_valid_error_responses(responses_contract: PathsContract, body: dict[str, Any]) -> None:
    """The sample error bodies are ErrorResponse objects."""
    responses_contract.validate_response("GET", "/responses/resp_1", 404, body)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"status": "paused"}, "status"),
        ({"output": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, r"\$\.output\[0\]"),
        ({"usage": {"input_tokens": 1}}, "output_tokens"),
    ],
)
def test_the_contract_rejects_replies_outside_the_spec(
    responses_contract: PathsContract, change: dict[str, Any], where: str
) -> None:
    """An unknown status, a call without call_id or a partial usage is a violation (what tolerance covers)."""
    with pytest.raises(ContractViolation, match=where):
        responses_contract.validate_response("GET", "/responses/resp_1", 200, {**SAMPLES["failed"], **change})


def test_the_checking_transport_records_a_bad_request_body(serve: ServeFactory) -> None:
    """A create body outside the spec (temperature 5) is recorded as a request violation by the checked client."""
    served = serve(lambda request: httpx.Response(200, json=SAMPLES["queued background"]))
    served.client.create_response({"model": "gpt-4o", "input": "hi", "temperature": 5})
    (violation,) = served.violations()
    assert violation.startswith("request POST /responses") and "temperature" in violation


def test_the_paths_contract_knows_the_client_endpoints(responses_contract: PathsContract) -> None:
    """Every endpoint the client calls is an operation of the spec, and the beta variants are left out."""
    expected = {
        ("POST", "/responses"): "createResponse",
        ("GET", "/responses/resp_1"): "getResponse",
        ("DELETE", "/responses/resp_1"): "deleteResponse",
        ("POST", "/responses/resp_1/cancel"): "cancelResponse",
        ("GET", "/responses/resp_1/input_items"): "listInputItems",
        ("POST", "/conversations"): "createConversation",
        ("GET", "/conversations/conv_1"): "getConversation",
        ("DELETE", "/conversations/conv_1"): "deleteConversation",
        ("POST", "/conversations/conv_1/items"): "createConversationItems",
        ("GET", "/conversations/conv_1/items"): "listConversationItems",
    }
    for (method, path), operation_id in expected.items():
        operation = responses_contract.find_operation(method, path)
        assert operation is not None and operation.operation_id == operation_id, (method, path)
    assert not any("?" in operation.path_template for operation in responses_contract.operations)
