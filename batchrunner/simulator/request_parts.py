"""Nested request shapes: tools, tool_choice, response_format, truncation, messages, resources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchrunner.simulator.errors import invalid
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
    reject_unknown,
    require,
    wrong_type,
)

TOOL_TYPES = ("code_interpreter", "file_search", "function")
IMAGE_DETAILS = ("auto", "low", "high")
MESSAGE_KEYS = ("role", "content", "attachments", "metadata")


@dataclass(frozen=True)
class MessageSpec:
    """A validated CreateMessageRequest, content already in MessageObject form."""

    role: str
    content: list[dict[str, Any]]
    attachments: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


def parse_tool(raw: Any, path: str) -> dict[str, Any]:
    """One AssistantTool (code_interpreter, file_search or function), normalised."""
    tool = expect_object(raw, path)
    require(tool, "type", path)
    kind = check_enum(tool["type"], param_path(path, "type"), TOOL_TYPES)
    if kind == "code_interpreter":
        return {"type": kind}
    if kind == "file_search":
        options = tool.get("file_search")
        if options is None:
            return {"type": kind}
        options_path = param_path(path, "file_search")
        options = expect_object(options, options_path)
        get_integer(options, "max_num_results", options_path, minimum=1, maximum=50)
        ranking = options.get("ranking_options")
        if ranking is not None:
            ranking_path = param_path(options_path, "ranking_options")
            ranking = expect_object(ranking, ranking_path)
            require(ranking, "score_threshold", ranking_path)
            get_number(ranking, "score_threshold", ranking_path, minimum=0, maximum=1)
            get_string(ranking, "ranker", ranking_path, nullable=False)
        return {"type": kind, "file_search": dict(options)}
    function_path = param_path(path, "function")
    require(tool, "function", path)
    function = expect_object(tool["function"], function_path)
    require(function, "name", function_path)
    normalised: dict[str, Any] = {
        "name": get_string(function, "name", function_path, nullable=False, pattern=NAME_PATTERN)
    }
    description = get_string(function, "description", function_path, nullable=False)
    if description is not None:
        normalised["description"] = description
    if function.get("parameters") is not None:
        normalised["parameters"] = expect_object(function["parameters"], param_path(function_path, "parameters"))
    if "strict" in function:
        normalised["strict"] = get_boolean(function, "strict", function_path, nullable=True)
    return {"type": kind, "function": normalised}


def parse_tools(body: dict[str, Any], key: str, prefix: str, *, max_items: int) -> list[dict[str, Any]] | None:
    """A tools array (None when absent or null)."""
    items = get_array(body, key, prefix, max_items=max_items)
    if items is None:
        return None
    path = param_path(prefix, key)
    return [parse_tool(item, param_path(path, index)) for index, item in enumerate(items)]


def parse_tool_choice(body: dict[str, Any], key: str, prefix: str) -> str | dict[str, Any] | None:
    """AssistantsApiToolChoiceOption: none/auto/required or a named tool."""
    value = body.get(key)
    path = param_path(prefix, key)
    if value is None:
        return None
    if isinstance(value, str):
        return check_enum(value, path, ("none", "auto", "required"))
    choice = expect_object(value, path)
    require(choice, "type", path)
    kind = check_enum(choice["type"], param_path(path, "type"), TOOL_TYPES)
    if kind != "function":
        return {"type": kind}
    function_path = param_path(path, "function")
    require(choice, "function", path)
    function = expect_object(choice["function"], function_path)
    require(function, "name", function_path)
    return {"type": kind, "function": {"name": get_string(function, "name", function_path, nullable=False)}}


def parse_response_format(body: dict[str, Any], key: str, prefix: str) -> str | dict[str, Any] | None:
    """AssistantsApiResponseFormatOption: "auto", text, json_object or json_schema."""
    value = body.get(key)
    path = param_path(prefix, key)
    if value is None:
        return None
    if isinstance(value, str):
        return check_enum(value, path, ("auto",))
    fmt = expect_object(value, path)
    require(fmt, "type", path)
    kind = check_enum(fmt["type"], param_path(path, "type"), ("text", "json_object", "json_schema"))
    if kind != "json_schema":
        return {"type": kind}
    schema_path = param_path(path, "json_schema")
    require(fmt, "json_schema", path)
    spec = expect_object(fmt["json_schema"], schema_path)
    require(spec, "name", schema_path)
    get_string(spec, "name", schema_path, nullable=False, pattern=NAME_PATTERN)
    get_string(spec, "description", schema_path, nullable=False)
    if spec.get("schema") is not None:
        expect_object(spec["schema"], param_path(schema_path, "schema"))
    get_boolean(spec, "strict", schema_path, nullable=True)
    return {"type": kind, "json_schema": dict(spec)}


def parse_truncation(body: dict[str, Any], key: str, prefix: str) -> dict[str, Any] | None:
    """TruncationObject: {type: auto | last_messages, last_messages: int >= 1 | null}."""
    value = body.get(key)
    if value is None:
        return None
    path = param_path(prefix, key)
    strategy = expect_object(value, path)
    require(strategy, "type", path)
    kind = get_enum(strategy, "type", path, ("auto", "last_messages"), nullable=False)
    last = get_integer(strategy, "last_messages", path, minimum=1)
    if kind == "last_messages" and last is None:
        raise invalid(f"'{path}.last_messages' is required when type is 'last_messages'.", f"{path}.last_messages")
    return {"type": kind, "last_messages": last}


def parse_tool_resources(body: dict[str, Any], key: str, prefix: str) -> dict[str, Any] | None:
    """tool_resources: an object whose file lists have the documented limits."""
    value = body.get(key)
    if value is None:
        return None
    path = param_path(prefix, key)
    resources = expect_object(value, path)
    limits = {"code_interpreter": ("file_ids", 20), "file_search": ("vector_store_ids", 1)}
    for tool_name, (list_key, max_items) in limits.items():
        if tool_name in resources:
            section_path = param_path(path, tool_name)
            section = expect_object(resources[tool_name], section_path)
            get_array(section, list_key, section_path, nullable=False, max_items=max_items)
    return dict(resources)


def _content_part(raw: Any, path: str) -> dict[str, Any]:
    part = expect_object(raw, path)
    require(part, "type", path)
    kind = check_enum(part["type"], param_path(path, "type"), ("image_file", "image_url", "text"))
    if kind == "text":
        require(part, "text", path)
        text = get_string(part, "text", path, nullable=False)
        return {"type": "text", "text": {"value": text, "annotations": []}}
    inner_key, id_key = ("image_file", "file_id") if kind == "image_file" else ("image_url", "url")
    inner_path = param_path(path, inner_key)
    require(part, inner_key, path)
    inner = expect_object(part[inner_key], inner_path)
    require(inner, id_key, inner_path)
    image: dict[str, Any] = {id_key: get_string(inner, id_key, inner_path, nullable=False)}
    image["detail"] = get_enum(inner, "detail", inner_path, IMAGE_DETAILS, nullable=False) or "auto"
    return {"type": kind, inner_key: image}


def _attachments(body: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    items = get_array(body, "attachments", prefix) or []
    path = param_path(prefix, "attachments")
    result = []
    for index, raw in enumerate(items):
        item_path = param_path(path, index)
        item = expect_object(raw, item_path)
        require(item, "file_id", item_path)
        tools_path = param_path(item_path, "tools")
        tool_types = []
        for i, tool in enumerate(get_array(item, "tools", item_path, nullable=False) or []):
            tool_path = param_path(tools_path, i)
            tool_body = expect_object(tool, tool_path)
            require(tool_body, "type", tool_path)
            tool_types.append(
                check_enum(tool_body["type"], param_path(tool_path, "type"), ("code_interpreter", "file_search"))
            )
        file_id = get_string(item, "file_id", item_path, nullable=False)
        result.append({"file_id": file_id, "tools": [{"type": kind} for kind in tool_types]})
    return result


def parse_message(raw: Any, prefix: str) -> MessageSpec:
    """CreateMessageRequest (also each of additional_messages and thread.messages)."""
    body = expect_object(raw, prefix)
    reject_unknown(body, MESSAGE_KEYS, prefix)
    require(body, "role", prefix)
    role = get_enum(body, "role", prefix, ("user", "assistant"), nullable=False)
    content = require(body, "content", prefix)
    content_path = param_path(prefix, "content")
    if isinstance(content, str):
        parts = [{"type": "text", "text": {"value": content, "annotations": []}}]
    elif isinstance(content, list):
        get_array(body, "content", prefix, nullable=False, min_items=1)
        parts = [_content_part(item, param_path(content_path, i)) for i, item in enumerate(content)]
    else:
        raise wrong_type(content_path, "a string or an array", content)
    return MessageSpec(
        role=str(role),
        content=parts,
        attachments=_attachments(body, prefix),
        metadata=get_metadata(body, "metadata", prefix) or {},
    )
