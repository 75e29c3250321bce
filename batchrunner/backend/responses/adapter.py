"""The Responses backend: an attempt is a chain of background responses.

Each response is created with ``background: true, store: true`` and followed until it leaves
``queued``/``in_progress``: over its stream (``stream: true`` too, held on the shared stream thread,
whose final event carries the ended response, so the look after it costs no request), or by polls of
``GET /responses/{id}`` when every stream is taken or the stream broke. A ``completed`` response whose
output holds ``function_call`` items is a tool round: the next response is chained with
``previous_response_id`` (or, for a job on a conversation, created on that conversation) and carries
one ``function_call_output`` per call, with instructions and tools resent, since they are not carried
over. A response carries its output items, messages and usage, so nothing is fetched once
it ends; they are saved at once, since background results may be kept only about ten minutes.

A job runs on a conversation when it names one (``thread_id``) or asks for one of its own
(``new_conversation``): that one is its container, created with the job's tag as metadata and
committed before the first response, so every attempt of the job runs on the same conversation.

Crash safety: the API has no way to list responses, so an object created just before a crash (or by
a request whose answer was lost) cannot be found again. The processor re-creates such an attempt and
counts it (``batchrunner_blind_recreates_total``); the README states that residual window.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from batchrunner.api.errors import NotFoundError
from batchrunner.api.models import ApiResponse
from batchrunner.api.object_streams import DialectStreams, ObjectStreams
from batchrunner.backend.base import (
    TAG_KEY,
    DetailRecord,
    Handle,
    MessageRecord,
    ObjectSnapshot,
    OutputItemRecord,
    PendingToolCall,
    UsageRecord,
    is_retryable_failure,
)
from batchrunner.backend.responses.client import RESPONSES_PATH, ResponsesClient
from batchrunner.backend.responses.models import OutputMessageItem, Response, ResponseStatus
from batchrunner.backend.responses.stream import RESPONSE_STREAMS
from batchrunner.jobs import BackendName, JobSpec
from batchrunner.lanes import COMPLETION_WINDOWS, Lane, running_lane
from batchrunner.states import JobState, Phase

BACKEND_NAME = BackendName.RESPONSES
_OUTCOMES = {
    ResponseStatus.COMPLETED: JobState.SUCCEEDED,
    ResponseStatus.FAILED: JobState.FAILED,
    ResponseStatus.CANCELLED: JobState.CANCELLED,
    ResponseStatus.INCOMPLETE: JobState.INCOMPLETE,
}
# The create-body fields a continuation sends again: nothing about a previous response carries over.
_NOT_RESENT = frozenset({"input", "conversation", "previous_response_id", "background", "store", "stream"})


def _timestamp(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value is not None else None


def _usage(response: Response) -> UsageRecord | None:
    usage = response.usage
    if usage is None:
        return None
    return UsageRecord(
        prompt_tokens=usage.input_tokens,
        completion_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        cached_tokens=usage.cached_tokens,
        reasoning_tokens=usage.reasoning_tokens,
    )


def _details(response: Response) -> tuple[DetailRecord, ...]:
    records: list[DetailRecord] = []
    for position, item in enumerate(response.output_items_json()):
        status = item.get("status")
        records.append(
            OutputItemRecord(
                position=position,
                item_id=item.get("id") if isinstance(item.get("id"), str) else None,
                type=str(item.get("type") or "unknown")[:64],
                status=str(status)[:32] if status is not None else None,
                item=item,
            )
        )
    return tuple(records)


def _messages(response: Response) -> tuple[MessageRecord, ...]:
    created = _timestamp(response.created_at)
    return tuple(
        MessageRecord(
            message_id=message.id or f"{response.id}/{position}",
            role=message.role,
            text=message.text(),
            content=_parts(message),
            created_at=created,
        )
        for position, message in enumerate(response.messages())
    )


def _parts(message: OutputMessageItem) -> list[dict[str, Any]]:
    return [part if isinstance(part, dict) else part.model_dump(mode="json") for part in message.content]


def snapshot_of(answer: ApiResponse[Response], *, streamed: bool = False) -> ObjectSnapshot:
    """Translate a response (with its reply's metadata) into a snapshot.

    A status this code does not know, or none at all, is still working: the job waits, never fails.
    """
    response, meta = answer.data, answer.meta
    known = response.known_status
    outcome = _OUTCOMES.get(known) if known is not None else None
    calls = tuple(
        PendingToolCall(call_id=call.call_id, name=call.name, arguments=call.arguments)
        for call in response.function_calls()
    )
    if outcome is JobState.SUCCEEDED and calls:
        phase = Phase.NEEDS_TOOL_OUTPUTS
    elif outcome is not None:
        phase = Phase.DONE
    else:
        phase = Phase.WORKING
    error_code = response.error.code if response.error else None
    ended = outcome is not None
    return ObjectSnapshot(
        backend=BACKEND_NAME,
        kind="response",
        object_id=response.id,
        container_id=response.conversation_id,
        status=response.status or "unknown",
        phase=phase,
        outcome=outcome,
        model=response.model,
        created_at=_timestamp(response.created_at),
        finished_at=_timestamp(response.completed_at) if ended else None,
        error_code=error_code,
        error_message=response.error.message if response.error else None,
        incomplete_reason=response.incomplete_reason,
        usage=_usage(response),
        tool_calls=calls if phase is Phase.NEEDS_TOOL_OUTPUTS else (),
        retryable=is_retryable_failure(outcome, error_code),
        poll_after_ms=meta.poll_after_ms,
        rate_limit=meta.rate_limit,
        streamed=streamed,
        details=_details(response) if ended else None,
        messages=_messages(response) if ended else None,
        service_tier=response.service_tier if isinstance(response.service_tier, str) else None,
    )


def _expired(handle: Handle) -> ObjectSnapshot:
    """A response the API no longer has and that was never saved: the attempt expired."""
    return ObjectSnapshot(
        backend=BACKEND_NAME,
        kind="response",
        object_id=handle.object_id,
        container_id=handle.container_id,
        status="not_found",
        phase=Phase.DONE,
        outcome=JobState.EXPIRED,
        error_code="response_not_found",
        error_message=(
            f"the API no longer has response {handle.object_id} (background results are kept only for a while)"
        ),
        details=(),
        messages=(),
    )


def continuation_id(tag: str) -> str:
    """The ``background_options.continuation_id`` of every response of one attempt (its tool rounds):
    derived from the attempt's tag, so the follow-ups share their first response's window and priority."""
    return "br-" + hashlib.sha256(tag.encode()).hexdigest()[:40]


def create_body(job: JobSpec, tag: str) -> dict[str, Any]:
    """The job's resolved request as a background, stored response tagged with the attempt, in its lane:
    a discount window (``background_options``) or flex processing (``service_tier``)."""
    if job.request is None:
        raise ValueError(f"job {job.custom_id!r} has no Responses request (was it read for the assistants backend?)")
    body = dict(job.request)
    body["background"] = True
    body["store"] = True
    body["metadata"] = {**(body.get("metadata") or {}), TAG_KEY: tag}
    lane = running_lane(job.lane)
    if lane in COMPLETION_WINDOWS:
        body["background_options"] = {
            "completion_window": COMPLETION_WINDOWS[lane],
            "continuation_id": continuation_id(tag),
        }
    elif lane is Lane.FLEX:
        body["service_tier"] = "flex"
    return body


def _streamable(body: dict[str, Any]) -> bool:
    """A discount window is served without streaming (the background guide): such responses are polled."""
    return "background_options" not in body


def continuation_body(
    job: JobSpec, tag: str, previous_id: str, outputs: list[tuple[str, str]], *, conversation: str | None = None
) -> dict[str, Any]:
    """The next response of a tool round: the outputs, chained to the previous response or its conversation.

    ``conversation`` is the one the previous response ran on, when the job's request names none.
    """
    body = {key: value for key, value in create_body(job, tag).items() if key not in _NOT_RESENT}
    body["background"] = True
    body["store"] = True
    body["input"] = [
        {"type": "function_call_output", "call_id": call_id, "output": output} for call_id, output in outputs
    ]
    conversation = (job.request or {}).get("conversation") or conversation
    if conversation is not None:
        body["conversation"] = conversation  # the pending calls are already items of the conversation
    else:
        body["previous_response_id"] = previous_id
    return body


class ResponsesBackend:
    """Runs jobs through the Responses API of one ``ResponsesClient``, streamed when ``streams`` allow."""

    name = BACKEND_NAME
    chains_objects = True

    def __init__(self, client: ResponsesClient, streams: ObjectStreams | None = None) -> None:
        self._client = client
        self._streams = DialectStreams(streams, RESPONSE_STREAMS)

    def _create(self, body: dict[str, Any]) -> ObjectSnapshot:
        streamed = self._streams.open(RESPONSES_PATH, {}, body) if _streamable(body) else None
        if streamed is not None:
            return snapshot_of(streamed, streamed=True)
        return snapshot_of(self._client.create_response(body))

    def needs_container(self, job: JobSpec) -> bool:
        return job.new_conversation

    def create_container(self, job: JobSpec, job_tag: str) -> str:
        return self._client.create_conversation(metadata={TAG_KEY: job_tag}).data.id

    def start(self, job: JobSpec, container_id: str | None, tag: str) -> ObjectSnapshot:
        body = create_body(job, tag)
        if container_id is not None and "conversation" not in body:
            body["conversation"] = container_id
        return self._create(body)

    def can_adopt(self) -> bool:
        return False

    def adopt(self, job: JobSpec, container_id: str | None, tag: str) -> ObjectSnapshot | None:
        return None

    def look_is_free(self, handle: Handle) -> bool:
        return self._streams.holds_kept(handle.object_id, handle.round_key)

    def look(self, handle: Handle) -> ObjectSnapshot:
        kept = self._streams.take_kept(handle.object_id, handle.round_key)  # its final event carried it whole
        if kept is not None:
            return snapshot_of(kept[0])
        try:
            return snapshot_of(self._client.retrieve_response(handle.object_id))
        except NotFoundError:
            return _expired(handle)

    def continue_with_tool_outputs(
        self, current: ObjectSnapshot, job: JobSpec, tag: str, outputs: list[tuple[str, str]]
    ) -> ObjectSnapshot:
        body = continuation_body(job, tag, current.object_id, outputs, conversation=current.container_id)
        return self._create(body)

    def cancel(self, handle: Handle) -> ObjectSnapshot:
        try:
            return snapshot_of(self._client.cancel_response(handle.object_id))
        except NotFoundError:
            return _expired(handle)

    def collect_requests(self, snapshot: ObjectSnapshot, *, details_stored: bool) -> int:
        return 0 if snapshot.messages is not None else 1

    def fetch_details(self, snapshot: ObjectSnapshot) -> list[DetailRecord]:
        return list(self._ended(snapshot).details or ())

    def fetch_messages(self, snapshot: ObjectSnapshot) -> list[MessageRecord]:
        return list(self._ended(snapshot).messages or ())

    def _ended(self, snapshot: ObjectSnapshot) -> ObjectSnapshot:
        if snapshot.messages is not None:
            return snapshot
        return self.look(snapshot.handle)

    def follow(self, object_id: str, job_id: int, round_key: str | None = None) -> bool:
        return self._streams.follow(object_id, job_id, round_key)

    def is_followed(self, object_id: str) -> bool:
        return self._streams.is_following(object_id)


__all__ = ["BACKEND_NAME", "ResponsesBackend", "continuation_body", "create_body", "snapshot_of"]
