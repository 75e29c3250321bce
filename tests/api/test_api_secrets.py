"""The API key never shows up in exception text, tracebacks, reprs or log lines."""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from batchrunner.api.errors import ApiError, AuthenticationError, TransientError
from batchrunner.backend.assistants.client import AssistantsClient

SECRET = "sk-proj-THIS-MUST-NEVER-LEAK-0123456789"
Recorder = Any
RecordFactory = Callable[[Callable[[httpx.Request], httpx.Response]], Recorder]


def _all_text(error: BaseException) -> str:
    """Everything a log handler or a crash report could print about ``error``, chained exceptions included."""
    parts = ["".join(traceback.format_exception(error)), str(error), repr(error), repr(error.args)]
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            parts += [_all_text(linked), repr(vars(linked))]
    parts.append(repr(vars(error)))
    return "\n".join(parts)


def _failing_handler(
    exc_factory: Callable[[httpx.Request], Exception],
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_factory(request)

    return handler


@pytest.mark.parametrize(
    "exc_factory",
    [
        # Transport errors that carry the request and even quote its headers in their message.
        lambda request: httpx.ConnectError(f"refused; sent {dict(request.headers)}", request=request),
        lambda request: httpx.ReadTimeout(f"timed out with {request.headers['authorization']}", request=request),
        lambda request: httpx.RemoteProtocolError("Server disconnected", request=request),
        lambda request: httpx.DecodingError(f"bad gzip for {request.headers}", request=request),
    ],
)
def test_transport_errors_do_not_leak_the_key(
    record: RecordFactory, caplog: pytest.LogCaptureFixture, exc_factory: Callable[[httpx.Request], Exception]
) -> None:
    """No text reachable from the raised error (including __cause__/__context__) holds the key."""
    caplog.set_level(logging.DEBUG)
    client = AssistantsClient(
        "https://api.example/v1", SECRET, transport=record(_failing_handler(exc_factory)).transport()
    )
    with client, pytest.raises(TransientError) as caught:
        client.retrieve_run("thread_1", "run_1")
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert SECRET not in _all_text(caught.value)
    assert SECRET not in caplog.text


@pytest.mark.parametrize("status", [400, 401, 500])
def test_error_bodies_echoing_the_key_are_redacted(record: RecordFactory, status: int) -> None:
    """A server that quotes the key back in its error body does not get it into the exception."""
    body = {
        "error": {
            "message": f"Incorrect API key provided: {SECRET}.",
            "type": "invalid_request_error",
            "param": SECRET,
            "code": "invalid_api_key",
        }
    }
    recorder = record(lambda request: httpx.Response(status, json=body))
    with (
        AssistantsClient("https://api.example/v1", SECRET, transport=recorder.transport()) as client,
        pytest.raises(ApiError) as caught,
    ):
        client.retrieve_run("thread_1", "run_1")
    assert SECRET not in _all_text(caught.value)
    assert "[REDACTED]" in caught.value.message
    if status == 401:
        assert isinstance(caught.value, AuthenticationError)


def test_reprs_do_not_show_the_key(record: RecordFactory) -> None:
    """repr() of the client and of anything it exposes shows no key."""
    recorder = record(lambda request: httpx.Response(200, json={}))
    with AssistantsClient("https://api.example/v1", SECRET, transport=recorder.transport()) as client:
        assert SECRET not in repr(client)
        assert SECRET not in str(client)
        assert SECRET not in repr(vars(client))
        assert SECRET not in repr(client._http.headers)


def test_real_connection_failure_logs_and_error_hold_no_key(caplog: pytest.LogCaptureFixture) -> None:
    """A refused TCP connection through the real transport, with DEBUG logging on, leaks nothing."""
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    caplog.set_level(logging.DEBUG)
    with (
        AssistantsClient(f"http://127.0.0.1:{port}/v1", SECRET, timeout=2.0) as client,
        pytest.raises(TransientError) as caught,
    ):
        client.create_run("thread_1", {"assistant_id": "asst_1"})
    assert "connection failed" in caught.value.message
    assert SECRET not in _all_text(caught.value)
    assert SECRET not in caplog.text
    assert caplog.records, "DEBUG logging of httpx/httpcore should have produced records to check"
