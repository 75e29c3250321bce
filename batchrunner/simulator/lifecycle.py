"""How a run moves through its statuses, computed lazily from the clock.

Nothing runs in the background: every request first calls `advance(store, run)`, which replays the
transitions whose time has come (queued -> in_progress -> requires_action | completed | failed |
incomplete, expiry, the end of cancelling) at the times the run's plan fixed when it was created.
A run makes at most two model turns: the first may end in a tool round, the second answers.

Every change is also published to the run's open streams (`events`), in the order it happens: run
status changes (`thread.run.<status>`), steps (`thread.run.step.created` and the status a step ends
in) and assistant messages (`thread.message.created`, then `completed` or `incomplete`).
"""

from __future__ import annotations

from typing import Any

from batchrunner.simulator.errors import invalid
from batchrunner.simulator.events import publish
from batchrunner.simulator.records import TERMINAL_RUN_STATUSES, Message, Run, Step, Usage
from batchrunner.simulator.request_bodies import ToolOutput
from batchrunner.simulator.state import Store
from batchrunner.simulator.textgen import (
    compose_reply,
    compose_tool_reply,
    estimate_tokens,
    truncate_to_tokens,
)

CANCELLING_SECONDS = 1.0
FAILURE_MESSAGES = {
    "rate_limit_exceeded": "Rate limit reached for the model. Please try again later.",
    "server_error": "Sorry, something went wrong.",
}


def publish_run(run: Run, name: str | None = None) -> None:
    """Tell the run's streams about it: event `name`, by default the one of its current status."""
    if run.listeners:
        publish(run.listeners, name or f"thread.run.{run.status}", run.to_json())


def _publish_step(run: Run, step: Step, what: str | None = None) -> None:
    if run.listeners:
        publish(run.listeners, f"thread.run.step.{what or step.status}", step.to_json())


def next_due(run: Run) -> float | None:
    """When `advance` will next change the run on its own (None once it has ended)."""
    if run.status == "cancelling":
        return run.cancel_done_at
    if run.status == "requires_action":
        return run.expires_at
    if run.status == "queued":
        return min(run.created_at + run.plan.queue_seconds, run.expires_at)
    if run.status == "in_progress":
        return min(run.turn_ends_at, run.expires_at)
    return None


def advance(store: Store, run: Run) -> None:
    """Apply every transition due by now."""
    now = store.now()
    while run.status not in TERMINAL_RUN_STATUSES:
        if run.status == "cancelling":
            if run.cancel_done_at is not None and now >= run.cancel_done_at:
                _finish(store, run, "cancelled", run.cancel_done_at)
            return
        if run.status == "requires_action":
            if now >= run.expires_at:
                _finish(store, run, "expired", run.expires_at)
            return
        due = run.turn_ends_at if run.status == "in_progress" else (run.created_at + run.plan.queue_seconds)
        if run.expires_at <= due and now >= run.expires_at:
            _finish(store, run, "expired", run.expires_at)
            return
        if now < due:
            return
        if run.status == "queued":
            run.status = "in_progress"
            run.started_at = due
            publish_run(run)
        else:
            _end_turn(store, run, due)


def advance_thread(store: Store, thread_id: str) -> Run | None:
    """Advance the thread's runs; return its active run, if any."""
    active = None
    for run_id in store.thread(thread_id).run_ids:
        run = store.runs[run_id]
        advance(store, run)
        if run.active:
            active = run
    return active


def _turn_prompt_tokens(run: Run) -> int:
    """The prompt of the current turn: the context, plus the tool round once it happened."""
    if run.turn == 1:
        return run.context_prompt_tokens
    round_text = "".join(call.name + call.arguments for call in run.plan.calls)
    outputs_text = "".join(output for _, output in run.tool_results)
    return run.context_prompt_tokens + estimate_tokens(round_text) + estimate_tokens(outputs_text)


def _end_turn(store: Store, run: Run, at: float) -> None:
    if run.turn == 1 and run.plan.failure_code is not None:
        code = run.plan.failure_code
        run.last_error = {"code": code, "message": FAILURE_MESSAGES[code]}
        _finish(store, run, "failed", at)
        return
    prompt = _turn_prompt_tokens(run)
    if run.max_prompt_tokens is not None and run.spent.prompt_tokens + prompt > run.max_prompt_tokens:
        run.incomplete_reason = "max_prompt_tokens"
        _finish(store, run, "incomplete", at)
        return
    if run.turn == 1 and run.plan.calls:
        _request_tool_outputs(store, run, at, prompt)
        return
    _create_answer(store, run, at, prompt)


def _new_step(store: Store, run: Run, at: float, step_type: str, details: dict[str, Any]) -> Step:
    step = Step(
        id=store.new_id("step"),
        created_at=at,
        run_id=run.id,
        thread_id=run.thread_id,
        assistant_id=run.assistant_id,
        type=step_type,
        step_details=dict(details),
    )
    store.steps[step.id] = step
    run.step_ids.append(step.id)
    return step


def _request_tool_outputs(store: Store, run: Run, at: float, prompt: int) -> None:
    call_ids = [store.new_id("call") for _ in run.plan.calls]
    pairs = list(zip(call_ids, run.plan.calls, strict=True))
    calls: list[dict[str, Any]] = [
        {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
        for call_id, call in pairs
    ]
    step_calls = [
        {
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments, "output": None},
        }
        for call_id, call in pairs
    ]
    step = _new_step(store, run, at, "tool_calls", {"type": "tool_calls", "tool_calls": step_calls})
    _publish_step(run, step, "created")
    completion = estimate_tokens("".join(call.name + call.arguments for call in run.plan.calls))
    # Held back until the step ends: a step's usage is null while it is in progress.
    run.tool_step_id = step.id
    run.spent_pending = Usage(prompt, completion)
    run.status = "requires_action"
    run.required_action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}
    publish_run(run)


