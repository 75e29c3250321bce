"""Field types shared by the job-line models: strictness, nullability, tagged unions, metadata.

Every model forbids unknown keys and validates strictly (``"0.2"`` is not a number, ``1`` is not a
string), because a job file is checked once, before anything is enqueued, and whatever slips through
fails later as a 400 for every job it touches. Fields the API marks nullable are typed ``X | None``;
optional fields it does not mark nullable reject an explicit ``null`` (``NOT_NULL``). Tagged unions
use tags that start with ``UNION_TAG_PREFIX`` so that error paths can drop them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

UNION_TAG_PREFIX = "~"
RESERVED_METADATA_KEY = "batchrunner_job"
MAX_METADATA_PAIRS = 16
# batchrunner adds RESERVED_METADATA_KEY to the metadata of the threads, runs and responses it creates.
MAX_USER_METADATA_PAIRS = MAX_METADATA_PAIRS - 1
MAX_TOOLS = 20
FUNCTION_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
# The schema says "format: uri"; the API fetches the image, so the URL must be absolute.
URL_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$"
# Error context key: a path below the failing value where the error really is (see messages).
ERROR_AT = "at"
# Validation context key: the names of the registered tool handlers, when they are to be checked.
KNOWN_TOOLS = "known_tools"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _reject_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("not_null", "must not be null")
    return value


NOT_NULL = AfterValidator(_reject_null)
NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]
FunctionName = Annotated[str, StringConstraints(pattern=FUNCTION_NAME_PATTERN)]
Detail = Literal["auto", "low", "high"]


def _registered_tool(name: str, info: ValidationInfo) -> str:
    known_tools = (info.context or {}).get(KNOWN_TOOLS)
    if known_tools is not None and name not in known_tools:
        raise PydanticCustomError("unknown_tool", "no tool handler registered for '{name}'", {"name": name})
    return name


# A function the model may call: with KNOWN_TOOLS in the context, batchrunner must have its handler.
CallableFunctionName = Annotated[FunctionName, AfterValidator(_registered_tool)]


def tagged_union(tag_of: Callable[[Any], str | None], expected: str) -> Discriminator:
    """A discriminator whose failure says what was expected instead of naming the tags."""
    return Discriminator(tag_of, custom_error_type="union_member", custom_error_message=f"must be {expected}")


def string_or_parts_tag(value: Any) -> str | None:
    """The union tag of message content: ``"string"`` for text, ``"parts"`` for a list of parts."""
    if isinstance(value, str):
        return UNION_TAG_PREFIX + "string"
    if isinstance(value, list):
        return UNION_TAG_PREFIX + "parts"
    return None


def tag_by_type(*types: str) -> Callable[[Any], str | None]:
    def tag_of(value: Any) -> str | None:
        # A dict when validating; a model instance when a validated model is dumped.
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        if isinstance(kind, str) and kind in types:
            return UNION_TAG_PREFIX + kind
        return None

    return tag_of


def union_tag(name: str) -> Tag:
    return Tag(UNION_TAG_PREFIX + name)


# --- Metadata ---------------------------------------------------------------------------------

MetadataKey = Annotated[str, StringConstraints(max_length=64)]
MetadataValue = Annotated[str, StringConstraints(max_length=512)]
MetadataPairs = dict[MetadataKey, MetadataValue]
Metadata = Annotated[MetadataPairs, Field(max_length=MAX_METADATA_PAIRS)]


def _check_user_metadata(metadata: dict[str, str] | None) -> dict[str, str] | None:
    if metadata is None:
        return None
    if RESERVED_METADATA_KEY in metadata:
        raise PydanticCustomError(
            "reserved_key",
            "reserved: batchrunner tags the API objects it creates (threads, runs, responses) with this key",
            {ERROR_AT: (RESERVED_METADATA_KEY,)},
        )
    if len(metadata) > MAX_USER_METADATA_PAIRS:
        raise PydanticCustomError(
            "too_many_pairs",
            "must have at most {limit} pairs: batchrunner adds its tag to make {total} (got {count})",
            {"limit": MAX_USER_METADATA_PAIRS, "total": MAX_METADATA_PAIRS, "count": len(metadata)},
        )
    return metadata


# Metadata of the objects batchrunner creates (the thread, the run), which it tags.
TaggedMetadata = Annotated[MetadataPairs | None, AfterValidator(_check_user_metadata)]
