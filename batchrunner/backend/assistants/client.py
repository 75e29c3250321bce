"""A small synchronous client for the Assistants v2 endpoints batchrunner drives.

The requests go through the shared ``batchrunner.api.pipeline.ApiPipeline`` (one ``httpx.Client`` per
``AssistantsClient``): it never retries and never sleeps, and raises every failure at once as one of the
classes of ``batchrunner.api.errors``. This module adds the Assistants endpoints, the
``OpenAI-Beta: assistants=v2`` header and cursor pagination.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from batchrunner.api.errors import TransientError
from batchrunner.api.models import ApiResponse, ListPage, ResponseMeta
from batchrunner.api.pipeline import (
    MAX_PAGE_SIZE,
    PipelineClient,
    RequestRecord,
    base_headers,
    check_page_params,
    checked_base_url,
    path_id,
    path_of,
    report_request,
)
from batchrunner.backend.assistants.models import Message, Run, RunStep, Thread, ToolOutput

__all__ = [
    "ASSISTANTS_HEADERS",
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

ModelT = TypeVar("ModelT", bound=BaseModel)

# Only the Assistants API wants this header; the Responses API must not get it.
ASSISTANTS_HEADERS: Mapping[str, str] = {"OpenAI-Beta": "assistants=v2"}

CREATE_RUN_PATH = "/threads/{thread_id}/runs"
SUBMIT_TOOL_OUTPUTS_PATH = "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"


def tool_outputs_body(tool_outputs: list[ToolOutput]) -> dict[str, Any]:
    return {"tool_outputs": [output.model_dump(mode="json") for output in tool_outputs]}


def request_headers(api_key: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers every Assistants request carries: the shared ones plus ``OpenAI-Beta`` (then ``extra``)."""
    return base_headers(api_key, {**ASSISTANTS_HEADERS, **(extra or {})})


class AssistantsClient(PipelineClient):
    """Threads, runs, steps and messages of one Assistants-compatible server."""

    API_HEADERS = ASSISTANTS_HEADERS

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
        return self._pipeline.call("POST", "/threads", {}, Thread, json=body)

    def create_message(self, thread_id: str, body: dict[str, Any]) -> ApiResponse[Message]:
        ids = {"thread_id": thread_id}
        return self._pipeline.call("POST", "/threads/{thread_id}/messages", ids, Message, json=body)

    def create_run(self, thread_id: str, body: dict[str, Any]) -> ApiResponse[Run]:
        return self._pipeline.call("POST", CREATE_RUN_PATH, {"thread_id": thread_id}, Run, json=body)

    def create_thread_and_run(self, body: dict[str, Any]) -> ApiResponse[Run]:
        return self._pipeline.call("POST", "/threads/runs", {}, Run, json=body)

    def retrieve_run(self, thread_id: str, run_id: str) -> ApiResponse[Run]:
        ids = {"thread_id": thread_id, "run_id": run_id}
        return self._pipeline.call("GET", "/threads/{thread_id}/runs/{run_id}", ids, Run)

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
            path_id("run_id", run_id)  # same rule as a path id: an empty filter is a caller bug
        extra = {"run_id": run_id} if run_id is not None else {}
        return self._list(
            "/threads/{thread_id}/messages",
            {"thread_id": thread_id},
            Message,
            order="asc",
            page_size=MAX_PAGE_SIZE,
            extra_params=extra,
        )

    def submit_tool_outputs(self, thread_id: str, run_id: str, tool_outputs: list[ToolOutput]) -> ApiResponse[Run]:
        ids = {"thread_id": thread_id, "run_id": run_id}
        return self._pipeline.call("POST", SUBMIT_TOOL_OUTPUTS_PATH, ids, Run, json=tool_outputs_body(tool_outputs))

    def cancel_run(self, thread_id: str, run_id: str) -> ApiResponse[Run]:
        ids = {"thread_id": thread_id, "run_id": run_id}
        return self._pipeline.call("POST", "/threads/{thread_id}/runs/{run_id}/cancel", ids, Run)

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
        check_page_params(order, page_size, limit_name="page_size")
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
            page = self._pipeline.call("GET", template, ids, page_model, params=params).data
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
