"""Creating a response from a validated request and its resolved context."""

from __future__ import annotations

from batchrunner.simulator.responses.context import Context
from batchrunner.simulator.responses.items import store_items
from batchrunner.simulator.responses.lifecycle import UNSTORED_RETENTION_S, start
from batchrunner.simulator.responses.plan import draw_plan
from batchrunner.simulator.responses.records import ResponseRecord
from batchrunner.simulator.responses.request import ResponseSpec
from batchrunner.simulator.responses.tiers import window_slowdown
from batchrunner.simulator.state import Store


def create_response(store: Store, spec: ResponseSpec, context: Context) -> ResponseRecord:
    """A new response, queued (background) or already answered (synchronous).

    Stored responses stay retrievable for `response_retention_s`; a background one without `store`
    for about 10 minutes; a synchronous one without `store` is not kept at all.
    """
    response_id = store.new_id("resp")
    input_items = store_items(store, spec.input)
    plan = draw_plan(store, response_id, spec.settings, spec.background, context.user_text, context.tool_results)
    slowdown = window_slowdown(store.config, spec.settings.background_options)
    plan.queue_seconds *= slowdown
    plan.work_seconds *= slowdown
    plan.answer_seconds *= slowdown
    now = store.now()
    retention = store.config.response_retention_s if spec.store else UNSTORED_RETENTION_S
    record = ResponseRecord(
        id=response_id,
        created_at=now,
        settings=spec.settings,
        background=spec.background,
        store=spec.store,
        stream=spec.stream,
        previous_response_id=spec.previous_response_id,
        conversation_id=spec.conversation_id,
        input_items=input_items,
        context=context.base + [item.body for item in input_items],
        input_tokens=context.input_tokens,
        cached_tokens=context.cached_tokens,
        plan=plan,
        expires_at=now + retention,
    )
    if spec.store or spec.background:
        store.responses[record.id] = record
    conversation = store.conversations.get(spec.conversation_id or "")
    if conversation is not None:
        conversation.active_response_id = record.id
    start(store, record)
    return record
