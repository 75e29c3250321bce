"""The OpenAI Batch API line shape: ``{"custom_id", "method": "POST", "url": "/v1/responses", "body"}``.

``body`` is a ``CreateResponse`` (openapi.yaml) restricted to what batchrunner can run: messages as input,
function tools, and the sampling, output and conversation fields. Unknown keys are errors. batchrunner
sends every response with ``background: true, store: true`` and decides itself whether to stream, so a
body may repeat ``background: true``, ``store: true`` or ``stream: false`` (they are dropped from the
stored request) but not ask for the opposite.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from batchrunner.jobfile.fields import (
    ERROR_AT,
    NOT_NULL,
    UNION_TAG_PREFIX,
    URL_PATTERN,
    CallableFunctionName,
    FunctionName,
    NonEmptyStr,
    StrictModel,
    TaggedMetadata,
    string_or_parts_tag,
    tag_by_type,
    tagged_union,
    union_tag,
)
from batchrunner.jobfile.messages import FieldGuide, shown
from batchrunner.jobfile.schema import CustomId, ReasoningEffort

BATCH_LINE_KEYS = frozenset({"method", "url", "body"})
RESPONSES_URL = "/v1/responses"
# Fields batchrunner sets itself when it sends a request; never part of JobSpec.request.
RUNTIME_FIELDS = ("background", "store", "stream")

# --- Input ------------------------------------------------------------------------------------


class InputText(StrictModel):
    type: Literal["input_text"]
    text: str


class InputImage(StrictModel):
    type: Literal["input_image"]
    image_url: Annotated[str, StringConstraints(pattern=URL_PATTERN)] | None = None
    file_id: NonEmptyStr | None = None
    detail: Literal["low", "high", "auto", "original"]

    @model_validator(mode="after")
    def _one_source(self) -> InputImage:
        if (self.image_url is None) == (self.file_id is None):
            raise PydanticCustomError("one_of", "must have exactly one of image_url and file_id")
        return self


class InputFile(StrictModel):
    type: Literal["input_file"]
    file_id: NonEmptyStr | None = None
    filename: Annotated[str | None, NOT_NULL] = None
    file_data: Annotated[str | None, NOT_NULL] = None
    file_url: Annotated[Annotated[str, StringConstraints(pattern=URL_PATTERN)] | None, NOT_NULL] = None
    detail: Annotated[Literal["auto", "low", "high"] | None, NOT_NULL] = None


InputPart = Annotated[
    Annotated[InputText, union_tag("input_text")]
    | Annotated[InputImage, union_tag("input_image")]
    | Annotated[InputFile, union_tag("input_file")],
    tagged_union(
        tag_by_type("input_text", "input_image", "input_file"),
        "a content part with type 'input_text', 'input_image' or 'input_file'",
    ),
]


InputContent = Annotated[
    Annotated[str, union_tag("string")] | Annotated[list[InputPart], Field(min_length=1), union_tag("parts")],
    tagged_union(string_or_parts_tag, "a string or an array of content parts"),
]


class InputMessage(StrictModel):
    """``EasyInputMessage``: the only input item type batchrunner takes in a Batch API line."""

    type: Annotated[Literal["message"] | None, NOT_NULL] = None
    role: Literal["user", "assistant", "system", "developer"]
    content: InputContent

    @model_validator(mode="after")
    def _assistant_text_is_a_string(self) -> InputMessage:
        if self.role == "assistant" and not isinstance(self.content, str):
            raise PydanticCustomError(
                "assistant_parts",
                "must be a string in an assistant message (the API takes no input_* parts there)",
                {ERROR_AT: ("content",)},
            )
        return self


def _input_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return UNION_TAG_PREFIX + "string"
    if isinstance(value, list):
        return UNION_TAG_PREFIX + "items"
    return None


def _item_tag(value: Any) -> str | None:
    kind = value.get("type", "message") if isinstance(value, dict) else getattr(value, "type", None)
    return UNION_TAG_PREFIX + "message" if kind in ("message", None) else None


InputItem = Annotated[
    Annotated[InputMessage, union_tag("message")],
    tagged_union(_item_tag, "a message ({role, content}): batchrunner takes no other input items"),
]
Input = Annotated[
    Annotated[NonEmptyStr, union_tag("string")] | Annotated[list[InputItem], Field(min_length=1), union_tag("items")],
    tagged_union(_input_tag, "a string or an array of messages"),
]

# --- Tools and output -------------------------------------------------------------------------


class FunctionToolParam(StrictModel):
    """``FunctionTool``; ``parameters`` and ``strict`` are required (and nullable), as the spec says."""

    type: Literal["function"]
    name: CallableFunctionName
    description: str | None = None
    parameters: dict[str, Any] | None
    strict: bool | None


def _unique_names(tools: list[FunctionToolParam]) -> list[FunctionToolParam]:
    first_index: dict[str, int] = {}
    for index, tool in enumerate(tools):
        if tool.name in first_index:
            raise PydanticCustomError(
                "duplicate_function",
                "duplicate function name '{name}' (also tools[{first}])",
                {"name": tool.name, "first": first_index[tool.name], ERROR_AT: (index, "name")},
            )
        first_index[tool.name] = index
    return tools


BodyTool = Annotated[
    Annotated[FunctionToolParam, union_tag("function")],
    tagged_union(tag_by_type("function"), "a tool with type 'function' (batchrunner runs function tools only)"),
]


class ToolChoiceFunction(StrictModel):
    type: Literal["function"]
    name: CallableFunctionName


def _tool_choice_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return UNION_TAG_PREFIX + "mode"
    return tag_by_type("function")(value)


BodyToolChoice = Annotated[
    Annotated[Literal["none", "auto", "required"], union_tag("mode")]
    | Annotated[ToolChoiceFunction, union_tag("function")],
    tagged_union(_tool_choice_tag, "'none', 'auto', 'required' or an object with type 'function'"),
]


class TextFormatText(StrictModel):
    type: Literal["text"]


class TextFormatJsonObject(StrictModel):
    type: Literal["json_object"]


class TextFormatJsonSchema(StrictModel):
    type: Literal["json_schema"]
    name: FunctionName
    schema_: dict[str, Any] = Field(alias="schema")
    description: Annotated[str | None, NOT_NULL] = None
    strict: bool | None = None


TextFormat = Annotated[
    Annotated[TextFormatText, union_tag("text")]
    | Annotated[TextFormatJsonObject, union_tag("json_object")]
    | Annotated[TextFormatJsonSchema, union_tag("json_schema")],
    tagged_union(
        tag_by_type("text", "json_object", "json_schema"),
        "an object with type 'text', 'json_object' or 'json_schema'",
    ),
]


class TextParam(StrictModel):
    format: Annotated[TextFormat | None, NOT_NULL] = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningParam(StrictModel):
    effort: ReasoningEffort | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None


class ConversationRef(StrictModel):
    id: NonEmptyStr


def _conversation_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return UNION_TAG_PREFIX + "id"
    if isinstance(value, dict):
        return UNION_TAG_PREFIX + "object"
    return None


Conversation = Annotated[
    Annotated[NonEmptyStr, union_tag("id")] | Annotated[ConversationRef, union_tag("object")],
    tagged_union(_conversation_tag, "a conversation id or an object with its id"),
]


def _must_be(expected: bool, why: str) -> AfterValidator:
    def check(value: bool | None) -> bool | None:
        if value is not None and value is not expected:
            raise PydanticCustomError("runtime_field", why)
        return value

    return AfterValidator(check)


class ResponsesBody(StrictModel):
    """The ``CreateResponse`` fields a Batch API line may set."""

    model: NonEmptyStr
    input: Input
    instructions: str | None = None
    tools: Annotated[list[BodyTool] | None, AfterValidator(_unique_names)] = None
    tool_choice: Annotated[BodyToolChoice | None, NOT_NULL] = None
    parallel_tool_calls: bool | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    max_output_tokens: Annotated[int, Field(ge=16)] | None = None
    metadata: TaggedMetadata = None
    text: Annotated[TextParam | None, NOT_NULL] = None
    reasoning: ReasoningParam | None = None
    truncation: Literal["auto", "disabled"] | None = None
    conversation: Conversation | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority", "fast", "ultrafast"] | None = None
    prompt_cache_key: str | None = None
    safety_identifier: Annotated[str, StringConstraints(max_length=64)] | None = None
    background: Annotated[
        bool | None, _must_be(True, "must be true or absent: batchrunner runs responses in background mode")
    ] = None
    store: Annotated[bool | None, _must_be(True, "must be true or absent: background responses must be stored")] = None
    stream: Annotated[
        bool | None, _must_be(False, "must be false or absent: batchrunner decides itself whether to stream")
    ] = None


def _only_responses(value: str | None) -> str | None:
    if value is not None and value != "responses":
        raise PydanticCustomError("batch_backend", "a Batch API line (method, url, body) runs on the responses backend")
    return value


def _responses_url(value: str) -> str:
    if value != RESPONSES_URL:
        raise PydanticCustomError(
            "batch_url",
            "batchrunner runs only Responses API requests: must be {expected} (got {got})",
            {"expected": shown(RESPONSES_URL), "got": shown(value)},
        )
    return value


class BatchLine(StrictModel):
    """One request line of an OpenAI Batch API input file for ``/v1/responses``."""

    custom_id: CustomId
    method: Literal["POST"]
    url: Annotated[str, AfterValidator(_responses_url)]
    body: ResponsesBody
    backend: Annotated[Annotated[str, AfterValidator(_only_responses)] | None, NOT_NULL] = None


_WHOLE_REQUEST_IN_BODY = "a Batch API line (method, url, body) carries the whole request in body"
BATCH_LINE_GUIDE = FieldGuide(
    models={(): BatchLine, ("body",): ResponsesBody},
    hints={
        (): {key: _WHOLE_REQUEST_IN_BODY for key in ("assistant_id", "thread", "thread_id", "params")},
        ("body",): {
            "previous_response_id": "not supported in job files: batchrunner chains tool rounds itself",
            "include": "not supported in job files",
            "prompt": "not supported: reusable prompt objects shut down on 2026-11-30",
            "max_completion_tokens": "a create-run field; the Responses API calls it max_output_tokens",
            "response_format": "a Chat/Assistants field; the Responses API takes text.format",
            "reasoning_effort": "a Chat/Assistants field; the Responses API takes reasoning.effort",
            "messages": "a Chat Completions field; the Responses API takes input",
        },
    },
)


def stored_request(body: dict[str, Any]) -> dict[str, Any]:
    """The validated body as ``JobSpec.request``: without the fields batchrunner sets when it sends it."""
    return {key: value for key, value in body.items() if key not in RUNTIME_FIELDS}


def conversation_id(body: dict[str, Any]) -> str | None:
    """The id of the conversation a validated body runs on, if any."""
    conversation = body.get("conversation")
    if isinstance(conversation, dict):
        return str(conversation["id"])
    return conversation if isinstance(conversation, str) else None
