"""The table of bad job lines: each with the exact field and message it must produce.

Used by the error matrix tests and by the check that the table agrees with openapi.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.jobs.jobfile_helpers import OMIT, function_tool, line, message_line, pairs, params_line


@dataclass(frozen=True)
class Case:
    name: str
    bad_line: str | bytes
    expected: tuple[tuple[str, str], ...]  # (field, fragment of the message), in reported order
    known_tools: frozenset[str] | None = None
    # Whether openapi.yaml itself rejects the request body; False marks a rule batchrunner adds (the
    # API enforces some without declaring them, others protect batchrunner) or a job-line-only rule.
    spec_rejects: bool = False


def case(
    name: str,
    bad_line: str | bytes,
    field: str,
    fragment: str,
    *,
    known_tools: frozenset[str] | None = None,
    spec: bool = False,
) -> Case:
    return Case(name, bad_line, ((field, fragment),), known_tools, spec)


CASES = [
    # Not a JSON object at all.
    case("truncated JSON", '{"assistant_id": "asst_1",', "", "invalid JSON"),
    case("trailing garbage", line() + " x", "", "invalid JSON: Extra data"),
    case("invalid UTF-8", b'{"assistant_id": "asst_\xff", "thread_id": "t"}', "", "invalid UTF-8 at byte 24"),
    case("array", "[1, 2]", "", "must be a JSON object (got an array)"),
    case("number", "42", "", "must be a JSON object (got a number)"),
    case("string", '"job"', "", "must be a JSON object (got a string)"),
    case("NaN literal", params_line(temperature=0.5).replace("0.5", "NaN"), "", "NaN is not a JSON value"),
    case("Infinity literal", params_line(top_p=0.5).replace("0.5", "-Infinity"), "", "-Infinity is not"),
    case(
        "number out of range",
        params_line(temperature=0.5).replace("0.5", "1e999"),
        "",
        "1e999 is out of range",
    ),
    case(
        "duplicate key",
        '{"assistant_id": "a", "thread_id": "t", "thread_id": "u"}',
        "",
        'duplicate key "thread_id"',
    ),
    case("lone surrogate escape", line(custom_id="x").replace('"x"', '"\\udc00"'), "", "unpaired surrogate"),
    # Top-level fields.
    case("custom_id not a string", line(custom_id=7), "custom_id", "must be a string (got 7)"),
    case("custom_id empty", line(custom_id=""), "custom_id", "must not be empty"),
    case("custom_id too long", line(custom_id="x" * 513), "custom_id", "at most 512 characters (got 513)"),
    case("custom_id null", line(custom_id=None), "custom_id", "must not be null"),
    case("assistant_id missing", line(assistant_id=OMIT), "assistant_id", "required"),
    case(
        "assistant_id not a string",
        line(assistant_id=["asst_1"]),
        "assistant_id",
        'must be a string (got ["asst_1"])',
    ),
    case("assistant_id empty", line(assistant_id=""), "assistant_id", "must not be empty"),
    case("thread not an object", line(thread="thread_1"), "thread", 'must be an object (got "thread_1")'),
    case("thread_id not a string", line(thread=OMIT, thread_id=12), "thread_id", "must be a string (got 12)"),
    case("thread_id empty", line(thread=OMIT, thread_id=""), "thread_id", "must not be empty"),
    case("params not an object", line(params=[]), "params", "must be an object (got [])"),
    case("params null", line(params=None), "params", "must not be null"),
    case(
        "both thread and thread_id",
        line(thread_id="thread_1"),
        "thread_id",
        "either thread or thread_id, not both",
    ),
    case("neither thread nor thread_id", line(thread=OMIT), "thread", "give thread"),
    case("unknown top-level key", line(priority=1), "priority", "unknown field"),
    Case(
        "misspelt top-level key",
        line(assistant_id=OMIT, assistnat_id="asst_1"),
        (("assistant_id", "required"), ("assistnat_id", "did you mean 'assistant_id'?")),
    ),
    # Params: unknown keys and wrong types (no coercion).
    case(
        "unknown param",
        params_line(temprature=1),
        "params.temprature",
        "did you mean 'temperature'?",
        spec=True,
    ),
    case("stream param", params_line(stream=True), "params.stream", "polls runs"),
    case("include param", params_line(include=[]), "params.include", "not supported", spec=True),
    case("assistant_id in params", params_line(assistant_id="a"), "params.assistant_id", "top level"),
    case(
        "string for number",
        params_line(temperature="0.2"),
        "params.temperature",
        'must be a number (got "0.2")',
        spec=True,
    ),
    case("bool for number", params_line(top_p=True), "params.top_p", "must be a number (got true)", spec=True),
    case(
        "float for integer",
        params_line(max_completion_tokens=512.0),
        "params.max_completion_tokens",
        "must be an integer (got 512.0)",
    ),
    case("number for string", params_line(model=4), "params.model", "must be a string (got 4)", spec=True),
    case(
        "number for bool",
        params_line(parallel_tool_calls=1),
        "params.parallel_tool_calls",
        "true or false",
        spec=True,
    ),
    case(
        "null for non-nullable",
        params_line(parallel_tool_calls=None),
        "params.parallel_tool_calls",
        "not be null",
        spec=True,
    ),
    case("model empty", params_line(model=""), "params.model", "must not be empty"),
    # Params: ranges.
    case(
        "temperature above 2",
        params_line(temperature=3.5),
        "params.temperature",
        "must be <= 2 (got 3.5)",
        spec=True,
    ),
    case(
        "temperature below 0",
        params_line(temperature=-0.1),
        "params.temperature",
        "must be >= 0 (got -0.1)",
        spec=True,
    ),
    case("top_p above 1", params_line(top_p=1.5), "params.top_p", "must be <= 1 (got 1.5)", spec=True),
    case(
        "max_completion_tokens below 256",
        params_line(max_completion_tokens=100),
        "params.max_completion_tokens",
        "must be >= 256 (got 100)",
        spec=True,
    ),
    case(
        "max_prompt_tokens below 256",
        params_line(max_prompt_tokens=255),
        "params.max_prompt_tokens",
        ">= 256",
        spec=True,
    ),
    # Params: enums and unions.
    case(
        "bad tool_choice string",
        params_line(tool_choice="always"),
        "params.tool_choice",
        "must be 'none', 'auto' or 'required' (got \"always\")",
        spec=True,
    ),
    case(
        "bad tool_choice type",
        params_line(tool_choice={"type": "web_search"}),
        "params.tool_choice",
        "an object with type 'function'",
        spec=True,
    ),
    case(
        "tool_choice function without name",
        params_line(tool_choice={"type": "function"}),
        "params.tool_choice.function",
        "required",
    ),
    case(
        "tool_choice extra key",
        params_line(tool_choice={"type": "file_search", "function": {"name": "f"}}),
        "params.tool_choice.function",
        "unknown field",
    ),
    case(
        "bad response_format string",
        params_line(response_format="json"),
        "params.response_format",
        "must be 'auto' or an object with type 'text'",
        spec=True,
    ),
    case(
        "json_schema without name",
        params_line(response_format={"type": "json_schema", "json_schema": {}}),
        "params.response_format.json_schema.name",
        "required",
        spec=True,
    ),
    case(
        "json_schema bad name",
        params_line(response_format={"type": "json_schema", "json_schema": {"name": "a b"}}),
        "params.response_format.json_schema.name",
        "1 to 64 characters",
    ),
    case(
        "bad truncation type",
        params_line(truncation_strategy={"type": "first_messages"}),
        "params.truncation_strategy.type",
        "must be 'auto' or 'last_messages'",
        spec=True,
    ),
    case(
        "truncation last_messages 0",
        params_line(truncation_strategy={"type": "last_messages", "last_messages": 0}),
        "params.truncation_strategy.last_messages",
        "must be >= 1",
        spec=True,
    ),
    case(
        "bad reasoning_effort",
        params_line(reasoning_effort="extreme"),
        "params.reasoning_effort",
        "must be 'none', 'minimal', 'low', 'medium', 'high', 'xhigh' or 'max'",
        spec=True,
    ),
    # Params: tools.
    case(
        "too many tools",
        params_line(tools=[function_tool(f"f{i}") for i in range(21)]),
        "params.tools",
        "at most 20 items (got 21)",
        spec=True,
    ),
    case(
        "bad tool name",
        params_line(tools=[function_tool("get weather")]),
        "params.tools[0].function.name",
        "1 to 64 characters of a-z, A-Z, 0-9, _ and -",
    ),
    case(
        "tool name too long",
        params_line(tools=[function_tool("f" * 65)]),
        "params.tools[0].function.name",
        "1 to 64 characters",
    ),
    case(
        "unknown tool type",
        params_line(tools=[{"type": "browser"}]),
        "params.tools[0]",
        "type 'code_interpreter', 'file_search' or 'function'",
        spec=True,
    ),
    case(
        "function tool without function",
        params_line(tools=[{"type": "function"}]),
        "params.tools[0].function",
        "required",
        spec=True,
    ),
    case(
        "tool parameters not an object",
        params_line(tools=[{"type": "function", "function": {"name": "f", "parameters": "x"}}]),
        "params.tools[0].function.parameters",
        "must be an object",
        spec=True,
    ),
    case(
        "file_search max_num_results 51",
        params_line(tools=[{"type": "file_search", "file_search": {"max_num_results": 51}}]),
        "params.tools[0].file_search.max_num_results",
        "must be <= 50",
        spec=True,
    ),
    case(
        "duplicate function names",
        params_line(tools=[function_tool("f"), function_tool("g"), function_tool("f")]),
        "params.tools[2].function.name",
        "duplicate function name 'f' (also tools[0])",
    ),
    case(
        "unknown tool handler",
        params_line(tools=[function_tool("calculate"), function_tool("x")]),
        "params.tools[1].function.name",
        "no tool handler registered for 'x'",
        known_tools=frozenset({"calculate"}),
    ),
    case(
        "tool_choice names unknown handler",
        params_line(tool_choice={"type": "function", "function": {"name": "x"}}),
        "params.tool_choice.function.name",
        "no tool handler registered for 'x'",
        known_tools=frozenset(),
    ),
    # Metadata.
    case(
        "too many metadata pairs",
        message_line(metadata=pairs(17)),
        "thread.messages[0].metadata",
        "at most 16 pairs (got 17)",
    ),
    case(
        "too many run metadata pairs",
        params_line(metadata=pairs(16)),
        "params.metadata",
        "at most 15 pairs: batchrunner adds its tag to make 16 (got 16)",
    ),
    case(
        "metadata key too long",
        params_line(metadata=pairs(1, key_length=65)),
        "params.metadata",
        "must be at most 64 characters (got 65)",
    ),
    case(
        "metadata value too long",
        params_line(metadata={"note": "v" * 513}),
        "params.metadata.note",
        "at most 512 characters (got 513)",
    ),
    case(
        "metadata value not a string",
        params_line(metadata={"n": 1}),
        "params.metadata.n",
        "must be a string",
        spec=True,
    ),
    case(
        "metadata not an object",
        params_line(metadata=["a"]),
        "params.metadata",
        "must be an object",
        spec=True,
    ),
    case(
        "odd metadata key path",
        params_line(metadata={"a.b": 2}),
        'params.metadata["a.b"]',
        "must be a string",
        spec=True,
    ),
    case(
        "reserved key in run metadata",
        params_line(metadata={"batchrunner_job": "x"}),
        "params.metadata.batchrunner_job",
        "reserved",
    ),
    case(
        "reserved key in thread metadata",
        line(thread={"metadata": {"batchrunner_job": "x"}}),
        "thread.metadata.batchrunner_job",
        "reserved",
    ),
    # Messages and threads.
    case(
        "bad message role",
        message_line(role="system"),
        "thread.messages[0].role",
        "must be 'user' or 'assistant' (got \"system\")",
        spec=True,
    ),
    case("message without role", message_line(role=OMIT), "thread.messages[0].role", "required", spec=True),
    case("empty message content", message_line(content=""), "thread.messages[0].content", "must not be empty"),
    case(
        "empty content array",
        message_line(content=[]),
        "thread.messages[0].content",
        "at least 1 item",
        spec=True,
    ),
    case(
        "content not string or array",
        message_line(content=5),
        "thread.messages[0].content",
        "a string or an array of content parts (got 5)",
        spec=True,
    ),
    case(
        "bad content part type",
        message_line(content=[{"type": "audio"}]),
        "thread.messages[0].content[0]",
        "type 'text', 'image_file' or 'image_url'",
        spec=True,
    ),
    case(
        "text part without text",
        message_line(content=[{"type": "text"}]),
        "thread.messages[0].content[0].text",
        "required",
        spec=True,
    ),
    case(
        "relative image URL",
        message_line(content=[{"type": "image_url", "image_url": {"url": "board.png"}}]),
        "thread.messages[0].content[0].image_url.url",
        "absolute URL",
    ),
    case(
        "bad image detail",
        message_line(content=[{"type": "image_file", "image_file": {"file_id": "f", "detail": "max"}}]),
        "thread.messages[0].content[0].image_file.detail",
        "'auto', 'low' or 'high'",
        spec=True,
    ),
    case(
        "bad attachment tool",
        message_line(attachments=[{"file_id": "f", "tools": [{"type": "function"}]}]),
        "thread.messages[0].attachments[0].tools[0]",
        "'code_interpreter' or 'file_search'",
        spec=True,
    ),
    case(
        "bad additional message",
        params_line(additional_messages=[{"role": "tool", "content": "x"}]),
        "params.additional_messages[0].role",
        "'user' or 'assistant'",
        spec=True,
    ),
    case(
        "misspelt message key",
        message_line(metdata={}),
        "thread.messages[0].metdata",
        "did you mean 'metadata'?",
        spec=True,
    ),
    case(
        "file_search resources with both sources",
        line(thread={"tool_resources": {"file_search": {"vector_store_ids": ["vs_1"], "vector_stores": [{}]}}}),
        "thread.tool_resources.file_search",
        "exactly one of vector_store_ids and vector_stores",
        spec=True,
    ),
    case(
        "too many code_interpreter files",
        line(thread={"tool_resources": {"code_interpreter": {"file_ids": [f"file_{i}" for i in range(21)]}}}),
        "thread.tool_resources.code_interpreter.file_ids",
        "at most 20 items",
        spec=True,
    ),
    case(
        "chunk overlap over half",
        line(
            thread={
                "tool_resources": {
                    "file_search": {
                        "vector_stores": [
                            {
                                "chunking_strategy": {
                                    "type": "static",
                                    "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 101},
                                }
                            }
                        ]
                    }
                }
            }
        ),
        "thread.tool_resources.file_search.vector_stores[0].chunking_strategy.static.chunk_overlap_tokens",
        "must not exceed half of max_chunk_size_tokens (100)",
    ),
]
