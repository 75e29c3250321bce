# ruff: noqa: E501 (the table below is markdown, one row a line)
"""A job line (Assistants semantics) mapped to the body of ``POST /v1/responses``.

``responses_request`` is pure: it takes the validated ``thread``/``thread_id``/``params`` of a job line and
the assistant's definition (assistants file) and returns the request body, except what batchrunner adds
when it sends it: ``background: true``, ``store: true``, ``stream`` and the ``batchrunner_job`` metadata
tag. The assistant's settings come first and the job's ``params`` override them field by field; a
``params`` field set to ``null`` counts as not set (the assistant's value applies), as on the Assistants
API. A parameter with no Responses equivalent is refused (``RequestNotMappable``), never dropped.

| Job line (Assistants) | Responses request | Notes |
|---|---|---|
| assistant: `model`, `instructions`, `tools`, `temperature`, `top_p`, `reasoning_effort`, `response_format`, `metadata` | the same fields, mapped as in the rows below | From the assistants file; `params` override them. |
| `params.model` | `model` | Overrides the assistant's; one of them must give it. |
| `params.instructions`, `params.additional_instructions` | `instructions` | `params.instructions` replaces the assistant's; `additional_instructions` is appended after a blank line. |
| `thread.messages` | `input` | One `{role, content}` item per message. String content as is; `{type: "text", text}` parts become `{type: "input_text", text}`; `image_file` becomes `{type: "input_image", file_id, detail}` and `image_url` becomes `{type: "input_image", image_url, detail}` (`detail` defaults to `"auto"`). An assistant message's text parts are joined (blank line between) into string content, since the API takes no `input_*` parts in assistant messages. |
| `params.additional_messages` | appended to `input` | Mapped like `thread.messages`. |
| `thread_id` | `conversation` | An existing conversation (`conv_...`); `input` is then `additional_messages` only. |
| `new_conversation: true` | `conversation` | Added when the job is sent: a conversation created for the job before its first response. |
| `thread.metadata` | merged into `metadata` | The response is the only object a new thread becomes. A key also in `params.metadata` with another value is refused. |
| `params.metadata` | `metadata` | Merged over the assistant's and the thread's (job keys win over the assistant's); at most 15 pairs in all: batchrunner adds `batchrunner_job`. |
| `params.tools` | `tools` | Replaces the assistant's. Function tools flattened to `{type: "function", name, description, parameters, strict}`; `parameters` defaults to `{"type": "object", "properties": {}}`, `strict` to `false` (Responses would default it to strict). |
| `params.tool_choice` | `tool_choice` | `"none"`/`"auto"`/`"required"` as is; `{type: "function", function: {name}}` becomes `{type: "function", name}`. |
| `params.parallel_tool_calls`, `params.temperature`, `params.top_p` | the same | As is (`temperature`, `top_p` over the assistant's). |
| `params.reasoning_effort` | `reasoning.effort` | |
| `params.response_format` | `text.format` | `"auto"`: left out (the assistant's applies); `{type: "text"}`, `{type: "json_object"}` as is; `{type: "json_schema", json_schema: {name, schema, strict, description}}` flattened to `{type: "json_schema", name, schema, strict, description}`. |
| `params.max_completion_tokens` | `max_output_tokens` | Must be >= 16 (the job file already requires >= 256). |
| `params.truncation_strategy` `{type: "auto"}` | `truncation: "auto"` | `truncation` is deprecated in openapi.yaml but still accepted. |
| `params.max_prompt_tokens` | refused | No per-request prompt cap in the Responses API. |
| `params.truncation_strategy` `{type: "last_messages"}` | refused | Responses truncation is only `"auto"` or `"disabled"`. |
| `file_search` / `code_interpreter` tools and `tool_choice` | refused | batchrunner maps no vector stores or containers. |
| `thread.tool_resources` | refused | Same reason. |
| a message's `attachments`, `metadata` | refused | Input messages carry neither. |
| an image part in an assistant message | refused | Assistant input messages are text only. |
| `response_format` `json_schema` without `schema` | refused | `text.format` requires the schema. |
| a new thread with no messages and no `additional_messages` | refused | The request would have no input. |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from batchrunner.jobfile.assistants import AssistantDefinition
from batchrunner.jobfile.fields import MAX_METADATA_PAIRS, MAX_USER_METADATA_PAIRS
from batchrunner.jobfile.messages import field_path, shown

MIN_OUTPUT_TOKENS = 16
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
NO_EQUIVALENT = "has no Responses API equivalent"


class Refusal(NamedTuple):
    """A part of a job that cannot be sent to the Responses API; ``field`` is its path in the job line."""

    field: str
    message: str


class RequestNotMappable(ValueError):
    """A job cannot become a Responses request; ``refusals`` lists every reason."""

    def __init__(self, refusals: list[Refusal]) -> None:
        super().__init__("; ".join(f"{r.field}: {r.message}" if r.field else r.message for r in refusals))
        self.refusals = refusals


def flat_function_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A function tool (Assistants-nested or Responses-flat) in the flat form, ``parameters`` and ``strict`` set."""
    function = tool.get("function", tool)
    flat: dict[str, Any] = {"type": "function", "name": function["name"]}
    if function.get("description") is not None:
        flat["description"] = function["description"]
    parameters = function.get("parameters")
    flat["parameters"] = parameters if parameters is not None else dict(EMPTY_PARAMETERS)
    flat["strict"] = function.get("strict") is True
    return flat


