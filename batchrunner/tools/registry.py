"""Which handler answers which function name, and where each one came from.

Handlers come from two places, both chosen by whoever deploys batchrunner, never by a job file or a model:

- the ``batchrunner.tools`` entry-point group of every installed distribution; the entry point's name is the
  tool name (``calculate = "batchrunner.tools.builtin:calculate"``);
- modules named in settings (``tool_modules``), each exposing ``TOOLS: dict[str, ToolHandler]``.

A function name the model asks for is only ever looked up in the loaded registry; it is never imported.
Two different handlers under one name is an error naming both sources, because silently preferring one
would make the answer depend on install order.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points

from batchrunner.tools.protocol import ToolHandler

ENTRY_POINT_GROUP = "batchrunner.tools"

# The Assistants and Responses APIs accept exactly these function names.
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MODULE_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class ToolRegistryError(Exception):
    """A handler could not be registered or loaded; the message names the source at fault."""


class ToolConflictError(ToolRegistryError):
    """Two different handlers were registered under the same name."""


class ToolRegistry:
    """A mapping from function name to handler, remembering where each handler came from."""

    def __init__(self) -> None:
        self._handlers: dict[str, ToolHandler] = {}
        self._sources: dict[str, str] = {}

    def register(self, name: str, handler: ToolHandler, *, source: str = "registered in code") -> None:
        """Register ``handler`` under ``name``; registering the same handler twice is harmless."""
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise ToolRegistryError(
                f"tool name {name!r} from {source} is not a valid function name (1 to 64 letters, digits, '_' or '-')"
            )
        if not callable(handler):
            raise ToolRegistryError(f"tool {name!r} from {source} is not callable: {type(handler).__name__}")
        existing = self._handlers.get(name)
        if existing is not None and existing is not handler:
            raise ToolConflictError(
                f"tool {name!r} is registered twice: by {self._sources[name]} and by {source}; "
                "remove or rename one of them"
            )
        self._handlers[name] = handler
        self._sources.setdefault(name, source)

    def get(self, name: str) -> ToolHandler | None:
        """The handler registered under ``name``, or None."""
        return self._handlers.get(name)

    def source(self, name: str) -> str | None:
        """Where the handler registered under ``name`` came from, for messages and debugging."""
        return self._sources.get(name)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._handlers)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def __len__(self) -> int:
        return len(self._handlers)

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names()!r})"

    @classmethod
    def load(cls, *, entry_points: bool = True, modules: Sequence[str] = ()) -> ToolRegistry:
        """A registry of the installed entry points (unless told not to) and of each module's ``TOOLS``."""
        registry = cls()
        if entry_points:
            registry.register_entry_points(_tool_entry_points())
        for module_path in modules:
            registry.register_module(module_path)
        return registry

    def register_entry_points(self, points: Iterable[EntryPoint]) -> None:
        """Load and register each entry point under its own name."""
        for point in sorted(points, key=lambda point: point.name):
            source = _describe_entry_point(point)
            try:
                handler = point.load()
            except Exception as exc:
                raise ToolRegistryError(f"{source} could not be loaded: {type(exc).__name__}: {exc}") from exc
            self.register(point.name, handler, source=source)

    def register_module(self, module_path: str) -> None:
        """Import ``module_path`` and register every handler in its ``TOOLS`` mapping."""
        if not isinstance(module_path, str) or not _MODULE_PATH.match(module_path):
            raise ToolRegistryError(f"tool module {module_path!r} is not a dotted module path like 'pkg.tools'")
        try:
            module = importlib.import_module(module_path)
        except Exception as exc:
            raise ToolRegistryError(
                f"tool module {module_path!r} could not be imported: {type(exc).__name__}: {exc}"
            ) from exc
        tools = getattr(module, "TOOLS", None)
        if tools is None:
            raise ToolRegistryError(
                f"tool module {module_path!r} has no TOOLS; define TOOLS = {{'name': handler, ...}} in it"
            )
        if not isinstance(tools, Mapping):
            raise ToolRegistryError(
                f"TOOLS in tool module {module_path!r} must be a dict of name to handler, not {type(tools).__name__}"
            )
        for name, handler in tools.items():
            self.register(name, handler, source=f"module {module_path} (TOOLS[{name!r}])")


def _tool_entry_points() -> list[EntryPoint]:
    return list(entry_points(group=ENTRY_POINT_GROUP))


def _describe_entry_point(point: EntryPoint) -> str:
    distribution = point.dist.name if point.dist is not None else "an unknown distribution"
    return f"entry point {point.name} = {point.value} (from {distribution})"
