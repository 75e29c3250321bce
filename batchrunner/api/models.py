"""What every backend's models share: the lenient base model, list pages, and the envelope of a call.

Models accept fields they do not know (``extra="allow"``) so that a newer or merely compatible server
does not break a batch; union members whose ``type`` is not recognised stay plain dicts
(``type_discriminator``). Each backend's own models live in its package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field

from batchrunner.api.headers import RateLimitInfo

__all__ = ["ApiModel", "ApiResponse", "IncompleteDetails", "ListPage", "ResponseMeta", "type_discriminator"]

T = TypeVar("T")


class ApiModel(BaseModel):
    """Base of every API object: unknown fields are kept, not rejected."""

    model_config = ConfigDict(extra="allow")


class IncompleteDetails(ApiModel):
    reason: str | None = None


def type_discriminator(known: frozenset[str]) -> Any:
    """A pydantic ``Discriminator`` tagging a union member by its ``type`` ("other" for any unknown type)."""

    def tag(value: Any) -> str:
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return kind if isinstance(kind, str) and kind in known else "other"

    return Discriminator(tag)


class ListPage(ApiModel, Generic[T]):
    """One page of a cursor-paginated list."""

    object: str = "list"
    data: list[T] = Field(default_factory=list)
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


@dataclass(frozen=True)
class ResponseMeta:
    """What the response headers said besides the body."""

    status_code: int
    poll_after_ms: int | None = None
    rate_limit: RateLimitInfo | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class ApiResponse(Generic[T]):
    """A parsed response body with its metadata."""

    data: T
    meta: ResponseMeta
