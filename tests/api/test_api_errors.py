"""Classification of HTTP failures into the ``batchrunner.api.errors`` tree."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from batchrunner.api.errors import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    RequestRejectedError,
    TransientError,
    classify_response,
    classify_transport_error,
    invalid_response_error,
    redact,
)


def _error_body(message: str, error_type: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


RATE_LIMIT_TOKENS = _error_body(
    "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 30000",
    "tokens",
    "rate_limit_exceeded",
)
RATE_LIMIT_REQUESTS = _error_body(
    "Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 3, Used 3",
    "requests",
    "rate_limit_exceeded",
)
QUOTA = _error_body(
    "You exceeded your current quota, please check your plan and billing details.",
    "insufficient_quota",
    "insufficient_quota",
)


def _response(
    status: int, body: Any = None, headers: dict[str, str] | None = None, text: str | None = None
) -> httpx.Response:
    request = httpx.Request("POST", "https://api.example/v1/threads/t/runs")
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "body", "expected_class"),
    [
        (
            400,
            _error_body("Invalid value for 'temperature'", "invalid_request_error", None, "temperature"),
            RequestRejectedError,
        ),
        (
            401,
            _error_body("Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
            AuthenticationError,
        ),
        (403, _error_body("Not allowed", "invalid_request_error"), AuthenticationError),
        (404, _error_body("No thread found with id 't'.", "invalid_request_error"), NotFoundError),
        (408, _error_body("Request timed out", "server_error"), TransientError),
        (409, _error_body("Conflict", "invalid_request_error"), TransientError),
        (413, _error_body("Request too large", "invalid_request_error"), RequestRejectedError),
        (422, _error_body("Unprocessable", "invalid_request_error"), RequestRejectedError),
        (429, RATE_LIMIT_TOKENS, RateLimitedError),
        (429, RATE_LIMIT_REQUESTS, RateLimitedError),
        (429, QUOTA, QuotaExhaustedError),
        (500, _error_body("The server had an error", "server_error"), TransientError),
        (502, _error_body("Bad gateway", "server_error"), TransientError),
        (503, _error_body("The engine is currently overloaded", "server_error"), TransientError),
        (504, _error_body("Gateway timeout", "server_error"), TransientError),
    ],
)
def test_status_classification(status: int, body: dict[str, Any], expected_class: type[ApiError]) -> None:
    """Each status (and 429 kind) maps to exactly the class the tree in errors.py promises."""
    error = classify_response(_response(status, body), endpoint="/threads/{thread_id}/runs", method="POST")
    assert type(error) is expected_class
    assert error.status_code == status
    assert error.message == body["error"]["message"]
    assert error.endpoint == "/threads/{thread_id}/runs"
    assert error.method == "POST"


def test_openai_error_fields_are_kept() -> None:
    """type, code, param and the x-request-id header are carried on the exception."""
    body = _error_body("Invalid 'temperature': must be <= 2", "invalid_request_error", "invalid_value", "temperature")
    error = classify_response(_response(400, body, {"x-request-id": "req_123"}))
    assert (error.error_type, error.code, error.param, error.request_id) == (
        "invalid_request_error",
        "invalid_value",
        "temperature",
        "req_123",
    )
    assert "must be <= 2" in str(error) and "req_123" in str(error)


@pytest.mark.parametrize(
    ("body", "headers", "expected_kind", "expected_wait"),
    [
        (RATE_LIMIT_TOKENS, {"retry-after-ms": "1500"}, "tokens", 1.5),
        (RATE_LIMIT_REQUESTS, {"retry-after": "2"}, "requests", 2.0),
        (
            _error_body("Slow down", "rate_limit_exceeded", "rate_limit_exceeded"),
            {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "750ms"},
            "requests",
            0.75,
        ),
        (
            _error_body("Slow down", "rate_limit_exceeded", "rate_limit_exceeded"),
            {
                "x-ratelimit-remaining-requests": "5",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "6m0s",
            },
            "tokens",
            360.0,
        ),
        (_error_body("Slow down", "rate_limit_exceeded", "rate_limit_exceeded"), {}, None, None),
    ],
)
def test_rate_limit_kind_and_wait(
    body: dict[str, Any], headers: dict[str, str], expected_kind: str | None, expected_wait: float | None
) -> None:
    """The 429 kind comes from the body or the exhausted header; the wait from retry-after or the reset."""
    error = classify_response(_response(429, body, headers))
    assert isinstance(error, RateLimitedError)
    assert error.kind == expected_kind
    assert error.retry_after == (pytest.approx(expected_wait) if expected_wait is not None else None)


def test_rate_limited_error_carries_rate_limit_headers() -> None:
    """The x-ratelimit headers of a 429 are parsed onto the error."""
    error = classify_response(_response(429, RATE_LIMIT_TOKENS, {"x-ratelimit-remaining-tokens": "0"}))
    assert isinstance(error, RateLimitedError)
    assert error.rate_limit is not None and error.rate_limit.remaining_tokens == 0


def test_insufficient_quota_detected_by_type_alone() -> None:
    """A quota 429 whose code is missing is still recognised by its type."""
    body = _error_body("You exceeded your current quota", "insufficient_quota", None)
    assert isinstance(classify_response(_response(429, body, {"retry-after": "1"})), QuotaExhaustedError)


def test_transient_error_keeps_retry_after() -> None:
    """A 503 with retry-after tells the caller how long to wait."""
    error = classify_response(_response(503, _error_body("busy", "server_error"), {"retry-after": "4"}))
    assert isinstance(error, TransientError) and error.retry_after == 4.0


@pytest.mark.parametrize(
    ("status", "should_retry", "body", "expected_class"),
    [
        (400, "true", _error_body("try again", "invalid_request_error"), TransientError),
        (404, "TRUE", _error_body("not yet", "invalid_request_error"), TransientError),
        (500, "false", _error_body("broken for good", "server_error"), RequestRejectedError),
        (409, "false", _error_body("conflict", "invalid_request_error"), RequestRejectedError),
        (429, "false", RATE_LIMIT_TOKENS, RequestRejectedError),
        (429, "true", QUOTA, QuotaExhaustedError),
        (500, "maybe", _error_body("flaky", "server_error"), TransientError),
    ],
)
def test_x_should_retry_overrides_status(
    status: int, should_retry: str, body: dict[str, Any], expected_class: type[ApiError]
) -> None:
    """x-should-retry true/false wins over the status, except that exhausted quota never retries."""
    error = classify_response(_response(status, body, {"x-should-retry": should_retry}))
    assert type(error) is expected_class


@pytest.mark.parametrize(
    ("status", "text", "content_type", "expected_message"),
    [
        (
            502,
            "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            "text/html",
            "HTTP 502 Bad Gateway",
        ),
        (500, "", "text/plain", "HTTP 500 Internal Server Error"),
        (503, "upstream connect error", "text/plain", "HTTP 503 Service Unavailable: upstream connect error"),
        (
            400,
            '{"error": {"message": "trunc',
            "application/json",
            'HTTP 400 Bad Request: {"error": {"message": "trunc',
        ),
        (400, '{"error": "plain string error"}', "application/json", "plain string error"),
        (422, '{"detail": "field required"}', "application/json", "field required"),
        (
            422,
            '{"detail": [{"type": "missing", "loc": ["body", "tools", 0, "function"], "msg": "Field required"}]}',
            "application/json",
            "HTTP 422 Unprocessable Entity: tools.0.function: Field required",
        ),
        (400, '{"error": {"type": "invalid_request_error"}}', "application/json", "HTTP 400 Bad Request"),
        (400, "[1, 2]", "application/json", "HTTP 400 Bad Request"),
    ],
)
def test_unusual_error_bodies(status: int, text: str, content_type: str, expected_message: str) -> None:
    """HTML, empty, truncated and non-OpenAI bodies still give a readable message and the right class."""
    error = classify_response(_response(status, headers={"content-type": content_type}, text=text))
    assert error.message == expected_message
    assert isinstance(error, TransientError) == (status >= 500)


def test_undecodable_json_body() -> None:
    """Bytes that are not UTF-8 under a JSON content type do not break classification."""
    request = httpx.Request("GET", "https://api.example/v1/threads/t")
    response = httpx.Response(
        500, content=b"\xff\xfe\x00{broken", request=request, headers={"content-type": "application/json"}
    )
    error = classify_response(response)
    assert isinstance(error, TransientError)
    assert error.message.startswith("HTTP 500 Internal Server Error")


def test_long_error_message_is_shortened() -> None:
    """A huge plain-text body does not end up whole in the exception."""
    error = classify_response(_response(500, text="x" * 10_000))
    assert 100 < len(error.message) <= 600


@pytest.mark.parametrize(
    ("exc", "expected_words"),
    [
        (httpx.ConnectTimeout("timed out"), "connect timeout"),
        (httpx.ReadTimeout("timed out"), "read timeout"),
        (httpx.WriteTimeout("timed out"), "write timeout"),
        (httpx.PoolTimeout("timed out"), "pool"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection failed"),
        (httpx.ReadError("[Errno 104] Connection reset by peer"), "connection lost while reading"),
        (httpx.WriteError("Broken pipe"), "connection lost while sending"),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), "dropped"),
        (httpx.ProxyError("bad proxy"), "proxy"),
    ],
)
def test_transport_errors_are_transient(exc: httpx.TransportError, expected_words: str) -> None:
    """Timeouts and connection failures become TransientError with no status and no chained cause."""
    error = classify_transport_error(exc, "/threads/{thread_id}/runs/{run_id}", method="GET")
    assert type(error) is TransientError
    assert error.status_code is None
    assert expected_words in error.message
    assert error.endpoint == "/threads/{thread_id}/runs/{run_id}"
    assert error.__cause__ is None and error.__context__ is None


def test_invalid_response_error_is_transient() -> None:
    """A 200 whose body cannot be used is retryable and says what was wrong."""
    error = invalid_response_error(_response(200, {"id": 1}), "body is not JSON", endpoint="/threads")
    assert isinstance(error, TransientError)
    assert "body is not JSON" in error.message and error.status_code == 200


def test_redact_removes_secret_everywhere() -> None:
    """redact() scrubs the secret from the message, str(), repr() and args."""
    body = _error_body("Incorrect API key provided: sk-secret", "auth", "sk-secret")
    error = classify_response(_response(401, body))
    redact(error, "sk-secret")
    for text in (error.message, str(error), repr(error), str(error.args), error.code or ""):
        assert "sk-secret" not in text
    assert "[REDACTED]" in error.message
