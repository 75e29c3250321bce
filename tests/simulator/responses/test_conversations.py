"""Conversations: objects, items, responses that read and extend them, and the conversation lock."""

from __future__ import annotations

from typing import Any

from tests.simulator.responses.rsim import CALCULATE, RSim, outputs_for

LOCKED = {
    "message": "Another process is currently operating on this conversation. Please retry in a few seconds.",
    "type": "invalid_request_error",
    "param": "conversation",
    "code": "conversation_locked",
}


def _texts(page: dict[str, Any]) -> list[str]:
    return [item["content"][0]["text"] for item in page["data"]]


def test_conversation_objects_and_items(rsim: RSim) -> None:
    """Create with metadata and items, get, add items, list them newest first, delete."""
    created = rsim.client.post(
        "/conversations",
        json={"metadata": {"batchrunner_job": "c:1"}, "items": [{"role": "user", "content": "first"}]},
    ).json()
    assert created["id"].startswith("conv_") and created["object"] == "conversation"
    assert created["metadata"] == {"batchrunner_job": "c:1"} and isinstance(created["created_at"], int)
    path = f"/conversations/{created['id']}"
    assert rsim.client.get(path).json() == created
    added = rsim.client.post(
        f"{path}/items",
        json={
            "items": [
                {"role": "assistant", "content": "second"},
                {"type": "message", "role": "user", "content": "third"},
            ]
        },
    ).json()
    assert added["object"] == "list" and _texts(added) == ["second", "third"] and added["has_more"] is False
    assert added["first_id"] == added["data"][0]["id"] and added["last_id"] == added["data"][1]["id"]
    assert _texts(rsim.client.get(f"{path}/items").json()) == ["third", "second", "first"]
    page = rsim.client.get(f"{path}/items", params={"order": "asc", "limit": 1}).json()
    assert _texts(page) == ["first"] and page["has_more"] is True
    updated = rsim.client.post(path, json={"metadata": {"k": "v"}}).json()
    assert updated["metadata"] == {"k": "v"}
    assert rsim.client.delete(path).json() == {"id": created["id"], "object": "conversation.deleted", "deleted": True}
    for method in ("GET", "DELETE"):
        error = rsim.error(method, path, 404)
        assert error["message"] == f"Conversation with id '{created['id']}' not found."
    assert rsim.client.post("/conversations").json()["metadata"] == {}


def test_conversation_limits(rsim: RSim) -> None:
    """More than 20 items at once, or a limit outside 1..100, are 400s naming the parameter."""
    many = [{"role": "user", "content": str(index)} for index in range(21)]
    assert rsim.error("POST", "/conversations", 400, json={"items": many})["param"] == "items"
    conversation = rsim.client.post("/conversations", json={}).json()
    path = f"/conversations/{conversation['id']}/items"
    assert rsim.error("POST", path, 400, json={"items": many})["param"] == "items"
    assert rsim.error("GET", path, 400, params={"limit": 0})["param"] == "limit"
    assert rsim.error("POST", path, 400, json={})["param"] == "items"


def test_response_reads_the_conversation_and_appends_its_items(rsim: RSim) -> None:
    """A response on a conversation answers its items; once completed its input and output are appended."""
    conversation = rsim.client.post(
        "/conversations", json={"items": [{"role": "user", "content": "Summarise the printer backlog"}]}
    ).json()
    items_path = f"/conversations/{conversation['id']}/items"
    created = rsim.create(
        conversation=conversation["id"], input=[{"role": "developer", "content": "Be brief."}], background=True
    )
    assert created["conversation"] == {"id": conversation["id"]}
    assert len(rsim.client.get(items_path).json()["data"]) == 1  # nothing appended before the end
    done = rsim.wait(created["id"])
    assert "printer" in done["output"][0]["content"][0]["text"]
    listed = rsim.client.get(items_path, params={"order": "asc"}).json()["data"]
    assert [item["role"] for item in listed] == ["user", "developer", "assistant"]
    assert listed[2] == done["output"][0]
    input_ids = [item["id"] for item in rsim.client.get(f"/responses/{created['id']}/input_items").json()["data"]]
    assert input_ids == [listed[1]["id"]]


def test_busy_conversation_is_locked_until_its_response_ends(rsim: RSim) -> None:
    """While a response on a conversation is queued or in progress, another create or item add is a 400."""
    conversation = rsim.client.post("/conversations", json={}).json()
    first = rsim.create(conversation=conversation["id"], input="hello", background=True)
    body = {"model": "m", "conversation": {"id": conversation["id"]}, "input": "again"}
    assert rsim.error("POST", "/responses", 400, json=body) == LOCKED
    rsim.clock.advance(5)
    assert rsim.error("POST", "/responses", 400, json=body) == LOCKED
    items = {"items": [{"role": "user", "content": "x"}]}
    assert (
        rsim.error("POST", f"/conversations/{conversation['id']}/items", 400, json=items)["code"]
        == "conversation_locked"
    )
    assert rsim.stats()["responses_created"] == 1
    rsim.clock.advance(5)
    second = rsim.create(model="m", conversation={"id": conversation["id"]}, input="again", background=True)
    assert rsim.get(first["id"])["status"] == "completed" and second["status"] == "queued"


def test_cancel_frees_the_conversation_without_appending(rsim: RSim) -> None:
    """A cancelled response leaves the conversation's items as they were and unlocks it."""
    conversation = rsim.client.post("/conversations", json={}).json()
    first = rsim.create(conversation=conversation["id"], input="hello", background=True)
    rsim.client.post(f"/responses/{first['id']}/cancel")
    assert rsim.client.get(f"/conversations/{conversation['id']}/items").json()["data"] == []
    assert rsim.create(conversation=conversation["id"], input="again")["status"] == "completed"


def test_tool_round_through_a_conversation(rsim: RSim) -> None:
    """The calls land in the conversation; the outputs sent on it are checked against them and answered."""
    conversation = rsim.client.post("/conversations", json={}).json()
    asked = rsim.create(conversation=conversation["id"], input="What is 6 * 7?", tools=[CALCULATE])
    [call] = asked["output"]
    assert call["type"] == "function_call"
    stray = [{"type": "function_call_output", "call_id": "call_other", "output": "1"}]
    body = {"model": "m", "conversation": conversation["id"], "tools": [CALCULATE]}
    error = rsim.error("POST", "/responses", 400, json={**body, "input": stray})
    assert error["message"] == "No tool call found for function call output with call_id call_other."
    error = rsim.error("POST", "/responses", 400, json={**body, "input": "thanks"})
    assert error["message"] == f"No tool output found for function call {call['call_id']}."
    answered = rsim.create(conversation=conversation["id"], input=outputs_for(asked), tools=[CALCULATE])
    assert answered["output"][0]["content"][0]["text"] == "The result of calculate is 42."
    kinds = [
        item["type"] for item in rsim.client.get(f"/conversations/{conversation['id']}/items?order=asc").json()["data"]
    ]
    assert kinds == ["message", "function_call", "function_call_output", "message"]


def test_unknown_conversation_is_a_404(rsim: RSim) -> None:
    """A response on an unknown conversation is a 404 naming it."""
    error = rsim.error("POST", "/responses", 404, json={"model": "m", "conversation": "conv_nope"})
    assert error["message"] == "Conversation with id 'conv_nope' not found." and error["param"] == "conversation"
