"""The Assistants v2 backend: threads, runs, tool outputs, steps and messages."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from batchrunner.api.object_streams import DialectStreams, ObjectStreams
from batchrunner.backend.assistants.client import (
    CREATE_RUN_PATH,
    SUBMIT_TOOL_OUTPUTS_PATH,
    ApiResponse,
    AssistantsClient,
    tool_outputs_body,
)
from batchrunner.backend.assistants.models import Message, Run, RunStep, ToolOutput
from batchrunner.backend.assistants.streams import RUN_STREAMS, RunStreamSeen
from batchrunner.backend.base import (
    TAG_KEY,
    DetailRecord,
    Handle,
    MessageRecord,
    ObjectSnapshot,
    PendingToolCall,
    StepRecord,
    UsageRecord,
    is_retryable_failure,
)
from batchrunner.jobs import BackendName, JobSpec
from batchrunner.states import JobState, Phase

BACKEND_NAME = BackendName.ASSISTANTS


class RunStatus(StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    REQUIRES_ACTION = "requires_action"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FAILED = "failed"
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"
    EXPIRED = "expired"


_OUTCOMES = {
    RunStatus.COMPLETED: JobState.SUCCEEDED,
    RunStatus.FAILED: JobState.FAILED,
    RunStatus.CANCELLED: JobState.CANCELLED,
    RunStatus.EXPIRED: JobState.EXPIRED,
    RunStatus.INCOMPLETE: JobState.INCOMPLETE,
}
# Adoption only needs the newest runs of a thread: ours was created moments before a crash.
_ADOPTION_SCAN_LIMIT = 100
# Runs waiting for tool outputs whose streams' gatherings are kept for the stream after the answer.
_MAX_WAITING_GATHERINGS = 4096
_STEP_STILL_GOING = frozenset({"in_progress"})


def _timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value is not None else None


def _usage(usage: Any) -> UsageRecord | None:
    if usage is None:
        return None
    return UsageRecord(
        prompt_tokens=int(usage.prompt_tokens),
        completion_tokens=int(usage.completion_tokens),
        total_tokens=int(usage.total_tokens),
    )


def _phase(status: str, has_calls: bool) -> tuple[Phase, JobState | None]:
    """A status this code does not know is still working: it waits, it never fails the job."""
    if status == RunStatus.REQUIRES_ACTION and has_calls:
        return Phase.NEEDS_TOOL_OUTPUTS, None
    outcome = _OUTCOMES.get(status)  # type: ignore[call-overload]
    return (Phase.DONE, outcome) if outcome is not None else (Phase.WORKING, None)


def snapshot_of(response: ApiResponse[Run] | Run) -> ObjectSnapshot:
    """Translate an API run (with its response metadata, when there is one) into a snapshot."""
    run = response.data if isinstance(response, ApiResponse) else response
    meta = response.meta if isinstance(response, ApiResponse) else None
    calls = tuple(
        PendingToolCall(call_id=call.id, name=call.function.name, arguments=call.function.arguments)
        for call in run.tool_calls()
    )
    status = str(run.status)
    phase, outcome = _phase(status, bool(calls))
    error_code = run.last_error.code if run.last_error else None
    finished = (
        run.completed_at or run.failed_at or run.cancelled_at or (run.expires_at if status == "expired" else None)
    )
    return ObjectSnapshot(
        backend=BACKEND_NAME,
        kind="run",
        object_id=run.id,
        container_id=run.thread_id,
        status=status,
        phase=phase,
        outcome=outcome,
        assistant_id=run.assistant_id,
        model=run.model,
        created_at=_timestamp(run.created_at),
        started_at=_timestamp(run.started_at),
        finished_at=_timestamp(finished) if phase is Phase.DONE else None,
        error_code=error_code,
        error_message=run.last_error.message if run.last_error else None,
        incomplete_reason=run.incomplete_details.reason if run.incomplete_details else None,
        usage=_usage(run.usage),
        tool_calls=calls,
        retryable=is_retryable_failure(outcome, error_code),
        cancelling=status == RunStatus.CANCELLING,
        poll_after_ms=meta.poll_after_ms if meta else None,
        rate_limit=meta.rate_limit if meta else None,
    )


def _step_record(step: RunStep) -> StepRecord:
    details = step.step_details
    details_dict: dict[str, Any] = details if isinstance(details, dict) else details.model_dump(mode="json")
    return StepRecord(
        step_id=step.id,
        type=str(step.type),
        status=str(step.status),
        details=details_dict,
        created_at=_timestamp(step.created_at),
        completed_at=_timestamp(step.completed_at),
        last_error_code=step.last_error.code if step.last_error else None,
        usage=_usage(step.usage),
    )


def _sorted_messages(records: list[MessageRecord]) -> list[MessageRecord]:
    return sorted(records, key=lambda m: (m.created_at or datetime.min.replace(tzinfo=UTC), m.message_id))


def _whole(run: Run, seen: RunStreamSeen) -> bool:
    """Whether what the streams gathered is all of the ended run's steps and messages.

    Streams that began at the run's creation missed nothing, unless an event was spoiled; the checks
    guard against a server that streams fewer events than the API documents (then the worker lists).
    """
    if not seen.from_creation or seen.spoiled:
        return False
    if str(run.status) == RunStatus.COMPLETED and not seen.steps:
        return False
    for step in seen.steps.values():
        if str(step.status) in _STEP_STILL_GOING:
            return False
        created = _created_message_id(step)
        if created is not None and created not in seen.messages:
            return False
    return True


def _created_message_id(step: RunStep) -> str | None:
    details = step.step_details
    details_dict: dict[str, Any] = details if isinstance(details, dict) else details.model_dump(mode="json")
    creation = details_dict.get("message_creation")
    message_id = creation.get("message_id") if isinstance(creation, dict) else None
    return message_id if isinstance(message_id, str) else None


def _message_record(message: Message) -> MessageRecord:
    return MessageRecord(
        message_id=message.id,
        role=str(message.role),
        text=message.text(),
        content=[part if isinstance(part, dict) else part.model_dump(mode="json") for part in message.content],
        created_at=_timestamp(message.created_at),
    )


class AssistantsBackend:
    """Runs jobs through the Assistants v2 endpoints of one ``AssistantsClient``.

    An attempt is a run on a thread: the thread is created and its id committed first, and the run is
    tagged with the attempt's key, so a run created just before a crash is found by listing the
    thread's runs. A tool round keeps the run. Its steps and messages come from its streams when
    this process streamed the run's whole life (every tool round's answer too); otherwise they are
    listed once it ends.
    """

    name = BACKEND_NAME
    chains_objects = False

    def __init__(self, client: AssistantsClient, streams: ObjectStreams | None = None) -> None:
        self._client = client
        self._streams = DialectStreams(streams, RUN_STREAMS)
        # Run id -> what its streams showed up to a tool round, for the stream of the answer to add to.
        self._waiting: OrderedDict[str, RunStreamSeen] = OrderedDict()
        self._waiting_lock = threading.Lock()

    def _streamed(self, template: str, ids: dict[str, str], body: dict[str, Any]) -> ObjectSnapshot | None:
        """The run a streamed request shows, or None when no stream is free (send a plain request)."""
        response = self._streams.open(template, ids, body)
        return replace(snapshot_of(response), streamed=True) if response is not None else None

    def follow(self, object_id: str, job_id: int, round_key: str | None = None) -> bool:
        return self._streams.follow(object_id, job_id, round_key)

    def is_followed(self, object_id: str) -> bool:
        return self._streams.is_following(object_id)

    def needs_container(self, job: JobSpec) -> bool:
        return job.thread_id is None

    def create_container(self, job: JobSpec, job_tag: str) -> str:
        thread = job.thread or {}
        metadata = {**(thread.get("metadata") or {}), TAG_KEY: job_tag}
        response = self._client.create_thread(
            list(thread.get("messages") or []), metadata, tool_resources=thread.get("tool_resources")
        )
        return response.data.id

    def start(self, job: JobSpec, container_id: str | None, tag: str) -> ObjectSnapshot:
        thread_id = _required_thread(container_id)
        body: dict[str, Any] = {**job.params, "assistant_id": job.assistant_id}
        body["metadata"] = {**(job.params.get("metadata") or {}), TAG_KEY: tag}
        streamed = self._streamed(CREATE_RUN_PATH, {"thread_id": thread_id}, body)
        return streamed or snapshot_of(self._client.create_run(thread_id, body))

    def can_adopt(self) -> bool:
        return True

    def adopt(self, job: JobSpec, container_id: str | None, tag: str) -> ObjectSnapshot | None:
        thread_id = _required_thread(container_id)
        for run in self._client.list_runs(thread_id, order="desc", max_items=_ADOPTION_SCAN_LIMIT):
            if (run.metadata or {}).get(TAG_KEY) == tag:
                return snapshot_of(run)
        return None

    def look_is_free(self, handle: Handle) -> bool:
        return self._streams.holds_kept(handle.object_id, handle.round_key)

    def look(self, handle: Handle) -> ObjectSnapshot:
        kept = self._streams.take_kept(handle.object_id, handle.round_key)  # its stream showed where it stands
        if kept is not None:
            answer, seen = kept
            return self._streamed_snapshot(answer.data, seen)
        return snapshot_of(self._client.retrieve_run(_required_thread(handle.container_id), handle.object_id))

    def _streamed_snapshot(self, run: Run, seen: RunStreamSeen) -> ObjectSnapshot:
        """The run as its stream's hand-back showed it, with its steps and messages when the streams saw all."""
        with self._waiting_lock:
            earlier = self._waiting.pop(run.id, None)
        if not seen.from_creation:
            seen = earlier.followed_by(seen) if earlier is not None else RunStreamSeen(spoiled=True)
        snapshot = snapshot_of(run)
        if snapshot.needs_tool_outputs:
            with self._waiting_lock:
                self._waiting[run.id] = seen
                while len(self._waiting) > _MAX_WAITING_GATHERINGS:
                    self._waiting.popitem(last=False)
            return snapshot
        if not snapshot.is_done or not _whole(run, seen):
            return snapshot
        steps = sorted(seen.steps.values(), key=lambda step: (step.created_at or 0, step.id))
        messages = [_message_record(m) for m in seen.messages.values() if m.role == "assistant"]
        return replace(
            snapshot, details=tuple(_step_record(step) for step in steps), messages=tuple(_sorted_messages(messages))
        )

    def continue_with_tool_outputs(
        self, current: ObjectSnapshot, job: JobSpec, tag: str, outputs: list[tuple[str, str]]
    ) -> ObjectSnapshot:
        thread_id, run_id = _required_thread(current.container_id), current.object_id
        tool_outputs = [ToolOutput(tool_call_id=call_id, output=output) for call_id, output in outputs]
        ids = {"thread_id": thread_id, "run_id": run_id}
        streamed = self._streamed(SUBMIT_TOOL_OUTPUTS_PATH, ids, tool_outputs_body(tool_outputs))
        return streamed or snapshot_of(self._client.submit_tool_outputs(thread_id, run_id, tool_outputs))

    def cancel(self, handle: Handle) -> ObjectSnapshot:
        return snapshot_of(self._client.cancel_run(_required_thread(handle.container_id), handle.object_id))

    def collect_requests(self, snapshot: ObjectSnapshot, *, details_stored: bool) -> int:
        details_known = details_stored or snapshot.details is not None
        return (0 if details_known else 1) + (0 if snapshot.messages is not None else 1)

    def fetch_details(self, snapshot: ObjectSnapshot) -> list[DetailRecord]:
        if snapshot.details is not None:
            return list(snapshot.details)
        thread_id = _required_thread(snapshot.container_id)
        return [_step_record(step) for step in self._client.list_run_steps(thread_id, snapshot.object_id)]

    def fetch_messages(self, snapshot: ObjectSnapshot) -> list[MessageRecord]:
        if snapshot.messages is not None:
            return list(snapshot.messages)
        thread_id = _required_thread(snapshot.container_id)
        messages = [
            _message_record(message)
            for message in self._client.list_messages(thread_id, run_id=snapshot.object_id)
            if message.role == "assistant"
        ]
        return _sorted_messages(messages)


def _required_thread(container_id: str | None) -> str:
    if not container_id:
        raise ValueError("an Assistants run needs its thread id")
    return container_id
