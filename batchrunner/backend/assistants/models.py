"""Typed views of the Assistants v2 objects.

Models accept fields they do not know (``extra="allow"``) and statuses they do not know (``RunStatus | str``)
so that a newer or merely compatible server does not break a batch. Union members whose ``type`` is not
recognised stay plain dicts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, Tag

from batchrunner.api.models import ApiModel, IncompleteDetails, type_discriminator

__all__ = [
    "NON_TERMINAL_RUN_STATUSES",
    "TERMINAL_RUN_STATUSES",
    "FunctionCall",
    "FunctionToolCall",
    "ImageFileContent",
    "ImageUrlContent",
    "LastError",
    "Message",
    "MessageCreationStepDetails",
    "MessageIncompleteDetails",
    "RefusalContent",
    "RequiredAction",
    "RequiredActionFunctionToolCall",
    "Run",
    "RunStatus",
    "RunStep",
    "SubmitToolOutputsAction",
    "TextContent",
    "TextValue",
    "Thread",
    "ToolCallsStepDetails",
    "ToolOutput",
    "Usage",
]

RunStatus = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]
RunStepStatus = Literal["in_progress", "cancelled", "failed", "completed", "expired"]

# requires_action is in neither set: the run waits for us, it has not finished.
NON_TERMINAL_RUN_STATUSES: frozenset[str] = frozenset({"queued", "in_progress", "cancelling"})
TERMINAL_RUN_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})


class Usage(ApiModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class LastError(ApiModel):
    code: str
    message: str


class FunctionCall(ApiModel):
    name: str
    arguments: str


class RequiredActionFunctionToolCall(ApiModel):
    """A function call the run waits for; answer it with a ``ToolOutput`` carrying the same ``id``."""

    id: str
    type: str = "function"
    function: FunctionCall


class SubmitToolOutputsAction(ApiModel):
    tool_calls: list[RequiredActionFunctionToolCall] = Field(default_factory=list)


class RequiredAction(ApiModel):
    type: str = "submit_tool_outputs"
    submit_tool_outputs: SubmitToolOutputsAction | None = None


class Run(ApiModel):
    """A run on a thread (the OpenAPI ``RunObject``)."""

    id: str
    object: str = "thread.run"
    created_at: int
    thread_id: str
    assistant_id: str
    status: RunStatus | str
    required_action: RequiredAction | None = None
    last_error: LastError | None = None
    expires_at: int | None = None
    started_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    completed_at: int | None = None
    incomplete_details: IncompleteDetails | None = None
    model: str | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, str] | None = None
    usage: Usage | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: dict[str, Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: str | dict[str, Any] | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the run can change no more (completed, failed, cancelled, expired, incomplete)."""
        return self.status in TERMINAL_RUN_STATUSES

    def tool_calls(self) -> list[RequiredActionFunctionToolCall]:
        """The function calls the run is waiting for (empty unless it requires action)."""
        action = self.required_action
        if action is None or action.submit_tool_outputs is None:
            return []
        return list(action.submit_tool_outputs.tool_calls)


class Thread(ApiModel):
    id: str
    object: str = "thread"
    created_at: int | None = None
    metadata: dict[str, str] | None = None
    tool_resources: dict[str, Any] | None = None


class TextValue(ApiModel):
    value: str
    annotations: list[dict[str, Any]] = Field(default_factory=list)


class TextContent(ApiModel):
    type: Literal["text"] = "text"
    text: TextValue


class ImageFileContent(ApiModel):
    type: Literal["image_file"] = "image_file"
    image_file: dict[str, Any]


class ImageUrlContent(ApiModel):
    type: Literal["image_url"] = "image_url"
    image_url: dict[str, Any]


class RefusalContent(ApiModel):
    type: Literal["refusal"] = "refusal"
    refusal: str


MessageContent = Annotated[
    Annotated[TextContent, Tag("text")]
    | Annotated[ImageFileContent, Tag("image_file")]
    | Annotated[ImageUrlContent, Tag("image_url")]
    | Annotated[RefusalContent, Tag("refusal")]
    | Annotated[dict[str, Any], Tag("other")],
    type_discriminator(frozenset({"text", "image_file", "image_url", "refusal"})),
]


class MessageIncompleteDetails(ApiModel):
    reason: str | None = None


class Message(ApiModel):
    """A message on a thread; the run's output arrives as ``assistant`` messages."""

    id: str
    object: str = "thread.message"
    created_at: int | None = None
    thread_id: str | None = None
    status: str | None = None
    incomplete_details: MessageIncompleteDetails | None = None
    completed_at: int | None = None
    incomplete_at: int | None = None
    role: Literal["user", "assistant"] | str
    content: list[MessageContent] = Field(default_factory=list)
    assistant_id: str | None = None
    run_id: str | None = None
    attachments: list[dict[str, Any]] | None = None
    metadata: dict[str, str] | None = None

    def text(self) -> str:
        """The message's text parts joined by newlines (images and refusals are left out)."""
        return "\n".join(part.text.value for part in self.content if isinstance(part, TextContent))


class MessageCreationStepDetails(ApiModel):
    type: Literal["message_creation"] = "message_creation"
    message_creation: dict[str, Any]


class FunctionToolCall(ApiModel):
    """A function call recorded in a ``tool_calls`` step; ``output`` is None until submitted."""

    id: str
    type: Literal["function"] = "function"
    function: dict[str, Any]


StepToolCall = Annotated[
    Annotated[FunctionToolCall, Tag("function")] | Annotated[dict[str, Any], Tag("other")],
    type_discriminator(frozenset({"function"})),
]


class ToolCallsStepDetails(ApiModel):
    type: Literal["tool_calls"] = "tool_calls"
    tool_calls: list[StepToolCall] = Field(default_factory=list)


StepDetails = Annotated[
    Annotated[MessageCreationStepDetails, Tag("message_creation")]
    | Annotated[ToolCallsStepDetails, Tag("tool_calls")]
    | Annotated[dict[str, Any], Tag("other")],
    type_discriminator(frozenset({"message_creation", "tool_calls"})),
]


class RunStep(ApiModel):
    """One step of a run: a message it created, or the tool calls it made."""

    id: str
    object: str = "thread.run.step"
    created_at: int | None = None
    assistant_id: str | None = None
    thread_id: str | None = None
    run_id: str | None = None
    type: Literal["message_creation", "tool_calls"] | str
    status: RunStepStatus | str
    step_details: StepDetails
    last_error: LastError | None = None
    expired_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    completed_at: int | None = None
    metadata: dict[str, str] | None = None
    usage: Usage | None = None


class ToolOutput(ApiModel):
    """The answer to one ``RequiredActionFunctionToolCall``."""

    tool_call_id: str
    output: str
