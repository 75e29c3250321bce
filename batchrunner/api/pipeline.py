"""The request pipeline every API client shares: send, classify, parse, report, redact.

``ApiPipeline`` owns one ``httpx.Client`` and turns ``call(method, template, ids, model)`` into an
``ApiResponse[model]`` or one of the exceptions of ``batchrunner.api.errors``. It never retries and never
sleeps: the job state machine reschedules work with delayed messages. Errors are raised outside the
``except`` block that caught the httpx exception, so no exception (not even ``__context__``) keeps the
request and its ``Authorization`` header.

``PipelineSteps`` holds the parts that do not depend on how the request is sent (base URL, headers,
metrics hook, the key for redaction, classification and parsing of a reply), so that streamed requests on
an ``httpx.AsyncClient`` (``batchrunner.api.object_streams``) go through the same steps as plain ones.

API-specific headers (``OpenAI-Beta: assistants=v2`` for Assistants) are the caller's ``default_headers``.
"""

from __future__ import annotations

import json as jsonlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from batchrunner.api.errors import (
    ApiError,
    TransientError,
    classify_response,
    classify_transport_error,
    invalid_response_error,
    redact,
)
from batchrunner.api.headers import parse_poll_after_ms, parse_rate_limit
from batchrunner.api.models import ApiResponse, ResponseMeta

__all__ = [
    "MAX_PAGE_SIZE",
    "ApiPipeline",
    "PipelineClient",
    "PipelineOptions",
    "PipelineSteps",
    "RequestRecord",
    "base_headers",
    "check_page_params",
    "checked_base_url",
    "path_id",
    "path_of",
    "report_request",
    "response_meta",
    "validation_problems",
]

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)

# The largest ``limit`` the list endpoints accept (Assistants and Responses alike).
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class RequestRecord:
    """One request, for metrics: the endpoint template (no ids), method, status (None: no response)."""

    endpoint: str
    method: str
    status_code: int | None
    seconds: float


def report_request(on_response: Callable[[RequestRecord], None] | None, record: RequestRecord) -> None:
    """Pass ``record`` to the metrics hook; a broken hook must not fail API calls."""
    if on_response is None:
        return
    try:
        on_response(record)
    except Exception:
        log.exception("on_response hook failed for %s %s", record.method, record.endpoint)


def checked_base_url(base_url: str) -> httpx.URL:
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base URL must be an http(s) URL with a host, got {base_url!r}")
    return url


def base_headers(api_key: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers every JSON request carries (the key only in ``Authorization``), then ``extra`` over them."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    headers.update(extra or {})
    return headers


def path_of(template: str, ids: Mapping[str, str]) -> str:
    """``template`` with its ``{name}`` parts filled in, each id checked and quoted."""
    return template.format(**{name: path_id(name, value) for name, value in ids.items()})


def path_id(name: str, value: str) -> str:
    """``value`` quoted as one path segment; an empty or non-string id is a caller bug (ValueError)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"missing required {name} parameter")
    return quote(value, safe="")


def check_page_params(order: str, limit: int, *, limit_name: str = "limit") -> None:
    """Raise ValueError unless ``order`` is asc/desc and ``limit`` is a page size the API accepts."""
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"{limit_name} must be between 1 and {MAX_PAGE_SIZE}, got {limit}")


def validation_problems(exc: ValidationError) -> str:
    """Where and why a body failed validation (``created_at: Field required; ...``), never the input."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or '$'}: {e['msg']}" for e in exc.errors(include_url=False, include_input=False)
    )


def response_meta(response: httpx.Response) -> ResponseMeta:
    """What a successful reply's headers said: poll-after hint, rate-limit budget, request id."""
    return ResponseMeta(
        status_code=response.status_code,
        poll_after_ms=parse_poll_after_ms(response.headers),
        rate_limit=parse_rate_limit(response.headers),
        request_id=response.headers.get("x-request-id"),
    )


