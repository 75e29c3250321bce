"""How a response moves through its statuses, computed lazily from the clock, as a run's does.

Nothing runs in the background: every read first calls `advance(store, record)`, which applies the
transitions whose time has come (queued -> in_progress at `started_at`, then the terminal status at
`ends_at`, at the times the plan fixed). A response that ends `completed` or `incomplete` appends
its input and output items to its conversation; any end frees the conversation for the next one.
Cancelling is immediate (the Responses API has no `cancelling`) and keeps the partial output.

A response created with `"stream": true` logs each change as a ResponseStreamEvent, numbered from
0 by `sequence_number` (its index in `record.events`); its streams send the log and replays resend it.
Lookups drop responses whose retention has passed: they are gone, as on the real API.
"""

from __future__ import annotations

import json
import re
from typing import Any

from batchrunner.simulator.errors import APIError, invalid
from batchrunner.simulator.events import StreamEvent
from batchrunner.simulator.lifecycle import FAILURE_MESSAGES
from batchrunner.simulator.responses.plan import fit_output
from batchrunner.simulator.responses.records import Conversation, ResponseRecord, StoredItem
from batchrunner.simulator.state import Store

# Background responses without `store` are kept about 10 minutes (the newer background guides).
UNSTORED_RETENTION_S = 600.0
DELTA_WORDS = 8
_WORDS = re.compile(r"\S+\s*")


def response_not_found(response_id: str) -> APIError:
    return APIError(404, f"Response with id '{response_id}' not found.")


def find_response(store: Store, response_id: str) -> ResponseRecord | None:
    """The stored response advanced to now, or None (unknown, deleted, or past its retention)."""
    record = store.responses.get(response_id)
    if record is None:
        return None
    if store.now() >= record.expires_at:
        forget(store, record)
        return None
    advance(store, record)
    return record


def get_response(store: Store, response_id: str) -> ResponseRecord:
    """The response advanced to now, or a 404."""
    record = find_response(store, response_id)
    if record is None:
        raise response_not_found(response_id)
    return record


def forget(store: Store, record: ResponseRecord) -> None:
    """Drop a response from the store (deleted or expired), freeing its conversation."""
    store.responses.pop(record.id, None)
    _release(store, record)


def get_conversation(store: Store, conversation_id: str, param: str | None = None) -> Conversation:
    """The conversation, or a 404."""
    found = store.conversations.get(conversation_id)
    if found is None:
        raise APIError(404, f"Conversation with id '{conversation_id}' not found.", param=param)
    return found


def emit(record: ResponseRecord, kind: str, **fields: Any) -> None:
    """Log a stream event (only for responses created with `stream`)."""
    if not record.stream:
        return
    body = {"type": kind, **fields, "sequence_number": len(record.events)}
    record.events.append(StreamEvent(kind, json.dumps(body, separators=(",", ":"))))


def emit_response(record: ResponseRecord, kind: str) -> None:
    if record.stream:
        emit(record, kind, response=record.to_json())


def start(store: Store, record: ResponseRecord) -> None:
    """The first events of a new response, then whatever is already due (all of it, when synchronous)."""
    if record.background:
        emit_response(record, "response.queued")
    else:
        record.status = "in_progress"
    emit_response(record, "response.created")
    if not record.background:
        emit_response(record, "response.in_progress")
    advance(store, record)


def next_due(record: ResponseRecord) -> float | None:
    """When `advance` will next change the response on its own (None once it has ended)."""
    if record.status == "queued":
        return record.started_at
    if record.status == "in_progress":
        return record.ends_at
    return None


def advance(store: Store, record: ResponseRecord) -> None:
    """Apply every transition due by now."""
    now = store.now()
    if record.status == "queued" and now >= record.started_at:
        record.status = "in_progress"
        emit_response(record, "response.in_progress")
    if record.status == "in_progress" and now >= record.ends_at:
        _finish(store, record, record.ends_at)


def _usage(record: ResponseRecord, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": record.input_tokens,
        "input_tokens_details": {"cached_tokens": record.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": record.input_tokens + output_tokens,
    }


def _finish(store: Store, record: ResponseRecord, at: float) -> None:
    plan = record.plan
    if plan.outcome == "failed":
        assert plan.failure_code is not None
        record.status = "failed"
        record.error = {"code": plan.failure_code, "message": FAILURE_MESSAGES[plan.failure_code]}
        record.usage = _usage(record, 0)
        _release(store, record)
        emit_response(record, "response.failed")
        return
    budget = record.settings.max_output_tokens
    if plan.outcome == "incomplete":
        half = sum(plan.costs) // 2
        budget = half if budget is None else min(budget, half)
    output, tokens, cut = fit_output(plan, budget, "incomplete")
    for index, item in enumerate(output):
        _emit_item(record, index, item)
        record.output.append(item)
    record.usage = _usage(record, tokens)
    if cut:
        record.status, record.incomplete_reason = "incomplete", "max_output_tokens"
    else:
        record.status, record.completed_at = "completed", at
    conversation = store.conversations.get(record.conversation_id or "")
    if conversation is not None:
        conversation.items.extend(record.input_items)
        conversation.items.extend(StoredItem(item["id"], item) for item in output)
    _release(store, record)
    emit_response(record, f"response.{record.status}")


def _chunks(text: str) -> list[str]:
    words = _WORDS.findall(text)
    return ["".join(words[index : index + DELTA_WORDS]) for index in range(0, len(words), DELTA_WORDS)] or [""]


def _emit_item(record: ResponseRecord, index: int, item: dict[str, Any]) -> None:
    """The events of one output item, from `output_item.added` to `output_item.done`."""
    if not record.stream:
        return
    item_id = item["id"]
    if item["type"] == "message":
        emit(
            record,
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress", "content": []},
        )
        part = item["content"][0]
        at = {"item_id": item_id, "output_index": index, "content_index": 0}
        emit(record, "response.content_part.added", **at, part={**part, "text": ""})
        for delta in _chunks(part["text"]):
            emit(record, "response.output_text.delta", **at, delta=delta, logprobs=[])
        emit(record, "response.output_text.done", **at, text=part["text"], logprobs=[])
        emit(record, "response.content_part.done", **at, part=part)
    else:
        started = {**item, "arguments": "", "status": "in_progress"}
        emit(record, "response.output_item.added", output_index=index, item=started)
        emit(
            record,
            "response.function_call_arguments.delta",
            item_id=item_id,
            output_index=index,
            delta=item["arguments"],
        )
        emit(
            record,
            "response.function_call_arguments.done",
            item_id=item_id,
            name=item["name"],
            output_index=index,
            arguments=item["arguments"],
        )
    emit(record, "response.output_item.done", output_index=index, item=item)


def _release(store: Store, record: ResponseRecord) -> None:
    conversation = store.conversations.get(record.conversation_id or "")
    if conversation is not None and conversation.active_response_id == record.id:
        conversation.active_response_id = None


def cancel(store: Store, record: ResponseRecord) -> None:
    """Cancel a queued or in-progress background response; an ended one stays as it is."""
    if not record.background:
        raise invalid("Cannot cancel a synchronous response.", None)
    advance(store, record)
    if not record.active:
        return
    if record.status == "in_progress" and record.plan.outcome != "failed":
        done = (store.now() - record.started_at) / record.plan.work_seconds if record.plan.work_seconds else 0.0
        output, _, _ = fit_output(record.plan, int(sum(record.plan.costs) * done), "in_progress")
        record.output = output
    record.status = "cancelled"
    _release(store, record)
