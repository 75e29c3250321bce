"""``AssistantsClient`` against ``httpx.MockTransport``: URLs, headers, bodies, metadata and errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from batchrunner.api.errors import (
    NotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    RequestRejectedError,
    TransientError,
)
from batchrunner.api.headers import RateLimitInfo
from batchrunner.backend.assistants.client import AssistantsClient, RequestRecord
from batchrunner.backend.assistants.models import ToolOutput

PayloadFactory = Callable[..., dict[str, Any]]
Recorder = Any  # tests/api/conftest.py: Recorder(handler) with .requests and .transport()
RecordFactory = Callable[[Callable[[httpx.Request], httpx.Response]], Recorder]


def _client(
    recorder: Recorder,
    base_url: str = "https://api.example/v1",
    api_key: str | None = "sk-test",
    **kwargs: Any,
) -> AssistantsClient:
    return AssistantsClient(base_url, api_key, transport=recorder.transport(), **kwargs)


def _body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


@pytest.mark.parametrize(
    ("base_url", "expected_path"),
    [
        ("https://api.openai.com/v1", "/v1/threads/thread_1/runs/run_1"),
        ("https://api.openai.com/v1/", "/v1/threads/thread_1/runs/run_1"),
        ("http://127.0.0.1:8080/v1", "/v1/threads/thread_1/runs/run_1"),
        ("http://proxy/some/prefix/v1", "/some/prefix/v1/threads/thread_1/runs/run_1"),
        ("http://proxy/some/prefix/v1/", "/some/prefix/v1/threads/thread_1/runs/run_1"),
        ("http://localhost:9000", "/threads/thread_1/runs/run_1"),
    ],
)
def test_paths_are_appended_to_the_base_url_prefix(
    record: RecordFactory, make_run: PayloadFactory, base_url: str, expected_path: str
) -> None:
    """Whatever the base URL's path prefix and trailing slash, endpoint paths go after it."""
    recorder = record(lambda request: httpx.Response(200, json=make_run()))
    with _client(recorder, base_url) as client:
        client.retrieve_run("thread_1", "run_1")
    url = recorder.requests[0].url
    assert url.path == expected_path
    assert str(url).startswith(base_url.rstrip("/"))


@pytest.mark.parametrize("base_url", ["ftp://api.example/v1", "api.example/v1", "http:///v1", ""])
def test_base_url_must_be_http(base_url: str) -> None:
    """A base URL that is not http(s) with a host is refused at construction."""
    with pytest.raises(ValueError, match="base URL"):
        AssistantsClient(base_url, None)


def test_headers_on_every_request(record: RecordFactory, make_run: PayloadFactory) -> None:
    """Bearer auth, the assistants=v2 beta header and the JSON content type go on each request."""
    recorder = record(lambda request: httpx.Response(200, json=make_run()))
    with _client(recorder) as client:
        client.create_run("thread_1", {"assistant_id": "asst_1"})
        client.retrieve_run("thread_1", "run_1")
    for request in recorder.requests:
        assert request.headers["Authorization"] == "Bearer sk-test"
        assert request.headers["OpenAI-Beta"] == "assistants=v2"
        assert request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("api_key", [None, ""])
def test_no_authorization_without_a_key(record: RecordFactory, make_run: PayloadFactory, api_key: str | None) -> None:
    """Without a key (a local simulator) no Authorization header is sent at all."""
    recorder = record(lambda request: httpx.Response(200, json=make_run()))
    with _client(recorder, api_key=api_key) as client:
        client.retrieve_run("thread_1", "run_1")
    assert "Authorization" not in recorder.requests[0].headers
    assert recorder.requests[0].headers["OpenAI-Beta"] == "assistants=v2"


def test_default_headers_add_and_override(record: RecordFactory, make_run: PayloadFactory) -> None:
    """default_headers are sent too and may override the beta header (as the SDKs allow)."""
    recorder = record(lambda request: httpx.Response(200, json=make_run()))
    headers = {"OpenAI-Organization": "org_1", "OpenAI-Beta": "assistants=v2,extra=1"}
    with _client(recorder, default_headers=headers) as client:
        client.retrieve_run("thread_1", "run_1")
    assert recorder.requests[0].headers["OpenAI-Organization"] == "org_1"
    assert recorder.requests[0].headers["OpenAI-Beta"] == "assistants=v2,extra=1"


def _call_every_endpoint(client: AssistantsClient) -> None:
    client.create_thread([{"role": "user", "content": "hi"}], {"k": "v"})
    client.create_thread([], tool_resources={"code_interpreter": {"file_ids": ["file_1"]}})
    client.create_message("thread_1", {"role": "user", "content": "more"})
    client.create_run("thread_1", {"assistant_id": "asst_1", "temperature": 0.2})
    client.create_thread_and_run({"assistant_id": "asst_1", "thread": {"messages": []}})
    client.retrieve_run("thread_1", "run_1")
    client.submit_tool_outputs("thread_1", "run_1", [ToolOutput(tool_call_id="call_1", output="42")])
    client.cancel_run("thread_1", "run_1")


