"""The /v1 endpoints. Each handler runs under the store lock and returns a `Reply` or raises `APIError`.

Handlers that create runs (or resume them with tool outputs) first validate, then charge their
estimated tokens against tpm and the quota, and only then change state, so a 429 leaves no trace.
With `"stream": true` they attach an event queue to the run just before changing it and answer
with a `RunStream` instead of the run (see `streaming`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from batchrunner.simulator import lifecycle, request_bodies
from batchrunner.simulator.errors import invalid
from batchrunner.simulator.events import EventQueue, publish
from batchrunner.simulator.pagination import list_page
from batchrunner.simulator.ratelimit import RateLimiter
from batchrunner.simulator.records import Run
from batchrunner.simulator.runplan import (
    check_run_spec,
    create_run,
    ensure_no_active_run,
    estimate_request_tokens,
)
from batchrunner.simulator.state import Store
from batchrunner.simulator.stats import Stats
from batchrunner.simulator.streaming import RunStream
from batchrunner.simulator.textgen import content_text, estimate_tokens


@dataclass
class Call:
    """One API request as the handlers see it."""

    store: Store
    limiter: RateLimiter
    stats: Stats
    params: dict[str, str]
    query: Mapping[str, str]
    body: Any


@dataclass
class Reply:
    """A 200 answer: JSON body and extra headers, or a stream of events."""

    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    stream: RunStream | None = None


def _run_reply(call: Call, run: Run) -> Reply:
    return Reply(run.to_json(), {"openai-poll-after-ms": str(call.store.config.poll_after_ms)})


def _stream_reply(call: Call, run: Run, queue: EventQueue) -> Reply:
    return Reply({}, stream=RunStream(call.store, run, queue))


def _current_run(call: Call) -> Run:
    run = call.store.run(call.params["thread_id"], call.params["run_id"])
    lifecycle.advance(call.store, run)
    return run


def list_assistants(call: Call) -> Reply:
    return Reply(list_page(list(call.store.assistants.values()), call.query))


def create_assistant(call: Call) -> Reply:
    return Reply(call.store.create_assistant(request_bodies.parse_create_assistant(call.body)).to_json())


def get_assistant(call: Call) -> Reply:
    return Reply(call.store.assistant(call.params["assistant_id"]).to_json())


def create_thread(call: Call) -> Reply:
    spec = request_bodies.parse_create_thread(call.body if call.body is not None else {})
    return Reply(call.store.create_thread(spec).to_json())


def get_thread(call: Call) -> Reply:
    return Reply(call.store.thread(call.params["thread_id"]).to_json())


def create_thread_and_run(call: Call) -> Reply:
    spec = request_bodies.parse_create_thread_and_run(call.body)
    check_run_spec(call.store, spec.run)
    thread_texts = [content_text(message.content) for message in spec.thread.messages]
    call.limiter.charge_tokens(estimate_request_tokens(call.store, thread_texts, spec.run))
    thread = call.store.create_thread(spec.thread)
    queue = EventQueue() if spec.run.stream else None
    if queue is not None:
        publish([queue], "thread.created", thread.to_json())
    run = create_run(call.store, thread, spec.run, queue)
    call.stats.record_run(run.metadata)
    return _run_reply(call, run) if queue is None else _stream_reply(call, run, queue)


def list_messages(call: Call) -> Reply:
    store = call.store
    thread = store.thread(call.params["thread_id"])
    lifecycle.advance_thread(store, thread.id)
    messages = store.thread_messages(thread)
    run_id = call.query.get("run_id")
    if run_id:
        messages = [message for message in messages if message.run_id == run_id]
    return Reply(list_page(messages, call.query))


def create_message(call: Call) -> Reply:
    spec = request_bodies.parse_create_message(call.body)
    thread = call.store.thread(call.params["thread_id"])
    active = lifecycle.advance_thread(call.store, thread.id)
    if active is not None:
        raise invalid(f"Can't add messages to {thread.id} while a run {active.id} is active.", None)
    return Reply(call.store.add_message(thread, spec).to_json())


def get_message(call: Call) -> Reply:
    lifecycle.advance_thread(call.store, call.params["thread_id"])
    return Reply(call.store.message(call.params["thread_id"], call.params["message_id"]).to_json())


def list_runs(call: Call) -> Reply:
    store = call.store
    thread = store.thread(call.params["thread_id"])
    lifecycle.advance_thread(store, thread.id)
    return Reply(list_page([store.runs[run_id] for run_id in thread.run_ids], call.query))


def create_run_on_thread(call: Call) -> Reply:
    spec = request_bodies.parse_create_run(call.body)
    store = call.store
    thread = store.thread(call.params["thread_id"])
    check_run_spec(store, spec)
    ensure_no_active_run(store, thread)
    thread_texts = [message.text for message in store.thread_messages(thread)]
    call.limiter.charge_tokens(estimate_request_tokens(store, thread_texts, spec))
    queue = EventQueue() if spec.stream else None
    run = create_run(store, thread, spec, queue)
    call.stats.record_run(run.metadata)
    return _run_reply(call, run) if queue is None else _stream_reply(call, run, queue)


def get_run(call: Call) -> Reply:
    return _run_reply(call, _current_run(call))


def submit_tool_outputs(call: Call) -> Reply:
    request = request_bodies.parse_submit_tool_outputs(call.body)
    outputs = request.outputs
    run = _current_run(call)
    lifecycle.check_tool_outputs(run, outputs)
    call.limiter.charge_tokens(estimate_tokens("".join(output.output for output in outputs)))
    if not request.stream:
        lifecycle.submit_tool_outputs(call.store, run, outputs)
        return _run_reply(call, run)
    queue = EventQueue()
    run.listeners.append(queue)
    try:
        lifecycle.submit_tool_outputs(call.store, run, outputs)
    except BaseException:
        run.listeners[:] = [listener for listener in run.listeners if listener is not queue]
        raise
    return _stream_reply(call, run, queue)


def cancel_run(call: Call) -> Reply:
    run = _current_run(call)
    lifecycle.cancel(call.store, run)
    return _run_reply(call, run)


def list_steps(call: Call) -> Reply:
    run = _current_run(call)
    return Reply(list_page([call.store.steps[step_id] for step_id in run.step_ids], call.query))


def get_step(call: Call) -> Reply:
    run = _current_run(call)
    return Reply(call.store.step(run, call.params["step_id"]).to_json())


Handler = Callable[[Call], Reply]
RUN = "/v1/threads/{thread_id}/runs/{run_id}"
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/v1/assistants", list_assistants),
    ("POST", "/v1/assistants", create_assistant),
    ("GET", "/v1/assistants/{assistant_id}", get_assistant),
    ("POST", "/v1/threads", create_thread),
    ("POST", "/v1/threads/runs", create_thread_and_run),
    ("GET", "/v1/threads/{thread_id}", get_thread),
    ("GET", "/v1/threads/{thread_id}/messages", list_messages),
    ("POST", "/v1/threads/{thread_id}/messages", create_message),
    ("GET", "/v1/threads/{thread_id}/messages/{message_id}", get_message),
    ("GET", "/v1/threads/{thread_id}/runs", list_runs),
    ("POST", "/v1/threads/{thread_id}/runs", create_run_on_thread),
    ("GET", RUN, get_run),
    ("POST", f"{RUN}/submit_tool_outputs", submit_tool_outputs),
    ("POST", f"{RUN}/cancel", cancel_run),
    ("GET", f"{RUN}/steps", list_steps),
    ("GET", f"{RUN}/steps/{{step_id}}", get_step),
)
