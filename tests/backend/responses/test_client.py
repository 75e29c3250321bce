"""``ResponsesClient`` against ``httpx.MockTransport`` replies shaped like the official examples.

Unless a test says ``checked=False`` (a reply that is deliberately outside the spec), every request the
client sends and every reply is also validated against the official OpenAPI document.
"""

from __future__ import annotations

import json
import traceback
from typing import Any

import httpx
import pytest

from batchrunner.api.errors import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    RateLimitedError,
    RequestRejectedError,
    TransientError,
)
from batchrunner.api.pipeline import RequestRecord
from batchrunner.backend.responses import (
    CANCEL_RESPONSE_PATH,
    RESPONSE_PATH,
    FunctionCallItem,
    OutputMessageItem,
    ResponsesClient,
    ResponseStatus,
)
from tests.backend.responses.conftest import (
    BASE_URL,
    SECRET,
    ServeFactory,
    error_body,
    function_call_item,
    message_item,
    response_payload,
    usage_payload,
)

CREATE_BODY: dict[str, Any] = {
    "model": "gpt-4o-2024-08-06",
    "instructions": "Be brief.",
    "input": [{"role": "user", "content": "What is the weather in Boston?"}],
    "tools": [
        {
            "type": "function",
            "name": "get_current_weather",
            "description": "Current weather of a city",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
            "strict": False,
        }
    ],
    "background": True,
    "store": True,
    "metadata": {"batchrunner_job": "b:1"},
}


def _json(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def _reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


# -- requests ---------------------------------------------------------------------------------------


def test_create_posts_the_body_with_the_key_and_without_the_assistants_beta_header(serve: ServeFactory) -> None:
    """create_response sends POST {base}/responses with the body as JSON, Bearer auth and no OpenAI-Beta."""
    queued = response_payload("queued", background=True, completed_at=None)
    served = serve(lambda request: _reply(queued))
    result = served.client.create_response(CREATE_BODY)
    request = served.request
    assert (request.method, request.url.path) == ("POST", "/v1/responses")
    assert _json(request) == CREATE_BODY
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["content-type"] == "application/json"
    assert "openai-beta" not in request.headers
    assert result.data.status == "queued" and result.data.known_status is ResponseStatus.QUEUED
    assert result.data.background is True and result.data.output == [] and result.data.usage is None
    assert not result.data.is_terminal
    assert served.violations() == []


def test_default_headers_reach_every_request(serve: ServeFactory) -> None:
    """default_headers given to the constructor are sent (and still no OpenAI-Beta of its own)."""
    served = serve(lambda request: _reply(response_payload()), default_headers={"OpenAI-Organization": "org_1"})
    served.client.retrieve_response("resp_1")
    assert served.request.headers["openai-organization"] == "org_1"
    assert "openai-beta" not in served.request.headers


@pytest.mark.parametrize(
    ("call", "method", "path", "body"),
    [
        (lambda c: c.retrieve_response("resp_1"), "GET", "/v1/responses/resp_1", None),
        (lambda c: c.cancel_response("resp_1"), "POST", "/v1/responses/resp_1/cancel", None),
        (lambda c: c.retrieve_response("resp/../x"), "GET", "/v1/responses/resp%2F..%2Fx", None),
    ],
)
def test_response_endpoints_use_their_method_and_quoted_path(
    serve: ServeFactory, call: Any, method: str, path: str, body: Any
) -> None:
    """retrieve and cancel go to /responses/{id}[/cancel] with the id quoted as one segment and no body."""
    served = serve(lambda request: _reply(response_payload()), checked=False)
    call(served.client)
    assert (served.request.method, served.request.url.raw_path.decode()) == (method, path)
    assert _json(served.request) == body


@pytest.mark.parametrize("bad_id", ["", "   "])
def test_an_empty_id_is_refused_before_sending(serve: ServeFactory, bad_id: str) -> None:
    """A missing response or conversation id raises ValueError and sends nothing."""
    served = serve(lambda request: _reply(response_payload()))
    with pytest.raises(ValueError, match="response_id"):
        served.client.retrieve_response(bad_id)
    with pytest.raises(ValueError, match="conversation_id"):
        served.client.list_conversation_items(bad_id)
    assert served.recorder.requests == []


def test_a_streamed_create_is_refused(serve: ServeFactory) -> None:
    """create_response refuses stream: true (its SSE reply is for stream.py, not a JSON parse)."""
    served = serve(lambda request: _reply(response_payload()))
    with pytest.raises(ValueError, match="stream"):
        served.client.create_response({**CREATE_BODY, "stream": True})
    assert served.recorder.requests == []


# -- parsed replies ---------------------------------------------------------------------------------


def test_a_completed_response_with_a_message(serve: ServeFactory) -> None:
    """A completed reply gives its text, usage (with cached and reasoning tokens) and completion time."""
    body = response_payload(
        "completed", [message_item("The sky is ", "blue.")], usage=usage_payload(36, 87, cached=4, reasoning=10)
    )
    served = serve(lambda request: _reply(body, headers={"x-request-id": "req_9"}))
    result = served.client.retrieve_response("resp_1")
    response = result.data
    assert response.is_terminal and response.known_status is ResponseStatus.COMPLETED
    assert response.output_text() == "The sky is blue."
    assert isinstance(response.output[0], OutputMessageItem) and response.output[0].text() == "The sky is blue."
    assert response.function_calls() == []
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (36, 87, 123)
    assert (response.usage.cached_tokens, response.usage.reasoning_tokens) == (4, 10)
    assert response.completed_at == 1_741_476_778
    assert result.meta.request_id == "req_9" and result.meta.status_code == 200
    assert served.violations() == []


def test_a_completed_response_with_two_parallel_function_calls(serve: ServeFactory) -> None:
    """Both function_call items come back, in order, with call_id, name and the arguments string."""
    calls = [
        function_call_item("call_a", "get_current_weather", '{"location":"Boston, MA"}'),
        function_call_item("call_b", "get_current_weather", '{"location":"Paris"}'),
    ]
    served = serve(lambda request: _reply(response_payload("completed", calls, usage=usage_payload())))
    response = served.client.retrieve_response("resp_1").data
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in response.function_calls()] == [
        ("call_a", "get_current_weather", {"location": "Boston, MA"}),
        ("call_b", "get_current_weather", {"location": "Paris"}),
    ]
    assert all(isinstance(call, FunctionCallItem) and call.id == f"fc_{call.call_id}" for call in response.output)
    assert response.output_text() == ""
    assert served.violations() == []