def _create_answer(store: Store, run: Run, at: float, prompt: int) -> None:
    if run.tool_results:
        reply = compose_tool_reply(run.tool_results)
    else:
        reply = compose_reply(run.user_text, run.plan.rng, run.response_format)
    completion = estimate_tokens(reply)
    budget = None if run.max_completion_tokens is None else run.max_completion_tokens - run.spent.completion_tokens
    cut_short = budget is not None and completion > budget
    if budget is not None and cut_short:
        reply, completion = truncate_to_tokens(reply, budget), max(budget, 0)
    message = Message(
        id=store.new_id("msg"),
        created_at=at,
        thread_id=run.thread_id,
        role="assistant",
        content=[{"type": "text", "text": {"value": reply, "annotations": []}}],
        assistant_id=run.assistant_id,
        run_id=run.id,
        status="incomplete" if cut_short else "completed",
        completed_at=None if cut_short else at,
        incomplete_at=at if cut_short else None,
        incomplete_reason="max_tokens" if cut_short else None,
    )
    store.messages[message.id] = message
    store.thread(run.thread_id).message_ids.append(message.id)
    step = _new_step(
        store,
        run,
        at,
        "message_creation",
        {"type": "message_creation", "message_creation": {"message_id": message.id}},
    )
    if run.listeners:
        _publish_step(run, step, "created")
        publish(run.listeners, "thread.message.created", _as_started(message))
        publish(run.listeners, f"thread.message.{message.status}", message.to_json())
    step.status, step.completed_at, step.usage = "completed", at, Usage(prompt, completion)
    _publish_step(run, step)
    run.spent = run.spent + step.usage
    if cut_short:
        run.incomplete_reason = "max_completion_tokens"
        _finish(store, run, "incomplete", at)
    else:
        _finish(store, run, "completed", at)


def _as_started(message: Message) -> dict[str, Any]:
    """The message as `thread.message.created` shows it: in progress, still empty (it is written at once)."""
    started = message.to_json()
    started.update(status="in_progress", content=[], incomplete_details=None, completed_at=None, incomplete_at=None)
    return started


def _finish(store: Store, run: Run, status: str, at: float) -> None:
    """Enter a terminal status and close the steps still in progress."""
    run.status = status
    run.required_action = None
    step_status = {"failed": "failed", "expired": "expired", "cancelled": "cancelled"}.get(status, "completed")
    for step_id in run.step_ids:
        step = store.steps[step_id]
        if step.status != "in_progress":
            continue
        # The only step that can be in progress is a tool round: its turn was spent all the same.
        step.status, step.usage = step_status, run.spent_pending
        run.spent = run.spent + run.spent_pending
        if status == "failed":
            step.failed_at, step.last_error = at, run.last_error
        elif status == "expired":
            step.expired_at = at
        elif status == "cancelled":
            step.cancelled_at = at
        _publish_step(run, step)
    if status == "failed":
        run.failed_at = at
    elif status == "cancelled":
        run.cancelled_at = at
    elif status in ("completed", "incomplete"):
        run.completed_at = at
    # The real API stops showing an expiry once a run has ended any other way than expiring.
    run.expires_shown = status == "expired"
    publish_run(run)


def check_tool_outputs(run: Run, outputs: list[ToolOutput]) -> None:
    """400 unless the run waits for tool outputs and these answer each of its calls exactly once."""
    if run.status != "requires_action" or run.required_action is None:
        raise invalid(f'Runs in status "{run.status}" do not accept tool outputs.', None)
    expected = [call["id"] for call in run.required_action["submit_tool_outputs"]["tool_calls"]]
    given = [output.tool_call_id for output in outputs]
    if sorted(given) != sorted(expected):
        raise invalid(f"Expected tool outputs for call_ids {expected}, got {given}", "tool_outputs")


def submit_tool_outputs(store: Store, run: Run, outputs: list[ToolOutput]) -> None:
    """Accept the outputs of the pending tool calls and resume the run."""
    advance(store, run)
    check_tool_outputs(run, outputs)
    assert run.tool_step_id is not None
    now = store.now()
    by_id = {output.tool_call_id: output.output for output in outputs}
    step = store.steps[run.tool_step_id]
    for call in step.step_details["tool_calls"]:
        call["function"]["output"] = by_id[call["id"]]
    run.tool_results = [(call["function"]["name"], by_id[call["id"]]) for call in step.step_details["tool_calls"]]
    step.status, step.completed_at, step.usage = "completed", now, run.spent_pending
    _publish_step(run, step)
    run.spent = run.spent + run.spent_pending
    run.required_action = None
    run.status = "in_progress"
    run.turn = 2
    run.turn_ends_at = now + run.plan.second_turn_seconds
    publish_run(run)
    advance(store, run)


def cancel(store: Store, run: Run) -> None:
    """Start cancelling an active run; it is `cancelled` CANCELLING_SECONDS later."""
    advance(store, run)
    if not run.active or run.status == "cancelling":
        raise invalid(f"Cannot cancel run with status '{run.status}'.", None)
    run.status = "cancelling"
    run.required_action = None
    run.cancel_done_at = store.now() + CANCELLING_SECONDS
    publish_run(run)
