"""The one place where HTTP failures become exceptions (DESIGN principle 6).

Every failure the client sees is translated here, exactly once, into one of these classes; callers
decide what to do by class, never by status code::

    ApiError(Exception)          message, status_code, error_type, code, param, request_id, endpoint, method
    ├── RetryableError           retry_after (seconds, from retry-after-ms / retry-after)
    │   ├── RateLimitedError     429 rate_limit_exceeded: wait for budget; kind "requests" | "tokens" | None
    │   └── TransientError       5xx, 408, 409, timeouts, connection errors, unreadable 2xx bodies
    ├── QuotaExhaustedError      429 insufficient_quota: stop the batch
    ├── CapacityUnavailableError 429 resource_unavailable (flex processing): this request later, or another lane
    └── RequestRejectedError     any other 4xx (400, 413, 422, ...): fail the job with the server's message
        ├── AuthenticationError  401, 403: the key is wrong or lacks access
        └── NotFoundError        404

The server's ``x-should-retry`` header overrides the status: ``true`` makes a rejection a
``TransientError``, ``false`` makes a transient failure (or a 429 rate limit) a ``RequestRejectedError``.
``insufficient_quota`` is never retryable. A flex capacity shortage is no rate limit: it pauses nothing
but the job that met it.

No exception carries the request (its headers hold the API key), and messages are built from the
response body and a short description of transport errors only.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from batchrunner.api.headers import RateLimitInfo, parse_rate_limit, parse_retry_after

__all__ = [
    "ApiError",
    "AuthenticationError",
    "CapacityUnavailableError",
    "NotFoundError",
    "QuotaExhaustedError",
    "RateLimitedError",
    "RequestRejectedError",
    "RetryableError",
    "TransientError",
    "classify_response",
    "classify_transport_error",
    "invalid_response_error",
    "redact",
]

_MAX_MESSAGE_CHARS = 500
_REDACTED = "[REDACTED]"


class ApiError(Exception):
    """A request to the API failed; ``message`` is the server's explanation when it gave one."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        endpoint: str | None = None,
        method: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_type = error_type
        self.code = code
        self.param = param
        self.request_id = request_id
        self.endpoint = endpoint
        self.method = method

    def __str__(self) -> str:
        where = f"{self.method} {self.endpoint}: " if self.method and self.endpoint else ""
        facts = [f"status {self.status_code}"] if self.status_code is not None else []
        facts += [
            f"{label} {value}"
            for label, value in (("type", self.error_type), ("code", self.code), ("request", self.request_id))
            if value
        ]
        suffix = f" ({', '.join(facts)})" if facts else ""
        return f"{where}{self.message}{suffix}"

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, status_code={self.status_code!r}, code={self.code!r})"


class RetryableError(ApiError):
    """Trying the same request again later may succeed; ``retry_after`` is the server's wait, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.retry_after = retry_after


class RateLimitedError(RetryableError):
    """429 ``rate_limit_exceeded``: wait for the budget (a wait, not a failure)."""

    def __init__(
        self, message: str, *, kind: str | None = None, rate_limit: RateLimitInfo | None = None, **fields: Any
    ) -> None:
        super().__init__(message, **fields)
        self.kind = kind
        self.rate_limit = rate_limit


class TransientError(RetryableError):
    """5xx, 408, 409, a timeout or a dropped connection: retry with backoff."""


class QuotaExhaustedError(ApiError):
    """429 ``insufficient_quota``: no amount of waiting helps; stop the batch."""


class CapacityUnavailableError(ApiError):
    """429 ``resource_unavailable``: flex processing has no capacity now (not charged; no fleet-wide wait)."""


class RequestRejectedError(ApiError):
    """The server refused this request as sent (4xx); retrying it unchanged would fail again."""


class AuthenticationError(RequestRejectedError):
    """401 or 403: the API key is missing, wrong, or lacks access."""


class NotFoundError(RequestRejectedError):
    """404: the thread, run or path does not exist (on the hosted API after its shutdown, every path)."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _shorten(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 1] + "…"


def _error_fields(response: httpx.Response) -> dict[str, str | None]:
    """Message, type, param and code from an OpenAI error body, or a description of whatever came back."""
    fallback = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        text = response.text if response.content else ""
        looks_like_html = text.lstrip()[:1] == "<"
        detail = "" if not text.strip() or looks_like_html else f": {_shorten(text)}"
        return {"message": fallback + detail, "type": None, "param": None, "code": None}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = _text(error.get("message")) or fallback
        return {
            "message": _shorten(message),
            "type": _text(error.get("type")),
            "param": _text(error.get("param")),
            "code": _text(error.get("code")),
        }
    # Compatible servers sometimes answer {"error": "..."}, {"message": "..."} or {"detail": "..."}.
    for key in ("error", "message", "detail"):
        value = body.get(key) if isinstance(body, dict) else None
        if isinstance(value, str) and value.strip():
            return {"message": _shorten(value), "type": None, "param": None, "code": None}
    problems = body.get("detail") if isinstance(body, dict) else None
    if isinstance(problems, list) and problems:
        return _validation_detail(fallback, problems)
    return {"message": fallback, "type": None, "param": None, "code": None}


