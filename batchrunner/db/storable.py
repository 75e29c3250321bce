"""Every value an engine writes is text the database can store (see ``batchrunner.storable_text``).

``install(engine)`` hooks an engine so that NUL and unpaired surrogates in any string parameter, and in
any string of a JSON value, are replaced by U+FFFD before the statement is sent: text from the API or
a tool handler that holds them is stored (and counted, and logged), never a failed step or a job stuck
retrying one. Job files are checked before anything is written, so their text never needs this.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event

from batchrunner.metrics import TEXT_REPLACED
from batchrunner.storable_text import UNSTORABLE, ReplacedIn, storable, storable_json

log = logging.getLogger(__name__)

# What json.dumps (ASCII output) writes for NUL and for a surrogate; a surrogate pair looks the same,
# so a hit is only a reason to look closer.
_ESCAPED_UNSTORABLE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def json_serializer(value: Any) -> str:
    """``json.dumps``, with unstorable characters replaced in the strings of ``value`` first."""
    text = json.dumps(value)
    if not _ESCAPED_UNSTORABLE.search(text):
        return text
    cleaned, replaced = storable_json(value)
    if not replaced:
        return text
    _count(ReplacedIn.JSON, replaced)
    return json.dumps(cleaned)


def _count(where: ReplacedIn, replaced: int) -> None:
    TEXT_REPLACED.labels(where=where).inc(replaced)
    log.warning("replaced %d characters the database cannot store (NUL, unpaired surrogates) with U+FFFD", replaced)


def _clean_row(row: Any) -> Any:
    if isinstance(row, dict):
        if not any(isinstance(value, str) and UNSTORABLE.search(value) for value in row.values()):
            return row
        return {key: _clean_value(value) for key, value in row.items()}
    if isinstance(row, (list, tuple)):
        if not any(isinstance(value, str) and UNSTORABLE.search(value) for value in row):
            return row
        return type(row)(_clean_value(value) for value in row)
    return row


def _clean_value(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    cleaned, replaced = storable(value)
    if replaced:
        _count(ReplacedIn.TEXT, replaced)
    return cleaned


def _before_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    if executemany and isinstance(parameters, list):
        return statement, [_clean_row(row) for row in parameters]
    return statement, _clean_row(parameters)


def install(engine: Engine) -> Engine:
    """Hook ``engine``'s statements (its JSON goes through ``json_serializer``, given at creation)."""
    hook: Callable[..., tuple[str, Any]] = _before_cursor_execute
    event.listen(engine, "before_cursor_execute", hook, retval=True)
    return engine


__all__ = ["install", "json_serializer"]
