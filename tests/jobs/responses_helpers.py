"""Assistants, lines and the contract check shared by the Responses-backend job-file tests."""

from __future__ import annotations

import json
from typing import Any

from batchrunner.jobs import RESERVED_METADATA_KEY, AssistantDefinition, BackendName, JobSpec, parse_job_line
from batchrunner.testing.openapi_contract import validate_component

CALC_NESTED: dict[str, Any] = {"type": "function", "function": {"name": "calc"}}
LOOKUP_FLAT: dict[str, Any] = {
    "type": "function",
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
    "strict": True,
}
TICKET_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"summary": {"type": "string"}}}

ASSISTANT_FIELDS: dict[str, dict[str, Any]] = {
    "asst_plain": {"model": "gpt-4o-mini", "instructions": "Be brief."},
    "asst_bare": {"model": "gpt-4.1"},
    "asst_full": {
        "model": "gpt-4o",
        "instructions": "Use tools.",
        "tools": [CALC_NESTED, LOOKUP_FLAT],
        "temperature": 0.5,
        "top_p": 0.9,
        "reasoning_effort": "low",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "ticket", "schema": TICKET_SCHEMA, "strict": True},
        },
        "metadata": {"owner": "ops"},
    },
}
ASSISTANTS = {key: AssistantDefinition.model_validate(value) for key, value in ASSISTANT_FIELDS.items()}
KNOWN_TOOLS = frozenset({"calc", "lookup", "calculate", "current_time", "text_statistics"})


def user(content: Any = "hi", **extra: Any) -> dict[str, Any]:
    """A user message of a job line."""
    return {"role": "user", "content": content, **extra}


def responses_job(assistant_id: str = "asst_plain", **fields: Any) -> dict[str, Any]:
    """A job line (as a dict) for the responses backend: a new thread with one user message unless given."""
    data: dict[str, Any] = {"assistant_id": assistant_id}
    if "thread_id" not in fields:
        data["thread"] = {"messages": [user()]}
    data.update(fields)
    return data


def parse_responses(data: dict[str, Any], line_no: int = 1, **options: Any) -> JobSpec:
    """``data`` parsed with the responses backend as default and the test assistants."""
    options.setdefault("assistants", ASSISTANTS)
    return parse_job_line(json.dumps(data), line_no, default_backend=BackendName.RESPONSES, **options)


def as_sent(request: dict[str, Any]) -> dict[str, Any]:
    """The body batchrunner sends for a stored request: the runtime fields and the tag added."""
    metadata = {**(request.get("metadata") or {}), RESERVED_METADATA_KEY: "batch/job"}
    return {**request, "background": True, "store": True, "metadata": metadata}


def assert_valid_create_response(request: dict[str, Any]) -> None:
    """The request, as batchrunner sends it, validates against openapi.yaml's ``CreateResponse``."""
    validate_component("CreateResponse", as_sent(request))
