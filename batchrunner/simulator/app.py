"""The simulator as an ASGI (Starlette) app: /v1 is the Assistants, Responses, Conversations, Files and
Batch APIs, /_sim has its stats.

Every /v1 request goes through the same pipeline: match the route, draw its faults, check the
`OpenAI-Beta` header (Assistants routes only), the quota and the requests-per-minute budget, then run
the handler under the store lock. Sleeps for slow responses happen outside the lock. A streamed run or
response (`"stream": true`) takes the same path; its 200 is then a `text/event-stream` of its events
(see `streaming` and `responses.streaming`). Replies of every API but Assistants also carry
`openai-processing-ms`, and never the Assistants-only `openai-poll-after-ms`. A file upload's
multipart body is decoded by `multipart`; a file's content is answered as raw bytes. A flex request
that meets a capacity shortage is answered before the rate limits are consulted (see `responses.tiers`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from batchrunner.simulator import lifecycle
from batchrunner.simulator.batches import handlers as batches_handlers
from batchrunner.simulator.batches import lifecycle as batches_lifecycle
from batchrunner.simulator.config import SimConfig
from batchrunner.simulator.errors import APIError, DroppedConnection, invalid_url, server_error
from batchrunner.simulator.faults import NO_FAULT, FaultPlan, draw_faults
from batchrunner.simulator.files import handlers as files_handlers
from batchrunner.simulator.files.handlers import ContentReply
from batchrunner.simulator.handlers import ROUTES, Call, Reply
from batchrunner.simulator.metering import metered_model
from batchrunner.simulator.multipart import is_multipart, parse_form
from batchrunner.simulator.ratelimit import RateLimiters
from batchrunner.simulator.responses import handlers as responses_handlers
from batchrunner.simulator.responses import lifecycle as responses_lifecycle
from batchrunner.simulator.responses.replies import ResponsesReply
from batchrunner.simulator.responses.tiers import asks_flex_capacity, draw_flex_shortage
from batchrunner.simulator.router import Route as ApiRoute
from batchrunner.simulator.router import Router
from batchrunner.simulator.state import Store
from batchrunner.simulator.stats import Stats
from batchrunner.simulator.streaming import EventSource, EventStreamResponse

logger = logging.getLogger(__name__)
BETA_MESSAGE = (
    "You must provide the 'OpenAI-Beta' header to access the Assistants API. "
    "Please try again by setting the header 'OpenAI-Beta: assistants=v2'."
)
HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# The range of `openai-processing-ms` of requests that do not wait for a model.
PROCESSING_MS = (15, 250)


@dataclass(frozen=True)
class Endpoint:
    """A route's handler and the API it belongs to ("assistants", "responses", "files" or "batches")."""

    handler: Callable[[Call], Reply | ResponsesReply | ContentReply]
    api: str


def _endpoints() -> list[tuple[str, str, Endpoint]]:
    tables: list[tuple[str, tuple[tuple[str, str, Callable[[Call], Reply | ResponsesReply | ContentReply]], ...]]] = [
        ("assistants", ROUTES),
        ("responses", responses_handlers.ROUTES),
        ("files", files_handlers.ROUTES),
        ("batches", batches_handlers.ROUTES),
    ]
    return [(method, path, Endpoint(handler, api)) for api, table in tables for method, path, handler in table]


@dataclass
class Pending:
    """A request whose route and faults are known but which has not been served yet."""

    method: str
    path: str
    number: int
    route: ApiRoute[Endpoint] | None = None
    params: dict[str, str] = field(default_factory=dict)
    faults: FaultPlan = NO_FAULT


