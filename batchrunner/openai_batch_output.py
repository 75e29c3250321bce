"""Results in the OpenAI Batch API's output-file shape, so tools built for that file read batchrunner's.

One line per finished job: ``{"id", "custom_id", "response": {"status_code", "request_id", "body"},
"error"}``. ``body`` is the job's newest API object as recorded: on the Responses backend a ``response``
object with its output items and that response's own usage (a tool round's earlier responses are not
in it; ``batchrunner results`` sums them); an Assistants run as a ``thread.run`` with its usage. A job
that ended without any API object (its request was refused) has ``response: null``; ``error`` holds
the job's error code and message whenever it did not succeed. A response's settings (instructions,
tools, sampling) are the job's request's; its ``cache_write_tokens`` is 0 (not recorded).
``request_id`` is null: batchrunner does not keep the API's request ids. Jobs still unfinished are
left out, as the Batch API's files hold only finished requests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine

from batchrunner.db.batch_output import FinishedJob, RecordedObject, finished_job_pages

_JSON_LINE = json.JSONEncoder(ensure_ascii=False).encode


def request_id_of(batch_name: str, custom_id: str) -> str:
    """A stable ``batch_req_`` id for a job: the same job gets the same id in every export."""
    return "batch_req_" + hashlib.sha256(f"{batch_name}/{custom_id}".encode()).hexdigest()[:32]


def _epoch(value: Any) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _response_body(recorded: RecordedObject, request: dict[str, Any]) -> dict[str, Any]:
    usage = None
    if recorded.total_tokens is not None:
        usage = {
            "input_tokens": recorded.prompt_tokens or 0,
            "input_tokens_details": {"cached_tokens": recorded.cached_tokens or 0, "cache_write_tokens": 0},
            "output_tokens": recorded.completion_tokens or 0,
            "output_tokens_details": {"reasoning_tokens": recorded.reasoning_tokens or 0},
            "total_tokens": recorded.total_tokens,
        }
    return {
        "id": recorded.api_id,
        "object": "response",
        "created_at": _epoch(recorded.created_at),
        "completed_at": _epoch(recorded.finished_at),
        "status": recorded.status,
        "model": recorded.model,
        "output": recorded.output,
        "usage": usage,
        "error": {"code": recorded.error_code, "message": recorded.error_message or ""}
        if recorded.error_code
        else None,
        "incomplete_details": {"reason": recorded.incomplete_reason} if recorded.incomplete_reason else None,
        "service_tier": recorded.service_tier,
        # What the request asked for, which a response object repeats.
        "instructions": request.get("instructions"),
        "metadata": request.get("metadata") or {},
        "tools": request.get("tools") or [],
        "tool_choice": request.get("tool_choice", "auto"),
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "temperature": request.get("temperature"),
        "top_p": request.get("top_p"),
    }


def _run_body(recorded: RecordedObject) -> dict[str, Any]:
    usage = None
    if recorded.total_tokens is not None:
        usage = {
            "prompt_tokens": recorded.prompt_tokens or 0,
            "completion_tokens": recorded.completion_tokens or 0,
            "total_tokens": recorded.total_tokens,
        }
    return {
        "id": recorded.api_id,
        "object": "thread.run",
        "created_at": _epoch(recorded.created_at),
        "status": recorded.status,
        "model": recorded.model,
        "usage": usage,
        "last_error": {"code": recorded.error_code, "message": recorded.error_message or ""}
        if recorded.error_code
        else None,
    }


def output_line(batch_name: str, job: FinishedJob) -> dict[str, Any]:
    """The Batch API output line of one finished job."""
    response = None
    if job.latest is not None:
        latest = job.latest
        body = _response_body(latest, job.request or {}) if latest.kind == "response" else _run_body(latest)
        response = {"status_code": 200, "request_id": None, "body": body}
    error = None
    if job.state != "succeeded":
        error = {"code": job.error_code or job.state, "message": job.error_message or f"the job ended {job.state}"}
    return {
        "id": request_id_of(batch_name, job.custom_id),
        "custom_id": job.custom_id,
        "response": response,
        "error": error,
    }


def iter_openai_batch_text(engine: Engine, batch_id: int, batch_name: str) -> Iterator[str]:
    """The batch's finished jobs as output lines, in file order within each page, a page per string."""
    for jobs in finished_job_pages(engine, batch_id):
        ordered = sorted(jobs, key=lambda job: job.line_no)
        yield "".join(_JSON_LINE(output_line(batch_name, job)) + "\n" for job in ordered)


__all__ = ["iter_openai_batch_text", "output_line", "request_id_of"]