def test_a_failed_response_is_a_result_not_an_exception(serve: ServeFactory) -> None:
    """HTTP 200 with status failed and error.code server_error parses; the error code and message are kept."""
    error = {"code": "server_error", "message": "The model failed to generate a response."}
    served = serve(lambda request: _reply(response_payload("failed", error=error)))
    response = served.client.retrieve_response("resp_1").data
    assert response.known_status is ResponseStatus.FAILED and response.is_terminal
    assert response.error is not None
    assert (response.error.code, response.error.message) == ("server_error", error["message"])
    assert served.violations() == []


def test_an_incomplete_response_keeps_its_reason_and_partial_item(serve: ServeFactory) -> None:
    """status incomplete gives incomplete_details.reason and the partial (incomplete) message item."""
    body = response_payload(
        "incomplete",
        [message_item("Once upon a", status="incomplete")],
        incomplete_details={"reason": "max_output_tokens"},
        usage=usage_payload(20, 16),
    )
    served = serve(lambda request: _reply(body))
    response = served.client.retrieve_response("resp_1").data
    assert response.known_status is ResponseStatus.INCOMPLETE and response.incomplete_reason == "max_output_tokens"
    assert response.messages()[0].status == "incomplete" and response.output_text() == "Once upon a"
    assert served.violations() == []


def test_cancel_returns_the_cancelled_response(serve: ServeFactory) -> None:
    """cancel_response POSTs no body and returns the cancelled response with its partial output, usage absent."""
    body = response_payload("cancelled", [message_item("Silent circuits", status="in_progress")], background=True)
    served = serve(lambda request: _reply(body))
    result = served.client.cancel_response("resp_1")
    assert served.request.method == "POST" and served.request.content == b""
    assert result.data.known_status is ResponseStatus.CANCELLED and result.data.is_terminal
    assert result.data.usage is None and result.data.output_text() == "Silent circuits"
    assert served.violations() == []


