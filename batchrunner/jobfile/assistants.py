"""The assistants file: the assistant definitions the Responses backend sends with every request.

The Responses API has no assistant objects, so batchrunner holds them: a YAML (or, for a ``.json`` file,
JSON) mapping of assistant id to definition. By default it is ``assistants.yaml`` beside the job file::

    asst_math:
      model: gpt-4o
      instructions: You solve arithmetic questions.
      temperature: 0.2
      tools:
        - type: function                  # Assistants style, as the Assistants API took it
          function: {name: calculate, parameters: {type: object, properties: {}}}
        - {type: function, name: lookup}  # Responses style (flat) works too

Fields: ``model`` (required), ``instructions``, ``tools`` (function tools only), ``temperature``,
``top_p``, ``reasoning_effort``, ``response_format`` (Assistants style; sent as ``text.format``) and
``metadata``. Unknown keys are errors, and so is what has no Responses mapping (a ``json_schema``
response format without a schema, ``file_search``/``code_interpreter`` tools). Every problem is
reported at once, as ``<file>: <assistant id>: <field>: <message>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from batchrunner.jobfile.errors import JobFileError, LineError
from batchrunner.jobfile.fields import (
    ERROR_AT,
    MAX_TOOLS,
    NOT_NULL,
    FunctionName,
    NonEmptyStr,
    StrictModel,
    TaggedMetadata,
    tagged_union,
    union_tag,
)
from batchrunner.jobfile.messages import FieldGuide, field_path, line_errors
from batchrunner.jobfile.schema import (
    FunctionTool,
    JsonSchemaFormat,
    ReasoningEffort,
    ResponseFormat,
)
from batchrunner.storable_text import UNSTORABLE_MESSAGE, unstorable_paths

ASSISTANTS_FILE_NAME = "assistants.yaml"
NO_BUILTIN_TOOLS = (
    "has no Responses mapping in batchrunner: it creates no vector stores or containers "
    "(only function tools can be defined)"
)


class FlatFunctionTool(StrictModel):
    """A function tool in the Responses form: ``{type, name, description, parameters, strict}``."""

    type: Literal["function"]
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _BuiltinTool(StrictModel):
    """``file_search`` or ``code_interpreter``: recognised, and refused."""

    type: str

    @model_validator(mode="before")
    @classmethod
    def _refuse(cls, value: Any) -> Any:
        raise PydanticCustomError("no_equivalent", NO_BUILTIN_TOOLS)


def _tool_tag(value: Any) -> str | None:
    if isinstance(value, FunctionTool | FlatFunctionTool):  # a validated model being dumped
        return "~nested" if isinstance(value, FunctionTool) else "~flat"
    if not isinstance(value, dict):
        return None
    if value.get("type") == "function":
        return "~nested" if "function" in value else "~flat"
    if value.get("type") in ("file_search", "code_interpreter"):
        return "~builtin"
    return None


AssistantTool = Annotated[
    Annotated[FunctionTool, union_tag("nested")]
    | Annotated[FlatFunctionTool, union_tag("flat")]
    | Annotated[_BuiltinTool, union_tag("builtin")],
    tagged_union(
        _tool_tag,
        "a function tool: {type: function, function: {name, ...}} or {type: function, name, ...}",
    ),
]


def function_name(tool: FunctionTool | FlatFunctionTool) -> str:
    return tool.function.name if isinstance(tool, FunctionTool) else tool.name


def _unique_names(tools: list[Any]) -> list[Any]:
    first_index: dict[str, int] = {}
    for index, tool in enumerate(tools):
        name = function_name(tool)
        if name in first_index:
            at = (index, "function", "name") if isinstance(tool, FunctionTool) else (index, "name")
            raise PydanticCustomError(
                "duplicate_function",
                "duplicate function name '{name}' (also tools[{first}])",
                {"name": name, "first": first_index[name], ERROR_AT: at},
            )
        first_index[name] = index
    return tools


def _schema_given(response_format: Any) -> Any:
    if isinstance(response_format, JsonSchemaFormat) and response_format.json_schema.schema_ is None:
        raise PydanticCustomError(
            "schema_required",
            "required: the Responses API's text.format needs the schema",
            {ERROR_AT: ("json_schema", "schema")},
        )
    return response_format


class AssistantDefinition(StrictModel):
    """One assistant of the assistants file; the settings a Responses request starts from."""

    model: NonEmptyStr
    instructions: str | None = None
    tools: Annotated[
        list[AssistantTool] | None, NOT_NULL, Field(max_length=MAX_TOOLS), AfterValidator(_unique_names)
    ] = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    reasoning_effort: ReasoningEffort | None = None
    response_format: Annotated[ResponseFormat | None, AfterValidator(_schema_given)] = None
    metadata: TaggedMetadata = None

    def run_settings(self) -> dict[str, Any]:
        """The fields the file set, as JSON named like the create-run fields (nulls left out)."""
        dumped = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return {key: value for key, value in dumped.items() if value is not None}


_GUIDE = FieldGuide(
    models={(): AssistantDefinition},
    hints={
        (): {
            "name": "not used: the Responses API has no assistant names (a YAML comment or metadata can say it)",
            "description": "not used: the Responses API has no assistant descriptions",
            "id": "the assistant id is the key this definition is filed under",
            "tool_resources": "has no Responses mapping in batchrunner: it creates no vector stores or containers",
        }
    },
)


@dataclass(frozen=True)
class AssistantProblem:
    """One problem of an assistants file: ``assistant_id`` "" means the file as a whole."""

    path: str
    assistant_id: str
    field: str
    message: str

    def __str__(self) -> str:
        parts = [self.path, self.assistant_id, self.field, self.message]
        return ": ".join(part for part in parts if part)


class AssistantsFileError(JobFileError):
    """An assistants file cannot be used; ``problems`` lists every problem in file order.

    ``errors`` (as for any ``JobFileError``) gives each as a ``LineError`` with the field path
    ``<assistant id>.<field>``.
    """

    def __init__(self, path: str, problems: list[AssistantProblem]) -> None:
        self.problems = problems
        errors = [LineError(0, _joined(p.assistant_id, p.field), p.message, path) for p in problems]
        super().__init__(path, errors)

    def _describe(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def _joined(assistant_id: str, field: str) -> str:
    if not assistant_id:
        return field
    head = field_path([assistant_id])
    return head if not field else head + (field if field.startswith("[") else "." + field)


def default_assistants_path(job_file: str | Path) -> Path:
    """Where the assistants of ``job_file`` are by default: ``assistants.yaml`` beside it."""
    return Path(job_file).parent / ASSISTANTS_FILE_NAME


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (it would keep the last)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable: construct_mapping reports it
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _parse(text: str, path: Path) -> Any:
    """The document; raises ``ValueError`` with a message naming the place of a syntax error."""
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
        except ValueError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ValueError(f"invalid YAML: {exc.problem}{where}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"invalid YAML: {exc}") from None


def _type_name(value: Any) -> str:
    names = {list: "a list", str: "a string", bool: "a boolean", type(None): "nothing"}
    return names.get(type(value), type(value).__name__)


def load_assistants(path: str | Path) -> dict[str, AssistantDefinition]:
    """Read and validate an assistants file; raises ``AssistantsFileError`` listing every problem."""
    path = Path(path)
    display = str(path)

    def fail(message: str) -> AssistantsFileError:
        return AssistantsFileError(display, [AssistantProblem(display, "", "", message)])

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise fail("assistants file not found") from None
    except UnicodeDecodeError as exc:
        raise fail(f"invalid UTF-8 at byte {exc.start + 1}") from None
    except OSError as exc:
        raise fail(f"cannot read file: {exc.strerror or exc}") from None
    try:
        document = _parse(text.removeprefix("\ufeff"), path)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if not isinstance(document, dict):
        if document is None:
            raise fail("the file defines no assistants")
        raise fail(f"must be a mapping of assistant id to definition (got {_type_name(document)})")
    if not document:
        raise fail("the file defines no assistants")
    unstorable = [
        AssistantProblem(display, str(assistant_id), field, UNSTORABLE_MESSAGE)
        for assistant_id, definition in document.items()
        for field in unstorable_paths(definition)
    ]
    if unstorable:
        raise AssistantsFileError(display, unstorable)
    assistants: dict[str, AssistantDefinition] = {}
    problems: list[AssistantProblem] = []
    for assistant_id, definition in document.items():
        if not isinstance(assistant_id, str) or not assistant_id:
            problems.append(
                AssistantProblem(display, "", "", f"assistant id {assistant_id!r} must be a non-empty string")
            )
            continue
        try:
            assistants[assistant_id] = AssistantDefinition.model_validate(definition)
        except ValidationError as exc:
            problems.extend(
                AssistantProblem(display, assistant_id, error.field, error.message)
                for error in line_errors(exc, 0, guide=_GUIDE)
            )
    if problems:
        raise AssistantsFileError(display, problems)
    return assistants
