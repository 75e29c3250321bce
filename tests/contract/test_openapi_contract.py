"""The contract checker itself: it accepts what the spec allows and names what it does not."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchrunner.testing.openapi_contract import (
    SPEC_ENV,
    ContractCheckingTransport,
    ContractViolation,
    OpenApiContract,
    find_openapi_spec,
    load_contract,
    load_reduced_spec,
)


def test_locator_searches_upward_from_the_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The subset is found in any ancestor directory; without one the error names the missing path."""
    monkeypatch.delenv(SPEC_ENV, raising=False)
    spec = tmp_path / "spec" / "openai-openapi" / "openapi.subset.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text("openapi: 3.1.0\n")
    deep = tmp_path / "batchrunner" / "testing"
    deep.mkdir(parents=True)
    assert find_openapi_spec(deep) == spec.resolve()
    with pytest.raises(FileNotFoundError, match="openai-openapi"):
        find_openapi_spec(Path("/"))


def test_the_environment_names_another_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BATCHRUNNER_OPENAPI_SPEC (the whole official document, say) wins; a wrong path is an error naming it."""
    official = tmp_path / "openapi.yaml"
    official.write_text("openapi: 3.1.0\n")
    monkeypatch.setenv(SPEC_ENV, str(official))
    assert find_openapi_spec(Path(__file__)) == official.resolve()
    monkeypatch.setenv(SPEC_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        find_openapi_spec(Path(__file__))


def test_loading_is_cached(openapi_contract: OpenApiContract) -> None:
    """A second load of the same spec is served from memory."""
    path = str(find_openapi_spec(Path(__file__)))
    assert load_reduced_spec(path) is load_reduced_spec(path)
    assert load_contract(path) is load_contract(path)


def test_reduced_spec_keeps_assistants_paths_only(openapi_contract: OpenApiContract) -> None:
    """Only /threads and /assistants paths remain, with every component they reference."""
    paths = openapi_contract.spec["paths"]
    assert "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs" in paths
    assert all(p.startswith(("/threads", "/assistants")) for p in paths)
    assert {"RunObject", "ErrorResponse", "ListRunsResponse"} <= set(openapi_contract.spec["components"]["schemas"])
    assert "nullable" not in json.dumps(openapi_contract.spec).replace('"nullable":', "")  # keys only


@pytest.mark.parametrize(
    ("method", "path", "operation_id"),
    [
        ("POST", "/threads", "createThread"),
        ("POST", "/threads/runs", "createThreadAndRun"),
        ("POST", "/threads/thread_1", "modifyThread"),
        ("GET", "/threads/thread_1/runs?limit=2", "listRuns"),
        ("POST", "/threads/thread_1/runs", "createRun"),
        ("GET", "/threads/thread_1/runs/run_1", "getRun"),
        ("POST", "/threads/thread_1/runs/run_1/cancel", "cancelRun"),
        ("POST", "/threads/thread_1/runs/run_1/submit_tool_outputs", "submitToolOuputsToRun"),
        ("GET", "/threads/thread_1/runs/run_1/steps", "listRunSteps"),
        ("GET", "/threads/t%2F1/messages", "listMessages"),
    ],
)
def test_paths_match_operations(openapi_contract: OpenApiContract, method: str, path: str, operation_id: str) -> None:
    """Concrete paths map to their operation; literal segments win over parameters."""
    operation = openapi_contract.find_operation(method, path)
    assert operation is not None and operation.operation_id == operation_id


def test_unknown_operation_is_a_violation(openapi_contract: OpenApiContract) -> None:
    """A path or method the spec does not have is reported."""
    with pytest.raises(ContractViolation, match="no such operation"):
        openapi_contract.validate_request("PUT", "/threads/thread_1/runs", {})
    with pytest.raises(ContractViolation, match="no such operation"):
        openapi_contract.validate_request("GET", "/threads/thread_1/runs/run_1/logs", None)


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/threads/t/runs", {"temperature": 0.5}, "'assistant_id' is a required property"),
        ("/threads/t/runs", {"assistant_id": "a", "temperature": 2.5}, r"\$\.temperature"),
        ("/threads/t/runs", {"assistant_id": "a", "colour": "red"}, "'colour' was unexpected"),
        ("/threads/t/runs", {"assistant_id": "a", "tool_choice": "sometimes"}, r"\$\.tool_choice"),
        ("/threads/t/runs", {"assistant_id": "a", "metadata": {"k": 1}}, r"\$\.metadata"),
        ("/threads/t/runs/r/submit_tool_outputs", {"tool_outputs": "42"}, r"\$\.tool_outputs"),
        ("/threads", {"messages": [{"role": "system", "content": "x"}]}, r"\$\.messages\[0\]\.role"),
        ("/threads/t/runs", None, "required but missing"),
        ("/threads/t/runs/r/cancel", {"reason": "x"}, "takes no body"),
    ],
)
def test_request_violations_name_operation_and_field(
    openapi_contract: OpenApiContract, path: str, body: Any, expected: str
) -> None:
    """Invalid request bodies are rejected with the operation id and the JSON path of the problem."""
    with pytest.raises(ContractViolation, match=expected) as caught:
        openapi_contract.validate_request("POST", path, body)
    assert openapi_contract.find_operation("POST", path).operation_id in str(caught.value)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/threads/t/runs?limit=ten", "'ten' is not of type 'integer'"),
        ("/threads/t/runs?order=newest", "'newest' is not one of"),
        ("/threads/t/runs?page=2", "'page': not declared"),
    ],
)
def test_query_violations(openapi_contract: OpenApiContract, path: str, expected: str) -> None:
    """Query parameters are checked against their declared schemas; undeclared ones are reported."""
    with pytest.raises(ContractViolation, match=expected):
        openapi_contract.validate_request("GET", path, None)


def test_nullable_fields_accept_null_and_others_do_not(openapi_contract: OpenApiContract, canned: Any) -> None:
    """3.0 nullable fields accept null after the rewrite; non-nullable ones still reject it."""
    openapi_contract.validate_response(
        "GET",
        "/threads/t/runs/r",
        200,
        canned.run(expires_at=None, temperature=None, truncation_strategy=None),
    )
    with pytest.raises(ContractViolation, match=r"\$\.instructions"):
        openapi_contract.validate_response("GET", "/threads/t/runs/r", 200, canned.run(instructions=None))
    with pytest.raises(ContractViolation, match=r"\$\.status"):
        openapi_contract.validate_response("GET", "/threads/t/runs/r", 200, canned.run(status="paused"))


@pytest.mark.parametrize(
    ("method", "path", "builder"),
    [
        ("POST", "/threads", lambda c: c.thread()),
        ("POST", "/threads/t/messages", lambda c: c.message(role="user")),
        ("GET", "/threads/t/runs/r", lambda c: c.run()),
        ("GET", "/threads/t/runs", lambda c: c.page([c.run("run_1"), c.run("run_2", "completed")], True)),
        ("GET", "/threads/t/runs/r/steps", lambda c: c.page([c.step(), c.step("step_2", "tool_calls")])),
        ("GET", "/threads/t/messages", lambda c: c.page([c.message()])),
    ],
)
def test_canned_responses_are_valid(
    openapi_contract: OpenApiContract, canned: Any, method: str, path: str, builder: Any
) -> None:
    """The canned bodies other contract tests rely on satisfy the official schemas."""
    openapi_contract.validate_response(method, path, 200, builder(canned))


def test_response_status_and_error_bodies(openapi_contract: OpenApiContract, canned: Any) -> None:
    """Undeclared 2xx statuses are violations; error bodies must be ErrorResponse; 429 headers are checked."""
    with pytest.raises(ContractViolation, match="status not declared"):
        openapi_contract.validate_response("GET", "/threads/t/runs/r", 201, canned.run())
    error = canned.error("Rate limit reached", "requests", "rate_limit_exceeded")
    openapi_contract.validate_response("GET", "/threads/t/runs/r", 429, error, headers={"Retry-After": "2"})
    openapi_contract.validate_response("GET", "/threads/t/runs/r", 503, canned.error("busy", "server_error"))
    with pytest.raises(ContractViolation, match="Retry-After"):
        openapi_contract.validate_response("GET", "/threads/t/runs/r", 429, error, headers={"Retry-After": "0"})
    with pytest.raises(ContractViolation, match="'param' is a required property"):
        openapi_contract.validate_response(
            "GET", "/threads/t/runs/r", 404, {"error": {"message": "gone", "type": "invalid_request_error"}}
        )


def _transport(openapi_contract: OpenApiContract, handler: Any, **kwargs: Any) -> ContractCheckingTransport:
    return ContractCheckingTransport(httpx.MockTransport(handler), openapi_contract, **kwargs)


@pytest.mark.parametrize("base", ["http://sim/v1", "http://proxy/some/prefix/v1", "http://sim"])
def test_transport_records_violations_in_both_directions(
    openapi_contract: OpenApiContract, canned: Any, base: str
) -> None:
    """The wrapping transport strips any base path, and records request and response violations."""
    transport = _transport(openapi_contract, lambda request: httpx.Response(200, json={"id": "run_1"}))
    with httpx.Client(transport=transport) as client:
        response = client.post(f"{base}/threads/thread_1/runs", json={"temperature": 9})
    assert response.json() == {"id": "run_1"}
    assert [(v.direction, v.path) for v in transport.violations] == [
        ("request", "/threads/thread_1/runs"),
        ("response", "/threads/thread_1/runs"),
    ]
    assert "assistant_id" in transport.violations[0].message
    assert "createRun" in transport.violations[1].message


def test_transport_with_explicit_base_path_and_clean_traffic(openapi_contract: OpenApiContract, canned: Any) -> None:
    """Valid traffic records nothing; the query string is validated too."""
    page = canned.page([canned.run()])
    transport = _transport(openapi_contract, lambda request: httpx.Response(200, json=page), base_path="/v1")
    with httpx.Client(transport=transport) as client:
        client.get("http://sim/v1/threads/thread_1/runs", params={"limit": 5, "order": "asc"})
        client.get("http://sim/v1/threads/thread_1/runs", params={"limit": "many"})
    assert [v.direction for v in transport.violations] == ["request"]
    assert "limit" in transport.violations[0].message


def test_transport_flags_non_json_responses(openapi_contract: OpenApiContract) -> None:
    """An HTML error page is a response violation (the spec promises JSON error bodies)."""
    transport = _transport(openapi_contract, lambda request: httpx.Response(502, text="<html>bad</html>"))
    with httpx.Client(transport=transport) as client:
        assert client.get("http://sim/v1/threads/t/runs/r").status_code == 502
    assert len(transport.violations) == 1 and "not JSON" in transport.violations[0].message


def test_transport_passes_compressed_bodies_through_unchanged(openapi_contract: OpenApiContract, canned: Any) -> None:
    """A gzip-encoded response is validated decoded, and reaches the client intact."""
    raw = gzip.compress(json.dumps(canned.run()).encode())
    transport = _transport(
        openapi_contract,
        lambda request: httpx.Response(
            200, content=raw, headers={"content-encoding": "gzip", "content-type": "application/json"}
        ),
    )
    with httpx.Client(transport=transport) as client:
        assert client.get("http://sim/v1/threads/t/runs/r").json()["id"] == "run_1"
    assert transport.violations == []


def test_transport_can_refuse_invalid_requests(openapi_contract: OpenApiContract) -> None:
    """With raise_on_violation an invalid request raises and never reaches the server."""
    sent: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    transport = _transport(openapi_contract, server, raise_on_violation=True)
    with httpx.Client(transport=transport) as client, pytest.raises(ContractViolation):
        client.post("http://sim/v1/threads/t/runs", json={})
    assert sent == []
