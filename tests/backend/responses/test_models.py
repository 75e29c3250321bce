"""The Responses models: the official examples parse, and missing or unknown values are tolerated."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from batchrunner.backend.responses import (
    ACTIVE_RESPONSE_STATUSES,
    TERMINAL_RESPONSE_STATUSES,
    Conversation,
    DeletedObject,
    FunctionCallItem,
    ItemList,
    OutputMessageItem,
    Response,
    ResponseStatus,
    ResponseUsage,
)
from batchrunner.testing.openapi_contract import find_openapi_spec
from tests.backend.responses.conftest import function_call_item, message_item, response_payload


def _official_examples() -> list[tuple[str, Any]]:
    """(operation, decoded JSON reply) of every JSON example of the /responses and /conversations paths."""
    with open(find_openapi_spec(), encoding="utf-8") as handle:
        spec = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    found = []
    for template, item in spec["paths"].items():
        if "?" in template or not template.startswith(("/responses", "/conversations")):
            continue
        for method, operation in item.items():
            examples = operation.get("x-oaiMeta", {}).get("examples") if isinstance(operation, dict) else None
            for example in examples if isinstance(examples, list) else [examples] if examples else []:
                try:
                    found.append(
                        (f"{method.upper()} {template} {example.get('title') or ''}", json.loads(example["response"]))
                    )
                except ValueError:
                    continue  # the streaming example (SSE text): see test_stream.py
    return found


OFFICIAL = _official_examples()
OFFICIAL_RESPONSES = [(name, body) for name, body in OFFICIAL if body.get("object") == "response" and "status" in body]


@pytest.mark.parametrize(("name", "body"), OFFICIAL_RESPONSES, ids=[name for name, _ in OFFICIAL_RESPONSES])
def test_every_official_response_example_parses(name: str, body: dict[str, Any]) -> None:
    """Each Response example of the spec parses, keeping its status, items and usage."""
    response = Response.model_validate(body)
    assert response.id == body["id"] and response.status == body["status"]
    assert response.output_items_json() == body["output"]
    assert len(response.output) == len(body["output"])
    if body.get("usage"):
        assert response.usage is not None and response.usage.total_tokens == body["usage"]["total_tokens"]


def test_the_official_function_call_example_gives_the_call() -> None:
    """The spec's Functions example yields one FunctionCallItem with its call_id, name and arguments."""
    functions = [body for name, body in OFFICIAL if name.endswith("Functions")]
    (call,) = Response.model_validate(functions[0]).function_calls()
    assert call.call_id.startswith("call_") and call.name == "get_current_weather"
    assert json.loads(call.arguments) == {"location": "Boston, MA", "unit": "celsius"}


def test_the_official_list_conversation_and_delete_examples_parse() -> None:
    """The spec's item lists, conversation and deleted-object examples parse into their models."""
    lists = [body for _, body in OFFICIAL if body.get("object") == "list"]
    conversations = [body for _, body in OFFICIAL if body.get("object") == "conversation" and "created_at" in body]
    deleted = [body for _, body in OFFICIAL if "deleted" in body]
    assert lists and conversations and deleted
    for body in lists:
        page = ItemList.model_validate(body)
        assert page.data == body["data"] and page.last_id == body["last_id"]
    for body in conversations:
        assert Conversation.model_validate(body).id == body["id"]
    for body in deleted:
        assert DeletedObject.model_validate(body).deleted is True


@pytest.mark.parametrize(
    ("status", "known", "terminal"),
    [
        ("queued", ResponseStatus.QUEUED, False),
        ("in_progress", ResponseStatus.IN_PROGRESS, False),
        ("completed", ResponseStatus.COMPLETED, True),
        ("failed", ResponseStatus.FAILED, True),
        ("incomplete", ResponseStatus.INCOMPLETE, True),
        ("cancelled", ResponseStatus.CANCELLED, True),
        ("requires_action", None, False),
        (None, None, False),
    ],
)
def test_status_is_kept_as_sent_and_classified(
    status: str | None, known: ResponseStatus | None, terminal: bool
) -> None:
    """Known statuses map to ResponseStatus; unknown or missing ones are kept and are neither known nor terminal."""
    response = Response.model_validate(response_payload(status))
    assert response.status == status and response.known_status is known and response.is_terminal is terminal