def test_each_endpoint_sends_method_path_and_body(
    record: RecordFactory, make_run: PayloadFactory, make_message: PayloadFactory
) -> None:
    """Every single-object endpoint uses the documented method, path and JSON body."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/messages"):
            return httpx.Response(200, json=make_message("msg_1", "more", role="user"))
        if request.url.path == "/v1/threads":
            return httpx.Response(
                200,
                json={
                    "id": "thread_1",
                    "object": "thread",
                    "created_at": 1,
                    "metadata": {"k": "v"},
                    "tool_resources": None,
                },
            )
        return httpx.Response(200, json=make_run())

    recorder = record(handler)
    with _client(recorder) as client:
        _call_every_endpoint(client)
    sent = [(r.method, r.url.path, _body(r)) for r in recorder.requests]
    assert sent == [
        ("POST", "/v1/threads", {"messages": [{"role": "user", "content": "hi"}], "metadata": {"k": "v"}}),
        (
            "POST",
            "/v1/threads",
            {"messages": [], "tool_resources": {"code_interpreter": {"file_ids": ["file_1"]}}},
        ),
        ("POST", "/v1/threads/thread_1/messages", {"role": "user", "content": "more"}),
        ("POST", "/v1/threads/thread_1/runs", {"assistant_id": "asst_1", "temperature": 0.2}),
        ("POST", "/v1/threads/runs", {"assistant_id": "asst_1", "thread": {"messages": []}}),
        ("GET", "/v1/threads/thread_1/runs/run_1", None),
        (
            "POST",
            "/v1/threads/thread_1/runs/run_1/submit_tool_outputs",
            {"tool_outputs": [{"tool_call_id": "call_1", "output": "42"}]},
        ),
        ("POST", "/v1/threads/thread_1/runs/run_1/cancel", None),
    ]


def test_create_thread_without_metadata_omits_it(record: RecordFactory) -> None:
    """Unset optional fields are omitted, not sent as null."""
    recorder = record(lambda r: httpx.Response(200, json={"id": "thread_9", "object": "thread", "created_at": 1}))
    with _client(recorder) as client:
        thread = client.create_thread([]).data
    assert thread.id == "thread_9"
    assert _body(recorder.requests[0]) == {"messages": []}


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.retrieve_run("", "run_1"),
        lambda c: c.retrieve_run("thread_1", ""),
        lambda c: c.create_run("", {"assistant_id": "a"}),
        lambda c: c.create_message("  ", {"role": "user", "content": "x"}),
        lambda c: c.cancel_run("thread_1", ""),
        lambda c: c.submit_tool_outputs("", "run_1", []),
        lambda c: c.list_runs(""),
        lambda c: c.list_run_steps("thread_1", ""),
        lambda c: c.list_messages(""),
        lambda c: c.list_messages("thread_1", run_id=""),
    ],
)
def test_empty_ids_fail_before_sending(record: RecordFactory, call: Callable[[AssistantsClient], Any]) -> None:
    """An empty thread or run id raises ValueError and no request leaves the client."""
    recorder = record(lambda request: httpx.Response(500))
    with _client(recorder) as client, pytest.raises(ValueError, match="missing required"):
        call(client)
    assert recorder.requests == []


def test_path_parameters_are_url_quoted(record: RecordFactory, make_run: PayloadFactory) -> None:
    """Ids with slashes, spaces or ? stay inside their own path segment."""
    recorder = record(lambda request: httpx.Response(200, json=make_run()))
    with _client(recorder) as client:
        client.retrieve_run("thread/../x y", "run?1#")
    assert recorder.requests[0].url.raw_path == b"/v1/threads/thread%2F..%2Fx%20y/runs/run%3F1%23"


def test_response_meta_from_headers(record: RecordFactory, make_run: PayloadFactory) -> None:
    """poll-after, rate-limit headers and the request id are returned beside the parsed run."""
    headers = {
        "openai-poll-after-ms": "1500",
        "x-request-id": "req_9",
        "x-ratelimit-remaining-requests": "7",
        "x-ratelimit-reset-tokens": "1m30s",
    }
    recorder = record(lambda request: httpx.Response(200, json=make_run(status="queued"), headers=headers))
    with _client(recorder) as client:
        response = client.retrieve_run("thread_1", "run_1")
    assert response.data.status == "queued"
    assert response.meta.status_code == 200
    assert response.meta.poll_after_ms == 1500
    assert response.meta.request_id == "req_9"
    assert response.meta.rate_limit == RateLimitInfo(remaining_requests=7, reset_tokens_s=90.0)


def test_on_response_records_template_method_status_and_time(record: RecordFactory, make_run: PayloadFactory) -> None:
    """The metrics hook sees the endpoint template (no ids), the method, the status and the duration."""
    responses = iter([httpx.Response(200, json=make_run()), httpx.Response(503, json={})])
    recorder = record(lambda request: next(responses))
    records: list[RequestRecord] = []
    with _client(recorder, on_response=records.append) as client:
        client.retrieve_run("thread_1", "run_1")
        with pytest.raises(TransientError):
            client.cancel_run("thread_1", "run_1")
    assert [(r.endpoint, r.method, r.status_code) for r in records] == [
        ("/threads/{thread_id}/runs/{run_id}", "GET", 200),
        ("/threads/{thread_id}/runs/{run_id}/cancel", "POST", 503),
    ]
    assert all(r.seconds >= 0 for r in records)


def test_on_response_records_network_errors_with_no_status(record: RecordFactory) -> None:
    """A request that got no response is recorded with status None."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    records: list[RequestRecord] = []
    with _client(record(handler), on_response=records.append) as client, pytest.raises(TransientError):
        client.create_thread([])
    assert [(r.endpoint, r.status_code) for r in records] == [("/threads", None)]


