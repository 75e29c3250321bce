"""Input items (`input`, conversation `items`): their validation, stored form, text and token cost.

The simulator models the items a function-calling client sends: messages (`EasyInputMessage` and
`InputMessage`, of any role), `function_call` items replayed from an earlier output, and
`function_call_output` items. Each is normalised to the form the API lists it in (`ItemResource`,
`ConversationItem`) before it gets its id: user/system/developer messages with input content parts,
assistant messages with `output_text` parts, calls and outputs with a `completed` status.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from batchrunner.simulator.errors import APIError
from batchrunner.simulator.responses.records import StoredItem
from batchrunner.simulator.state import Store
from batchrunner.simulator.textgen import estimate_tokens
from batchrunner.simulator.validation import (
    check_enum,
    expect_object,
    get_array,
    get_enum,
    get_string,
    param_path,
    require,
    wrong_type,
)

ITEM_TYPES = ("message", "function_call", "function_call_output")
ROLES = ("user", "assistant", "system", "developer")
ITEM_STATUSES = ("in_progress", "completed", "incomplete")
IMAGE_DETAILS = ("low", "high", "auto", "original")
CALL_ID_MAX = 64
OUTPUT_MAX = 10_485_760
ID_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}
_MESSAGE_KEYS = ("type", "id", "role", "content", "status", "phase")
_CALL_KEYS = ("type", "id", "call_id", "name", "arguments", "status", "namespace", "caller")
_OUTPUT_KEYS = ("type", "id", "call_id", "output", "status", "name", "namespace", "caller")


def reject_unknown(body: dict[str, Any], allowed: Collection[str], prefix: str) -> None:
    """Unknown keys, with the Responses API's wording (the Assistants one differs)."""
    for key in body:
        if key not in allowed:
            param = param_path(prefix, key)
            raise APIError(400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")


def _input_part(raw: Any, path: str) -> dict[str, Any]:
    part = expect_object(raw, path)
    require(part, "type", path)
    kind = check_enum(part["type"], param_path(path, "type"), ("input_text", "input_image", "input_file"))
    if kind == "input_text":
        reject_unknown(part, ("type", "text", "prompt_cache_breakpoint"), path)
        require(part, "text", path)
        return {"type": kind, "text": get_string(part, "text", path, nullable=False)}
    if kind == "input_image":
        reject_unknown(part, ("type", "image_url", "file_id", "detail", "prompt_cache_breakpoint"), path)
        image: dict[str, Any] = {"type": kind, "detail": get_enum(part, "detail", path, IMAGE_DETAILS) or "auto"}
        for key in ("image_url", "file_id"):
            value = get_string(part, key, path)
            if value is not None:
                image[key] = value
        return image
    reject_unknown(part, ("type", "file_id", "file_url", "file_data", "filename", "detail"), path)
    document: dict[str, Any] = {"type": kind}
    for key in ("file_id", "file_url", "file_data", "filename"):
        value = get_string(part, key, path)
        if value is not None:
            document[key] = value
    return document


def _assistant_part(raw: Any, path: str) -> dict[str, Any]:
    part = expect_object(raw, path)
    require(part, "type", path)
    kind = check_enum(part["type"], param_path(path, "type"), ("output_text", "refusal"))
    if kind == "refusal":
        require(part, "refusal", path)
        return {"type": kind, "refusal": get_string(part, "refusal", path, nullable=False)}
    reject_unknown(part, ("type", "text", "annotations", "logprobs"), path)
    require(part, "text", path)
    text = get_string(part, "text", path, nullable=False)
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message(item: dict[str, Any], path: str) -> dict[str, Any]:
    reject_unknown(item, _MESSAGE_KEYS, path)
    require(item, "role", path)
    role = str(get_enum(item, "role", path, ROLES, nullable=False))
    get_enum(item, "status", path, ITEM_STATUSES)
    content = require(item, "content", path)
    content_path = param_path(path, "content")
    assistant = role == "assistant"
    if isinstance(content, str):
        parts = [
            {"type": "output_text", "text": content, "annotations": [], "logprobs": []}
            if assistant
            else {"type": "input_text", "text": content}
        ]
    elif isinstance(content, list):
        parse = _assistant_part if assistant else _input_part
        parts = [parse(part, param_path(content_path, index)) for index, part in enumerate(content)]
    else:
        raise wrong_type(content_path, "a string or an array", content)
    return {"type": "message", "role": role, "status": "completed", "content": parts}


def _function_call(item: dict[str, Any], path: str) -> dict[str, Any]:
    reject_unknown(item, _CALL_KEYS, path)
    for key in ("call_id", "name", "arguments"):
        require(item, key, path)
    return {
        "type": "function_call",
        "call_id": get_string(item, "call_id", path, nullable=False),
        "name": get_string(item, "name", path, nullable=False),
        "arguments": get_string(item, "arguments", path, nullable=False),
        "status": "completed",
    }


def _function_call_output(item: dict[str, Any], path: str) -> dict[str, Any]:
    reject_unknown(item, _OUTPUT_KEYS, path)
    require(item, "call_id", path)
    require(item, "output", path)
    call_id = str(get_string(item, "call_id", path, nullable=False, max_length=CALL_ID_MAX))
    if not call_id:
        raise _too_short(param_path(path, "call_id"))
    output = item["output"]
    output_path = param_path(path, "output")
    if isinstance(output, str):
        get_string(item, "output", path, max_length=OUTPUT_MAX)
        shown: str | list[dict[str, Any]] = output
    elif isinstance(output, list):
        shown = [_input_part(part, param_path(output_path, index)) for index, part in enumerate(output)]
    else:
        raise wrong_type(output_path, "a string or an array", output)
    return {"type": "function_call_output", "call_id": call_id, "output": shown, "status": "completed"}


def _too_short(param: str) -> APIError:
    return APIError(
        400,
        f"Invalid '{param}': empty string. Expected a string with minimum length 1, but got an empty string instead.",
        param=param,
    )


def parse_item(raw: Any, path: str) -> dict[str, Any]:
    """One InputItem, normalised to its listed form (without an id)."""
    item = expect_object(raw, path)
    kind = item.get("type")
    kind = "message" if kind is None else check_enum(kind, param_path(path, "type"), ITEM_TYPES)
    if kind == "message":
        return _message(item, path)
    if kind == "function_call":
        return _function_call(item, path)
    return _function_call_output(item, path)


def parse_input(body: dict[str, Any], key: str = "input") -> list[dict[str, Any]]:
    """`input`: a string (one user message) or an array of items; empty when absent."""
    value = body.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [
            {
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_text", "text": value}],
            }
        ]
    if not isinstance(value, list):
        raise wrong_type(key, "a string or an array", value)
    return [parse_item(item, param_path(key, index)) for index, item in enumerate(value)]


def parse_items(body: dict[str, Any], key: str, *, max_items: int, nullable: bool = True) -> list[dict[str, Any]]:
    """An array of items (conversation `items`), at most `max_items` of them."""
    value = get_array(body, key, nullable=nullable, max_items=max_items) or []
    return [parse_item(item, param_path(key, index)) for index, item in enumerate(value)]


def store_items(store: Store, drafts: list[dict[str, Any]]) -> list[StoredItem]:
    """Give each item draft its id (`msg_`, `fc_`, `fco_`): the stored items, in order."""
    stored = []
    for draft in drafts:
        item_id = store.new_id(ID_PREFIXES[draft["type"]])
        stored.append(StoredItem(item_id, {"id": item_id, **draft}))
    return stored


def item_text(item: dict[str, Any]) -> str:
    """What the simulated model reads in an item (and what its tokens are counted on)."""
    kind = item.get("type")
    if kind == "function_call":
        return str(item["name"]) + str(item["arguments"])
    if kind == "function_call_output":
        output = item["output"]
        return output if isinstance(output, str) else parts_text(output)
    return parts_text(item.get("content", []))


def parts_text(parts: list[dict[str, Any]]) -> str:
    """The text of content parts joined (images and files have none)."""
    texts = [part.get("text") or part.get("refusal") or "" for part in parts]
    return "\n".join(text for text in texts if text)


def item_tokens(item: dict[str, Any]) -> int:
    """The item's tokens as input of a response."""
    return estimate_tokens(item_text(item))
