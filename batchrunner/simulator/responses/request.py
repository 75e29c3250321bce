"""The `POST /responses` body (CreateResponse), checked field by field with the API's wording.

Every top-level property of CreateResponse is accepted (and anything else is an unknown parameter);
the fields that shape a response are validated and normalised, the others are checked for their
JSON type and otherwise ignored. `model` is required: without a stored `prompt` (which the simulator
does not model) the API cannot answer without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batchrunner.simulator.errors import APIError, invalid
from batchrunner.simulator.responses.items import parse_input, reject_unknown
from batchrunner.simulator.responses.records import ResponseSettings
from batchrunner.simulator.responses.tiers import check_background_options, parse_background_options
from batchrunner.simulator.validation import (
    NAME_PATTERN,
    check_enum,
    expect_object,
    get_array,
    get_boolean,
    get_enum,
    get_integer,
    get_metadata,
    get_number,
    get_string,
    param_path,
    require,
    wrong_type,
)

CREATE_RESPONSE_KEYS = frozenset(
    (
        "background", "background_options", "context_management", "conversation", "include", "input",
        "instructions", "max_output_tokens", "max_tool_calls", "metadata", "model", "moderation",
        "parallel_tool_calls", "previous_response_id", "prompt", "prompt_cache_key", "prompt_cache_options",
        "prompt_cache_retention", "reasoning", "safety_identifier", "service_tier", "store", "stream",
        "stream_options", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p",
        "truncation", "user",
    )
)  # fmt: skip
# The Tool variants of the spec; only `function` tools are called, the others are echoed as sent.
TOOL_TYPES = (
    "function", "file_search", "computer", "computer_use_preview", "web_search", "web_search_2025_08_26",
    "mcp", "code_interpreter", "programmatic_tool_calling", "image_generation", "local_shell", "shell",
    "custom", "namespace", "tool_search", "web_search_preview", "web_search_preview_2025_03_11", "apply_patch",
)  # fmt: skip
INCLUDE_VALUES = (
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url", "code_interpreter_call.outputs",
    "reasoning.encrypted_content", "message.output_text.logprobs",
)  # fmt: skip
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority", "fast", "ultrafast")
MIN_OUTPUT_TOKENS = 16


@dataclass(frozen=True)
class ResponseSpec:
    """A validated CreateResponse."""

    settings: ResponseSettings
    input: list[dict[str, Any]]
    previous_response_id: str | None
    conversation_id: str | None
    background: bool
    store: bool
    stream: bool


def _function_tool(tool: dict[str, Any], path: str) -> dict[str, Any]:
    reject_unknown(
        tool,
        ("type", "name", "description", "parameters", "strict", "output_schema", "defer_loading", "allowed_callers"),
        path,
    )
    require(tool, "name", path)
    parameters = tool.get("parameters")
    if parameters is not None:
        expect_object(parameters, param_path(path, "parameters"))
    strict = get_boolean(tool, "strict", path, nullable=True)
    return {
        "type": "function",
        "name": get_string(tool, "name", path, nullable=False, pattern=NAME_PATTERN),
        "description": get_string(tool, "description", path),
        "parameters": parameters,
        # Responses normalise an omitted `strict` into strict mode (the function-calling guide).
        "strict": True if strict is None else strict,
    }


def parse_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """ToolsArray: function tools normalised (`strict` and `parameters` always present), others echoed."""
    tools = []
    for index, raw in enumerate(get_array(body, "tools") or []):
        path = param_path("tools", index)
        tool = expect_object(raw, path)
        require(tool, "type", path)
        kind = check_enum(tool["type"], param_path(path, "type"), TOOL_TYPES)
        tools.append(_function_tool(tool, path) if kind == "function" else dict(tool))
    return tools


def parse_tool_choice(body: dict[str, Any], tools: list[dict[str, Any]]) -> str | dict[str, Any]:
    """ToolChoiceParam: none/auto/required, or `{type: "function", name}` naming one of the tools."""
    value = body.get("tool_choice")
    if value is None:
        return "auto"
    if isinstance(value, str):
        return check_enum(value, "tool_choice", ("none", "auto", "required"))
    choice = expect_object(value, "tool_choice")
    require(choice, "type", "tool_choice")
    check_enum(choice["type"], "tool_choice.type", ("function",))
    reject_unknown(choice, ("type", "name"), "tool_choice")
    require(choice, "name", "tool_choice")
    name = get_string(choice, "name", "tool_choice", nullable=False)
    if not any(tool.get("type") == "function" and tool.get("name") == name for tool in tools):
        raise invalid("Tool choice 'function' not found in 'tools' parameter.", "tool_choice")
    return {"type": "function", "name": name}


def parse_text(body: dict[str, Any]) -> dict[str, Any]:
    """ResponseTextParam, with the defaults the API echoes: format text, verbosity medium."""
    value = body.get("text")
    shown: dict[str, Any] = {"format": {"type": "text"}, "verbosity": "medium"}
    if value is None:
        return shown
    text = expect_object(value, "text")
    reject_unknown(text, ("format", "verbosity"), "text")
    shown["verbosity"] = get_enum(text, "verbosity", "text", ("low", "medium", "high")) or "medium"
    if text.get("format") is None:
        return shown
    fmt = expect_object(text["format"], "text.format")
    require(fmt, "type", "text.format")
    kind = check_enum(fmt["type"], "text.format.type", ("text", "json_schema", "json_object"))
    if kind != "json_schema":
        reject_unknown(fmt, ("type",), "text.format")
        shown["format"] = {"type": kind}
        return shown
    reject_unknown(fmt, ("type", "name", "schema", "description", "strict"), "text.format")
    require(fmt, "name", "text.format")
    require(fmt, "schema", "text.format")
    schema_format: dict[str, Any] = {
        "type": kind,
        "name": get_string(fmt, "name", "text.format", nullable=False, pattern=NAME_PATTERN),
        "schema": expect_object(fmt["schema"], "text.format.schema"),
        "strict": bool(get_boolean(fmt, "strict", "text.format", nullable=True)),
    }
    description = get_string(fmt, "description", "text.format", nullable=False)
    if description is not None:
        schema_format["description"] = description
    shown["format"] = schema_format
    return shown


def parse_reasoning(body: dict[str, Any]) -> dict[str, Any]:
    """Reasoning: `{effort, summary}`, both null unless asked for."""
    value = body.get("reasoning")
    if value is None:
        return {"effort": None, "summary": None}
    reasoning = expect_object(value, "reasoning")
    reject_unknown(reasoning, ("effort", "summary", "generate_summary", "mode", "context"), "reasoning")
    summaries = ("auto", "concise", "detailed")
    get_enum(reasoning, "generate_summary", "reasoning", summaries)
    get_enum(reasoning, "context", "reasoning", ("auto", "current_turn", "all_turns"))
    return {
        "effort": get_enum(reasoning, "effort", "reasoning", REASONING_EFFORTS),
        "summary": get_enum(reasoning, "summary", "reasoning", summaries),
    }


def parse_conversation(body: dict[str, Any]) -> str | None:
    """ConversationParam: `"conv_…"` or `{id}`."""
    value = body.get("conversation")
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise wrong_type("conversation", "a string or an object", value)
    reject_unknown(value, ("id",), "conversation")
    require(value, "id", "conversation")
    return get_string(value, "id", "conversation", nullable=False)


def _check_ignored(body: dict[str, Any]) -> None:
    """The fields the simulator accepts without modelling them: only their JSON types are checked."""
    for index, value in enumerate(get_array(body, "include") or []):
        check_enum(value, param_path("include", index), INCLUDE_VALUES)
    for key in ("stream_options", "prompt", "prompt_cache_options", "moderation"):
        if body.get(key) is not None:
            expect_object(body[key], key)
    get_array(body, "context_management", min_items=1)
    get_enum(body, "prompt_cache_retention", "", ("in_memory", "24h"))


def parse_create_response(raw: Any) -> ResponseSpec:
    """CreateResponse."""
    body = expect_object(raw, "")
    reject_unknown(body, CREATE_RESPONSE_KEYS, "")
    require(body, "model", "")
    tools = parse_tools(body)
    background = bool(get_boolean(body, "background", nullable=True))
    store = get_boolean(body, "store", nullable=True)
    previous_response_id = get_string(body, "previous_response_id")
    conversation_id = parse_conversation(body)
    _check_ignored(body)
    tier = get_enum(body, "service_tier", "", SERVICE_TIERS)
    background_options = parse_background_options(body)
    settings = ResponseSettings(
        model=str(get_string(body, "model", nullable=False)),
        instructions=get_string(body, "instructions"),
        tools=tools,
        tool_choice=parse_tool_choice(body, tools),
        parallel_tool_calls=get_boolean(body, "parallel_tool_calls", nullable=True) is not False,
        temperature=_or(get_number(body, "temperature", minimum=0, maximum=2), 1.0),
        top_p=_or(get_number(body, "top_p", minimum=0, maximum=1), 1.0),
        max_output_tokens=get_integer(body, "max_output_tokens", minimum=MIN_OUTPUT_TOKENS),
        max_tool_calls=get_integer(body, "max_tool_calls", minimum=0),
        text=parse_text(body),
        reasoning=parse_reasoning(body),
        metadata=get_metadata(body) or {},
        truncation=get_enum(body, "truncation", "", ("auto", "disabled")) or "disabled",
        service_tier=_shown_tier(tier),
        top_logprobs=get_integer(body, "top_logprobs", minimum=0, maximum=20) or 0,
        safety_identifier=get_string(body, "safety_identifier", max_length=64),
        prompt_cache_key=get_string(body, "prompt_cache_key"),
        user=get_string(body, "user", nullable=False),
        background_options=background_options,
    )
    spec = ResponseSpec(
        settings=settings,
        input=parse_input(body),
        previous_response_id=previous_response_id,
        conversation_id=conversation_id,
        background=background,
        store=store is not False,
        stream=bool(get_boolean(body, "stream", nullable=True)),
    )
    _check_combination(spec)
    check_background_options(background_options, background=background, stream=spec.stream, tier=tier)
    return spec


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _shown_tier(requested: str | None) -> str:
    """The tier the response reports: `auto` resolves to the default tier."""
    if requested is None or requested == "auto":
        return "default"
    return requested


def _check_combination(spec: ResponseSpec) -> None:
    if spec.previous_response_id is not None and spec.conversation_id is not None:
        raise APIError(
            400,
            "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or "
            "'conversation'.",
            param="conversation",
            code="mutually_exclusive_parameters",
        )
