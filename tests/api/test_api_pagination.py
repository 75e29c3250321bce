"""Cursor pagination of the list endpoints: ``has_more`` / ``last_id`` are followed with ``after``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from batchrunner.api.errors import TransientError
from batchrunner.backend.assistants.client import AssistantsClient

PayloadFactory = Callable[..., dict[str, Any]]
Recorder = Any
RecordFactory = Callable[[Callable[[httpx.Request], httpx.Response]], Recorder]


def _paged_server(items: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    """A server that pages ``items`` (already in the requested order) like the API does."""

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        ordered = items if params.get("order", "desc") == "asc" else list(reversed(items))
        start = 0
        if "after" in params:
            start = next(i for i, item in enumerate(ordered) if item["id"] == params["after"]) + 1
        limit = int(params.get("limit", "20"))
        page = ordered[start : start + limit]
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": start + limit < len(ordered),
            },
        )

    return handler


def _query(request: httpx.Request) -> dict[str, str]:
    return dict(request.url.params)


def test_list_runs_follows_pages_newest_first(record: RecordFactory, make_run: PayloadFactory) -> None:
    """list_runs fetches page after page with after=<last_id> until has_more is false."""
    runs = [make_run(f"run_{i:02d}") for i in range(7)]
    recorder = record(_paged_server(runs))
    with AssistantsClient("http://sim/v1", None, transport=recorder.transport()) as client:
        listed = client.list_runs("thread_1", page_size=3)
    assert [run.id for run in listed] == [f"run_{i:02d}" for i in reversed(range(7))]
    assert [_query(r) for r in recorder.requests] == [
        {"limit": "3", "order": "desc"},
        {"limit": "3", "order": "desc", "after": "run_04"},
        {"limit": "3", "order": "desc", "after": "run_01"},
    ]


@pytest.mark.parametrize(
    ("max_items", "expected_count", "expected_requests"), [(0, 0, 0), (2, 2, 1), (5, 5, 2), (50, 7, 3)]
)
def test_list_runs_stops_at_max_items(
    record: RecordFactory,
    make_run: PayloadFactory,
    max_items: int,
    expected_count: int,
    expected_requests: int,
) -> None:
    """max_items bounds both the result and the pages fetched; the last page asks only for what is left."""
    recorder = record(_paged_server([make_run(f"run_{i}") for i in range(7)]))
    with AssistantsClient("http://sim/v1", None, transport=recorder.transport()) as client:
        listed = client.list_runs("thread_1", order="asc", page_size=3, max_items=max_items)
    assert [run.id for run in listed] == [f"run_{i}" for i in range(expected_count)]
    assert len(recorder.requests) == expected_requests
    if max_items == 5:
        assert _query(recorder.requests[-1])["limit"] == "2"


@pytest.mark.parametrize(
    "kwargs",
    [{"page_size": 0}, {"page_size": 101}, {"order": "newest"}, {"max_items": -1}],
)
def test_list_runs_rejects_bad_arguments(record: RecordFactory, kwargs: dict[str, Any]) -> None:
    """Out-of-range page sizes, unknown orders and negative limits fail before any request."""
    recorder = record(lambda request: httpx.Response(500))
    with (
        AssistantsClient("http://sim/v1", None, transport=recorder.transport()) as client,
        pytest.raises(ValueError),
    ):
        client.list_runs("thread_1", **kwargs)
    assert recorder.requests == []


def test_list_run_steps_reads_all_pages_oldest_first(record: RecordFactory, make_step: PayloadFactory) -> None:
    """list_run_steps asks for order=asc, limit=100 and follows every page."""
    steps = [make_step(f"step_{i:03d}") for i in range(205)]
    recorder = record(_paged_server(steps))
    with AssistantsClient("http://sim/v1", None, transport=recorder.transport()) as client:
        listed = client.list_run_steps("thread_1", "run_1")
    assert [step.id for step in listed] == [step["id"] for step in steps]
    assert [r.url.path for r in recorder.requests] == ["/v1/threads/thread_1/runs/run_1/steps"] * 3
    assert [_query(r).get("after") for r in recorder.requests] == [None, "step_099", "step_199"]
    assert all(_query(r)["order"] == "asc" and _query(r)["limit"] == "100" for r in recorder.requests)


def test_list_messages_filters_by_run(record: RecordFactory, make_message: PayloadFactory) -> None:
    """list_messages passes run_id as a query filter and follows pagination."""
    messages = [make_message(f"msg_{i:03d}", f"text {i}") for i in range(150)]
    recorder = record(_paged_server(messages))
    with AssistantsClient("http://sim/v1", None, transport=recorder.transport()) as client:
        listed = client.list_messages("thread_1", run_id="run_1")
    assert [m.text() for m in listed] == [f"text {i}" for i in range(150)]
    assert all(_query(r)["run_id"] == "run_1" for r in recorder.requests)
    assert len(recorder.requests) == 2


def test_list_messages_without_run_filter(record: RecordFactory) -> None:
    """Without run_id no run filter is sent."""
    recorder = record(_paged_server([]))
    with AssistantsClient("http://sim/v1", None, transport=recorder.transport()) as client:
        assert client.list_messages("thread_1") == []
    assert "run_id" not in _query(recorder.requests[0])


@pytest.mark.parametrize(
    "page",
    [
        {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": True},
        {"object": "list", "data": ["SELF"], "first_id": "run_1", "last_id": None, "has_more": True},
    ],
)
def test_pagination_that_does_not_advance_fails(
    record: RecordFactory, make_run: PayloadFactory, page: dict[str, Any]
) -> None:
    """has_more without a usable last_id raises TransientError instead of looping forever."""
    page = {**page, "data": [make_run("run_1") for _ in page["data"]]}
    recorder = record(lambda request: httpx.Response(200, json=page))
    with (
        AssistantsClient("http://sim/v1", None, transport=recorder.transport()) as client,
        pytest.raises(TransientError, match="pagination did not advance"),
    ):
        client.list_runs("thread_1")
    assert len(recorder.requests) == 1


def test_pagination_repeating_a_cursor_fails(record: RecordFactory, make_run: PayloadFactory) -> None:
    """A server that keeps answering the same last_id is caught on the second page."""
    page = {
        "object": "list",
        "data": [make_run("run_1")],
        "first_id": "run_1",
        "last_id": "run_1",
        "has_more": True,
    }
    recorder = record(lambda request: httpx.Response(200, json=page))
    with (
        AssistantsClient("http://sim/v1", None, transport=recorder.transport()) as client,
        pytest.raises(TransientError, match="pagination did not advance"),
    ):
        client.list_runs("thread_1")
    assert len(recorder.requests) == 2
