"""An API outage for tests: a transport in front of another that can answer 503 or refuse every connection."""

from __future__ import annotations

from enum import StrEnum

import httpx


class Outage(StrEnum):
    NONE = "none"
    SERVER_ERRORS = "5xx"
    REFUSED = "refused"


class OutageTransport(httpx.BaseTransport):
    """Passes requests to ``inner`` unless ``outage`` says the API is down; ``requests_during_outage`` counts."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner
        self.outage = Outage.NONE
        self.requests_during_outage = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.outage is Outage.NONE:
            return self._inner.handle_request(request)
        self.requests_during_outage += 1
        if self.outage is Outage.REFUSED:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        body = {"error": {"message": "The server is temporarily unavailable.", "type": "server_error", "code": None}}
        return httpx.Response(503, json=body, request=request)

    def close(self) -> None:
        self._inner.close()


__all__ = ["Outage", "OutageTransport"]
