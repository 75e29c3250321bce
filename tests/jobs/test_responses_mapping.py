"""Job lines on the responses backend: every mapping rule, every refusal, and the choice of backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batchrunner.jobs import (
    BackendName,
    JobFileError,
    LineErrors,
    RequestNotMappable,
    parse_job_line,
    read_job_file,
    responses_request,
)
from tests.jobs.jobfile_helpers import pairs, write_lines
from tests.jobs.responses_helpers import (
    ASSISTANTS,
    KNOWN_TOOLS,
    LOOKUP_FLAT,
    TICKET_SCHEMA,
    assert_valid_create_response,
    parse_responses,
    responses_job,
    user,
)

PLAIN = {"model": "gpt-4o-mini", "instructions": "Be brief."}
HI = [{"role": "user", "content": "hi"}]
EMPTY_PARAMETERS = {"type": "object", "properties": {}}
CALC_FLAT = {"type": "function", "name": "calc", "parameters": EMPTY_PARAMETERS, "strict": False}
FULL = {
    "model": "gpt-4o",
    "instructions": "Use tools.",
    "input": HI,
    "tools": [CALC_FLAT, LOOKUP_FLAT],
    "temperature": 0.5,
    "top_p": 0.9,
    "reasoning": {"effort": "low"},
    "text": {"format": {"type": "json_schema", "name": "ticket", "schema": TICKET_SCHEMA, "strict": True}},
    "metadata": {"owner": "ops"},
}
JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "out", "description": "The answer.", "schema": {"type": "object"}, "strict": False},
}

# (name, job line fields, expected request body)
MAPPING_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("assistant settings and thread messages", responses_job(), {**PLAIN, "input": HI}),
    ("params.model overrides", responses_job(params={"model": "gpt-5"}), {**PLAIN, "model": "gpt-5", "input": HI}),
    (
        "instructions replaced, additional appended",
        responses_job(params={"instructions": "Be kind.", "additional_instructions": "Cite sources."}),
        {**PLAIN, "instructions": "Be kind.\n\nCite sources.", "input": HI},
    ),
    (
        "additional_instructions after the assistant's",
        responses_job(params={"additional_instructions": "Cite sources."}),
        {**PLAIN, "instructions": "Be brief.\n\nCite sources.", "input": HI},
    ),
    (
        "null instructions keep the assistant's",
        responses_job(params={"instructions": None, "temperature": None}),
        {**PLAIN, "input": HI},
    ),
    ("no instructions anywhere", responses_job("asst_bare"), {"model": "gpt-4.1", "input": HI}),
    (
        "content parts become input parts",
        responses_job(
            thread={
                "messages": [
                    user(
                        [
                            {"type": "text", "text": "Describe:"},
                            {"type": "image_file", "image_file": {"file_id": "file_1"}},
                            {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "high"}},
                        ]
                    )
                ]
            }
        ),
        {
            **PLAIN,
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Describe:"},
                        {"type": "input_image", "file_id": "file_1", "detail": "auto"},
                        {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "high"},
                    ],
                }
            ],
        },
    ),
    (
        "assistant text parts become string content",
        responses_job(
            thread={
                "messages": [
                    user("q"),
                    {
                        "role": "assistant",
                        "content": [{"type": "text", "text": "a1"}, {"type": "text", "text": "a2"}],
                    },
                    {"role": "assistant", "content": "a3"},
                ]
            }
        ),
        {
            **PLAIN,
            "input": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a1\n\na2"},
                {"role": "assistant", "content": "a3"},
            ],
        },
    ),
    (
        "additional_messages appended",
        responses_job(params={"additional_messages": [user("more")]}),
        {**PLAIN, "input": [*HI, {"role": "user", "content": "more"}]},
    ),
    (
        "thread_id is the conversation",
        responses_job(thread_id="conv_1", params={"additional_messages": [user("next")]}),
        {**PLAIN, "conversation": "conv_1", "input": [{"role": "user", "content": "next"}]},
    ),
    (
        "conversation without new messages",
        responses_job(thread_id="conv_1"),
        {**PLAIN, "conversation": "conv_1"},
    ),
    (
        "max_completion_tokens",
        responses_job(params={"max_completion_tokens": 256}),
        {**PLAIN, "input": HI, "max_output_tokens": 256},
    ),
    (
        "json_schema format flattened",
        responses_job(params={"response_format": JSON_SCHEMA_FORMAT}),
        {
            **PLAIN,
            "input": HI,
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "out",
                    "schema": {"type": "object"},
                    "strict": False,
                    "description": "The answer.",
                }
            },
        },
    ),
    ("auto format omitted", responses_job(params={"response_format": "auto"}), {**PLAIN, "input": HI}),
    ("auto format keeps the assistant's", responses_job("asst_full", params={"response_format": "auto"}), FULL),
    (
        "text format as is",
        responses_job(params={"response_format": {"type": "text"}}),
        {**PLAIN, "input": HI, "text": {"format": {"type": "text"}}},
    ),
    (
        "json_object format over the assistant's",
        responses_job("asst_full", params={"response_format": {"type": "json_object"}}),
        {**FULL, "text": {"format": {"type": "json_object"}}},
    ),
    (
        "reasoning_effort",
        responses_job(params={"reasoning_effort": "high"}),
        {**PLAIN, "input": HI, "reasoning": {"effort": "high"}},
    ),
    (
        "function tools flattened",
        responses_job(
            params={
                "tools": [
                    {"type": "function", "function": {"name": "calc"}},
                    {
                        "type": "function",
                        "function": {
                            "name": "lookup",
                            "description": "d",
                            "parameters": {"type": "object"},
                            "strict": True,
                        },
                    },
                    {"type": "function", "function": {"name": "calculate", "strict": None}},
                ]
            }
        ),
        {
            **PLAIN,
            "input": HI,
            "tools": [
                CALC_FLAT,
                {
                    "type": "function",
                    "name": "lookup",
                    "description": "d",
                    "parameters": {"type": "object"},
                    "strict": True,
                },
                {"type": "function", "name": "calculate", "parameters": EMPTY_PARAMETERS, "strict": False},
            ],
        },
    ),
    ("assistant settings all mapped", responses_job("asst_full"), FULL),
    ("empty tools replace the assistant's", responses_job("asst_full", params={"tools": []}), {**FULL, "tools": []}),
    (
        "named tool_choice flattened",
        responses_job("asst_full", params={"tool_choice": {"type": "function", "function": {"name": "calc"}}}),
        {**FULL, "tool_choice": {"type": "function", "name": "calc"}},
    ),
    (
        "tool_choice string as is",
        responses_job("asst_full", params={"tool_choice": "required"}),
        {**FULL, "tool_choice": "required"},
    ),
    (
        "sampling and parallel calls over the assistant's",
        responses_job("asst_full", params={"temperature": 0, "top_p": 1, "parallel_tool_calls": False}),
        {**FULL, "temperature": 0, "top_p": 1, "parallel_tool_calls": False},
    ),
    (
        "auto truncation",
        responses_job(params={"truncation_strategy": {"type": "auto"}}),
        {**PLAIN, "input": HI, "truncation": "auto"},
    ),
    (
        "metadata merged: assistant, thread, params",
        responses_job(
            "asst_full",
            thread={"messages": HI, "metadata": {"source": "helpdesk", "owner": "thread"}},
            params={"metadata": {"team": "support"}},
        ),
        {**FULL, "metadata": {"owner": "thread", "source": "helpdesk", "team": "support"}},
    ),
    (
        "same key, same value in thread and params",
        responses_job(thread={"messages": HI, "metadata": {"a": "1"}}, params={"metadata": {"a": "1"}}),
        {**PLAIN, "input": HI, "metadata": {"a": "1"}},
    ),
]


@pytest.mark.parametrize(("data", "expected"), [pytest.param(d, e, id=n) for n, d, e in MAPPING_CASES])
def test_job_line_maps_to_this_request(data: dict[str, Any], expected: dict[str, Any]) -> None:
    """Each mapping rule gives exactly the expected request body (nothing added, nothing dropped)."""
    spec = parse_responses(data, known_tools=KNOWN_TOOLS)
    assert spec.backend is BackendName.RESPONSES
    assert spec.request == expected
    assert json.loads(json.dumps(spec.request)) == expected  # plain JSON


@pytest.mark.parametrize(("data", "expected"), [pytest.param(d, e, id=n) for n, d, e in MAPPING_CASES])
def test_every_mapped_request_is_a_valid_create_response(data: dict[str, Any], expected: dict[str, Any]) -> None:
    """The body of each mapping case, with background/store/tag added, validates against openapi.yaml."""
    request = parse_responses(data).request
    assert request is not None
    assert_valid_create_response(request)


def test_responses_spec_keeps_what_the_line_said() -> None:
    """assistant_id, thread, thread_id and params stay as the line gave them, for reports."""
    data = responses_job(params={"temperature": 0.2, "metadata": {"team": "x"}})
    spec = parse_responses(data)
    assert (spec.assistant_id, spec.thread, spec.thread_id, spec.params) == (
        "asst_plain",
        data["thread"],
        None,
        data["params"],
    )


# (name, job line fields, field of the error, fragment of its message)
REFUSAL_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "max_prompt_tokens",
        responses_job(params={"max_prompt_tokens": 1000}),
        "params.max_prompt_tokens",
        "has no Responses API equivalent; the Responses API has no per-request prompt cap",
    ),
    (
        "last_messages truncation",
        responses_job(params={"truncation_strategy": {"type": "last_messages", "last_messages": 4}}),
        "params.truncation_strategy",
        "has no Responses API equivalent",
    ),
    (
        "auto truncation with a message count",
        responses_job(params={"truncation_strategy": {"type": "auto", "last_messages": 4}}),
        "params.truncation_strategy.last_messages",
        "has no Responses API equivalent",
    ),
    (
        "file_search tool",
        responses_job(params={"tools": [{"type": "file_search"}]}),
        "params.tools[0]",
        "no vector stores or containers",
    ),
    (
        "code_interpreter tool",
        responses_job(
            params={"tools": [{"type": "function", "function": {"name": "calc"}}, {"type": "code_interpreter"}]}
        ),
        "params.tools[1]",
        "no vector stores or containers",
    ),
    (
        "builtin tool_choice",
        responses_job(params={"tool_choice": {"type": "file_search"}}),
        "params.tool_choice",
        "has no Responses API equivalent",
    ),
    (
        "thread tool_resources",
        responses_job(thread={"messages": HI, "tool_resources": {"code_interpreter": {"file_ids": ["f"]}}}),
        "thread.tool_resources",
        "no vector stores or containers",
    ),
    (
        "attachments",
        responses_job(thread={"messages": [user(attachments=[{"file_id": "f", "tools": [{"type": "file_search"}]}])]}),
        "thread.messages[0].attachments",
        "input messages carry no attachments",
    ),
    (
        "message metadata",
        responses_job(thread={"messages": [user(metadata={"k": "v"})]}),
        "thread.messages[0].metadata",
        "input messages carry no metadata",
    ),
    (
        "additional message attachments",
        responses_job(
            params={
                "additional_messages": [user(attachments=[{"file_id": "f", "tools": [{"type": "code_interpreter"}]}])]
            }
        ),
        "params.additional_messages[0].attachments",
        "input messages carry no attachments",
    ),
    (
        "image in an assistant message",
        responses_job(
            thread={
                "messages": [
                    user("q"),
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "text", "text": "see"},
                            {"type": "image_file", "image_file": {"file_id": "f"}},
                        ],
                    },
                ]
            }
        ),
        "thread.messages[1].content[1]",
        "assistant messages carry only text",
    ),
    (
        "json_schema without schema",
        responses_job(params={"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}),
        "params.response_format.json_schema.schema",
        "text.format needs the schema",
    ),
    ("no input", responses_job(thread={}), "thread.messages", "the request needs input"),
    ("empty messages", responses_job(thread={"messages": []}), "thread.messages", "the request needs input"),
    (
        "thread metadata conflicting with params",
        responses_job(thread={"messages": HI, "metadata": {"team": "a"}}, params={"metadata": {"team": "b"}}),
        "thread.metadata.team",
        'conflicts with params.metadata ("b")',
    ),
    (
        "too many merged metadata pairs",
        responses_job(
            "asst_full",
            thread={"messages": HI, "metadata": pairs(7)},
            params={"metadata": {f"p{i}": "v" for i in range(8)}},
        ),
        "params.metadata",
        "the response gets 16 pairs: at most 15",
    ),
    (
        "reserved key in thread metadata",
        responses_job(thread={"messages": HI, "metadata": {"batchrunner_job": "x"}}),
        "thread.metadata.batchrunner_job",
        "reserved",
    ),
    (
        "undefined assistant",
        responses_job("asst_nobody"),
        "assistant_id",
        'assistant "asst_nobody" is not defined in the assistants file',
    ),
    ("params still validated", responses_job(params={"temperature": 3}), "params.temperature", "must be <= 2"),
]


@pytest.mark.parametrize(("data", "field", "fragment"), [pytest.param(d, f, m, id=n) for n, d, f, m in REFUSAL_CASES])
def test_refusal_names_line_and_field(data: dict[str, Any], field: str, fragment: str, tmp_path: Path) -> None:
    """A job the Responses API cannot take is an error of its line, at the field, saying why."""
    ok = json.dumps(responses_job())
    path = write_lines(tmp_path / "jobs.jsonl", [ok, "", json.dumps(data)])
    with pytest.raises(JobFileError) as raised:
        read_job_file(path, default_backend=BackendName.RESPONSES, assistants=ASSISTANTS)
    (error,) = raised.value.errors
    assert (error.line_no, error.field) == (3, field)
    assert fragment in error.message
    assert str(error) == f"{path}:3: {field}: {error.message}"


@pytest.mark.parametrize(("data", "field", "fragment"), [pytest.param(d, f, m, id=n) for n, d, f, m in REFUSAL_CASES])
def test_refused_lines_run_on_the_assistants_backend(data: dict[str, Any], field: str, fragment: str) -> None:
    """The same lines are valid Assistants jobs (except where the schema itself refuses them)."""
    if field in ("params.temperature", "thread.metadata.batchrunner_job"):
        with pytest.raises(LineErrors):
            parse_job_line(json.dumps(data), 1)
        return
    spec = parse_job_line(json.dumps(data), 1)
    assert (spec.backend, spec.request) == (BackendName.ASSISTANTS, None)


def test_every_refusal_of_a_line_is_reported() -> None:
    """A line with several unmappable parameters lists them all, not only the first."""
    data = responses_job(
        params={"max_prompt_tokens": 500, "truncation_strategy": {"type": "last_messages", "last_messages": 2}},
        thread={"messages": [user(metadata={"a": "b"})], "tool_resources": {}},
    )
    with pytest.raises(LineErrors) as raised:
        parse_responses(data, 4)
    assert sorted(error.field for error in raised.value.errors) == [
        "params.max_prompt_tokens",
        "params.truncation_strategy",
        "thread.messages[0].metadata",
        "thread.tool_resources",
    ]
    assert {error.line_no for error in raised.value.errors} == {4}


def test_without_assistants_a_responses_line_is_an_error() -> None:
    """On the responses backend with no assistants file, assistant_id says so."""
    with pytest.raises(LineErrors) as raised:
        parse_responses(responses_job(), 2, assistants=None)
    assert [str(error) for error in raised.value.errors] == [
        "line 2: assistant_id: no assistants file given: the responses backend takes the assistant's settings from one"
    ]


def test_assistant_tools_need_handlers_when_known_tools_are_given() -> None:
    """With known_tools, the assistant's function tools must be registered, unless the job replaces them."""
    with pytest.raises(LineErrors) as raised:
        parse_responses(responses_job("asst_full"), 1, known_tools={"calc"})
    (error,) = raised.value.errors
    assert (error.field, error.message) == (
        "assistant_id",
        'the assistant\'s function "lookup": no tool handler registered for it',
    )
    replaced = responses_job("asst_full", params={"tools": [{"type": "function", "function": {"name": "calc"}}]})
    assert parse_responses(replaced, known_tools={"calc"}).tool_names() == {"calc"}
    assert parse_responses(responses_job("asst_full")).tool_names() == {"calc", "lookup"}


