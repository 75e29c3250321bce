"""What a new response reads: the earlier items it builds on, checked against its own input.

A response continues a chain (`previous_response_id`: the previous response's context, then its
output) or a conversation (its items), or starts afresh; its input comes after those. The checks of
the real API happen here, before anything is created: the previous response must exist, the
conversation must exist and be free, and the tool round must add up: every `function_call_output`
answers a call made before it, and every completed call gets its output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batchrunner.simulator.errors import APIError, invalid
from batchrunner.simulator.responses.items import item_text, item_tokens
from batchrunner.simulator.responses.lifecycle import advance, find_response, get_conversation
from batchrunner.simulator.responses.request import ResponseSpec
from batchrunner.simulator.state import Store
from batchrunner.simulator.textgen import estimate_tokens

# Prompt caching covers prefixes of 1024 tokens or more, in steps of 128.
CACHE_MIN_TOKENS = 1024
CACHE_STEP_TOKENS = 128
LOCKED_MESSAGE = "Another process is currently operating on this conversation. Please retry in a few seconds."


@dataclass(frozen=True)
class Context:
    """The items a response reads: `base` (from its chain or conversation), then its own `input`."""

    base: list[dict[str, Any]]
    input: list[dict[str, Any]]
    instructions: str | None

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.base + self.input

    @property
    def input_tokens(self) -> int:
        """Everything is billed again on every turn: instructions, the earlier items and the input."""
        return estimate_tokens(self.instructions or "") + sum(item_tokens(item) for item in self.items)

    @property
    def cached_tokens(self) -> int:
        """The part of the earlier items a prompt cache would have held."""
        prior = sum(item_tokens(item) for item in self.base)
        return 0 if prior < CACHE_MIN_TOKENS else prior // CACHE_STEP_TOKENS * CACHE_STEP_TOKENS

    @property
    def tool_results(self) -> list[tuple[str, str]]:
        """(function name, output) of each function_call_output in the input."""
        names = {item["call_id"]: item["name"] for item in self.items if item["type"] == "function_call"}
        return [
            (names[item["call_id"]], item_text(item)) for item in self.input if item["type"] == "function_call_output"
        ]

    @property
    def user_text(self) -> str:
        """The last user message: what the simulated model answers."""
        for item in reversed(self.items):
            if item["type"] == "message" and item["role"] == "user":
                return item_text(item)
        return ""


def _previous_items(store: Store, response_id: str) -> list[dict[str, Any]]:
    previous = find_response(store, response_id)
    if previous is None:
        raise APIError(
            400,
            f"Previous response with id '{response_id}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    if previous.active:
        raise invalid(
            f"Previous response with id '{response_id}' is still {previous.status.replace('_', ' ')}; "
            "wait until it has ended before continuing it.",
            "previous_response_id",
        )
    return previous.context + previous.output


def _conversation_items(store: Store, conversation_id: str) -> list[dict[str, Any]]:
    conversation = get_conversation(store, conversation_id, "conversation")
    busy = store.responses.get(conversation.active_response_id or "")
    if busy is not None:
        advance(store, busy)
        if busy.active:
            raise APIError(400, LOCKED_MESSAGE, param="conversation", code="conversation_locked")
    return [item.body for item in conversation.items]


def check_tool_round(base: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    """400 unless each output in `new` answers an earlier call and each completed call has its output."""
    called = {item["call_id"] for item in base if item["type"] == "function_call"}
    for item in new:
        if item["type"] == "function_call":
            called.add(item["call_id"])
        elif item["type"] == "function_call_output" and item["call_id"] not in called:
            raise invalid(f"No tool call found for function call output with call_id {item['call_id']}.", "input")
    answered = {item["call_id"] for item in base + new if item["type"] == "function_call_output"}
    for item in base + new:
        # A call cut short (incomplete, or in progress when cancelled) was never made: it needs no output.
        if item["type"] == "function_call" and item["status"] == "completed" and item["call_id"] not in answered:
            raise invalid(f"No tool output found for function call {item['call_id']}.", "input")


def resolve_context(store: Store, spec: ResponseSpec) -> Context:
    """The context of a new response, or the 400/404 the real API answers instead."""
    base: list[dict[str, Any]] = []
    if spec.previous_response_id is not None:
        base = _previous_items(store, spec.previous_response_id)
    elif spec.conversation_id is not None:
        base = _conversation_items(store, spec.conversation_id)
    check_tool_round(base, spec.input)
    return Context(base, spec.input, spec.settings.instructions)