@dataclass
class Outcome:
    """What to send back: a JSON response, a stream of events, or nothing (a dropped connection)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    stream: EventSource | None = None
    model: str | None = None  # the model whose limits metered the request (see `metering`)
    content: ContentReply | None = None  # a file's raw bytes instead of a JSON body


class Simulator:
    """The state and the request pipeline of one simulated API server."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.store = Store(config)
        self.limiters = RateLimiters(config.limits_of, config.quota_tokens, config.clock)
        self.stats = Stats()
        self.router: Router[Endpoint] = Router(_endpoints())
        self._requests_seen = 0
        # Set when the server shuts down: open run streams end (without `done`) so it need not wait for them.
        self.stopping = threading.Event()

    def prepare(self, method: str, path: str) -> Pending:
        """Number the request, match its route and draw its faults."""
        with self.store.lock:
            self._requests_seen += 1
            pending = Pending(method, path, self._requests_seen)
            matched = self.router.match(method, path)
            if matched is not None:
                pending.route, pending.params = matched
                pending.faults = draw_faults(self.config, pending.number)
            return pending

    def execute(self, pending: Pending, query: Mapping[str, str], headers: Mapping[str, str], raw: bytes) -> Outcome:
        """Serve the request, apply its 5xx or drop fault, count it, and add the common headers."""
        with self.store.lock:
            route, faults = pending.route, pending.faults
            if route is None:
                outcome = _error(invalid_url(pending.method, pending.path))
                name = f"{pending.method} <unmatched>"
            elif faults.kind != "none" and not faults.after_work:
                outcome, name = self._fault(faults), route.name
            else:
                outcome, name = self._serve(route, pending, query, headers, raw), route.name
                if faults.kind != "none":
                    if outcome.stream is not None:  # the work is done, but the client will not see it
                        outcome.stream.close()
                    outcome = self._fault(faults)
            self.stats.record_request(name, "dropped" if outcome.drop else outcome.status)
            outcome.headers.update(self.limiters.for_model(outcome.model).headers())
            digest = hashlib.sha256(f"{self.config.seed}:{pending.number}".encode()).hexdigest()
            outcome.headers["x-request-id"] = f"req_{digest[:32]}"
            if route is not None and route.handler.api != "assistants":
                outcome.headers.setdefault("openai-processing-ms", str(self._processing_ms(pending.number)))
            return outcome

    def _processing_ms(self, number: int) -> int:
        """A plausible server time for the `number`-th request, drawn from (seed, request number)."""
        return random.Random(f"{self.config.seed}:processing:{number}").randint(*PROCESSING_MS)

    @staticmethod
    def _fault(faults: FaultPlan) -> Outcome:
        if faults.kind == "drop":
            return Outcome(0, {}, drop=True)
        return _error(server_error(faults.status))

    def _serve(
        self,
        route: ApiRoute[Endpoint],
        pending: Pending,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        raw: bytes,
    ) -> Outcome:
        model: str | None = None
        params = pending.params
        try:
            endpoint = route.handler
            beta = headers.get("openai-beta", "")
            if endpoint.api == "assistants" and self.config.require_beta_header and "assistants=v2" not in beta:
                raise APIError(400, BETA_MESSAGE, code="invalid_beta")
            content_type = headers.get("content-type", "")
            body = parse_form(content_type, raw) if is_multipart(content_type) else _decode(raw)
            if route.name == "POST /v1/responses" and asks_flex_capacity(self.config, body):
                try:
                    draw_flex_shortage(self.config, pending.number)
                except APIError as shortage:
                    self.stats.record_flex_unavailable()
                    return _error(shortage)
            model = metered_model(route.name, params, body, self.store)
            model = model if model in self.config.limited_models else None  # others share the default
            limiter = self.limiters.for_model(model)
            limiter.check_quota()
            limiter.admit_request()
            reply = endpoint.handler(Call(self.store, limiter, self.stats, params, query, body))
            self.stats.record_metered(model, limited=False)
            if isinstance(reply, ContentReply):
                return Outcome(200, {}, dict(reply.headers), model=model, content=reply)
            return Outcome(200, reply.body, dict(reply.headers), stream=reply.stream, model=model)
        except APIError as error:
            if error.status == 429:
                self.stats.record_rate_limited(error.type)
                self.stats.record_metered(model, limited=True)
            return _error(error, model=model)
        except Exception:
            logger.exception("simulator bug while serving %s", route.name)
            return _error(server_error(500))

    def stats_snapshot(self) -> dict[str, Any]:
        """The /_sim/stats body, with every run, response and batch advanced to now."""
        with self.store.lock:
            for run in self.store.runs.values():
                lifecycle.advance(self.store, run)
            active = sum(1 for run in self.store.runs.values() if run.active)
            active_responses = 0
            for response_id in list(self.store.responses):
                record = responses_lifecycle.find_response(self.store, response_id)
                if record is not None and record.active:
                    active_responses += 1
            for batch in self.store.batches.values():
                batches_lifecycle.advance(self.store, batch)
            active_batches = sum(1 for batch in self.store.batches.values() if batch.active)
            return self.stats.snapshot(active, active_responses, active_batches)

    def reset_stats(self) -> None:
        with self.store.lock:
            self.stats.reset()


def _error(error: APIError, *, model: str | None = None) -> Outcome:
    return Outcome(error.status, error.body(), dict(error.headers), model=model)


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise APIError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
            "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
            "valid JSON.)",
        ) from None


class DropConnection(Response):
    """Starts a response and then fails, which makes the server close the socket mid-answer."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise DroppedConnection("injected fault: connection dropped")


def create_app(config: SimConfig | None = None) -> Starlette:
    """A new simulator (fresh state from the catalogue) as an ASGI app; `app.state.simulator` is its core."""
    simulator = Simulator(config or SimConfig())

    async def api(request: Request) -> Response:
        pending = simulator.prepare(request.method, request.url.path)
        raw = await request.body()
        faults = pending.faults
        if faults.slow_seconds and not faults.slow_after_work:
            await anyio.sleep(faults.slow_seconds)
        outcome = simulator.execute(pending, request.query_params, request.headers, raw)
        try:
            if faults.slow_seconds and faults.slow_after_work:
                await anyio.sleep(faults.slow_seconds)
        except BaseException:
            if outcome.stream is not None:
                outcome.stream.close()
            raise
        if outcome.drop:
            return DropConnection()
        if outcome.stream is not None:
            return EventStreamResponse(outcome.stream, outcome.headers, simulator.stopping)
        if outcome.content is not None:
            return Response(outcome.content.content, 200, outcome.headers, media_type=outcome.content.media_type)
        return JSONResponse(outcome.body, outcome.status, headers=outcome.headers)

    async def stats(request: Request) -> Response:
        return JSONResponse(simulator.stats_snapshot())

    async def reset(request: Request) -> Response:
        simulator.reset_stats()
        return JSONResponse({"reset": True})

    app = Starlette(
        routes=[
            Route("/_sim/stats", stats, methods=["GET"]),
            Route("/_sim/reset", reset, methods=["POST"]),
            Route("/{path:path}", api, methods=HTTP_METHODS),
        ]
    )
    app.state.simulator = simulator
    return app
