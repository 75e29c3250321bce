"""The /v1/responses endpoints, and the route table of the Responses and Conversations APIs.

Like the Assistants handlers, each runs under the store lock and returns a reply or raises
`APIError`; creating a response validates the body, resolves what it continues, and charges its
estimated tokens (its input, re-billed context included, plus max_output_tokens) against tpm and
the quota before it changes anything, so a 4xx or a 429 leaves no trace.
"""

from __future__ import annotations

from collections.abc import Callable

from batchrunner.simulator.errors import invalid
from batchrunner.simulator.handlers import Call
from batchrunner.simulator.pagination import list_page
from batchrunner.simulator.responses import conversations, lifecycle
from batchrunner.simulator.responses.context import resolve_context
from batchrunner.simulator.responses.create import create_response as new_response
from batchrunner.simulator.responses.replies import ResponsesReply, query_bool, query_int
from batchrunner.simulator.responses.request import parse_create_response
from batchrunner.simulator.responses.streaming import ResponseStream
from batchrunner.simulator.responses.tiers import check_flex_model

STORE_REQUIRED_MESSAGE = "Background responses require 'store' to be true; stateless background requests are rejected."
NOT_STREAMED_MESSAGE = "This response was not created with 'stream': true, so it cannot be streamed."


def create_response(call: Call) -> ResponsesReply:
    spec = parse_create_response(call.body)
    store = call.store
    check_flex_model(store.config, spec.settings.model, spec.settings.service_tier)
    if spec.background and not spec.store and store.config.background_requires_store:
        raise invalid(STORE_REQUIRED_MESSAGE, "store")
    context = resolve_context(store, spec)
    call.limiter.charge_tokens(context.input_tokens + (spec.settings.max_output_tokens or 0))
    record = new_response(store, spec, context)
    call.stats.record_response(record.settings.metadata, chain_start=spec.previous_response_id is None)
    # A synchronous request lasts as long as the model takes to answer it.
    headers = {} if spec.background else {"openai-processing-ms": str(round(record.plan.answer_seconds * 1000))}
    if spec.stream:
        return ResponsesReply({}, headers, stream=ResponseStream(store, record))
    return ResponsesReply(record.to_json(), headers)


def get_response(call: Call) -> ResponsesReply:
    record = lifecycle.get_response(call.store, call.params["response_id"])
    stream = query_bool(call.query, "stream")
    starting_after = query_int(call.query, "starting_after")
    if not stream:
        return ResponsesReply(record.to_json())
    if not record.stream:
        raise invalid(NOT_STREAMED_MESSAGE, "stream")
    cursor = 0 if starting_after is None else max(starting_after + 1, 0)
    return ResponsesReply({}, stream=ResponseStream(call.store, record, cursor))


def cancel_response(call: Call) -> ResponsesReply:
    record = lifecycle.get_response(call.store, call.params["response_id"])
    lifecycle.cancel(call.store, record)
    return ResponsesReply(record.to_json())


def delete_response(call: Call) -> ResponsesReply:
    record = lifecycle.get_response(call.store, call.params["response_id"])
    lifecycle.forget(call.store, record)
    return ResponsesReply({"id": record.id, "object": "response", "deleted": True})


def list_input_items(call: Call) -> ResponsesReply:
    record = lifecycle.get_response(call.store, call.params["response_id"])
    return ResponsesReply(list_page(record.input_items, call.query))


Handler = Callable[[Call], ResponsesReply]
RESPONSE = "/v1/responses/{response_id}"
CONVERSATION = "/v1/conversations/{conversation_id}"
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/v1/responses", create_response),
    ("GET", RESPONSE, get_response),
    ("DELETE", RESPONSE, delete_response),
    ("POST", f"{RESPONSE}/cancel", cancel_response),
    ("GET", f"{RESPONSE}/input_items", list_input_items),
    ("POST", "/v1/conversations", conversations.create_conversation),
    ("GET", CONVERSATION, conversations.get_conversation_handler),
    ("POST", CONVERSATION, conversations.update_conversation),
    ("DELETE", CONVERSATION, conversations.delete_conversation),
    ("POST", f"{CONVERSATION}/items", conversations.add_items),
    ("GET", f"{CONVERSATION}/items", conversations.list_items),
)
