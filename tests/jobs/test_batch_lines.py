"""The OpenAI Batch API line shape ({custom_id, method, url, body}): accepted as is, or refused at its field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batchrunner.jobs import BackendName, JobFileError, LineErrors, parse_job_line, read_job_file
from tests.jobs.jobfile_helpers import line, pairs, write_lines
from tests.jobs.responses_helpers import KNOWN_TOOLS, assert_valid_create_response

TOOL = {"type": "function", "name": "calc", "parameters": {"type": "object"}, "strict": False}


def batch_line(custom_id: str = "req-1", **body: Any) -> dict[str, Any]:
    """A valid Batch API line for /v1/responses, its body updated with ``body``."""
    fields: dict[str, Any] = {"model": "gpt-4o-mini", "input": "Hello"}
    fields.update(body)
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/responses", "body": fields}


def _parse(data: dict[str, Any], **options: Any) -> Any:
    return parse_job_line(json.dumps(data), 1, **options)


# Bodies accepted as they are (and the request stored for each).
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("minimal", {}),
    (
        "messages and parts",
        {
            "input": [
                {"role": "developer", "content": "Be terse."},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Describe"}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "low"},
                        {"type": "input_image", "file_id": "file_1", "detail": "auto"},
                        {"type": "input_file", "file_id": "file_2"},
                    ],
                },
                {"role": "assistant", "content": "Earlier answer"},
            ]
        },
    ),
    (
        "every supported field",
        {
            "instructions": "Be brief.",
            "tools": [TOOL, {"type": "function", "name": "lookup", "parameters": None, "strict": None}],
            "tool_choice": {"type": "function", "name": "calc"},
            "parallel_tool_calls": False,
            "temperature": 0.3,
            "top_p": 0.9,
            "max_output_tokens": 16,
            "metadata": pairs(15),
            "text": {
                "format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True},
                "verbosity": "low",
            },
            "reasoning": {"effort": "minimal", "summary": "auto"},
            "truncation": "disabled",
            "service_tier": "flex",
            "prompt_cache_key": "k",
            "safety_identifier": "user-1",
        },
    ),
    ("text formats", {"text": {"format": {"type": "json_object"}}, "tool_choice": "auto"}),
    ("conversation id", {"conversation": "conv_7"}),
    ("conversation object", {"conversation": {"id": "conv_8"}}),
]


@pytest.mark.parametrize("body", [pytest.param(b, id=n) for n, b in ACCEPTED])
def test_batch_line_is_a_responses_job_with_its_body_as_request(body: dict[str, Any]) -> None:
    """The body is the request, unchanged; the spec names no assistant, thread or params."""
    data = batch_line(**body)
    spec = _parse(data, known_tools=KNOWN_TOOLS)
    assert spec.backend is BackendName.RESPONSES
    assert spec.request == data["body"]
    assert (spec.custom_id, spec.assistant_id, spec.thread, spec.params) == ("req-1", "", None, {})
    assert_valid_create_response(spec.request)


def test_conversation_becomes_the_thread_id() -> None:
    """A body on a conversation gives its id as thread_id, so jobs on it can be serialised."""
    assert _parse(batch_line(conversation="conv_7")).thread_id == "conv_7"
    assert _parse(batch_line(conversation={"id": "conv_8"})).thread_id == "conv_8"
    assert _parse(batch_line()).thread_id is None


def test_runtime_fields_batchrunner_sets_are_accepted_and_left_out() -> None:
    """background: true, store: true and stream: false are what batchrunner does anyway; they are dropped."""
    spec = _parse(batch_line(background=True, store=True, stream=False))
    assert spec.request == {"model": "gpt-4o-mini", "input": "Hello"}
    assert _parse(batch_line(background=None, store=None, stream=None)).request == spec.request


def test_batch_line_forces_the_responses_backend() -> None:
    """Whatever the reader's default, a Batch line is a responses job; "backend": "responses" is allowed."""
    for default in BackendName:
        assert _parse(batch_line(), default_backend=default).backend is BackendName.RESPONSES
    assert _parse({**batch_line(), "backend": "responses"}).backend is BackendName.RESPONSES


def test_tool_names_come_from_the_body() -> None:
    """tool_names() of a Batch line lists its body's function tools."""
    assert _parse(batch_line(tools=[TOOL])).tool_names() == {"calc"}