def text_format(response_format: Any) -> dict[str, Any] | None:
    """An Assistants ``response_format`` as ``text.format``; None for ``"auto"`` (and a schema-less json_schema)."""
    if not isinstance(response_format, Mapping):
        return None
    if response_format["type"] != "json_schema":
        return {"type": response_format["type"]}
    spec = response_format["json_schema"]
    if spec.get("schema") is None:
        return None
    flat: dict[str, Any] = {"type": "json_schema", "name": spec["name"], "schema": spec["schema"]}
    for key in ("strict", "description"):
        if spec.get(key) is not None:
            flat[key] = spec[key]
    return flat


class _Mapper:
    """Collects the refusals while the body is built, so that every one is reported."""

    def __init__(self) -> None:
        self.refusals: list[Refusal] = []

    def refuse(self, loc: Sequence[str | int], message: str) -> None:
        self.refusals.append(Refusal(field_path(loc), message))

    def input_items(self, messages: Sequence[Mapping[str, Any]], loc: tuple[str | int, ...]) -> list[dict[str, Any]]:
        return [self.message(message, (*loc, index)) for index, message in enumerate(messages)]

    def message(self, message: Mapping[str, Any], loc: tuple[str | int, ...]) -> dict[str, Any]:
        if message.get("attachments"):
            why = "input messages carry no attachments (file_search and code_interpreter files are not mapped)"
            self.refuse((*loc, "attachments"), f"{NO_EQUIVALENT}; {why}")
        if message.get("metadata"):
            self.refuse((*loc, "metadata"), f"{NO_EQUIVALENT}; input messages carry no metadata")
        role, content = message["role"], message["content"]
        if isinstance(content, str):
            return {"role": role, "content": content}
        if role == "assistant":
            for index, part in enumerate(content):
                if part["type"] != "text":
                    why = "assistant messages carry only text in the Responses API"
                    self.refuse((*loc, "content", index), f"{NO_EQUIVALENT}; {why}")
            return {"role": role, "content": "\n\n".join(p["text"] for p in content if p["type"] == "text")}
        return {"role": role, "content": [_input_part(part) for part in content]}

    def tools(self, tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        flat = []
        for index, tool in enumerate(tools):
            if tool["type"] == "function":
                flat.append(flat_function_tool(tool))
            else:
                why = "batchrunner maps no vector stores or containers (only function tools)"
                self.refuse(("params", "tools", index), f"{NO_EQUIVALENT}; {why}")
        return flat

    def tool_choice(self, choice: Any) -> Any:
        if isinstance(choice, str):
            return choice
        if choice["type"] == "function":
            return {"type": "function", "name": choice["function"]["name"]}
        self.refuse(("params", "tool_choice"), f"{NO_EQUIVALENT}; batchrunner maps only function tools")
        return None

    def truncation(self, strategy: Mapping[str, Any]) -> str | None:
        if strategy["type"] == "last_messages":
            why = 'Responses truncation is only "auto" or "disabled" (use {"type": "auto"})'
            self.refuse(("params", "truncation_strategy"), f"{NO_EQUIVALENT}; {why}")
            return None
        if strategy.get("last_messages") is not None:
            self.refuse(
                ("params", "truncation_strategy", "last_messages"),
                f'{NO_EQUIVALENT}; Responses truncation "auto" keeps no message count',
            )
            return None
        return "auto"

    def metadata(
        self, assistant: Mapping[str, str], thread: Mapping[str, str], params: Mapping[str, str]
    ) -> dict[str, str]:
        for key, value in thread.items():
            if key in params and params[key] != value:
                self.refuse(
                    ("thread", "metadata", key),
                    f"conflicts with params.metadata ({shown(params[key])}): both become the response's metadata",
                )
        merged = {**assistant, **thread, **params}
        if len(merged) > MAX_USER_METADATA_PAIRS:
            where = ("params", "metadata") if params else ("thread", "metadata")
            self.refuse(
                where,
                f"with the assistant's and the thread's metadata the response gets {len(merged)} pairs: at most "
                f"{MAX_USER_METADATA_PAIRS} (batchrunner adds its tag to make {MAX_METADATA_PAIRS})",
            )
        return merged


def _input_part(part: Mapping[str, Any]) -> dict[str, Any]:
    if part["type"] == "text":
        return {"type": "input_text", "text": part["text"]}
    if part["type"] == "image_file":
        image = part["image_file"]
        return {"type": "input_image", "file_id": image["file_id"], "detail": image.get("detail") or "auto"}
    image = part["image_url"]
    return {"type": "input_image", "image_url": image["url"], "detail": image.get("detail") or "auto"}


def responses_request(
    *,
    params: Mapping[str, Any] | None = None,
    thread: Mapping[str, Any] | None = None,
    thread_id: str | None = None,
    assistant: AssistantDefinition | None = None,
) -> dict[str, Any]:
    """The ``POST /v1/responses`` body of a job (see the module's table); raises ``RequestNotMappable``.

    ``thread``, ``thread_id`` and ``params`` must have passed the job-line validation; give ``thread``
    (a new thread) or ``thread_id`` (an existing conversation), not both.
    """
    params = params or {}
    defaults = assistant.run_settings() if assistant is not None else {}
    mapper = _Mapper()

    def chosen(key: str) -> Any:
        value = params.get(key)
        return value if value is not None else defaults.get(key)

    body: dict[str, Any] = {}
    model = chosen("model")
    if model is None:
        mapper.refuse(("params", "model"), "required: no assistant gives the model")
    body["model"] = model
    base = params["instructions"] if params.get("instructions") is not None else defaults.get("instructions")
    instructions = [text for text in (base, params.get("additional_instructions")) if text]
    if instructions:
        body["instructions"] = "\n\n".join(instructions)

    items: list[dict[str, Any]] = []
    if thread is not None and thread_id is not None:
        mapper.refuse(("thread_id",), "give either thread or thread_id, not both")
    if thread is not None:
        items += mapper.input_items(thread.get("messages") or [], ("thread", "messages"))
        if thread.get("tool_resources") is not None:
            why = "batchrunner maps no vector stores or containers"
            mapper.refuse(("thread", "tool_resources"), f"{NO_EQUIVALENT}; {why}")
    items += mapper.input_items(params.get("additional_messages") or [], ("params", "additional_messages"))
    if thread_id is not None:
        body["conversation"] = thread_id
    elif not items:
        mapper.refuse(
            ("thread", "messages"),
            "required on the responses backend: the request needs input "
            "(give thread.messages or params.additional_messages)",
        )
    if items:
        body["input"] = items

    tools = chosen("tools")
    if tools is not None:
        body["tools"] = mapper.tools(tools)
    if params.get("tool_choice") is not None and (choice := mapper.tool_choice(params["tool_choice"])) is not None:
        body["tool_choice"] = choice
    for key in ("parallel_tool_calls", "temperature", "top_p"):
        if chosen(key) is not None:
            body[key] = chosen(key)
    if chosen("reasoning_effort") is not None:
        body["reasoning"] = {"effort": chosen("reasoning_effort")}
    response_format = params.get("response_format")
    if response_format in (None, "auto"):
        response_format = defaults.get("response_format")
    elif response_format["type"] == "json_schema" and response_format["json_schema"].get("schema") is None:
        mapper.refuse(
            ("params", "response_format", "json_schema", "schema"),
            "required on the responses backend: text.format needs the schema",
        )
    if (fmt := text_format(response_format)) is not None:
        body["text"] = {"format": fmt}
    max_tokens = params.get("max_completion_tokens")
    if max_tokens is not None:
        if max_tokens < MIN_OUTPUT_TOKENS:
            mapper.refuse(
                ("params", "max_completion_tokens"),
                f"must be >= {MIN_OUTPUT_TOKENS} on the responses backend (max_output_tokens) (got {max_tokens})",
            )
        body["max_output_tokens"] = max_tokens
    if params.get("max_prompt_tokens") is not None:
        why = "the Responses API has no per-request prompt cap (remove it, or run on the assistants backend)"
        mapper.refuse(("params", "max_prompt_tokens"), f"{NO_EQUIVALENT}; {why}")
    if params.get("truncation_strategy") is not None and (
        truncation := mapper.truncation(params["truncation_strategy"])
    ):
        body["truncation"] = truncation
    metadata = mapper.metadata(
        defaults.get("metadata") or {}, (thread or {}).get("metadata") or {}, params.get("metadata") or {}
    )
    if metadata:
        body["metadata"] = metadata
    if mapper.refusals:
        raise RequestNotMappable(mapper.refusals)
    return body