def test_broken_metrics_hook_does_not_fail_the_call(record: RecordFactory, make_run: PayloadFactory) -> None:
    """An exception in on_response is logged, and the API call still returns its result."""

    def hook(record: RequestRecord) -> None:
        raise RuntimeError("metrics down")

    with _client(record(lambda request: httpx.Response(200, json=make_run())), on_response=hook) as client:
        assert client.retrieve_run("thread_1", "run_1").data.id == "run_1"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {"error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}},
            RequestRejectedError,
        ),
        (
            404,
            {"error": {"message": "no run", "type": "invalid_request_error", "param": None, "code": None}},
            NotFoundError,
        ),
        (
            429,
            {
                "error": {
                    "message": "tokens per min",
                    "type": "tokens",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
            RateLimitedError,
        ),
        (
            429,
            {
                "error": {
                    "message": "quota",
                    "type": "insufficient_quota",
                    "param": None,
                    "code": "insufficient_quota",
                }
            },
            QuotaExhaustedError,
        ),
        (
            500,
            {"error": {"message": "oops", "type": "server_error", "param": None, "code": None}},
            TransientError,
        ),
    ],
)
def test_http_failures_raise_classified_errors_once(
    record: RecordFactory,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    body: dict[str, Any],
    expected: type[Exception],
) -> None:
    """A failing response raises its class after exactly one request, without sleeping."""
    monkeypatch.setattr("time.sleep", lambda seconds: pytest.fail("the client must never sleep"))
    recorder = record(lambda request: httpx.Response(status, json=body))
    with _client(recorder) as client, pytest.raises(expected) as caught:
        client.retrieve_run("thread_1", "run_1")
    assert len(recorder.requests) == 1
    assert caught.value.endpoint == "/threads/{thread_id}/runs/{run_id}"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("reset"),
    ],
)
def test_transport_failures_raise_transient_error(record: RecordFactory, exc: httpx.TransportError) -> None:
    """Timeouts and dropped connections become TransientError with no status code."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with _client(record(handler)) as client, pytest.raises(TransientError) as caught:
        client.retrieve_run("thread_1", "run_1")
    assert caught.value.status_code is None
    assert caught.value.__cause__ is None and caught.value.__context__ is None


@pytest.mark.parametrize(
    ("content", "expected_words"),
    [
        (b"<html>maintenance</html>", "not JSON"),
        (b'{"id": "run_1"}', "not a valid Run: created_at: Field required"),
        (b"", "not JSON"),
    ],
)
def test_unusable_success_body_is_transient(record: RecordFactory, content: bytes, expected_words: str) -> None:
    """A 200 that is not a valid run (HTML, truncated, wrong shape) raises TransientError, not a crash."""
    recorder = record(lambda request: httpx.Response(200, content=content))
    with _client(recorder) as client, pytest.raises(TransientError, match=expected_words) as caught:
        client.retrieve_run("thread_1", "run_1")
    assert caught.value.status_code == 200


def test_close_closes_the_http_client(record: RecordFactory, make_run: PayloadFactory) -> None:
    """After close() (or leaving the with block) the client refuses to send."""
    client = _client(record(lambda request: httpx.Response(200, json=make_run())))
    with client:
        client.retrieve_run("thread_1", "run_1")
    with pytest.raises(RuntimeError):
        client.retrieve_run("thread_1", "run_1")
