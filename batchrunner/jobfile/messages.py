"""Turns pydantic validation errors into ``LineError``s with JSON-style paths and plain messages.

This is the one place that knows pydantic's error types and locations, so the rest of the job-file
code (and its users) deal only in ``LineError``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from batchrunner.jobfile.errors import LineError
from batchrunner.jobfile.fields import ERROR_AT, FUNCTION_NAME_PATTERN, UNION_TAG_PREFIX, URL_PATTERN
from batchrunner.jobfile.schema import JobLine, RunParams
from batchrunner.jobfile.thread_schema import MessageRequest, ThreadRequest

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_SHOWN_INPUT = 60
_DICT_KEY_LOC = "[key]"


@dataclass(frozen=True)
class FieldGuide:
    """What to say about an unknown key, by the path of the object holding it.

    ``models``: where an unknown key is most often a typo, the model whose fields to suggest.
    ``hints``: keys that are known but not accepted there, and why.
    """

    models: Mapping[tuple[str | int, ...], type[BaseModel]]
    hints: Mapping[tuple[str | int, ...], Mapping[str, str]] = field(default_factory=dict)


JOB_LINE_GUIDE = FieldGuide(
    models={(): JobLine, ("params",): RunParams, ("thread",): ThreadRequest},
    hints={
        ("params",): {
            "stream": "not supported: batchrunner polls runs instead of streaming them",
            "include": "not supported in job files",
            "assistant_id": "belongs at the top level of the job, not in params",
            "thread_id": "belongs at the top level of the job, not in params",
        }
    },
)
_PATTERN_MEANINGS = {
    FUNCTION_NAME_PATTERN: "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -",
    URL_PATTERN: "must be an absolute URL",
}


def field_path(loc: Sequence[str | int]) -> str:
    """``("thread", "messages", 0, "role")`` -> ``"thread.messages[0].role"``, without union tags."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(UNION_TAG_PREFIX) or part == _DICT_KEY_LOC:
            continue
        elif _IDENTIFIER.match(part):
            path += f".{part}" if path else part
        else:
            path += f"[{json.dumps(part, ensure_ascii=False)}]"
    return path


def shown(value: Any) -> str:
    """A value as JSON, shortened for an error message (a long string keeps its closing quote)."""
    if isinstance(value, str) and len(value) > _MAX_SHOWN_INPUT:
        return json.dumps(value[: _MAX_SHOWN_INPUT - 3] + "…", ensure_ascii=False)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN_INPUT else text[: _MAX_SHOWN_INPUT - 1] + "…"


def _number(limit: Any) -> str:
    """A bound as written in the schema: 2, not 2.0."""
    return str(int(limit)) if isinstance(limit, float) and limit.is_integer() else str(limit)


def _count(limit: int, ctx: dict[str, Any]) -> str:
    noun = "pair" if ctx.get("field_type") == "Dictionary" else "item"
    return f"{limit} {noun}" if limit == 1 else f"{limit} {noun}s"


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value = error["input"]
    got = f" (got {shown(value)})"
    simple = {
        "missing": "required",
        "string_type": "must be a string",
        "int_type": "must be an integer",
        "float_type": "must be a number",
        "bool_type": "must be true or false",
        "dict_type": "must be an object",
        "model_type": "must be an object",
        "model_attributes_type": "must be an object",
        "list_type": "must be an array",
    }
    if kind == "missing":
        return "required"
    if kind in simple:
        return simple[kind] + got
    if kind == "literal_error":
        return f"must be {ctx['expected']}{got}"
    bounds = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}
    if kind in bounds:
        limit = next(ctx[key] for key in ("ge", "le", "gt", "lt") if key in ctx)
        return f"must be {bounds[kind]} {_number(limit)}{got}"
    if kind == "string_too_short":
        return "must not be empty" if ctx["min_length"] == 1 else f"must be at least {ctx['min_length']} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters (got {len(value)})"
    if kind in ("too_long", "too_short"):
        actual = ctx.get("actual_length") or (len(value) if hasattr(value, "__len__") else "?")
        word, limit = ("most", ctx["max_length"]) if kind == "too_long" else ("least", ctx["min_length"])
        return f"must have at {word} {_count(limit, ctx)} (got {actual})"
    if kind == "string_pattern_mismatch":
        meaning = _PATTERN_MEANINGS.get(ctx["pattern"], f"must match {ctx['pattern']}")
        return meaning + got
    if kind == "union_member":
        return error["msg"] + got
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return error["msg"]


def _unknown_key_message(loc: tuple[str | int, ...], guide: FieldGuide) -> str:
    *parent, key = loc
    hint = guide.hints.get(tuple(parent), {}).get(str(key))
    if hint is not None:
        return f"unknown field: {hint}"
    model = guide.models.get(tuple(parent))
    if model is None and len(parent) >= 2 and parent[-2] in ("messages", "additional_messages"):
        model = MessageRequest
    if model is not None:
        allowed = [info.alias or name for name, info in model.model_fields.items()]
        close = difflib.get_close_matches(str(key), allowed, n=1)
        if close:
            return f"unknown field (did you mean {close[0]!r}?)"
    return "unknown field"


def _to_line_error(error: ErrorDetails, line_no: int, prefix: tuple[str | int, ...], guide: FieldGuide) -> LineError:
    loc = prefix + tuple(error["loc"])
    ctx = error.get("ctx") or {}
    if ERROR_AT in ctx:
        loc += tuple(ctx[ERROR_AT])
    if error["type"] == "extra_forbidden":
        return LineError(line_no, field_path(loc), _unknown_key_message(tuple(p for p in loc if not _is_tag(p)), guide))
    if loc and loc[-1] == _DICT_KEY_LOC:
        # A bad dict key: point at the dict and quote the key in the message instead.
        return LineError(line_no, field_path(loc[:-2]), f"key {shown(error['input'])} {_message(error)}")
    return LineError(line_no, field_path(loc), _message(error))


def _is_tag(part: str | int) -> bool:
    return isinstance(part, str) and part.startswith(UNION_TAG_PREFIX)


def line_errors(
    exc: ValidationError,
    line_no: int,
    prefix: tuple[str | int, ...] = (),
    *,
    guide: FieldGuide = JOB_LINE_GUIDE,
) -> list[LineError]:
    """Every error of ``exc`` as a ``LineError`` on ``line_no``; ``prefix`` is prepended to each path.

    ``guide`` says how to explain unknown keys (by default, those of the job line shape).
    """
    return [_to_line_error(error, line_no, prefix, guide) for error in exc.errors(include_url=False)]