# (name, line, field, fragment of the message)
REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    ("GET", {**batch_line(), "method": "GET"}, "method", "must be 'POST' (got \"GET\")"),
    (
        "chat completions",
        {**batch_line(), "url": "/v1/chat/completions"},
        "url",
        'batchrunner runs only Responses API requests: must be "/v1/responses" (got "/v1/chat/completions")',
    ),
    ("embeddings", {**batch_line(), "url": "/v1/embeddings"}, "url", "runs only Responses API requests"),
    ("url without /v1", {**batch_line(), "url": "/responses"}, "url", 'must be "/v1/responses"'),
    ("no custom_id", {k: v for k, v in batch_line().items() if k != "custom_id"}, "custom_id", "required"),
    ("no method", {k: v for k, v in batch_line().items() if k != "method"}, "method", "required"),
    ("no body", {k: v for k, v in batch_line().items() if k != "body"}, "body", "required"),
    ("body not an object", {**batch_line(), "body": []}, "body", "must be an object"),
    ("backend assistants", {**batch_line(), "backend": "assistants"}, "backend", "runs on the responses backend"),
    ("assistant_id", {**batch_line(), "assistant_id": "a"}, "assistant_id", "carries the whole request in body"),
    ("no model", {**batch_line(), "body": {"input": "x"}}, "body.model", "required"),
    ("no input", {**batch_line(), "body": {"model": "m"}}, "body.input", "required"),
    ("empty input", batch_line(input=""), "body.input", "must not be empty"),
    ("unknown key", batch_line(colour="red"), "body.colour", "unknown field"),
    ("typo", batch_line(temprature=1), "body.temprature", "did you mean 'temperature'?"),
    ("chat messages", batch_line(messages=[]), "body.messages", "the Responses API takes input"),
    ("previous_response_id", batch_line(previous_response_id="resp_1"), "body.previous_response_id", "chains"),
    ("store false", batch_line(store=False), "body.store", "must be true or absent"),
    ("background false", batch_line(background=False), "body.background", "must be true or absent"),
    ("stream true", batch_line(stream=True), "body.stream", "must be false or absent"),
    ("temperature", batch_line(temperature=2.5), "body.temperature", "must be <= 2 (got 2.5)"),
    ("max_output_tokens", batch_line(max_output_tokens=15), "body.max_output_tokens", "must be >= 16 (got 15)"),
    ("reserved tag", batch_line(metadata={"batchrunner_job": "x"}), "body.metadata.batchrunner_job", "reserved"),
    ("16 pairs", batch_line(metadata=pairs(16)), "body.metadata", "must have at most 15 pairs"),
    ("built-in tool", batch_line(tools=[{"type": "web_search"}]), "body.tools[0]", "runs function tools only"),
    (
        "tool without strict",
        batch_line(tools=[{"type": "function", "name": "calc", "parameters": {}}]),
        "body.tools[0].strict",
        "required",
    ),
    ("duplicate tools", batch_line(tools=[TOOL, TOOL]), "body.tools[1].name", "duplicate function name 'calc'"),
    (
        "tool_choice builtin",
        batch_line(tool_choice={"type": "file_search"}),
        "body.tool_choice",
        "an object with type 'function'",
    ),
    (
        "assistant parts",
        batch_line(input=[{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]),
        "body.input[0].content",
        "must be a string in an assistant message",
    ),
    (
        "bad role",
        batch_line(input=[{"role": "tool", "content": "x"}]),
        "body.input[0].role",
        "must be 'user', 'assistant', 'system' or 'developer'",
    ),
    (
        "other item type",
        batch_line(input=[{"type": "function_call_output", "call_id": "c", "output": "x"}]),
        "body.input[0]",
        "must be a message ({role, content}): batchrunner takes no other input items",
    ),
    (
        "image without source",
        batch_line(input=[{"role": "user", "content": [{"type": "input_image", "detail": "auto"}]}]),
        "body.input[0].content[0]",
        "exactly one of image_url and file_id",
    ),
    (
        "image without detail",
        batch_line(input=[{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]),
        "body.input[0].content[0].detail",
        "required",
    ),
    (
        "json_schema without schema",
        batch_line(text={"format": {"type": "json_schema", "name": "x"}}),
        "body.text.format.schema",
        "required",
    ),
    ("bad effort", batch_line(reasoning={"effort": "huge"}), "body.reasoning.effort", "must be 'none'"),
    ("bad truncation", batch_line(truncation="middle"), "body.truncation", "must be 'auto' or 'disabled'"),
]


@pytest.mark.parametrize(("data", "field", "fragment"), [pytest.param(d, f, m, id=n) for n, d, f, m in REFUSED])
def test_bad_batch_line_is_reported_at_its_field(
    data: dict[str, Any], field: str, fragment: str, tmp_path: Path
) -> None:
    """Each kind of bad Batch line yields one error, on its line, at the field, with a plain message."""
    path = write_lines(tmp_path / "jobs.jsonl", [json.dumps(batch_line("first")), "", json.dumps(data)])
    with pytest.raises(JobFileError) as raised:
        read_job_file(path)
    (error,) = raised.value.errors
    assert (error.line_no, error.field) == (3, field)
    assert fragment in error.message


def test_unknown_tool_handler_is_refused_with_known_tools() -> None:
    """With known_tools, a body's function tool (or forced choice) needs a registered handler."""
    with pytest.raises(LineErrors) as raised:
        _parse(batch_line(tools=[TOOL], tool_choice={"type": "function", "name": "nope"}), known_tools={"x"})
    assert [(e.field, e.message) for e in raised.value.errors] == [
        ("body.tools[0].name", "no tool handler registered for 'calc'"),
        ("body.tool_choice.name", "no tool handler registered for 'nope'"),
    ]


def test_both_line_shapes_mix_in_one_file_with_one_custom_id_space(tmp_path: Path) -> None:
    """A file may mix job lines and Batch lines; custom_ids are unique across both."""
    path = write_lines(
        tmp_path / "jobs.jsonl",
        [line(custom_id="a"), json.dumps(batch_line("b")), json.dumps(batch_line("a"))],
    )
    with pytest.raises(JobFileError) as raised:
        read_job_file(path)
    (error,) = raised.value.errors
    assert (error.line_no, error.field, error.message) == (3, "custom_id", 'duplicate custom_id "a" (also on line 1)')
    jobs = read_job_file(path, skip_invalid=True).jobs
    assert [(job.custom_id, job.backend) for job in jobs] == [
        ("a", BackendName.ASSISTANTS),
        ("b", BackendName.RESPONSES),
    ]
