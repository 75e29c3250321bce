"""Typed views of the Responses API objects (``Response``, its output items and usage, conversations).

A batch must complete against servers no one here wrote, so these models are lenient: unknown fields are
kept (``extra="allow"``), only ``id`` is required, missing or null optional fields get defaults, statuses,
error codes and reasons stay plain strings (``ResponseStatus`` names the known statuses), and output items
whose ``type`` is not known stay plain dicts. What is required by the spec of a function call (``call_id``,
``name``, ``arguments``) stays required: a call that cannot be answered must not pass silently.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, Tag, model_validator

from batchrunner.api.models import ApiModel, IncompleteDetails, ListPage, type_discriminator

__all__ = [
    "ACTIVE_RESPONSE_STATUSES",
    "TERMINAL_RESPONSE_STATUSES",
    "Conversation",
    "ConversationRef",
    "DeletedObject",
    "FunctionCallItem",
    "IncompleteDetails",
    "InputTokensDetails",
    "ItemList",
    "OutputItem",
    "OutputMessageItem",
    "OutputTextPart",
    "OutputTokensDetails",
    "RefusalPart",
    "Response",
    "ResponseError",
    "ResponseStatus",
    "ResponseUsage",
]


class ResponseStatus(StrEnum):
    """The statuses the spec names for a response (``Response.status`` may hold others)."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    INCOMPLETE = "incomplete"
    CANCELLED = "cancelled"


# Keep polling while a response is in one of these ("When it leaves these states, it has reached a final state").
ACTIVE_RESPONSE_STATUSES: frozenset[str] = frozenset({ResponseStatus.QUEUED, ResponseStatus.IN_PROGRESS})
TERMINAL_RESPONSE_STATUSES: frozenset[str] = frozenset(
    {ResponseStatus.COMPLETED, ResponseStatus.FAILED, ResponseStatus.INCOMPLETE, ResponseStatus.CANCELLED}
)


def _none_as(default: Any) -> BeforeValidator:
    """Read an explicit null as ``default`` (servers send ``null`` for fields the spec gives no null)."""
    return BeforeValidator(lambda value: default if value is None else value)


def _json_text(value: Any) -> Any:
    """Function-call arguments as the JSON string the spec promises, even when a server sends an object."""
    return json.dumps(value) if isinstance(value, dict | list) else value


Count = Annotated[int, _none_as(0)]


class InputTokensDetails(ApiModel):
    cached_tokens: Count = 0
    cache_write_tokens: Count = 0


class OutputTokensDetails(ApiModel):
    reasoning_tokens: Count = 0


