"""Cursor pagination of list endpoints: limit, order, after, before, has_more, run_id filter."""

from __future__ import annotations

from typing import Any

import pytest

from tests.simulator.simhelpers import Sim


def _thread_with_messages(sim: Sim, count: int) -> tuple[str, list[str]]:
    thread = sim.client.post("/threads", json={}).json()
    ids = []
    for index in range(count):
        sim.clock.advance(1)
        response = sim.client.post(f"/threads/{thread['id']}/messages", json={"role": "user", "content": f"m{index}"})
        ids.append(response.json()["id"])
    return thread["id"], ids


def _page(sim: Sim, thread_id: str, **query: Any) -> dict[str, Any]:
    response = sim.client.get(f"/threads/{thread_id}/messages", params=query)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_default_order_is_newest_first_with_limit_20(sim: Sim) -> None:
    """Without parameters a list is desc by creation and holds at most 20 items."""
    thread_id, ids = _thread_with_messages(sim, 23)
    page = _page(sim, thread_id)
    assert [item["id"] for item in page["data"]] == list(reversed(ids))[:20]
    assert page["has_more"] is True
    assert page["first_id"] == ids[-1] and page["last_id"] == ids[3]


def test_after_walks_forward_until_has_more_is_false(sim: Sim) -> None:
    """Following last_id with `after` visits every item once, in order."""
    thread_id, ids = _thread_with_messages(sim, 7)
    seen: list[str] = []
    query: dict[str, Any] = {"limit": 3, "order": "asc"}
    while True:
        page = _page(sim, thread_id, **query)
        seen += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            break
        query["after"] = page["last_id"]
    assert seen == ids


def test_before_returns_the_items_just_before_the_cursor(sim: Sim) -> None:
    """`before` gives the nearest preceding items and says whether more lie further back."""
    thread_id, ids = _thread_with_messages(sim, 6)
    page = _page(sim, thread_id, order="asc", before=ids[4], limit=2)
    assert [item["id"] for item in page["data"]] == ids[2:4]
    assert page["has_more"] is True
    first = _page(sim, thread_id, order="asc", before=ids[2], limit=5)
    assert [item["id"] for item in first["data"]] == ids[:2] and first["has_more"] is False


def test_empty_page(sim: Sim) -> None:
    """An empty thread lists nothing, has_more false, with string ids as the schema requires."""
    thread_id, _ = _thread_with_messages(sim, 0)
    assert _page(sim, thread_id) == {
        "object": "list",
        "data": [],
        "first_id": "",
        "last_id": "",
        "has_more": False,
    }


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"order": "up"}, "order"),
    ],
)
def test_invalid_list_parameters(sim: Sim, query: dict[str, Any], param: str) -> None:
    """Out-of-range limits and unknown orders are 400s naming the parameter."""
    response = sim.client.get("/threads/thread_demo_shared/messages", params=query)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_unknown_cursor_is_rejected(sim: Sim) -> None:
    """A cursor that names no item of the list is a 400."""
    response = sim.client.get("/threads/thread_demo_shared/messages", params={"after": "msg_nope"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "after"


def test_runs_and_steps_lists_paginate(sim: Sim) -> None:
    """Runs of a thread list newest first and page with after."""
    thread = sim.client.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]}).json()
    run_ids = []
    for _ in range(3):
        run = sim.client.post(f"/threads/{thread['id']}/runs", json={"assistant_id": "asst_support"}).json()
        run_ids.append(run["id"])
        sim.wait_for(run, {"completed"})
    first = sim.client.get(f"/threads/{thread['id']}/runs", params={"limit": 2}).json()
    assert [run["id"] for run in first["data"]] == [run_ids[2], run_ids[1]] and first["has_more"] is True
    rest = sim.client.get(f"/threads/{thread['id']}/runs", params={"limit": 2, "after": first["last_id"]}).json()
    assert [run["id"] for run in rest["data"]] == [run_ids[0]] and rest["has_more"] is False


def test_messages_filter_by_run_id(sim: Sim) -> None:
    """run_id keeps only the messages that run wrote."""
    run = sim.thread_and_run("asst_support", "first question")
    sim.wait_for(run, {"completed"})
    everything = _page(sim, run["thread_id"])
    only_run = _page(sim, run["thread_id"], run_id=run["id"])
    assert len(everything["data"]) == 2
    assert [item["role"] for item in only_run["data"]] == ["assistant"]


def test_assistants_list_includes_the_catalogue(sim: Sim) -> None:
    """The built-in assistants are listed, and new ones come first in desc order."""
    created = sim.client.post("/assistants", json={"model": "gpt-4o-mini", "name": "Mine"}).json()
    listed = sim.client.get("/assistants").json()
    ids = [item["id"] for item in listed["data"]]
    assert ids[0] == created["id"]
    assert {"asst_support", "asst_math", "asst_clock", "asst_analyst"} <= set(ids)
