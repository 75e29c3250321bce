"""Matching "METHOD /path" against route templates such as /v1/threads/{thread_id}/runs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

H = TypeVar("H")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route(Generic[H]):
    """One endpoint: its method, template (also its name in stats) and handler."""

    method: str
    template: str
    handler: H
    pattern: re.Pattern[str]

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


def _compile(template: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(template)
    # split() alternates literal text and placeholder names.
    regex = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)" for index, part in enumerate(parts))
    return re.compile(f"^{regex}/?$")


class Router(Generic[H]):
    """A list of routes tried in order."""

    def __init__(self, table: Iterable[tuple[str, str, H]]) -> None:
        self.routes = [Route(method, template, handler, _compile(template)) for method, template, handler in table]

    def match(self, method: str, path: str) -> tuple[Route[H], dict[str, str]] | None:
        for route in self.routes:
            if route.method != method:
                continue
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None