def test_line_backend_overrides_the_default() -> None:
    """A line's "backend" wins over the reader's default, in both directions."""
    assistants_line = responses_job(backend="assistants", params={"max_prompt_tokens": 500})
    spec = parse_responses(assistants_line)
    assert (spec.backend, spec.request) == (BackendName.ASSISTANTS, None)
    responses_line = responses_job(backend="responses")
    spec = parse_job_line(json.dumps(responses_line), 1, assistants=ASSISTANTS)
    assert spec.backend is BackendName.RESPONSES and spec.request == {**PLAIN, "input": HI}


def test_reader_default_backend_is_assistants() -> None:
    """parse_job_line and read_job_file default to the assistants backend, as before backends existed."""
    spec = parse_job_line(json.dumps(responses_job("asst_unknown", params={"max_prompt_tokens": 500})), 1)
    assert (spec.backend, spec.request) == (BackendName.ASSISTANTS, None)


@pytest.mark.parametrize(
    ("backend", "message"),
    [("bogus", "must be 'assistants' or 'responses' (got \"bogus\")"), (None, "must not be null")],
)
def test_bad_backend_is_reported(backend: Any, message: str) -> None:
    """An unknown or null backend is an error at "backend"."""
    with pytest.raises(LineErrors) as raised:
        parse_responses(responses_job(backend=backend))
    assert [(error.field, error.message) for error in raised.value.errors] == [("backend", message)]


def test_responses_request_is_pure_and_checks_max_output_tokens() -> None:
    """responses_request maps fields directly; below 16 output tokens (the API's minimum) is refused."""
    thread = {"messages": HI}
    assert responses_request(thread=thread, assistant=ASSISTANTS["asst_bare"]) == {"model": "gpt-4.1", "input": HI}
    with pytest.raises(RequestNotMappable) as raised:
        responses_request(thread=thread, params={"max_completion_tokens": 15}, assistant=ASSISTANTS["asst_bare"])
    ((field, message),) = raised.value.refusals
    assert field == "params.max_completion_tokens" and "must be >= 16" in message
    assert responses_request(thread=thread, params={"max_completion_tokens": 16, "model": "m"}) == {
        "model": "m",
        "input": HI,
        "max_output_tokens": 16,
    }


def test_responses_request_needs_a_model() -> None:
    """Without an assistant, the job must give the model itself."""
    with pytest.raises(RequestNotMappable) as raised:
        responses_request(thread={"messages": HI})
    assert raised.value.refusals[0].field == "params.model"