def _validation_detail(fallback: str, detail: list[Any]) -> dict[str, str | None]:
    """A FastAPI-style 422 (``{"detail": [{"loc", "msg"}, ...]}``): each field and what was wrong with it."""
    problems = []
    for entry in detail:
        if isinstance(entry, dict):
            location = ".".join(str(part) for part in entry.get("loc") or () if part != "body")
            problems.append(f"{location}: {entry.get('msg')}" if location else str(entry.get("msg")))
    if not problems:
        return {"message": fallback, "type": None, "param": None, "code": None}
    first = detail[0] if isinstance(detail[0], dict) else {}
    param = ".".join(str(part) for part in first.get("loc") or () if part != "body") or None
    return {"message": _shorten(f"{fallback}: " + "; ".join(problems)), "type": None, "param": param, "code": None}


def _should_retry(response: httpx.Response) -> bool | None:
    value = response.headers.get("x-should-retry", "").strip().lower()
    return {"true": True, "false": False}.get(value)


def _rate_limit_kind(error_type: str | None, message: str, info: RateLimitInfo | None) -> str | None:
    for kind in ("requests", "tokens"):
        if error_type and error_type.startswith(kind):
            return kind
    lowered = message.lower()
    if "requests per" in lowered or "(rpm)" in lowered or "(rpd)" in lowered:
        return "requests"
    if "tokens per" in lowered or "(tpm)" in lowered or "(tpd)" in lowered:
        return "tokens"
    if info is not None:
        if info.remaining_requests == 0:
            return "requests"
        if info.remaining_tokens == 0:
            return "tokens"
    return None


def _reset_for(kind: str | None, info: RateLimitInfo | None) -> float | None:
    if info is None:
        return None
    if kind == "requests":
        return info.reset_requests_s
    if kind == "tokens":
        return info.reset_tokens_s
    return None


def classify_response(response: httpx.Response, *, endpoint: str | None = None, method: str | None = None) -> ApiError:
    """The exception for a response whose status is not 2xx (see the tree in this module's docstring)."""
    status = response.status_code
    body = _error_fields(response)
    message = body["message"] or f"HTTP {status}"
    fields: dict[str, Any] = {
        "status_code": status,
        "error_type": body["type"],
        "code": body["code"],
        "param": body["param"],
        "request_id": response.headers.get("x-request-id"),
        "endpoint": endpoint,
        "method": method,
    }
    retry_after = parse_retry_after(response.headers)
    should_retry = _should_retry(response)

    if status == 429 and "insufficient_quota" in (body["code"], body["type"]):
        return QuotaExhaustedError(message, **fields)
    if status == 429 and body["code"] == "resource_unavailable":
        return CapacityUnavailableError(message, **fields)
    if status == 429 and should_retry is not False:
        info = parse_rate_limit(response.headers)
        kind = _rate_limit_kind(body["type"], message, info)
        wait = retry_after if retry_after is not None else _reset_for(kind, info)
        return RateLimitedError(message, retry_after=wait, kind=kind, rate_limit=info, **fields)

    transient_status = status >= 500 or status in (408, 409)
    if should_retry is True or (transient_status and should_retry is None):
        return TransientError(message, retry_after=retry_after, **fields)
    if status in (401, 403):
        return AuthenticationError(message, **fields)
    if status == 404:
        return NotFoundError(message, **fields)
    return RequestRejectedError(message, **fields)


_TRANSPORT_DESCRIPTIONS: tuple[tuple[type[httpx.TransportError], str], ...] = (
    (httpx.ConnectTimeout, "connect timeout"),
    (httpx.ReadTimeout, "read timeout"),
    (httpx.WriteTimeout, "write timeout"),
    (httpx.PoolTimeout, "timed out waiting for a connection from the pool"),
    (httpx.TimeoutException, "timeout"),
    (httpx.ConnectError, "connection failed"),
    (httpx.RemoteProtocolError, "connection dropped by the server"),
    (httpx.ReadError, "connection lost while reading the response"),
    (httpx.WriteError, "connection lost while sending the request"),
    (httpx.ProxyError, "proxy error"),
    (httpx.ProtocolError, "protocol error"),
    (httpx.NetworkError, "network error"),
)


def classify_transport_error(exc: httpx.TransportError, endpoint: str, *, method: str | None = None) -> TransientError:
    """A ``TransientError`` describing a request that got no response (the exception is not chained)."""
    description = next((text for kind, text in _TRANSPORT_DESCRIPTIONS if isinstance(exc, kind)), "transport error")
    # str(exc) of httpx errors is the socket-level reason ("[Errno 111] Connection refused"), never headers.
    detail = _shorten(str(exc.args[0])) if exc.args and isinstance(exc.args[0], str) else ""
    message = f"{description} ({type(exc).__name__}{': ' + detail if detail else ''})"
    return TransientError(message, endpoint=endpoint, method=method)


def invalid_response_error(
    response: httpx.Response, problem: str, *, endpoint: str | None = None, method: str | None = None
) -> TransientError:
    """A 2xx response whose body is not what the API promises (truncated JSON, wrong shape)."""
    return TransientError(
        f"unreadable {response.status_code} response: {_shorten(problem)}",
        status_code=response.status_code,
        request_id=response.headers.get("x-request-id"),
        endpoint=endpoint,
        method=method,
    )


def redact(error: ApiError, secret: str | None) -> ApiError:
    """``error`` with every occurrence of ``secret`` removed from its text (defence in depth for the key)."""
    if not secret:
        return error
    for name in ("message", "error_type", "code", "param"):
        value = getattr(error, name)
        if isinstance(value, str) and secret in value:
            setattr(error, name, value.replace(secret, _REDACTED))
    error.args = (error.message,)
    return error
