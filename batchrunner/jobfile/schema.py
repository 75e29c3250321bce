"""Pydantic models of one job line, transcribed from the official OpenAPI request schemas.

``RunParams`` is ``CreateRunRequest`` minus ``assistant_id``, ``stream`` and ``include``; the thread
models (``ThreadRequest``, ``MessageRequest``) are in ``thread_schema``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from batchrunner.deadlines import parse_deadline
from batchrunner.jobfile.fields import (
    ERROR_AT,
    MAX_TOOLS,
    NOT_NULL,
    UNION_TAG_PREFIX,
    CallableFunctionName,
    FunctionName,
    NonEmptyStr,
    StrictModel,
    TaggedMetadata,
    tag_by_type,
    tagged_union,
    union_tag,
)
from batchrunner.jobfile.thread_schema import CodeInterpreterTool, MessageRequest, ThreadRequest

# --- Run tools and options --------------------------------------------------------------------


class FunctionDefinition(StrictModel):
    name: CallableFunctionName
    description: Annotated[str | None, NOT_NULL] = None
    parameters: Annotated[dict[str, Any] | None, NOT_NULL] = None
    strict: bool | None = None


class FunctionTool(StrictModel):
    type: Literal["function"]
    function: FunctionDefinition


class RankingOptions(StrictModel):
    ranker: Annotated[Literal["auto", "default_2024_08_21"] | None, NOT_NULL] = None
    score_threshold: Annotated[float, Field(ge=0, le=1)]


class FileSearchOverrides(StrictModel):
    max_num_results: Annotated[Annotated[int, Field(ge=1, le=50)] | None, NOT_NULL] = None
    ranking_options: Annotated[RankingOptions | None, NOT_NULL] = None


class FileSearchTool(StrictModel):
    type: Literal["file_search"]
    file_search: Annotated[FileSearchOverrides | None, NOT_NULL] = None


RunTool = Annotated[
    Annotated[CodeInterpreterTool, union_tag("code_interpreter")]
    | Annotated[FileSearchTool, union_tag("file_search")]
    | Annotated[FunctionTool, union_tag("function")],
    tagged_union(
        tag_by_type("code_interpreter", "file_search", "function"),
        "a tool with type 'code_interpreter', 'file_search' or 'function'",
    ),
]


def _unique_function_names(tools: list[Any]) -> list[Any]:
    first_index: dict[str, int] = {}
    for index, tool in enumerate(tools):
        if isinstance(tool, FunctionTool):
            name = tool.function.name
            if name in first_index:
                raise PydanticCustomError(
                    "duplicate_function",
                    "duplicate function name '{name}' (also tools[{first}])",
                    {"name": name, "first": first_index[name], ERROR_AT: (index, "function", "name")},
                )
            first_index[name] = index
    return tools


RunTools = Annotated[list[RunTool], Field(max_length=MAX_TOOLS), AfterValidator(_unique_function_names)]


class FunctionRef(StrictModel):
    name: CallableFunctionName


class NamedFunctionChoice(StrictModel):
    type: Literal["function"]
    function: FunctionRef


class NamedBuiltinChoice(StrictModel):
    type: Literal["code_interpreter", "file_search"]


def _tool_choice_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return UNION_TAG_PREFIX + "mode"
    return tag_by_type("function", "code_interpreter", "file_search")(value)


ToolChoice = Annotated[
    Annotated[Literal["none", "auto", "required"], union_tag("mode")]
    | Annotated[NamedFunctionChoice, union_tag("function")]
    | Annotated[NamedBuiltinChoice, union_tag("code_interpreter")]
    | Annotated[NamedBuiltinChoice, union_tag("file_search")],
    tagged_union(
        _tool_choice_tag,
        "'none', 'auto', 'required' or an object with type 'function', 'code_interpreter' or 'file_search'",
    ),
]


class TextFormat(StrictModel):
    type: Literal["text"]


class JsonObjectFormat(StrictModel):
    type: Literal["json_object"]


class JsonSchemaSpec(StrictModel):
    name: FunctionName
    description: Annotated[str | None, NOT_NULL] = None
    schema_: Annotated[dict[str, Any] | None, NOT_NULL] = Field(default=None, alias="schema")
    strict: bool | None = None


class JsonSchemaFormat(StrictModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


def _response_format_tag(value: Any) -> str | None:
    if value == "auto":
        return UNION_TAG_PREFIX + "auto"
    return tag_by_type("text", "json_object", "json_schema")(value)


ResponseFormat = Annotated[
    Annotated[Literal["auto"], union_tag("auto")]
    | Annotated[TextFormat, union_tag("text")]
    | Annotated[JsonObjectFormat, union_tag("json_object")]
    | Annotated[JsonSchemaFormat, union_tag("json_schema")],
    tagged_union(_response_format_tag, "'auto' or an object with type 'text', 'json_object' or 'json_schema'"),
]


class TruncationStrategy(StrictModel):
    type: Literal["auto", "last_messages"]
    last_messages: Annotated[int, Field(ge=1)] | None = None


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
TokenLimit = Annotated[int, Field(ge=256)]


class RunParams(StrictModel):
    """The create-run body fields a job may set (``CreateRunRequest`` without ``assistant_id``)."""

    model: NonEmptyStr | None = None
    reasoning_effort: ReasoningEffort | None = None
    instructions: str | None = None
    additional_instructions: str | None = None
    additional_messages: list[MessageRequest] | None = None
    tools: RunTools | None = None
    metadata: TaggedMetadata = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    max_prompt_tokens: TokenLimit | None = None
    max_completion_tokens: TokenLimit | None = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: Annotated[bool | None, NOT_NULL] = None
    response_format: ResponseFormat | None = None


CustomId = Annotated[str, StringConstraints(min_length=1, max_length=512)]


def _valid_deadline(text: str) -> str:
    try:
        parse_deadline(text)
    except ValueError as exc:
        raise PydanticCustomError("deadline", str(exc)) from None
    return text


DeadlineText = Annotated[str, AfterValidator(_valid_deadline)]


BackendChoice = Literal["assistants", "responses"]
# ``lanes.LANE_CHOICES``: the ``lanes.Lane`` values a job line may name.
LaneChoice = Literal["auto", "standard", "background-2h", "background-8h", "flex", "batch"]


class JobLine(StrictModel):
    """One line of a job file. Whether ``thread`` or ``thread_id`` is given is checked by the reader.

    ``backend`` (the reader's default when absent) picks the API; on the responses backend the reader
    also maps the line to a Responses request (``responses_body``). ``new_conversation`` asks for a
    conversation of the job's own on the responses backend (on the assistants backend every new thread
    is one already). ``deadline`` (``deadlines.parse_deadline``) is when the job must be done;
    ``lane`` (``lanes.Lane``, Responses backend) how it may be served, ``auto`` picking by the deadline.
    """

    custom_id: Annotated[CustomId | None, NOT_NULL] = None
    backend: Annotated[BackendChoice | None, NOT_NULL] = None
    assistant_id: NonEmptyStr
    thread: Annotated[ThreadRequest | None, NOT_NULL] = None
    thread_id: Annotated[NonEmptyStr | None, NOT_NULL] = None
    params: Annotated[RunParams | None, NOT_NULL] = None
    new_conversation: Annotated[bool | None, NOT_NULL] = None
    deadline: Annotated[DeadlineText | None, NOT_NULL] = None
    lane: Annotated[LaneChoice | None, NOT_NULL] = None
