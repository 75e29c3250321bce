"""Cursor pagination of list endpoints: after, before, limit (1-100, default 20), order (default desc)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from batchrunner.simulator.errors import invalid
from batchrunner.simulator.validation import check_enum

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Listable(Protocol):
    """An object that can appear in a list response."""

    @property
    def id(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


def _limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise invalid("Invalid type for 'limit': expected an integer, but got a string instead.", "limit") from None
    if limit < 1:
        raise invalid(
            f"Invalid 'limit': integer below minimum value. Expected a value >= 1, but got {limit} instead.",
            "limit",
        )
    if limit > MAX_LIMIT:
        raise invalid(
            f"Invalid 'limit': integer above maximum value. Expected a value <= {MAX_LIMIT}, but got {limit} instead.",
            "limit",
        )
    return limit


def _position(ids: list[str], cursor: str, param: str) -> int:
    try:
        return ids.index(cursor)
    except ValueError:
        raise invalid(f"Invalid '{param}': no object with id '{cursor}' in this list.", param) from None


def list_page(objects: Sequence[Listable], query: Mapping[str, str]) -> dict[str, Any]:
    """One page of `objects` (given oldest first) as a ListXResponse body.

    `after` pages onwards in the chosen order; `before` returns the items just before the cursor,
    so a client can walk back. `has_more` says whether items remain beyond the page in the
    direction of travel.
    """
    limit = _limit(query)
    order = check_enum(query.get("order", "desc"), "order", ("asc", "desc"))
    ordered = list(objects) if order == "asc" else list(reversed(objects))
    ids = [item.id for item in ordered]
    start, end = 0, len(ordered)
    after, before = query.get("after"), query.get("before")
    if after:
        start = _position(ids, after, "after") + 1
    if before:
        end = _position(ids, before, "before")
    window = ordered[start:end] if start <= end else []
    if before and not after:
        page, has_more = window[-limit:], len(window) > limit
    else:
        page, has_more = window[:limit], len(window) > limit
    data = [item.to_json() for item in page]
    return {
        "object": "list",
        "data": data,
        # The schema types these as strings, so an empty page shows "" rather than null.
        "first_id": page[0].id if page else "",
        "last_id": page[-1].id if page else "",
        "has_more": has_more,
    }
