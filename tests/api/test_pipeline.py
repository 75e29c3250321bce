"""The shared request pipeline on its own: send, classify, parse, meta, metrics, headers and redaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from batchrunner.api.errors import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    RateLimitedError,
    RequestRejectedError,
    TransientError,
)
from batchrunner.api.models import ApiModel
from batchrunner.api.pipeline import (
    ApiPipeline,
    PipelineClient,
    PipelineSteps,
    RequestRecord,
    base_headers,
    check_page_params,
    path_of,
)
from batchrunner.backend.assistants.client import ASSISTANTS_HEADERS, AssistantsClient, request_headers

SECRET = "sk-pipeline-secret-0123456789"
TEMPLATE = "/things/{thing_id}"
Recorder = Any  # tests/api/conftest.py: Recorder(handler) with .requests and .transport()
RecordFactory = Callable[[Callable[[httpx.Request], httpx.Response]], Recorder]


class Thing(ApiModel):
    id: str
    size: int


def _pipeline(recorder: Recorder, **options: Any) -> ApiPipeline:
    return ApiPipeline("https://api.example/v1", SECRET, transport=recorder.transport(), **options)


def test_call_sends_the_request_and_parses_the_model(record: RecordFactory) -> None:
    """call fills the template, sends method, JSON and params under the base path, and parses the model."""
    recorder = record(lambda request: httpx.Response(200, json={"id": "t/1", "size": 3, "colour": "red"}))
    pipeline = _pipeline(recorder)
    result = pipeline.call("POST", TEMPLATE, {"thing_id": "t/1"}, Thing, json={"a": 1}, params={"limit": "5"})
    request = recorder.requests[0]
    assert request.method == "POST" and request.url.raw_path == b"/v1/things/t%2F1?limit=5"
    assert json.loads(request.content) == {"a": 1}
    assert isinstance(result.data, Thing) and (result.data.id, result.data.size) == ("t/1", 3)
    assert result.data.model_extra == {"colour": "red"}
    pipeline.close()


def test_meta_carries_rate_limit_poll_after_and_request_id(record: RecordFactory) -> None:
    """ResponseMeta holds the status, openai-poll-after-ms, x-ratelimit-* and x-request-id of the reply."""
    headers = {"openai-poll-after-ms": "750", "x-ratelimit-remaining-requests": "9", "x-request-id": "req_1"}
    recorder = record(lambda request: httpx.Response(201, json={"id": "t", "size": 1}, headers=headers))
    meta = _pipeline(recorder).call("GET", TEMPLATE, {"thing_id": "t"}, Thing).meta
    assert (meta.status_code, meta.poll_after_ms, meta.request_id) == (201, 750, "req_1")
    assert meta.rate_limit is not None and meta.rate_limit.remaining_requests == 9


def test_the_pipeline_adds_no_beta_header_and_default_headers_win(record: RecordFactory) -> None:
    """Only Authorization, JSON content headers and default_headers are sent; default_headers override."""
    recorder = record(lambda request: httpx.Response(200, json={"id": "t", "size": 1}))
    pipeline = _pipeline(recorder, default_headers={"Accept": "application/x-ndjson", "X-Team": "batch"})
    pipeline.call("GET", TEMPLATE, {"thing_id": "t"}, Thing)
    headers = recorder.requests[0].headers
    assert "openai-beta" not in headers
    assert headers["authorization"] == f"Bearer {SECRET}" and headers["content-type"] == "application/json"
    assert headers["accept"] == "application/x-ndjson" and headers["x-team"] == "batch"


def test_assistants_headers_stay_with_the_assistants_client(record: RecordFactory) -> None:
    """AssistantsClient sends OpenAI-Beta: assistants=v2 through the pipeline; request_headers still has it."""
    recorder = record(lambda request: httpx.Response(200, json={"id": "thread_1", "object": "thread"}))
    with AssistantsClient("https://api.example/v1", SECRET, transport=recorder.transport()) as client:
        client.create_thread([])
    assert recorder.requests[0].headers["openai-beta"] == "assistants=v2"
    assert request_headers(None)["OpenAI-Beta"] == "assistants=v2"
    assert "OpenAI-Beta" not in base_headers("k") and base_headers(None).get("Authorization") is None
    assert dict(ASSISTANTS_HEADERS) == {"OpenAI-Beta": "assistants=v2"}


def test_a_pipeline_client_puts_its_api_headers_under_the_callers(record: RecordFactory) -> None:
    """A PipelineClient subclass's API_HEADERS are sent, and a caller's default_headers override them."""

    class BetaClient(PipelineClient):
        API_HEADERS = {"X-Api": "v9", "X-Other": "kept"}

    recorder = record(lambda request: httpx.Response(200, json={"id": "t", "size": 1}))
    with BetaClient(
        "https://api.example/v1", None, transport=recorder.transport(), default_headers={"X-Api": "v10"}
    ) as client:
        client._pipeline.call("GET", TEMPLATE, {"thing_id": "t"}, Thing)
        assert repr(client) == "BetaClient(base_url='https://api.example/v1')"
    headers = recorder.requests[0].headers
    assert (headers["x-api"], headers["x-other"]) == ("v10", "kept") and "authorization" not in headers


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            {"error": {"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}},
            AuthenticationError,
        ),
        (404, {"error": {"message": "no thing", "type": "invalid_request_error", "code": None}}, NotFoundError),
        (422, {"detail": "unprocessable"}, RequestRejectedError),
        (429, {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}, RateLimitedError),
        (500, {"error": {"message": "oops", "type": "server_error", "code": None}}, TransientError),
    ],
)
def test_non_2xx_replies_raise_their_class(
    record: RecordFactory, status: int, body: dict[str, Any], expected: type[ApiError]
) -> None:
    """Each non-2xx reply raises the class errors.classify_response gives it, naming template and method."""
    recorder = record(lambda request: httpx.Response(status, json=body))
    with pytest.raises(expected) as caught:
        _pipeline(recorder).call("DELETE", TEMPLATE, {"thing_id": "t"}, Thing)
    assert type(caught.value) is expected
    assert (caught.value.status_code, caught.value.endpoint, caught.value.method) == (status, TEMPLATE, "DELETE")


def test_a_transport_failure_is_transient_unchained_and_recorded_without_status(record: RecordFactory) -> None:
    """A dropped connection raises TransientError with no cause or context; the metrics record has status None."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError(f"dropped with {request.headers['authorization']}", request=request)

    records: list[RequestRecord] = []
    with pytest.raises(TransientError) as caught:
        _pipeline(record(handler), on_response=records.append).call("GET", TEMPLATE, {"thing_id": "t"}, Thing)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert "connection dropped" in caught.value.message and SECRET not in str(caught.value)
    assert [(r.endpoint, r.method, r.status_code) for r in records] == [(TEMPLATE, "GET", None)]


