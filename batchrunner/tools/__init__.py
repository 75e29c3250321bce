"""Tool calls: the handler contract, the registry of handlers, and the runner that calls them.

The built-in handlers live in ``batchrunner.tools.builtin`` and are only imported through their entry points.
"""

from batchrunner.tools.protocol import ToolHandler, ToolInputError
from batchrunner.tools.registry import ENTRY_POINT_GROUP, ToolConflictError, ToolRegistry, ToolRegistryError
from batchrunner.tools.runner import ToolCall, ToolOutcome, ToolResult, ToolRunner

__all__ = [
    "ENTRY_POINT_GROUP",
    "ToolCall",
    "ToolConflictError",
    "ToolHandler",
    "ToolInputError",
    "ToolOutcome",
    "ToolRegistry",
    "ToolRegistryError",
    "ToolResult",
    "ToolRunner",
]