def test_unknown_fields_status_and_item_types_are_kept(serve: ServeFactory) -> None:
    """A newer server's reply (unknown status, fields and item types) parses; the unknowns are kept as sent."""
    reasoning: dict[str, Any] = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": None}
    novel = {"type": "hologram_call", "id": "hg_1", "frames": 3}
    body = response_payload(
        "paused",
        [reasoning, message_item("Hi"), novel, function_call_item("call_1", "lookup", "{}")],
        usage=usage_payload(),
        service_tier="flex",
        brand_new_field={"nested": [1, 2]},
    )
    served = serve(lambda request: _reply(body), checked=False)
    response = served.client.retrieve_response("resp_1").data
    assert response.status == "paused" and response.known_status is None and not response.is_terminal
    assert response.model_extra is not None and response.model_extra["brand_new_field"] == {"nested": [1, 2]}
    assert response.output[0] == reasoning and response.output[2] == novel
    assert response.output_items_json() == body["output"]
    assert response.output_text() == "Hi" and [c.call_id for c in response.function_calls()] == ["call_1"]


def test_a_reply_without_status_and_usage_parses(serve: ServeFactory) -> None:
    """status and usage are optional in the schema: without them the response parses with both None."""
    body = response_payload(None, [message_item("ok")])
    assert "status" not in body and "usage" not in body
    served = serve(lambda request: _reply(body))
    response = served.client.retrieve_response("resp_1").data
    assert response.status is None and response.known_status is None and response.usage is None
    assert not response.is_terminal and response.output_text() == "ok"
    assert served.violations() == []


def test_a_success_body_that_is_no_response_is_transient(serve: ServeFactory) -> None:
    """A 200 without an id, or not JSON, raises TransientError naming the problem (so the job retries)."""
    served = serve(lambda request: _reply({"object": "response", "status": "completed"}), checked=False)
    with pytest.raises(TransientError, match="not a valid Response: id: Field required") as caught:
        served.client.retrieve_response("resp_1")
    assert caught.value.status_code == 200
    html = serve(lambda request: httpx.Response(200, content=b"<html>maintenance</html>"), checked=False)
    with pytest.raises(TransientError, match="not JSON"):
        html.client.retrieve_response("resp_1")


# -- error replies ----------------------------------------------------------------------------------


def test_a_404_error_response_raises_not_found(serve: ServeFactory) -> None:
    """404 with an ErrorResponse raises NotFoundError carrying the message, type, endpoint template and method."""
    body = error_body("Response with id 'resp_1' not found.", "invalid_request_error", param="response_id")
    served = serve(lambda request: _reply(body, 404, {"x-request-id": "req_404"}))
    with pytest.raises(NotFoundError) as caught:
        served.client.retrieve_response("resp_1")
    error = caught.value
    assert error.message == "Response with id 'resp_1' not found." and error.status_code == 404
    assert (error.error_type, error.param, error.request_id) == ("invalid_request_error", "response_id", "req_404")
    assert (error.method, error.endpoint) == ("GET", RESPONSE_PATH)
    assert served.violations() == []


def test_a_429_rate_limit_raises_rate_limited_with_the_wait_and_budget(serve: ServeFactory) -> None:
    """429 rate_limit_exceeded raises RateLimitedError with Retry-After and the x-ratelimit-* budget."""
    body = error_body(
        "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 30000, Requested 500.",
        "tokens",
        code="rate_limit_exceeded",
    )
    headers = {
        "retry-after": "2",
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "1.5s",
    }
    served = serve(lambda request: _reply(body, 429, headers))
    with pytest.raises(RateLimitedError) as caught:
        served.client.create_response(CREATE_BODY)
    error = caught.value
    assert error.retry_after == 2.0 and error.kind == "tokens" and error.code == "rate_limit_exceeded"
    assert error.rate_limit is not None
    assert (error.rate_limit.remaining_tokens, error.rate_limit.reset_tokens_s) == (0, 1.5)
    assert served.violations() == []


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(serve: ServeFactory, status: int) -> None:
    """5xx replies raise TransientError (retry with backoff) with their status code."""
    served = serve(lambda request: _reply(error_body("The server had an error.", "server_error"), status))
    with pytest.raises(TransientError) as caught:
        served.client.cancel_response("resp_1")
    assert caught.value.status_code == status and caught.value.endpoint == CANCEL_RESPONSE_PATH


def test_a_400_rejection_is_not_retryable(serve: ServeFactory) -> None:
    """400 previous_response_not_found raises RequestRejectedError (fail the job), not a retryable class."""
    body = error_body(
        "Previous response with id 'resp_0' not found.",
        "invalid_request_error",
        code="previous_response_not_found",
        param="previous_response_id",
    )
    served = serve(lambda request: _reply(body, 400))
    with pytest.raises(RequestRejectedError) as caught:
        served.client.create_response({**CREATE_BODY, "previous_response_id": "resp_0"})
    assert type(caught.value) is RequestRejectedError and caught.value.code == "previous_response_not_found"


