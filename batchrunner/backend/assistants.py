"""The Assistants v2 backend: threads, runs, tool outputs, steps and messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from batchrunner.api.client import (
    CREATE_RUN_PATH,
    SUBMIT_TOOL_OUTPUTS_PATH,
    ApiResponse,
    AssistantsClient,
    tool_outputs_body,
)
from batchrunner.api.models import Message, Run, RunStep, ToolOutput
from batchrunner.api.run_streams import RunStreams
from batchrunner.backend.base import (
    MessageRecord,
    PendingToolCall,
    RunSnapshot,
    StepRecord,
    UsageRecord,
)
from batchrunner.jobs import JobSpec

TAG_KEY = "batchrunner_job"
# Adoption only needs the newest runs of a thread: ours was created moments before a crash.
_ADOPTION_SCAN_LIMIT = 100


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


def snapshot_of(response: ApiResponse[Run] | Run) -> RunSnapshot:
    """Translate an API run (with its response metadata, when there is one) into a snapshot."""
    run = response.data if isinstance(response, ApiResponse) else response
    meta = response.meta if isinstance(response, ApiResponse) else None
    calls = tuple(
        PendingToolCall(call_id=call.id, name=call.function.name, arguments=call.function.arguments)
        for call in run.tool_calls()
    )
    return RunSnapshot(
        run_id=run.id,
        thread_id=run.thread_id,
        assistant_id=run.assistant_id,
        status=str(run.status),
        model=run.model,
        created_at=_timestamp(run.created_at),
        started_at=_timestamp(run.started_at),
        completed_at=_timestamp(run.completed_at),
        failed_at=_timestamp(run.failed_at),
        cancelled_at=_timestamp(run.cancelled_at),
        expires_at=_timestamp(run.expires_at),
        last_error_code=run.last_error.code if run.last_error else None,
        last_error_message=run.last_error.message if run.last_error else None,
        incomplete_reason=run.incomplete_details.reason if run.incomplete_details else None,
        usage=_usage(run.usage),
        tool_calls=calls,
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


def _message_record(message: Message) -> MessageRecord:
    return MessageRecord(
        message_id=message.id,
        role=str(message.role),
        text=message.text(),
        content=[part if isinstance(part, dict) else part.model_dump(mode="json") for part in message.content],
        created_at=_timestamp(message.created_at),
    )


class AssistantsBackend:
    """Runs jobs through the Assistants v2 endpoints of one ``AssistantsClient``."""

    def __init__(self, client: AssistantsClient, streams: RunStreams | None = None) -> None:
        self._client = client
        self._streams = streams

    def _streamed(self, template: str, ids: dict[str, str], body: dict[str, Any]) -> RunSnapshot | None:
        """The run a streamed request shows, or None when no stream is free (send a plain request)."""
        if self._streams is None:
            return None
        response = self._streams.open(template, ids, body)
        return replace(snapshot_of(response), streamed=True) if response is not None else None

    def follow_run(self, run_id: str, job_id: int) -> bool:
        return self._streams is not None and self._streams.follow(run_id, job_id)

    def is_followed(self, run_id: str) -> bool:
        return self._streams is not None and self._streams.is_following(run_id)

    def create_thread(self, job: JobSpec, job_tag: str) -> str:
        thread = job.thread or {}
        metadata = {**(thread.get("metadata") or {}), TAG_KEY: job_tag}
        response = self._client.create_thread(
            list(thread.get("messages") or []), metadata, tool_resources=thread.get("tool_resources")
        )
        return response.data.id

    def create_run(self, thread_id: str, job: JobSpec, run_tag: str) -> RunSnapshot:
        body: dict[str, Any] = {**job.params, "assistant_id": job.assistant_id}
        body["metadata"] = {**(job.params.get("metadata") or {}), TAG_KEY: run_tag}
        streamed = self._streamed(CREATE_RUN_PATH, {"thread_id": thread_id}, body)
        return streamed or snapshot_of(self._client.create_run(thread_id, body))

    def find_run(self, thread_id: str, run_tag: str) -> RunSnapshot | None:
        for run in self._client.list_runs(thread_id, order="desc", max_items=_ADOPTION_SCAN_LIMIT):
            if (run.metadata or {}).get(TAG_KEY) == run_tag:
                return snapshot_of(run)
        return None

    def get_run(self, thread_id: str, run_id: str) -> RunSnapshot:
        return snapshot_of(self._client.retrieve_run(thread_id, run_id))

    def submit_tool_outputs(self, thread_id: str, run_id: str, outputs: list[tuple[str, str]]) -> RunSnapshot:
        tool_outputs = [ToolOutput(tool_call_id=call_id, output=output) for call_id, output in outputs]
        ids = {"thread_id": thread_id, "run_id": run_id}
        streamed = self._streamed(SUBMIT_TOOL_OUTPUTS_PATH, ids, tool_outputs_body(tool_outputs))
        return streamed or snapshot_of(self._client.submit_tool_outputs(thread_id, run_id, tool_outputs))

    def cancel_run(self, thread_id: str, run_id: str) -> RunSnapshot:
        return snapshot_of(self._client.cancel_run(thread_id, run_id))

    def list_steps(self, thread_id: str, run_id: str) -> list[StepRecord]:
        return [_step_record(step) for step in self._client.list_run_steps(thread_id, run_id)]

    def list_output_messages(self, thread_id: str, run_id: str) -> list[MessageRecord]:
        messages = [
            _message_record(message)
            for message in self._client.list_messages(thread_id, run_id=run_id)
            if message.role == "assistant"
        ]
        messages.sort(key=lambda m: (m.created_at or datetime.min.replace(tzinfo=UTC), m.message_id))
        return messages
