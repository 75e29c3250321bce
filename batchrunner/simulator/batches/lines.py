"""Answering one line of a batch through the simulator's Responses machinery.

A line is a synchronous `POST /responses` made at the moment the batch reaches it: the body is
validated as the endpoint validates it, its context resolved, and the response planned and
completed by `responses.create`, so its usage and output are exactly those of a direct answer. The
response is not kept (`GET /responses/{id}` does not find it), and a tool-calling answer is simply a
completed response with `function_call` items: a batch never continues it. A share of lines
(`batch_line_fail_rate`) meets a server error instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from batchrunner.simulator.batches.records import BatchLine
from batchrunner.simulator.errors import APIError, invalid, server_error
from batchrunner.simulator.responses.context import resolve_context
from batchrunner.simulator.responses.create import create_response
from batchrunner.simulator.responses.request import parse_create_response
from batchrunner.simulator.responses.tiers import check_flex_model
from batchrunner.simulator.state import Store

UNSUPPORTED_IN_BATCH = ("stream", "background")


@dataclass(frozen=True)
class LineAnswer:
    """The output-file line of one request, and the usage of its response (None when it failed)."""

    entry: dict[str, Any]
    status_code: int
    usage: dict[str, Any] | None


def _respond(store: Store, body: Any, at: float) -> dict[str, Any]:
    """The response object answering `body`, created and completed at `at`, or the APIError it raises."""
    spec = parse_create_response(body)
    for flag in UNSUPPORTED_IN_BATCH:
        if getattr(spec, flag):
            raise invalid(f"'{flag}' is not supported for requests in a batch.", flag)
    check_flex_model(store.config, spec.settings.model, spec.settings.service_tier)
    spec = replace(spec, store=False)
    record = create_response(store, spec, resolve_context(store, spec))
    record.created_at = at
    if record.completed_at is not None:
        record.completed_at = at
    return record.to_json()


def answer_line(store: Store, batch_id: str, line: BatchLine, at: float) -> LineAnswer:
    """Answer `line` of the batch as of time `at`."""
    digest = hashlib.sha256(f"{store.config.seed}:{batch_id}:{line.number}".encode()).hexdigest()
    request_id = f"req_{digest[:32]}"
    status, usage = 200, None
    try:
        if store.rng_for(f"{batch_id}:line:{line.number}").random() < store.config.batch_line_fail_rate:
            raise server_error(500)
        body = _respond(store, line.body, at)
        usage = body["usage"]
    except APIError as error:
        status, body = error.status, error.body()
    entry = {
        "id": store.new_id("batch_req"),
        "custom_id": line.custom_id,
        "response": {"status_code": status, "request_id": request_id, "body": body},
        "error": None,
    }
    return LineAnswer(entry, status, usage)


def unanswered_line(store: Store, line: BatchLine, code: str, message: str) -> dict[str, Any]:
    """The error-file line of a request the batch never answered (expired or cancelled)."""
    return {
        "id": store.new_id("batch_req"),
        "custom_id": line.custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }
