"""The request bodies the simulator accepts, checked as the OpenAPI schemas say.

Each `parse_*` function takes the decoded JSON body and returns a typed spec, or raises a 400
naming the offending parameter. Nested shapes (tools, tool_choice, response_format, messages)
live in `request_parts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batchrunner.simulator.request_parts import (
    MessageSpec,
    parse_message,
    parse_response_format,
    parse_tool_choice,
    parse_tool_resources,
    parse_tools,
    parse_truncation,
)
from batchrunner.simulator.validation import (
    expect_object,
    get_array,
    get_boolean,
    get_enum,
    get_integer,
    get_metadata,
    get_number,
    get_string,
    param_path,
    reject_unknown,
    require,
)

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
MIN_TOKEN_LIMIT = 256
MAX_RUN_TOOLS = 20
MAX_ASSISTANT_TOOLS = 128


@dataclass(frozen=True)
class ThreadSpec:
    """A validated CreateThreadRequest."""

    messages: list[MessageSpec]
    metadata: dict[str, str]
    tool_resources: dict[str, Any] | None


@dataclass(frozen=True)
class RunSpec:
    """The run fields shared by CreateRunRequest and CreateThreadAndRunRequest."""

    assistant_id: str
    model: str | None = None
    instructions: str | None = None
    additional_instructions: str | None = None
    additional_messages: tuple[MessageSpec, ...] = ()
    tools: list[dict[str, Any]] | None = None
    metadata: dict[str, str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: dict[str, Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: str | dict[str, Any] | None = None
    reasoning_effort: str | None = None
    stream: bool = False


@dataclass(frozen=True)
class ThreadAndRunSpec:
    """A validated CreateThreadAndRunRequest."""

    run: RunSpec
    thread: ThreadSpec


@dataclass(frozen=True)
class AssistantSpec:
    """A validated CreateAssistantRequest."""

    model: str
    name: str | None
    description: str | None
    instructions: str | None
    tools: list[dict[str, Any]]
    metadata: dict[str, str]
    temperature: float | None
    top_p: float | None
    response_format: str | dict[str, Any] | None
    tool_resources: dict[str, Any] | None


@dataclass(frozen=True)
class ToolOutput:
    """One item of SubmitToolOutputsRunRequest.tool_outputs."""

    tool_call_id: str
    output: str


@dataclass(frozen=True)
class ToolOutputsSpec:
    """A validated SubmitToolOutputsRunRequest."""

    outputs: list[ToolOutput]
    stream: bool = False


_COMMON_RUN_KEYS = (
    "assistant_id", "model", "instructions", "tools", "metadata", "temperature", "top_p", "stream",
    "max_prompt_tokens", "max_completion_tokens", "truncation_strategy", "tool_choice",
    "parallel_tool_calls", "response_format",
)  # fmt: skip
CREATE_RUN_KEYS = frozenset((*_COMMON_RUN_KEYS, "additional_instructions", "additional_messages", "reasoning_effort"))
THREAD_AND_RUN_KEYS = frozenset((*_COMMON_RUN_KEYS, "thread", "tool_resources"))
THREAD_KEYS = frozenset(("messages", "tool_resources", "metadata"))
ASSISTANT_KEYS = frozenset(
    ("model", "name", "description", "instructions", "reasoning_effort", "tools", "tool_resources",
     "metadata", "temperature", "top_p", "response_format")
)  # fmt: skip


def _parse_run_fields(body: dict[str, Any], max_tools: int = MAX_RUN_TOOLS) -> dict[str, Any]:
    require(body, "assistant_id", "")
    return {
        "stream": bool(get_boolean(body, "stream", nullable=True)),
        "assistant_id": str(get_string(body, "assistant_id", nullable=False)),
        "model": get_string(body, "model"),
        "instructions": get_string(body, "instructions"),
        "tools": parse_tools(body, "tools", "", max_items=max_tools),
        "metadata": get_metadata(body),
        "temperature": get_number(body, "temperature", minimum=0, maximum=2),
        "top_p": get_number(body, "top_p", minimum=0, maximum=1),
        "max_prompt_tokens": get_integer(body, "max_prompt_tokens", minimum=MIN_TOKEN_LIMIT),
        "max_completion_tokens": get_integer(body, "max_completion_tokens", minimum=MIN_TOKEN_LIMIT),
        "truncation_strategy": parse_truncation(body, "truncation_strategy", ""),
        "tool_choice": parse_tool_choice(body, "tool_choice", ""),
        "parallel_tool_calls": get_boolean(body, "parallel_tool_calls"),
        "response_format": parse_response_format(body, "response_format", ""),
    }


def parse_create_run(raw: Any) -> RunSpec:
    """CreateRunRequest."""
    body = expect_object(raw, "")
    reject_unknown(body, CREATE_RUN_KEYS, "")
    fields = _parse_run_fields(body)
    messages = get_array(body, "additional_messages") or []
    return RunSpec(
        **fields,
        additional_instructions=get_string(body, "additional_instructions"),
        additional_messages=tuple(
            parse_message(item, param_path("additional_messages", index)) for index, item in enumerate(messages)
        ),
        reasoning_effort=get_enum(body, "reasoning_effort", "", REASONING_EFFORTS),
    )


def parse_create_thread(raw: Any, prefix: str = "") -> ThreadSpec:
    """CreateThreadRequest (also the `thread` of CreateThreadAndRunRequest)."""
    body = expect_object(raw, prefix)
    reject_unknown(body, THREAD_KEYS, prefix)
    messages = get_array(body, "messages", prefix, nullable=False) or []
    messages_path = param_path(prefix, "messages")
    return ThreadSpec(
        messages=[parse_message(item, param_path(messages_path, i)) for i, item in enumerate(messages)],
        metadata=get_metadata(body, "metadata", prefix) or {},
        tool_resources=parse_tool_resources(body, "tool_resources", prefix),
    )


def parse_create_thread_and_run(raw: Any) -> ThreadAndRunSpec:
    """CreateThreadAndRunRequest."""
    body = expect_object(raw, "")
    reject_unknown(body, THREAD_AND_RUN_KEYS, "")
    fields = _parse_run_fields(body)
    thread_body = body.get("thread")
    thread = parse_create_thread(thread_body if thread_body is not None else {}, "thread")
    tool_resources = parse_tool_resources(body, "tool_resources", "")
    if tool_resources is not None and thread.tool_resources is None:
        thread = ThreadSpec(thread.messages, thread.metadata, tool_resources)
    return ThreadAndRunSpec(run=RunSpec(**fields), thread=thread)


def parse_create_message(raw: Any) -> MessageSpec:
    """CreateMessageRequest."""
    return parse_message(raw, "")


def parse_submit_tool_outputs(raw: Any) -> ToolOutputsSpec:
    """SubmitToolOutputsRunRequest."""
    body = expect_object(raw, "")
    reject_unknown(body, ("tool_outputs", "stream"), "")
    require(body, "tool_outputs", "")
    stream = bool(get_boolean(body, "stream", nullable=True))
    items = get_array(body, "tool_outputs", nullable=False) or []
    outputs: list[ToolOutput] = []
    for index, item in enumerate(items):
        path = param_path("tool_outputs", index)
        entry = expect_object(item, path)
        require(entry, "tool_call_id", path)
        call_id = str(get_string(entry, "tool_call_id", path, nullable=False))
        outputs.append(ToolOutput(call_id, get_string(entry, "output", path, nullable=False) or ""))
    return ToolOutputsSpec(outputs, stream)


def parse_create_assistant(raw: Any) -> AssistantSpec:
    """CreateAssistantRequest."""
    body = expect_object(raw, "")
    reject_unknown(body, ASSISTANT_KEYS, "")
    require(body, "model", "")
    get_enum(body, "reasoning_effort", "", REASONING_EFFORTS)
    return AssistantSpec(
        model=str(get_string(body, "model", nullable=False)),
        name=get_string(body, "name", max_length=256),
        description=get_string(body, "description", max_length=512),
        instructions=get_string(body, "instructions", max_length=256000),
        tools=parse_tools(body, "tools", "", max_items=MAX_ASSISTANT_TOOLS) or [],
        metadata=get_metadata(body) or {},
        temperature=get_number(body, "temperature", minimum=0, maximum=2),
        top_p=get_number(body, "top_p", minimum=0, maximum=1),
        response_format=parse_response_format(body, "response_format", ""),
        tool_resources=parse_tool_resources(body, "tool_resources", ""),
    )
