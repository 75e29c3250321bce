"""The /v1/conversations endpoints: create, get, update, delete, and add and list items.

A conversation's items are what its responses read first; a response that completes (or ends
incomplete) appends its input and output items (see `lifecycle`). Adding items waits for the
conversation to be free, as creating a response on it does. Deleting a conversation leaves its
responses alone.
"""

from __future__ import annotations

from typing import Any

from batchrunner.simulator.errors import APIError
from batchrunner.simulator.handlers import Call
from batchrunner.simulator.pagination import list_page
from batchrunner.simulator.responses.context import LOCKED_MESSAGE
from batchrunner.simulator.responses.items import parse_items, reject_unknown, store_items
from batchrunner.simulator.responses.lifecycle import advance, get_conversation
from batchrunner.simulator.responses.records import Conversation
from batchrunner.simulator.responses.replies import ResponsesReply
from batchrunner.simulator.validation import expect_object, get_metadata, require

MAX_ITEMS_PER_REQUEST = 20


def _current(call: Call) -> Conversation:
    """The conversation of the path, its working response advanced to now."""
    conversation = get_conversation(call.store, call.params["conversation_id"])
    busy = call.store.responses.get(conversation.active_response_id or "")
    if busy is not None:
        advance(call.store, busy)
    return conversation


def create_conversation(call: Call) -> ResponsesReply:
    body = expect_object(call.body if call.body is not None else {}, "")
    reject_unknown(body, ("metadata", "items"), "")
    metadata = get_metadata(body) or {}
    drafts = parse_items(body, "items", max_items=MAX_ITEMS_PER_REQUEST)
    store = call.store
    conversation = Conversation(id=store.new_id("conv"), created_at=store.now(), metadata=metadata)
    conversation.items = store_items(store, drafts)
    store.conversations[conversation.id] = conversation
    return ResponsesReply(conversation.to_json())


def get_conversation_handler(call: Call) -> ResponsesReply:
    return ResponsesReply(_current(call).to_json())


def update_conversation(call: Call) -> ResponsesReply:
    body = expect_object(call.body, "")
    reject_unknown(body, ("metadata",), "")
    require(body, "metadata", "")
    conversation = _current(call)
    conversation.metadata = get_metadata(body) or {}
    return ResponsesReply(conversation.to_json())


def delete_conversation(call: Call) -> ResponsesReply:
    conversation = get_conversation(call.store, call.params["conversation_id"])
    del call.store.conversations[conversation.id]
    return ResponsesReply({"id": conversation.id, "object": "conversation.deleted", "deleted": True})


def add_items(call: Call) -> ResponsesReply:
    body = expect_object(call.body, "")
    reject_unknown(body, ("items",), "")
    require(body, "items", "")
    drafts = parse_items(body, "items", max_items=MAX_ITEMS_PER_REQUEST, nullable=False)
    conversation = _current(call)
    busy = call.store.responses.get(conversation.active_response_id or "")
    if busy is not None and busy.active:
        raise APIError(400, LOCKED_MESSAGE, param=None, code="conversation_locked")
    added = store_items(call.store, drafts)
    conversation.items.extend(added)
    page: dict[str, Any] = {
        "object": "list",
        "data": [item.to_json() for item in added],
        "first_id": added[0].id if added else "",
        "last_id": added[-1].id if added else "",
        "has_more": False,
    }
    return ResponsesReply(page)


def list_items(call: Call) -> ResponsesReply:
    return ResponsesReply(list_page(_current(call).items, call.query))