def test_status_sets_cover_every_known_status_once() -> None:
    """Active (queued, in_progress) and terminal statuses partition ResponseStatus."""
    assert set(ResponseStatus) == ACTIVE_RESPONSE_STATUSES | TERMINAL_RESPONSE_STATUSES
    assert not ACTIVE_RESPONSE_STATUSES & TERMINAL_RESPONSE_STATUSES


def test_only_the_id_is_required() -> None:
    """{"id": ...} alone is a Response with empty output and no status, usage, error or conversation."""
    response = Response.model_validate({"id": "resp_1"})
    assert (response.status, response.usage, response.error, response.conversation_id) == (None, None, None, None)
    assert response.output == [] and response.output_text() == "" and response.function_calls() == []
    with pytest.raises(ValidationError):
        Response.model_validate({"status": "completed"})


def test_explicit_nulls_are_read_as_absent() -> None:
    """null output, usage, error, details and metadata (as real servers send them) parse."""
    body = {"id": "r", "output": None, "usage": None, "error": None, "incomplete_details": None, "metadata": None}
    response = Response.model_validate(body)
    assert response.output == [] and response.usage is None and response.incomplete_reason is None


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}, (10, 5, 15, 0, 0)),
        ({"input_tokens": 10, "output_tokens": 5}, (10, 5, 15, 0, 0)),
        ({"input_tokens": None, "output_tokens": 5, "total_tokens": None}, (0, 5, 5, 0, 0)),
        ({}, (0, 0, 0, 0, 0)),
        (
            {
                "input_tokens": 10,
                "output_tokens": 5,
                "total_tokens": 15,
                "input_tokens_details": {"cached_tokens": 8},
                "output_tokens_details": {"reasoning_tokens": 3},
            },
            (10, 5, 15, 8, 3),
        ),
        (
            {"input_tokens": 1, "output_tokens": 1, "input_tokens_details": None, "output_tokens_details": {}},
            (1, 1, 2, 0, 0),
        ),
    ],
)
def test_usage_tolerates_missing_counts(usage: dict[str, Any], expected: tuple[int, ...]) -> None:
    """Missing counts are 0, a missing total is input + output, and missing details give 0 cached/reasoning."""
    parsed = ResponseUsage.model_validate(usage)
    got = (
        parsed.input_tokens,
        parsed.output_tokens,
        parsed.total_tokens,
        parsed.cached_tokens,
        parsed.reasoning_tokens,
    )
    assert got == expected


@pytest.mark.parametrize("conversation", ["conv_1", {"id": "conv_1"}])
def test_conversation_may_be_an_id_or_an_object(conversation: Any) -> None:
    """Response.conversation_id reads both the string and the {id} form."""
    assert Response.model_validate({"id": "r", "conversation": conversation}).conversation_id == "conv_1"


def test_message_text_joins_output_text_parts_and_skips_the_rest() -> None:
    """text() joins output_text parts in order; refusals and unknown parts are left out but kept."""
    item = message_item("Hello, ", "world")
    item["content"].insert(1, {"type": "refusal", "refusal": "no"})
    item["content"].append({"type": "audio_transcript", "transcript": "ignored"})
    message = OutputMessageItem.model_validate(item)
    assert message.text() == "Hello, world" and message.refusals() == ["no"]
    assert message.content[-1] == {"type": "audio_transcript", "transcript": "ignored"}


def test_output_text_spans_every_message_item() -> None:
    """Response.output_text() joins the text of all message items, skipping function calls between them."""
    output = [message_item("a", item_id="m1"), function_call_item("c", "f", "{}"), message_item("b", item_id="m2")]
    assert Response.model_validate(response_payload("completed", output)).output_text() == "ab"


def test_function_call_arguments_sent_as_an_object_become_a_json_string() -> None:
    """A server sending arguments as an object still gives the JSON string the tools expect."""
    call = FunctionCallItem.model_validate(
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": {"x": 1}}
    )
    assert json.loads(call.arguments) == {"x": 1}


def test_a_function_call_without_call_id_is_rejected() -> None:
    """A function_call that cannot be answered (no call_id) fails validation instead of passing silently."""
    with pytest.raises(ValidationError, match="call_id"):
        Response.model_validate({"id": "r", "output": [{"type": "function_call", "name": "f", "arguments": "{}"}]})


def test_output_items_json_keeps_extra_fields_and_omits_invented_defaults() -> None:
    """output_items_json() returns what the server sent: extra fields kept, no defaulted fields added."""
    item = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}", "namespace": "ns"}
    assert Response.model_validate({"id": "r", "output": [item]}).output_items_json() == [item]
