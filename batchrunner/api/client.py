"""A small synchronous client for the Assistants v2 endpoints batchrunner drives.

One ``httpx.Client`` per ``AssistantsClient``. The client never retries and never sleeps: the job state
machine reschedules work with delayed messages, so every failure is raised at once as one of the classes
of ``batchrunner.api.errors``. Errors are raised outside the ``except`` block that caught the httpx
exception, so no exception (not even ``__context__``) keeps the request and its ``Authorization`` header.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
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
from batchrunner.api.models import (
    ApiResponse,
    ListPage,
    Message,
    ResponseMeta,
    Run,
    RunStep,
    Thread,
    ToolOutput,
)

__all__ = [
    "CREATE_RUN_PATH",
    "SUBMIT_TOOL_OUTPUTS_PATH",
    "ApiResponse",
    "AssistantsClient",
    "RequestRecord",
    "ResponseMeta",
    "checked_base_url",
    "path_of",
    "report_request",
    "request_headers",
    "tool_outputs_body",
]

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)

BETA_HEADER = ("OpenAI-Beta", "assistants=v2")
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class RequestRecord:
    """One request, for metrics: the endpoint template (no ids), method, status (None: no response)."""

    endpoint: str
    method: str
    status_code: int | None
    seconds: float


CREATE_RUN_PATH = "/threads/{thread_id}/runs"
SUBMIT_TOOL_OUTPUTS_PATH = "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"


def tool_outputs_body(tool_outputs: list[ToolOutput]) -> dict[str, Any]:
    return {"tool_outputs": [output.model_dump(mode="json") for output in tool_outputs]}


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


def request_headers(api_key: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers every Assistants request carries (the key only in ``Authorization``)."""
    headers = {
        BETA_HEADER[0]: BETA_HEADER[1],
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    headers.update(extra or {})
    return headers


def path_of(template: str, ids: Mapping[str, str]) -> str:
    """``template`` with its ``{name}`` parts filled in, each id checked and quoted."""
    return template.format(**{name: _path_id(name, value) for name, value in ids.items()})


def _path_id(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"missing required {name} parameter")
    return quote(value, safe="")


class AssistantsClient:
    """Threads, runs, steps and messages of one Assistants-compatible server."""

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
        url = checked_base_url(base_url)
        headers = request_headers(api_key, default_headers)
        # httpx merges a relative path onto base_url's path (adding the "/" between them), which keeps
        # any prefix such as "/v1" or "/some/prefix/v1".
        self._http = httpx.Client(
            base_url=url, headers=headers, timeout=timeout, transport=transport, follow_redirects=False
        )
        self._secret = SecretStr(api_key or "")  # its repr is masked, unlike a plain str
        self._on_response = on_response
        self.base_url = str(url)

    def __repr__(self) -> str:
        return f"AssistantsClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AssistantsClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- endpoints --------------------------------------------------------------------------------

    def create_thread(
        self,
        messages: list[dict[str, Any]],
        metadata: dict[str, str] | None = None,
        *,
        tool_resources: dict[str, Any] | None = None,
    ) -> ApiResponse[Thread]:
        body: dict[str, Any] = {"messages": messages}
        if metadata is not None:
            body["metadata"] = metadata
        if tool_resources is not None:
            body["tool_resources"] = tool_resources
        return self._call("POST", "/threads", {}, Thread, json=body)

    def create_message(self, thread_id: str, body: dict[str, Any]) -> ApiResponse[Message]:
        ids = {"thread_id": thread_id}
        return self._call("POST", "/threads/{thread_id}/messages", ids, Message, json=body)

    def create_run(self, thread_id: str, body: dict[str, Any]) -> ApiResponse[Run]:
        return self._call("POST", CREATE_RUN_PATH, {"thread_id": thread_id}, Run, json=body)

    def create_thread_and_run(self, body: dict[str, Any]) -> ApiResponse[Run]:
        return self._call("POST", "/threads/runs", {}, Run, json=body)

    def retrieve_run(self, thread_id: str, run_id: str) -> ApiResponse[Run]:
        ids = {"thread_id": thread_id, "run_id": run_id}
        return self._call("GET", "/threads/{thread_id}/runs/{run_id}", ids, Run)

    def list_runs(
        self, thread_id: str, *, order: str = "desc", page_size: int = 20, max_items: int | None = None
    ) -> list[Run]:
        """Runs of a thread, newest first by default, following pages up to ``max_items`` (None: all)."""
        return self._list(
            "/threads/{thread_id}/runs",
            {"thread_id": thread_id},
            Run,
            order=order,
            page_size=page_size,
            max_items=max_items,
        )

    def list_run_steps(self, thread_id: str, run_id: str) -> list[RunStep]:
        """Every step of a run, oldest first."""
        ids = {"thread_id": thread_id, "run_id": run_id}
        return self._list(
            "/threads/{thread_id}/runs/{run_id}/steps", ids, RunStep, order="asc", page_size=MAX_PAGE_SIZE
        )

    def list_messages(self, thread_id: str, *, run_id: str | None = None) -> list[Message]:
        """Every message of a thread (only those ``run_id`` created, when given), oldest first."""
        if run_id is not None:
            _path_id("run_id", run_id)  # same rule as a path id: an empty filter is a caller bug
        extra = {"run_id": run_id} if run_id is not None else {}
        return self._list(
            "/threads/{thread_id}/messages",
            {"thread_id": thread_id},
            Message,
            order="asc",
            page_size=MAX_PAGE_SIZE,
            extra_params=extra,
        )

    def submit_tool_outputs(
        self, thread_id: str, run_id: str, tool_outputs: list[ToolOutput]
    ) -> ApiResponse[Run]:
        ids = {"thread_id": thread_id, "run_id": run_id}
        return self._call("POST", SUBMIT_TOOL_OUTPUTS_PATH, ids, Run, json=tool_outputs_body(tool_outputs))

    def cancel_run(self, thread_id: str, run_id: str) -> ApiResponse[Run]:
        ids = {"thread_id": thread_id, "run_id": run_id}
        return self._call("POST", "/threads/{thread_id}/runs/{run_id}/cancel", ids, Run)

    # -- plumbing ---------------------------------------------------------------------------------

    def _list(
        self,
        template: str,
        ids: dict[str, str],
        item_model: type[ModelT],
        *,
        order: str,
        page_size: int,
        max_items: int | None = None,
        extra_params: Mapping[str, str] | None = None,
    ) -> list[ModelT]:
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        if max_items is not None and max_items < 0:
            raise ValueError(f"max_items must not be negative, got {max_items}")
        page_model: type[ListPage[ModelT]] = ListPage[item_model]  # type: ignore[valid-type]
        items: list[ModelT] = []
        after: str | None = None
        while max_items is None or len(items) < max_items:
            limit = page_size if max_items is None else min(page_size, max_items - len(items))
            params = {**(extra_params or {}), "limit": str(limit), "order": order}
            if after is not None:
                params["after"] = after
            page = self._call("GET", template, ids, page_model, params=params).data
            items.extend(page.data)
            if not page.has_more:
                break
            if not page.data or not page.last_id or page.last_id == after:
                raise TransientError(
                    f"pagination did not advance past {after!r}: has_more without a new last_id",
                    endpoint=template,
                    method="GET",
                )
            after = page.last_id
        return items if max_items is None else items[:max_items]

    def _call(
        self,
        method: str,
        template: str,
        ids: Mapping[str, str],
        model: type[ModelT],
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> ApiResponse[ModelT]:
        path = path_of(template, ids)
        response = self._send(method, template, path, json=json, params=params)
        if isinstance(response, ApiError):
            raise redact(response, self._secret.get_secret_value())
        data = self._parse(response, model, template, method)
        if isinstance(data, ApiError):
            raise redact(data, self._secret.get_secret_value())
        meta = ResponseMeta(
            status_code=response.status_code,
            poll_after_ms=parse_poll_after_ms(response.headers),
            rate_limit=parse_rate_limit(response.headers),
            request_id=response.headers.get("x-request-id"),
        )
        return ApiResponse(data=data, meta=meta)

    def _send(
        self, method: str, template: str, path: str, *, json: Any, params: Mapping[str, str] | None
    ) -> httpx.Response | ApiError:
        """The response, or the classified failure (returned, not raised, so nothing chains to httpx)."""
        started = time.perf_counter()
        outcome: httpx.Response | ApiError
        try:
            outcome = self._http.request(method, path, json=json, params=params)
        except httpx.TransportError as exc:
            outcome = classify_transport_error(exc, template, method=method)
        except httpx.HTTPError as exc:  # e.g. a body that fails to decompress
            outcome = TransientError(
                f"unreadable response ({type(exc).__name__})", endpoint=template, method=method
            )
        status = outcome.status_code if isinstance(outcome, httpx.Response) else None
        report_request(self._on_response, RequestRecord(template, method, status, time.perf_counter() - started))
        if isinstance(outcome, httpx.Response) and not outcome.is_success:
            return classify_response(outcome, endpoint=template, method=method)
        return outcome

    @staticmethod
    def _parse(
        response: httpx.Response, model: type[ModelT], template: str, method: str
    ) -> ModelT | ApiError:
        try:
            return model.model_validate(response.json())
        except ValueError as exc:  # JSONDecodeError and pydantic's ValidationError are both ValueErrors
            problem = "body is not JSON"
            if isinstance(exc, ValidationError):
                fields = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or '$'}: {e['msg']}"
                    for e in exc.errors(include_url=False, include_input=False)
                )
                problem = f"not a valid {model.__name__}: {fields}"
            return invalid_response_error(response, problem, endpoint=template, method=method)
