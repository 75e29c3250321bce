"""The /v1/batches endpoints: create, retrieve, list (cursor pagination), cancel.

Creating checks the request and the input file's object (it must exist and have purpose `batch`)
and answers 400 otherwise, as the API does; the file's lines are read at once but their errors only
show when validation ends (the batch turns `failed`). The batch's schedule is fixed here, from an
RNG private to it: the shuffled order its lines are answered in (the API writes output lines in
any order), and whether it is one of the `batch_expire_rate` batches too slow for their window.
"""

from __future__ import annotations

from collections.abc import Callable

from batchrunner.simulator.batches import lifecycle
from batchrunner.simulator.batches.inputs import read_input
from batchrunner.simulator.batches.records import BatchRecord
from batchrunner.simulator.errors import APIError, invalid
from batchrunner.simulator.files.records import find_file
from batchrunner.simulator.handlers import Call
from batchrunner.simulator.pagination import list_page
from batchrunner.simulator.responses.items import reject_unknown
from batchrunner.simulator.responses.replies import ResponsesReply
from batchrunner.simulator.state import Store
from batchrunner.simulator.validation import check_enum, expect_object, get_metadata, get_string, require

BATCH_ENDPOINTS = (
    "/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/moderations",
    "/v1/images/generations", "/v1/images/edits", "/v1/videos",
)  # fmt: skip
SERVED_ENDPOINT = "/v1/responses"
CREATE_KEYS = ("input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after")
# An expiring batch gets through this share of its lines (drawn per batch) before its window ends.
EXPIRING_PROGRESS = (0.2, 0.8)


def _line_interval(store: Store, batch_id: str, lines: int) -> float:
    """Seconds between two answered lines; an expiring batch's are stretched past its window."""
    config = store.config
    rng = store.rng_for(f"{batch_id}:schedule")
    if rng.random() >= config.batch_expire_rate:
        return config.batch_line_s
    share = rng.uniform(*EXPIRING_PROGRESS)
    running = max(config.batch_window_s - config.batch_validating_s, 1e-9)
    # Line k is due at (k + 1) * interval: exactly `done` of them fit in the running time.
    done = int(lines * share)
    return running / (done + 0.5)


def create_batch(call: Call) -> ResponsesReply:
    body = expect_object(call.body, "")
    reject_unknown(body, CREATE_KEYS, "")
    for key in ("input_file_id", "endpoint", "completion_window"):
        require(body, key, "")
    file_id = str(get_string(body, "input_file_id", nullable=False))
    endpoint = check_enum(body["endpoint"], "endpoint", BATCH_ENDPOINTS)
    window = check_enum(body["completion_window"], "completion_window", ("24h",))
    metadata = get_metadata(body) or {}
    if body.get("output_expires_after") is not None:
        expect_object(body["output_expires_after"], "output_expires_after")
    if endpoint != SERVED_ENDPOINT:
        raise invalid(f"The simulator serves batches of '{SERVED_ENDPOINT}' only, not '{endpoint}'.", "endpoint")
    store = call.store
    upload = find_file(store, file_id)
    if upload is None:
        raise APIError(400, f"Invalid 'input_file_id': no file with id '{file_id}'.", param="input_file_id")
    if upload.purpose != "batch":
        raise invalid(f"The input file must be uploaded with purpose 'batch', not '{upload.purpose}'.", "input_file_id")
    parsed = read_input(upload.content, endpoint)
    batch_id = store.new_id("batch")
    order = list(range(len(parsed.lines)))
    store.rng_for(f"{batch_id}:order").shuffle(order)
    now = store.now()
    batch = BatchRecord(
        id=batch_id,
        input_file_id=file_id,
        endpoint=endpoint,
        completion_window=window,
        metadata=metadata,
        created_at=now,
        expires_at=now + store.config.batch_window_s,
        lines=parsed.lines,
        validation_errors=parsed.errors,
        model=parsed.model,
        order=order,
        line_interval=_line_interval(store, batch_id, len(order)),
    )
    store.batches[batch.id] = batch
    call.stats.record_batch(metadata)
    lifecycle.advance(store, batch)
    return ResponsesReply(batch.to_json())


def retrieve_batch(call: Call) -> ResponsesReply:
    return ResponsesReply(lifecycle.get_batch(call.store, call.params["batch_id"]).to_json())


def list_batches(call: Call) -> ResponsesReply:
    for key in call.query:
        if key not in ("after", "limit"):
            raise invalid(f"Unrecognized query parameter: '{key}'.", key)
    batches = list(call.store.batches.values())
    for batch in batches:
        lifecycle.advance(call.store, batch)
    # Newest first, as the API lists batches.
    return ResponsesReply(list_page(batches, {**call.query, "order": "desc"}))


def cancel_batch(call: Call) -> ResponsesReply:
    batch = lifecycle.get_batch(call.store, call.params["batch_id"])
    lifecycle.cancel(call.store, batch)
    return ResponsesReply(batch.to_json())


BATCH = "/v1/batches/{batch_id}"
ROUTES: tuple[tuple[str, str, Callable[[Call], ResponsesReply]], ...] = (
    ("POST", "/v1/batches", create_batch),
    ("GET", "/v1/batches", list_batches),
    ("GET", BATCH, retrieve_batch),
    ("POST", f"{BATCH}/cancel", cancel_batch),
)