def _raise(exc: Exception) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (
            lambda r: _reply(error_body(f"Incorrect API key provided: {SECRET}.", "invalid_request_error"), 401),
            AuthenticationError,
        ),
        (
            lambda r: _reply(error_body(f"no such response for {SECRET}", "invalid_request_error", param=SECRET), 404),
            NotFoundError,
        ),
        (
            lambda r: _reply(error_body(f"slow down {SECRET}", "requests", code="rate_limit_exceeded"), 429),
            RateLimitedError,
        ),
        (lambda r: _reply({"error": f"overloaded ({SECRET})"}, 503), TransientError),
        (lambda r: httpx.Response(200, content=f"<html>{SECRET}</html>".encode()), TransientError),
        (lambda r: _raise(httpx.ConnectError(f"refused; sent {dict(r.headers)}", request=r))(r), TransientError),
        (lambda r: _raise(httpx.ReadTimeout(f"timed out: {r.headers['authorization']}", request=r))(r), TransientError),
    ],
)
def test_the_key_never_appears_in_a_raised_error(serve: ServeFactory, handler: Any, expected: type[ApiError]) -> None:
    """Whatever fails (echoed key in the body, transport errors quoting headers), str/repr hold no key."""
    served = serve(handler, checked=False)
    with pytest.raises(expected) as caught:
        served.client.retrieve_response("resp_1")
    error = caught.value
    text = "\n".join([str(error), repr(error), repr(vars(error)), "".join(traceback.format_exception(error))])
    assert SECRET not in text
    assert error.__cause__ is None and error.__context__ is None


# -- deleting and listing ---------------------------------------------------------------------------


def test_delete_response_reads_the_deleted_object_or_an_empty_200(serve: ServeFactory) -> None:
    """DELETE /responses/{id} parses {id, object, deleted}; the spec's bodiless 200 also counts as deleted."""
    deleted = {"id": "resp_1", "object": "response", "deleted": True}
    served = serve(lambda request: _reply(deleted), checked=False)
    result = served.client.delete_response("resp_1")
    assert (served.request.method, served.request.url.path) == ("DELETE", "/v1/responses/resp_1")
    assert (result.data.id, result.data.object, result.data.deleted) == ("resp_1", "response", True)
    empty = serve(lambda request: httpx.Response(200), checked=False)
    assert empty.client.delete_response("resp_2").data.id == "resp_2"


def test_list_input_items_sends_the_page_parameters(serve: ServeFactory) -> None:
    """list_input_items sends order, limit and after as query parameters and returns one page of dicts."""
    page = {
        "object": "list",
        "data": [
            {
                "type": "message",
                "id": "msg_abc",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hello!"}],
            }
        ],
        "first_id": "msg_abc",
        "last_id": "msg_abc",
        "has_more": False,
    }
    served = serve(lambda request: _reply(page))
    result = served.client.list_input_items("resp_1", order="desc", limit=5, after="msg_0")
    request = served.request
    assert request.url.path == "/v1/responses/resp_1/input_items"
    assert dict(request.url.params) == {"order": "desc", "limit": "5", "after": "msg_0"}
    assert result.data.data == page["data"] and result.data.has_more is False and result.data.last_id == "msg_abc"
    assert served.violations() == []


@pytest.mark.parametrize(("order", "limit"), [("newest", 20), ("asc", 0), ("asc", 101)])
def test_bad_page_parameters_are_refused(serve: ServeFactory, order: str, limit: int) -> None:
    """An order other than asc/desc or a limit outside 1..100 raises ValueError without a request."""
    served = serve(lambda request: _reply({}))
    with pytest.raises(ValueError):
        served.client.list_conversation_items("conv_1", order=order, limit=limit)
    assert served.recorder.requests == []


# -- conversations ----------------------------------------------------------------------------------


def test_create_conversation_sends_metadata_and_items(serve: ServeFactory) -> None:
    """create_conversation POSTs {metadata, items} to /conversations and parses the ConversationResource."""
    conversation = {"id": "conv_1", "object": "conversation", "created_at": 1_741_900_000, "metadata": {"job": "7"}}
    items = [{"type": "message", "role": "user", "content": "Hello!"}]
    served = serve(lambda request: _reply(conversation))
    result = served.client.create_conversation({"job": "7"}, items)
    assert (served.request.method, served.request.url.path) == ("POST", "/v1/conversations")
    assert _json(served.request) == {"metadata": {"job": "7"}, "items": items}
    assert "openai-beta" not in served.request.headers
    assert (result.data.id, result.data.created_at, result.data.metadata) == ("conv_1", 1_741_900_000, {"job": "7"})
    assert served.violations() == []


