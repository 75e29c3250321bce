"""Text every database batchrunner supports can store: no NUL, no unpaired surrogate.

PostgreSQL refuses NUL (U+0000) in ``text`` and ``jsonb`` alike, and no database takes an unpaired
surrogate (U+D800 to U+DFFF, which JSON's ``\\ud800`` escapes can produce): it is no character UTF-8
can encode. A job file holding such text is refused at validation (``unstorable_paths`` names each
field); text that arrives from the API or a tool handler is stored with each such character replaced
by U+FFFD, the Unicode replacement character, which marks the place in the record, and counted
(``batchrunner_text_replaced_total``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class ReplacedIn(StrEnum):
    """Where replaced characters were met: a text value, a JSON value, a tool handler's output."""

    TEXT = "text"
    JSON = "json"
    TOOL = "tool"


REPLACEMENT = "\ufffd"
UNSTORABLE_MESSAGE = (
    "holds a character databases cannot store (NUL \\u0000, or an unpaired surrogate \\ud800-\\udfff): remove it"
)


def unstorable_paths(value: Any, path: str = "") -> Iterator[str]:
    """The field paths (``thread.messages[0].content``) of the strings, keys included, holding such text."""
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and UNSTORABLE.search(key):
                yield child
            else:
                yield from unstorable_paths(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_paths(item, f"{path}[{index}]")


def storable(text: str) -> tuple[str, int]:
    """``text`` with each unstorable character replaced, and how many were."""
    return UNSTORABLE.subn(REPLACEMENT, text)


def storable_json(value: Any) -> tuple[Any, int]:
    """A JSON value with unstorable characters replaced in every string and key, and how many were."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        replaced = 0
        cleaned: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str):
                key, count = storable(key)
                replaced += count
            cleaned[key], count = storable_json(item)
            replaced += count
        return cleaned, replaced
    if isinstance(value, list):
        replaced = 0
        items = []
        for item in value:
            cleaned_item, count = storable_json(item)
            items.append(cleaned_item)
            replaced += count
        return items, replaced
    return value, 0


__all__ = [
    "REPLACEMENT",
    "UNSTORABLE",
    "UNSTORABLE_MESSAGE",
    "ReplacedIn",
    "storable",
    "storable_json",
    "unstorable_paths",
]