def test_metrics_records_use_the_template_and_a_broken_hook_is_harmless(record: RecordFactory) -> None:
    """on_response gets (template, method, status, seconds); a hook that raises does not fail the call."""
    records: list[RequestRecord] = []
    recorder = record(lambda request: httpx.Response(404, json={"error": {"message": "no", "type": "x"}}))
    with pytest.raises(NotFoundError):
        _pipeline(recorder, on_response=records.append).call("GET", TEMPLATE, {"thing_id": "secret-id"}, Thing)
    assert len(records) == 1 and records[0].endpoint == TEMPLATE and records[0].status_code == 404
    assert records[0].seconds >= 0

    def broken(record: RequestRecord) -> None:
        raise RuntimeError("metrics down")

    ok = record(lambda request: httpx.Response(200, json={"id": "t", "size": 1}))
    assert _pipeline(ok, on_response=broken).call("GET", TEMPLATE, {"thing_id": "t"}, Thing).data.id == "t"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "body is not JSON"),
        (b"<html>", "body is not JSON"),
        (b'{"id": "t"}', "not a valid Thing: size: Field required"),
    ],
)
def test_an_unusable_2xx_body_is_transient(record: RecordFactory, content: bytes, words: str) -> None:
    """A 2xx whose body is not the model raises TransientError saying why, with the status code."""
    recorder = record(lambda request: httpx.Response(200, content=content))
    with pytest.raises(TransientError, match=words) as caught:
        _pipeline(recorder).call("GET", TEMPLATE, {"thing_id": "t"}, Thing)
    assert caught.value.status_code == 200


def test_when_empty_stands_for_a_bodiless_2xx_only(record: RecordFactory) -> None:
    """with when_empty, an empty 2xx returns it; a 2xx with a body is still parsed."""
    fallback = Thing(id="t", size=0)
    empty = record(lambda request: httpx.Response(204))
    assert _pipeline(empty).call("DELETE", TEMPLATE, {"thing_id": "t"}, Thing, when_empty=fallback).data is fallback
    full = record(lambda request: httpx.Response(200, json={"id": "t", "size": 5}))
    assert _pipeline(full).call("DELETE", TEMPLATE, {"thing_id": "t"}, Thing, when_empty=fallback).data.size == 5