class PipelineSteps:
    """The steps of a request that do not depend on the HTTP client sending it.

    Holds the checked base URL, the headers' ingredients, the metrics hook and the key (as a
    ``SecretStr``, used only to build headers and to redact errors).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        on_response: Callable[[RequestRecord], None] | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = checked_base_url(base_url)
        self.base_url = str(self.url)
        self._secret = SecretStr(api_key or "")  # its repr is masked, unlike a plain str
        self._default_headers = dict(default_headers or {})
        self._on_response = on_response

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The headers to give an HTTP client: ``base_headers``, the default headers, then ``extra``."""
        api_key = self._secret.get_secret_value() or None
        return base_headers(api_key, {**self._default_headers, **(extra or {})})

    def report(self, template: str, method: str, status_code: int | None, started: float) -> None:
        """Tell the metrics hook about a request sent at ``started`` (a ``time.perf_counter()`` value)."""
        report_request(self._on_response, RequestRecord(template, method, status_code, time.perf_counter() - started))

    def redacted(self, error: ApiError) -> ApiError:
        """``error`` with the key removed from its text: apply to every error before it is raised."""
        return redact(error, self._secret.get_secret_value())

    @staticmethod
    def http_failure(exc: httpx.HTTPError, template: str, method: str, *, what: str = "response") -> ApiError:
        """The error for a request that got no usable reply (the httpx exception is not chained)."""
        if isinstance(exc, httpx.TransportError):
            return classify_transport_error(exc, template, method=method)
        # e.g. a body that fails to decompress
        return TransientError(f"unreadable {what} ({type(exc).__name__})", endpoint=template, method=method)

    @staticmethod
    def reply_failure(response: httpx.Response, template: str, method: str) -> ApiError | None:
        """The error a non-2xx reply stands for (its body must have been read); None for a 2xx."""
        if response.is_success:
            return None
        return classify_response(response, endpoint=template, method=method)

    @staticmethod
    def parse(
        response: httpx.Response,
        model: type[ModelT],
        template: str,
        method: str,
        *,
        text: str | None = None,
        what: str = "",
    ) -> ModelT | ApiError:
        """``text`` (the reply's body when None) as ``model``, or the invalid-response error saying why not.

        ``what`` names the part of the reply when it is not the body (``"event thread.run.created"``).
        """
        try:
            return model.model_validate(jsonlib.loads(text) if text is not None else response.json())
        except ValueError as exc:  # JSONDecodeError and pydantic's ValidationError are both ValueErrors
            problem = f"{what or 'body'} is not JSON"
            if isinstance(exc, ValidationError):
                problem = f"{what + ': ' if what else ''}not a valid {model.__name__}: {validation_problems(exc)}"
            return invalid_response_error(response, problem, endpoint=template, method=method)


class ApiPipeline(PipelineSteps):
    """One ``httpx.Client`` and the request pipeline on it, for any JSON API of one server."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        on_response: Callable[[RequestRecord], None] | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(base_url, api_key, on_response=on_response, default_headers=default_headers)
        # httpx merges a relative path onto base_url's path (adding the "/" between them), which keeps
        # any prefix such as "/v1" or "/some/prefix/v1".
        self.http = httpx.Client(
            base_url=self.url, headers=self.headers(), timeout=timeout, transport=transport, follow_redirects=False
        )

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        template: str,
        ids: Mapping[str, str],
        model: type[ModelT],
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        when_empty: ModelT | None = None,
    ) -> ApiResponse[ModelT]:
        """Send one request and return its parsed 2xx reply; raise the classified ``ApiError`` otherwise.

        ``template`` (such as ``/threads/{thread_id}/runs``) is filled with ``ids`` and is what metrics
        and errors name. ``when_empty`` is what a 2xx reply with no body stands for (None: such a reply is
        an invalid response).
        """
        path = path_of(template, ids)
        response = self._send(method, template, path, json=json, params=params)
        if isinstance(response, ApiError):
            raise self.redacted(response)
        data = when_empty if when_empty is not None and not response.content else None
        if data is None:
            parsed = self.parse(response, model, template, method)
            if isinstance(parsed, ApiError):
                raise self.redacted(parsed)
            data = parsed
        return ApiResponse(data=data, meta=response_meta(response))

    def _send(
        self, method: str, template: str, path: str, *, json: Any, params: Mapping[str, str] | None
    ) -> httpx.Response | ApiError:
        """The response, or the classified failure (returned, not raised, so nothing chains to httpx)."""
        started = time.perf_counter()
        outcome: httpx.Response | ApiError
        try:
            outcome = self.http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            outcome = self.http_failure(exc, template, method)
        self.report(template, method, outcome.status_code if isinstance(outcome, httpx.Response) else None, started)
        if isinstance(outcome, httpx.Response):
            return self.reply_failure(outcome, template, method) or outcome
        return outcome


class PipelineOptions(TypedDict, total=False):
    """The keyword arguments of ``ApiPipeline`` besides the base URL and the key."""

    timeout: float
    transport: httpx.BaseTransport | None
    on_response: Callable[[RequestRecord], None] | None
    default_headers: Mapping[str, str] | None


class PipelineClient:
    """Base of the API clients: one ``ApiPipeline`` (``self._pipeline``), ``close()``, a context manager and
    a repr that names the base URL only.

    Takes ``ApiPipeline``'s arguments; ``API_HEADERS`` (headers only this API wants) go under the caller's
    ``default_headers``.
    """

    API_HEADERS: Mapping[str, str] = {}

    def __init__(self, base_url: str, api_key: str | None, **options: Unpack[PipelineOptions]) -> None:
        options["default_headers"] = {**self.API_HEADERS, **(options.get("default_headers") or {})}
        self._pipeline = ApiPipeline(base_url, api_key, **options)
        self.base_url = self._pipeline.base_url

    @property
    def _http(self) -> httpx.Client:
        return self._pipeline.http

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def close(self) -> None:
        self._pipeline.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