def test_create_conversation_without_arguments_sends_an_empty_body(serve: ServeFactory) -> None:
    """With no metadata and no items the body is {} (not nulls)."""
    served = serve(lambda request: _reply({"id": "conv_1", "object": "conversation", "created_at": 1, "metadata": {}}))
    served.client.create_conversation()
    assert _json(served.request) == {}


def test_more_than_twenty_items_are_refused(serve: ServeFactory) -> None:
    """The spec allows 20 items per request: 21 raise ValueError and nothing is sent."""
    served = serve(lambda request: _reply({}))
    items = [{"type": "message", "role": "user", "content": str(n)} for n in range(21)]
    with pytest.raises(ValueError, match="20"):
        served.client.create_conversation(items=items)
    with pytest.raises(ValueError, match="20"):
        served.client.create_conversation_items("conv_1", items)
    assert served.recorder.requests == []


def test_conversation_retrieve_delete_and_items(serve: ServeFactory) -> None:
    """retrieve, delete, add items and list items go to their paths and parse their replies."""
    conversation = {"id": "conv_1", "object": "conversation", "created_at": 1_741_900_000, "metadata": {}}
    item = {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_text", "text": "Hi"}],
    }
    page = {"object": "list", "data": [item], "first_id": "msg_1", "last_id": "msg_1", "has_more": True}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/items"):
            return _reply(page)
        if request.method == "DELETE":
            return _reply({"id": "conv_1", "object": "conversation.deleted", "deleted": True})
        return _reply(conversation)

    served = serve(handler)
    client = served.client
    assert client.retrieve_conversation("conv_1").data.id == "conv_1"
    assert client.delete_conversation("conv_1").data.deleted is True
    added = client.create_conversation_items("conv_1", [{"type": "message", "role": "user", "content": "Hi"}])
    listed = client.list_conversation_items("conv_1", after="msg_0")
    assert added.data.data == [item] and listed.data.has_more is True
    sent = [(r.method, r.url.path, dict(r.url.params)) for r in served.recorder.requests]
    assert sent == [
        ("GET", "/v1/conversations/conv_1", {}),
        ("DELETE", "/v1/conversations/conv_1", {}),
        ("POST", "/v1/conversations/conv_1/items", {}),
        ("GET", "/v1/conversations/conv_1/items", {"order": "asc", "limit": "20", "after": "msg_0"}),
    ]
    assert served.violations() == []


# -- plumbing ---------------------------------------------------------------------------------------


def test_metrics_name_requests_by_template(serve: ServeFactory) -> None:
    """on_response gets the endpoint template (no ids), the method and the status of each request."""
    records: list[RequestRecord] = []
    served = serve(lambda request: _reply(response_payload()), on_response=records.append)
    served.client.retrieve_response("resp_secret_id")
    served.client.cancel_response("resp_secret_id")
    assert [(r.endpoint, r.method, r.status_code) for r in records] == [
        (RESPONSE_PATH, "GET", 200),
        (CANCEL_RESPONSE_PATH, "POST", 200),
    ]


def test_repr_and_attributes_hold_no_key() -> None:
    """repr(client) names the base URL only, and nothing reachable from vars() shows the key."""
    with ResponsesClient(BASE_URL, SECRET, transport=httpx.MockTransport(lambda r: _reply({}))) as client:
        assert repr(client) == f"ResponsesClient(base_url='{BASE_URL}')"
        assert SECRET not in repr(vars(client)) and SECRET not in repr(client._http.headers)


def test_close_closes_the_http_client() -> None:
    """After leaving the with block the client refuses to send."""
    client = ResponsesClient(BASE_URL, None, transport=httpx.MockTransport(lambda r: _reply(response_payload())))
    with client:
        client.retrieve_response("resp_1")
    with pytest.raises(RuntimeError):
        client.retrieve_response("resp_1")


def test_without_a_key_no_authorization_is_sent() -> None:
    """A keyless client (a local simulator) sends no Authorization header."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _reply(response_payload())

    with ResponsesClient("http://127.0.0.1:9/v1", None, transport=httpx.MockTransport(handler)) as client:
        client.retrieve_response("resp_1")
    assert "authorization" not in seen[0].headers