def test_errors_quoting_the_key_are_redacted(record: RecordFactory) -> None:
    """An error body that echoes the key raises an error whose text shows [REDACTED] instead."""
    body = {"error": {"message": f"Incorrect API key {SECRET}", "type": "invalid_request_error", "param": SECRET}}
    recorder = record(lambda request: httpx.Response(401, json=body))
    with pytest.raises(AuthenticationError) as caught:
        _pipeline(recorder).call("GET", TEMPLATE, {"thing_id": "t"}, Thing)
    text = f"{caught.value} {caught.value!r} {vars(caught.value)!r}"
    assert SECRET not in text and "[REDACTED]" in caught.value.message


def test_the_pipeline_repr_holds_no_key(record: RecordFactory) -> None:
    """repr() of the pipeline and of its attributes names the base URL only."""
    pipeline = _pipeline(record(lambda request: httpx.Response(200)))
    assert repr(pipeline) == "ApiPipeline(base_url='https://api.example/v1')"
    assert SECRET not in repr(vars(pipeline)) and SECRET not in repr(pipeline.http.headers)


@pytest.mark.parametrize("base_url", ["ftp://host/v1", "api.example/v1", "http:///v1"])
def test_the_base_url_must_be_http_with_a_host(base_url: str) -> None:
    """A base URL that is not http(s) with a host is refused at construction."""
    with pytest.raises(ValueError, match="base URL"):
        ApiPipeline(base_url, None)


def test_path_ids_are_checked_and_quoted() -> None:
    """path_of quotes each id as one segment and refuses empty ids."""
    assert path_of("/a/{x}/b/{y}", {"x": "1 2", "y": "../z"}) == "/a/1%202/b/..%2Fz"
    with pytest.raises(ValueError, match="missing required x parameter"):
        path_of("/a/{x}", {"x": " "})


@pytest.mark.parametrize(
    ("order", "limit", "ok"),
    [("asc", 1, True), ("desc", 100, True), ("up", 5, False), ("asc", 0, False), ("asc", 101, False)],
)
def test_page_params_are_checked(order: str, limit: int, ok: bool) -> None:
    """Orders other than asc/desc and limits outside 1..100 raise ValueError."""
    if ok:
        check_page_params(order, limit)
    else:
        with pytest.raises(ValueError):
            check_page_params(order, limit)


def test_steps_parse_event_text_and_name_the_part() -> None:
    """PipelineSteps.parse reads given text (a stream event) and says which part was invalid."""
    response = httpx.Response(200, headers={"x-request-id": "req_s"})
    parsed = PipelineSteps.parse(response, Thing, TEMPLATE, "POST", text='{"id": "t", "size": 2}')
    assert isinstance(parsed, BaseModel) and parsed == Thing(id="t", size=2)
    bad = PipelineSteps.parse(response, Thing, TEMPLATE, "POST", text='{"id": "t"}', what="event thing.created")
    assert isinstance(bad, TransientError) and bad.request_id == "req_s"
    assert "event thing.created: not a valid Thing: size: Field required" in bad.message
    garbled = PipelineSteps.parse(response, Thing, TEMPLATE, "POST", text="{", what="event thing.created")
    assert isinstance(garbled, TransientError) and "event thing.created is not JSON" in garbled.message


def test_steps_classify_failures_of_any_client() -> None:
    """http_failure describes transport and decoding errors; reply_failure classifies non-2xx only."""
    request = httpx.Request("POST", "https://api.example/v1/things")
    timeout = PipelineSteps.http_failure(httpx.ReadTimeout("slow", request=request), TEMPLATE, "POST")
    assert isinstance(timeout, TransientError) and "read timeout" in timeout.message
    decoding = PipelineSteps.http_failure(httpx.DecodingError("bad gzip"), TEMPLATE, "POST", what="stream")
    assert isinstance(decoding, TransientError) and decoding.message == "unreadable stream (DecodingError)"
    assert PipelineSteps.reply_failure(httpx.Response(200), TEMPLATE, "POST") is None
    assert isinstance(PipelineSteps.reply_failure(httpx.Response(503), TEMPLATE, "POST"), TransientError)


def test_steps_headers_and_redaction() -> None:
    """PipelineSteps builds the headers (key, defaults, extra) and redacts its key from an error."""
    steps = PipelineSteps("http://127.0.0.1:1/v1", SECRET, default_headers={"OpenAI-Beta": "assistants=v2"})
    headers = steps.headers({"Accept": "text/event-stream"})
    assert headers["Authorization"] == f"Bearer {SECRET}" and headers["Accept"] == "text/event-stream"
    assert headers["OpenAI-Beta"] == "assistants=v2"
    error = steps.redacted(TransientError(f"echo {SECRET}"))
    assert SECRET not in str(error) and SECRET not in repr(steps) and SECRET not in repr(vars(steps))
