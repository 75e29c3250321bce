"""A small synchronous client for the Responses API endpoints (responses and conversations).

Built on the shared ``batchrunner.api.pipeline``: the same send, error classification, parsing, metrics
records and key redaction as ``AssistantsClient``, without the ``OpenAI-Beta`` header. It never retries
and never sleeps; every failure is raised at once as one of the classes of ``batchrunner.api.errors``.
Streamed creates are not sent from here (``stream.py`` reads such a stream).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from batchrunner.api.models import ApiResponse
from batchrunner.api.pipeline import PipelineClient, check_page_params, path_id
from batchrunner.backend.responses.models import Conversation, DeletedObject, ItemList, Response

__all__ = [
    "CANCEL_RESPONSE_PATH",
    "CONVERSATIONS_PATH",
    "CONVERSATION_ITEMS_PATH",
    "CONVERSATION_PATH",
    "INPUT_ITEMS_PATH",
    "MAX_CONVERSATION_ITEMS",
    "RESPONSES_PATH",
    "RESPONSE_PATH",
    "ResponsesClient",
]

# Endpoint templates: metrics and errors name requests by these, never by the filled-in path.
RESPONSES_PATH = "/responses"
RESPONSE_PATH = "/responses/{response_id}"
CANCEL_RESPONSE_PATH = "/responses/{response_id}/cancel"
INPUT_ITEMS_PATH = "/responses/{response_id}/input_items"
CONVERSATIONS_PATH = "/conversations"
CONVERSATION_PATH = "/conversations/{conversation_id}"
CONVERSATION_ITEMS_PATH = "/conversations/{conversation_id}/items"

# Items a create-conversation or add-items request may carry at once (the spec's maxItems).
MAX_CONVERSATION_ITEMS = 20


class ResponsesClient(PipelineClient):
    """Responses and conversations of one Responses-compatible server.

    ``ResponsesClient(base_url, api_key, *, timeout=30.0, transport=None, on_response=None,
    default_headers=None)``, like ``AssistantsClient``.
    """

    # -- responses --------------------------------------------------------------------------------

    def create_response(self, body: Mapping[str, Any]) -> ApiResponse[Response]:
        """``POST /responses`` with ``body`` as given (send ``background`` and ``store`` explicitly)."""
        if body.get("stream"):
            raise ValueError("create_response does not read streams; send the request without stream: true")
        return self._pipeline.call("POST", RESPONSES_PATH, {}, Response, json=dict(body))

    def retrieve_response(self, response_id: str) -> ApiResponse[Response]:
        return self._pipeline.call("GET", RESPONSE_PATH, {"response_id": response_id}, Response)

    def cancel_response(self, response_id: str) -> ApiResponse[Response]:
        """Ask to cancel a background response (best effort: a cancelled response may still complete)."""
        return self._pipeline.call("POST", CANCEL_RESPONSE_PATH, {"response_id": response_id}, Response)

    def delete_response(self, response_id: str) -> ApiResponse[DeletedObject]:
        """Delete a stored response; a 200 with no body (as the spec declares it) counts as deleted."""
        deleted = DeletedObject(id=response_id, object="response", deleted=True)
        ids = {"response_id": response_id}
        return self._pipeline.call("DELETE", RESPONSE_PATH, ids, DeletedObject, when_empty=deleted)

    def list_input_items(
        self, response_id: str, *, order: str = "asc", limit: int = 20, after: str | None = None
    ) -> ApiResponse[ItemList]:
        """One page of the items that were the response's input (``order`` is always sent: the API's
        default is ``desc``)."""
        params = _page_params(order, limit, after)
        return self._pipeline.call("GET", INPUT_ITEMS_PATH, {"response_id": response_id}, ItemList, params=params)

    # -- conversations ----------------------------------------------------------------------------

    def create_conversation(
        self, metadata: Mapping[str, str] | None = None, items: Sequence[Mapping[str, Any]] | None = None
    ) -> ApiResponse[Conversation]:
        """``POST /conversations`` with up to ``MAX_CONVERSATION_ITEMS`` initial items."""
        body: dict[str, Any] = {}
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if items is not None:
            body["items"] = _checked_items(items)
        return self._pipeline.call("POST", CONVERSATIONS_PATH, {}, Conversation, json=body)

    def retrieve_conversation(self, conversation_id: str) -> ApiResponse[Conversation]:
        return self._pipeline.call("GET", CONVERSATION_PATH, {"conversation_id": conversation_id}, Conversation)

    def delete_conversation(self, conversation_id: str) -> ApiResponse[DeletedObject]:
        """Delete a conversation (its items are not deleted, the API says)."""
        ids = {"conversation_id": conversation_id}
        return self._pipeline.call("DELETE", CONVERSATION_PATH, ids, DeletedObject)

    def create_conversation_items(
        self, conversation_id: str, items: Sequence[Mapping[str, Any]]
    ) -> ApiResponse[ItemList]:
        """Append up to ``MAX_CONVERSATION_ITEMS`` items to a conversation; returns the added items."""
        ids = {"conversation_id": conversation_id}
        body = {"items": _checked_items(items)}
        return self._pipeline.call("POST", CONVERSATION_ITEMS_PATH, ids, ItemList, json=body)

    def list_conversation_items(
        self, conversation_id: str, *, order: str = "asc", limit: int = 20, after: str | None = None
    ) -> ApiResponse[ItemList]:
        """One page of a conversation's items (``order`` is always sent: the API's default is ``desc``)."""
        ids = {"conversation_id": conversation_id}
        params = _page_params(order, limit, after)
        return self._pipeline.call("GET", CONVERSATION_ITEMS_PATH, ids, ItemList, params=params)


def _page_params(order: str, limit: int, after: str | None) -> dict[str, str]:
    check_page_params(order, limit)
    params = {"order": order, "limit": str(limit)}
    if after is not None:
        path_id("after", after)  # same rule as a path id: an empty cursor is a caller bug
        params["after"] = after
    return params


def _checked_items(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if len(items) > MAX_CONVERSATION_ITEMS:
        raise ValueError(f"at most {MAX_CONVERSATION_ITEMS} items at a time, got {len(items)}")
    return [dict(item) for item in items]
