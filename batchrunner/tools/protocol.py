"""The contract between batchrunner and a tool handler.

A handler is any callable that takes the call's arguments, already parsed from the model's JSON into one
``dict[str, Any]``, and returns either a ``str`` (sent back to the run as is) or any JSON-serialisable
value (sent back as ``json.dumps(value)``)::

    def lookup_order(arguments: dict[str, Any]) -> dict[str, Any]:
        order_id = arguments.get("order_id")
        if not isinstance(order_id, str):
            raise ToolInputError("'order_id' must be a string")
        return {"order_id": order_id, "status": "shipped"}

One dict rather than keyword arguments because the model chooses the keys: a handler written against
``**kwargs`` would turn a misspelt or extra key into a ``TypeError`` that reads like a bug in the handler,
and a key such as ``self`` or ``class`` could not be passed at all.

Handlers run on worker threads, several at a time, so they must be thread-safe. They are given a timeout
but cannot be killed when they overrun it (see ``batchrunner.tools.runner``), so a handler that does I/O
should set its own timeouts too.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ToolHandler(Protocol):
    """A callable that answers one tool call from its parsed JSON arguments."""

    def __call__(self, arguments: dict[str, Any], /) -> Any: ...


class ToolInputError(ValueError):
    """Raised by a handler when the model's arguments are wrong.

    The runner records it as outcome ``invalid_arguments`` rather than ``error``, so a model that misuses a
    tool is told apart from a handler that is broken. Its message goes back to the model, so it should say
    what a correct call looks like.
    """
