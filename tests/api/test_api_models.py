"""Parsing of API objects into the pydantic models of ``batchrunner.api.models``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

import pytest

from batchrunner.api.models import ListPage
from batchrunner.backend.assistants.models import (
    NON_TERMINAL_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    FunctionToolCall,
    ImageFileContent,
    Message,
    MessageCreationStepDetails,
    RefusalContent,
    Run,
    RunStatus,
    RunStep,
    TextContent,
    ToolCallsStepDetails,
    ToolOutput,
)

PayloadFactory = Callable[..., dict[str, Any]]


def test_status_sets_cover_the_nine_statuses_without_overlap() -> None:
    """Terminal, non-terminal and requires_action partition the nine run statuses."""
    assert NON_TERMINAL_RUN_STATUSES.isdisjoint(TERMINAL_RUN_STATUSES)
    assert NON_TERMINAL_RUN_STATUSES | TERMINAL_RUN_STATUSES | {"requires_action"} == set(get_args(RunStatus))
    assert len(get_args(RunStatus)) == 9


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("queued", False),
        ("in_progress", False),
        ("requires_action", False),
        ("cancelling", False),
        ("completed", True),
        ("failed", True),
        ("cancelled", True),
        ("expired", True),
        ("incomplete", True),
        ("paused_by_operator", False),
    ],
)
def test_run_is_terminal(make_run: PayloadFactory, status: str, terminal: bool) -> None:
    """is_terminal is true exactly for the five finished statuses; unknown statuses are kept, not final."""
    run = Run.model_validate(make_run(status=status))
    assert run.status == status
    assert run.is_terminal is terminal


def test_run_tool_calls_from_required_action(make_run: PayloadFactory) -> None:
    """tool_calls() lists the function calls of required_action.submit_tool_outputs."""
    calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": "lookup", "arguments": f'{{"n": {i}}}'}}
        for i in range(2)
    ]
    run = Run.model_validate(
        make_run(
            status="requires_action",
            required_action={"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}},
        )
    )
    assert [(c.id, c.function.name, c.function.arguments) for c in run.tool_calls()] == [
        ("call_0", "lookup", '{"n": 0}'),
        ("call_1", "lookup", '{"n": 1}'),
    ]
    assert Run.model_validate(make_run()).tool_calls() == []


def test_run_nested_objects_and_unknown_fields(make_run: PayloadFactory) -> None:
    """last_error, incomplete_details and usage parse; fields the model does not know are kept."""
    run = Run.model_validate(
        make_run(
            status="failed",
            last_error={"code": "rate_limit_exceeded", "message": "slow down"},
            incomplete_details={"reason": "max_prompt_tokens"},
            usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            reasoning_effort="low",
            metadata={"batchrunner_job": "b:1"},
        )
    )
    assert run.last_error is not None and run.last_error.code == "rate_limit_exceeded"
    assert run.incomplete_details is not None and run.incomplete_details.reason == "max_prompt_tokens"
    assert run.usage is not None and run.usage.total_tokens == 15
    assert run.model_extra == {"reasoning_effort": "low"}
    assert run.metadata == {"batchrunner_job": "b:1"}


def test_run_tolerates_nulls_for_nullable_fields(make_run: PayloadFactory) -> None:
    """A run with null instructions, metadata and tools-choice parses (compatible servers send those)."""
    run = Run.model_validate(make_run(instructions=None, metadata=None, tool_choice=None, model=None))
    assert run.instructions is None and run.metadata is None


def test_message_text_joins_text_parts_only(make_message: PayloadFactory) -> None:
    """Message.text() joins the text parts and skips images, refusals and unknown part types."""
    message = Message.model_validate(make_message("msg_1", "Hello", "World"))
    message.content.insert(1, ImageFileContent(image_file={"file_id": "file_1"}))
    message.content.append(RefusalContent(refusal="no"))
    message.content.append({"type": "audio", "audio": {}})
    assert message.text() == "Hello\nWorld"


def test_message_content_parts_are_typed_and_unknown_parts_stay_dicts(make_message: PayloadFactory) -> None:
    """Known content types become models; an unknown type is kept as the raw dict."""
    payload = make_message("msg_1", "hi")
    payload["content"] += [
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
        {"type": "hologram", "hologram": {"id": 3}},
    ]
    message = Message.model_validate(payload)
    assert isinstance(message.content[0], TextContent)
    assert type(message.content[1]).__name__ == "ImageUrlContent"
    assert message.content[2] == {"type": "hologram", "hologram": {"id": 3}}


def test_run_step_details_union(make_step: PayloadFactory) -> None:
    """step_details parses into message_creation or tool_calls models, anything else stays a dict."""
    creation = RunStep.model_validate(make_step("step_1"))
    assert isinstance(creation.step_details, MessageCreationStepDetails)
    assert creation.step_details.message_creation == {"message_id": "msg_1"}

    tools = RunStep.model_validate(
        make_step(
            "step_2",
            type="tool_calls",
            step_details={
                "type": "tool_calls",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}", "output": None},
                    },
                    {
                        "id": "call_2",
                        "type": "code_interpreter",
                        "code_interpreter": {"input": "1+1", "outputs": []},
                    },
                ],
            },
            usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        )
    )
    assert isinstance(tools.step_details, ToolCallsStepDetails)
    assert isinstance(tools.step_details.tool_calls[0], FunctionToolCall)
    assert tools.step_details.tool_calls[1] == {
        "id": "call_2",
        "type": "code_interpreter",
        "code_interpreter": {"input": "1+1", "outputs": []},
    }
    assert tools.usage is not None and tools.usage.total_tokens == 3

    unknown = RunStep.model_validate(make_step("step_3", type="web", step_details={"type": "web", "url": "x"}))
    assert unknown.step_details == {"type": "web", "url": "x"}


def test_list_page_parses_items(make_run: PayloadFactory, make_page: PayloadFactory) -> None:
    """ListPage[Run] parses data items as runs and keeps the cursor fields."""
    page = ListPage[Run].model_validate(make_page([make_run("run_a"), make_run("run_b")], has_more=True))
    assert [run.id for run in page.data] == ["run_a", "run_b"]
    assert (page.first_id, page.last_id, page.has_more) == ("run_a", "run_b", True)


def test_tool_output_dumps_the_wire_shape() -> None:
    """ToolOutput serialises to exactly the two fields the API expects."""
    assert ToolOutput(tool_call_id="call_1", output="42").model_dump(mode="json") == {
        "tool_call_id": "call_1",
        "output": "42",
    }
