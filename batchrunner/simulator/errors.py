"""Errors the simulator answers with, shaped like OpenAI's `{"error": {...}}` bodies.

Handlers raise `APIError`; the app turns it into a JSON response. `DroppedConnection` is raised
on purpose to make the server (or the in-process transport) drop the connection.
"""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """An HTTP error response with an OpenAI error object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body, exactly the ErrorResponse schema."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class DroppedConnection(Exception):
    """Raised to drop the client's connection without a complete response (an injected fault)."""


def invalid(message: str, param: str | None) -> APIError:
    """A 400 invalid_request_error about one request field."""
    return APIError(400, message, param=param)


def not_found(kind: str, object_id: str) -> APIError:
    """A 404 for an id that names no object of this kind."""
    return APIError(404, f"No {kind} found with id '{object_id}'.")


def invalid_url(method: str, path: str) -> APIError:
    """The real API's answer to a route it does not serve."""
    return APIError(404, f"Invalid URL ({method} {path})")


def server_error(status: int) -> APIError:
    """An injected 500 or 503."""
    if status == 503:
        return APIError(503, "The server is overloaded or not ready yet.", type="server_error")
    return APIError(
        500,
        "The server had an error while processing your request. Sorry about that!",
        type="server_error",
    )
