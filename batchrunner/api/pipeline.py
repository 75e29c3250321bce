"""The request pipeline every API client shares: send, classify, parse, report, redact.

``ApiPipeline`` owns one ``httpx.Client`` and turns ``call(method, template, ids, model)`` into an
``ApiResponse[model]`` or one of the exceptions of ``batchrunner.api.errors``. It never retries and never
sleeps: the job state machine reschedules work with delayed messages. Errors are raised outside the
``except`` block that caught the httpx exception, so no exception (not even ``__context__``) keeps the
request and its ``Authorization`` header.

Besides JSON, ``call`` sends multipart forms (``files=`` and ``data=``, for uploads), and ``call_raw`` and
``stream_raw`` return a 2xx reply's body as bytes (file downloads); they classify failures, report metrics
and redact the key exactly as ``call`` does.

``PipelineSteps`` holds the parts that do not depend on how the request is sent (base URL, headers,
metrics hook, the key for redaction, classification and parsing of a reply), so that streamed requests on
an ``httpx.AsyncClient`` (``batchrunner.api.object_streams``) go through the same steps as plain ones.

API-specific headers (``OpenAI-Beta: assistants=v2`` for Assistants) are the caller's ``default_headers``.
"""

from __future__ import annotations

import json as jsonlib
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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
    "RAW_CHUNK_BYTES",
    "ApiPipeline",
    "FormFile",
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

# A multipart file part: (filename, content); its content type is guessed from the filename, as httpx does.
FormFile = tuple[str, bytes]

# The size of the chunks ``stream_raw`` yields (the last may be shorter): large enough that a 200 MB
# download is not a million loops.
RAW_CHUNK_BYTES = 1024 * 1024

# What a raw download accepts: file content is whatever was uploaded; errors still come back as JSON.
_RAW_ACCEPT = {"Accept": "*/*"}


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
        files: Mapping[str, FormFile] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> ApiResponse[ModelT]:
        """Send one request and return its parsed 2xx reply; raise the classified ``ApiError`` otherwise.

        ``template`` (such as ``/threads/{thread_id}/runs``) is filled with ``ids`` and is what metrics
        and errors name. ``when_empty`` is what a 2xx reply with no body stands for (None: such a reply is
        an invalid response). ``files`` and ``data`` send a multipart/form-data body instead of ``json``.
        """
        path = path_of(template, ids)
        response = self._send(method, template, path, json=json, params=params, **_form_arguments(json, files, data))
        if isinstance(response, ApiError):
            raise self.redacted(response)
        result = when_empty if when_empty is not None and not response.content else None
        if result is None:
            parsed = self.parse(response, model, template, method)
            if isinstance(parsed, ApiError):
                raise self.redacted(parsed)
            result = parsed
        return ApiResponse(data=result, meta=response_meta(response))

    def call_raw(
        self, method: str, template: str, ids: Mapping[str, str], *, params: Mapping[str, str] | None = None
    ) -> ApiResponse[bytes]:
        """Like ``call``, but the 2xx reply's body is returned as it came (bytes), not parsed."""
        path = path_of(template, ids)
        response = self._send(method, template, path, json=None, params=params, headers=_RAW_ACCEPT)
        if isinstance(response, ApiError):
            raise self.redacted(response)
        return ApiResponse(data=response.content, meta=response_meta(response))

    @contextmanager
    def stream_raw(
        self,
        method: str,
        template: str,
        ids: Mapping[str, str],
        *,
        params: Mapping[str, str] | None = None,
        chunk_bytes: int = RAW_CHUNK_BYTES,
    ) -> Iterator[Iterator[bytes]]:
        """``call_raw`` for large bodies: ``with pipeline.stream_raw(...) as chunks: for chunk in chunks: ...``.

        A failed request or a non-2xx reply raises on entering; a connection lost while reading raises the
        classified ``TransientError`` from the iteration. The metrics hook hears of the request once, when
        the reply's headers arrive (or sending failed). Leaving the block closes the connection.
        """
        path = path_of(template, ids)
        started = time.perf_counter()
        request = self.http.build_request(method, path, params=params, headers=_RAW_ACCEPT)
        opened: httpx.Response | ApiError
        try:
            opened = self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            opened = self.http_failure(exc, template, method)
        self.report(template, method, opened.status_code if isinstance(opened, httpx.Response) else None, started)
        if isinstance(opened, ApiError):
            raise self.redacted(opened)
        try:
            failure = self._read_failure(opened, template, method)
            if failure is not None:
                raise self.redacted(failure)
            yield self._chunks(opened, template, method, chunk_bytes)
        finally:
            opened.close()

    def _read_failure(self, response: httpx.Response, template: str, method: str) -> ApiError | None:
        """For a streamed reply: the error a non-2xx stands for (its body read first), None for a 2xx."""
        if response.is_success:
            return None
        failure: ApiError | None
        try:
            response.read()
        except httpx.HTTPError as exc:
            failure = self.http_failure(exc, template, method)
        else:
            failure = self.reply_failure(response, template, method)
        return failure

    def _chunks(self, response: httpx.Response, template: str, method: str, chunk_bytes: int) -> Iterator[bytes]:
        chunks = response.iter_bytes(chunk_bytes)
        while True:
            lost: ApiError | None = None
            try:
                chunk = next(chunks, None)
            except httpx.HTTPError as exc:
                lost = self.http_failure(exc, template, method)
            if lost is not None:
                raise self.redacted(lost)
            if chunk is None:
                return
            yield chunk

    def _send(
        self,
        method: str,
        template: str,
        path: str,
        *,
        json: Any,
        params: Mapping[str, str] | None,
        files: Mapping[str, FormFile] | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response | ApiError:
        """The response, or the classified failure (returned, not raised, so nothing chains to httpx)."""
        started = time.perf_counter()
        outcome: httpx.Response | ApiError
        try:
            outcome = self.http.request(method, path, json=json, params=params, files=files, data=data, headers=headers)
        except httpx.HTTPError as exc:
            outcome = self.http_failure(exc, template, method)
        self.report(template, method, outcome.status_code if isinstance(outcome, httpx.Response) else None, started)
        if isinstance(outcome, httpx.Response):
            return self.reply_failure(outcome, template, method) or outcome
        return outcome


class _FormArguments(TypedDict, total=False):
    files: Mapping[str, FormFile]
    data: Mapping[str, str]
    headers: Mapping[str, str]


def _form_arguments(json: Any, files: Mapping[str, FormFile] | None, data: Mapping[str, str] | None) -> _FormArguments:
    """The ``_send`` arguments of a multipart body; none for a JSON (or empty) one.

    The client's default ``Content-Type: application/json`` would win over the multipart one httpx sets
    (httpx only fills in a missing header), so the form's header is set here, with a boundary httpx
    then uses for the body.
    """
    if files is None and data is None:
        return {}
    if files is None:
        raise ValueError("data= holds the text fields of a multipart form: give its files= too")
    if json is not None:
        raise ValueError("send either json or a multipart form (files/data), not both")
    boundary = secrets.token_hex(16)
    content_type = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return {"files": dict(files), "data": dict(data or {}), "headers": content_type}


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