class ResponseUsage(ApiModel):
    """Tokens of one response (not cumulative over a ``previous_response_id`` chain); missing counts are 0.

    A missing ``total_tokens`` is taken as ``input_tokens + output_tokens``.
    """

    input_tokens: Count = 0
    output_tokens: Count = 0
    total_tokens: Count = 0
    input_tokens_details: InputTokensDetails | None = None
    output_tokens_details: OutputTokensDetails | None = None

    @model_validator(mode="before")
    @classmethod
    def _total_when_missing(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("total_tokens") is None:
            parts = [data.get("input_tokens"), data.get("output_tokens")]
            if all(isinstance(part, int) or part is None for part in parts):
                data = {**data, "total_tokens": sum(part or 0 for part in parts)}
        return data

    @property
    def cached_tokens(self) -> int:
        return self.input_tokens_details.cached_tokens if self.input_tokens_details else 0

    @property
    def reasoning_tokens(self) -> int:
        return self.output_tokens_details.reasoning_tokens if self.output_tokens_details else 0


class ResponseError(ApiModel):
    """Why a response ``failed``; ``code`` is one of the spec's ``ResponseErrorCode`` values or any other."""

    code: str | None = None
    message: str = ""


class FunctionCallItem(ApiModel):
    """A ``function_call`` output item; answer it with a ``function_call_output`` echoing ``call_id``."""

    type: Literal["function_call"] = "function_call"
    call_id: str
    name: str
    arguments: Annotated[str, BeforeValidator(_json_text)]
    id: str | None = None
    status: str | None = None


class OutputTextPart(ApiModel):
    type: Literal["output_text"] = "output_text"
    text: Annotated[str, _none_as("")] = ""
    annotations: Annotated[list[Any], _none_as([])] = Field(default_factory=list)


class RefusalPart(ApiModel):
    type: Literal["refusal"] = "refusal"
    refusal: Annotated[str, _none_as("")] = ""


MessagePart = Annotated[
    Annotated[OutputTextPart, Tag("output_text")]
    | Annotated[RefusalPart, Tag("refusal")]
    | Annotated[dict[str, Any], Tag("other")],
    type_discriminator(frozenset({"output_text", "refusal"})),
]


def _is_plain_text_part(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)


class OutputMessageItem(ApiModel):
    """A ``message`` output item: the assistant's text (``output_text`` parts) or a refusal."""

    type: Literal["message"] = "message"
    id: str | None = None
    role: str = "assistant"
    status: str | None = None
    content: Annotated[list[MessagePart], _none_as([])] = Field(default_factory=list)

    def text(self) -> str:
        """The ``output_text`` parts joined (as the SDKs' ``output_text`` does: no separator).

        A part some servers send as ``{"type": "text", "text": ...}`` (not the official type) counts too.
        """
        texts = []
        for part in self.content:
            if isinstance(part, OutputTextPart):
                texts.append(part.text)
            elif isinstance(part, dict) and _is_plain_text_part(part):
                texts.append(str(part["text"]))
        return "".join(texts)

    def refusals(self) -> list[str]:
        return [part.refusal for part in self.content if isinstance(part, RefusalPart)]


OutputItem = Annotated[
    Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[OutputMessageItem, Tag("message")]
    | Annotated[dict[str, Any], Tag("other")],
    type_discriminator(frozenset({"function_call", "message"})),
]


class ConversationRef(ApiModel):
    id: str


class Response(ApiModel):
    """A model response (the spec's ``Response``): its status, output items, usage and error."""

    id: str
    object: str = "response"
    status: str | None = None
    created_at: int | float | None = None
    completed_at: int | float | None = None
    model: str | None = None
    output: Annotated[list[OutputItem], _none_as([])] = Field(default_factory=list)
    usage: ResponseUsage | None = None
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    metadata: dict[str, Any] | None = None
    background: bool | None = None
    previous_response_id: str | None = None
    conversation: str | ConversationRef | None = None
    # The tier that served it ("default", "flex", ...): any string a server sends is kept.
    service_tier: str | None = None

    @property
    def known_status(self) -> ResponseStatus | None:
        """``status`` as a ``ResponseStatus``; None when it is missing or not one the spec names."""
        try:
            return ResponseStatus(self.status) if self.status is not None else None
        except ValueError:
            return None

    @property
    def is_terminal(self) -> bool:
        """True for completed, failed, incomplete and cancelled; False for active, unknown or missing status."""
        return self.status in TERMINAL_RESPONSE_STATUSES

    @property
    def conversation_id(self) -> str | None:
        """The conversation's id, whether the server sent ``"conv_…"`` or ``{"id": "conv_…"}``."""
        if isinstance(self.conversation, ConversationRef):
            return self.conversation.id
        return self.conversation

    @property
    def incomplete_reason(self) -> str | None:
        return self.incomplete_details.reason if self.incomplete_details else None

    def function_calls(self) -> list[FunctionCallItem]:
        """The ``function_call`` items of ``output``, in order (parallel calls give several)."""
        return [item for item in self.output if isinstance(item, FunctionCallItem)]

    def messages(self) -> list[OutputMessageItem]:
        return [item for item in self.output if isinstance(item, OutputMessageItem)]

    def output_text(self) -> str:
        """All ``output_text`` parts of all message items joined, like the SDKs' ``output_text``."""
        return "".join(message.text() for message in self.messages())

    def output_items_json(self) -> list[dict[str, Any]]:
        """The output items as JSON-ready dicts holding what the server sent (unknown fields and types too)."""
        return [
            item if isinstance(item, dict) else item.model_dump(mode="json", exclude_unset=True) for item in self.output
        ]


class Conversation(ApiModel):
    """A conversation (the spec's ``ConversationResource``)."""

    id: str
    object: str = "conversation"
    created_at: int | float | None = None
    metadata: dict[str, Any] | None = None


class DeletedObject(ApiModel):
    """The answer to a delete: ``{id, object, deleted}``."""

    id: str | None = None
    object: str | None = None
    deleted: bool = True


class ItemList(ListPage[dict[str, Any]]):
    """One page of input or conversation items, each a plain dict (``data``, ``has_more``, ``first_id``,
    ``last_id``)."""
