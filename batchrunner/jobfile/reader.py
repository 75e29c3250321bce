"""Reads and validates a JSONL job file, line by line, collecting every error before returning.

Lines are numbered from 1 as in the file; blank lines are skipped but keep their numbers. A job
without ``custom_id`` gets ``line-<N>`` (its line number), so re-reading an unchanged file gives the
same ids and enqueueing it again into the same batch is a no-op.

A line runs on its ``backend`` (the reader's ``default_backend`` when it names none). On the responses
backend its ``assistant_id`` must name one of ``assistants`` and it is mapped to a Responses request
(``responses_body``) at once, so a job that cannot be sent is an error of its line. A line with
``method``, ``url`` or ``body`` is a Batch API line (``responses_schema``) and always a responses job.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from batchrunner.jobfile.assistants import AssistantDefinition
from batchrunner.jobfile.errors import LineError, LineErrorLog, LineErrors
from batchrunner.jobfile.fields import KNOWN_TOOLS
from batchrunner.jobfile.messages import line_errors, shown
from batchrunner.jobfile.responses_body import RequestNotMappable, responses_request
from batchrunner.jobfile.responses_schema import (
    BATCH_LINE_GUIDE,
    BATCH_LINE_KEYS,
    BatchLine,
    conversation_id,
    stored_request,
)
from batchrunner.jobfile.schema import JobLine
from batchrunner.jobfile.spec import BackendName, JobSpec, default_custom_id
from batchrunner.storable_text import UNSTORABLE_MESSAGE, unstorable_paths

DEFAULT_MAX_LINE_BYTES = 1_000_000
_UTF8_BOM = b"\xef\xbb\xbf"
_SKIP_CHUNK_BYTES = 1 << 16
# Only lines with a \uD800-\uDFFF escape can decode to a string that is not valid Unicode.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_NUL_ESCAPE = "\\u0000"


@dataclass(frozen=True)
class JobFileReadResult:
    """The valid jobs of a file in line order; ``errors`` is non-empty only with ``skip_invalid``."""

    jobs: list[JobSpec]
    errors: list[LineError] = field(default_factory=list)


class _InvalidJson(ValueError):
    """JSON that Python's parser accepts but the job file format does not."""


def _reject_constant(name: str) -> Any:
    raise _InvalidJson(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _InvalidJson(f"number {text} is out of range")
    return value


def _object_with_unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _InvalidJson(f"duplicate key {shown(key)}")
            seen.add(key)
    return obj


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_with_unique_keys, parse_float=_finite_float, parse_constant=_reject_constant
)


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _decode_object(text: str, line_no: int) -> dict[str, Any]:
    try:
        data = _DECODER.decode(text)
        if _SURROGATE_ESCAPE.search(text):
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except json.JSONDecodeError as exc:
        raise LineErrors([LineError(line_no, "", f"invalid JSON: {exc.msg} at column {exc.colno}")]) from None
    except _InvalidJson as exc:
        raise LineErrors([LineError(line_no, "", f"invalid JSON: {exc}")]) from None
    except UnicodeEncodeError:
        message = "invalid JSON: a string has an unpaired surrogate escape (\\ud800-\\udfff)"
        raise LineErrors([LineError(line_no, "", message)]) from None
    if not isinstance(data, dict):
        raise LineErrors([LineError(line_no, "", f"a job must be a JSON object (got {_json_type(data)})")])
    if _NUL_ESCAPE in text:  # JSON can hold NUL only as this escape; a hit may still be an escaped backslash
        errors = [LineError(line_no, path, UNSTORABLE_MESSAGE) for path in unstorable_paths(data)]
        if errors:
            raise LineErrors(errors)
    return data


def _thread_choice_errors(data: dict[str, Any], line_no: int) -> list[LineError]:
    if data.get("new_conversation") is True and "thread_id" in data:
        message = "a job on thread_id already runs on that thread or conversation: give thread for a new one"
        return [LineError(line_no, "new_conversation", message)]
    if "thread" in data and "thread_id" in data:
        return [LineError(line_no, "thread_id", "give either thread or thread_id, not both")]
    if "thread" not in data and "thread_id" not in data:
        message = "required: give thread (to start a new thread) or thread_id (to use an existing one)"
        return [LineError(line_no, "thread", message)]
    return []


def _assistant_errors(
    data: dict[str, Any], line_no: int, assistants: Mapping[str, AssistantDefinition] | None
) -> tuple[AssistantDefinition | None, list[LineError]]:
    """The assistant a responses job names, or why there is none."""
    assistant_id = data.get("assistant_id")
    if not isinstance(assistant_id, str) or not assistant_id:
        return None, []  # reported by the schema
    if assistants is None:
        message = "no assistants file given: the responses backend takes the assistant's settings from one"
        return None, [LineError(line_no, "assistant_id", message)]
    assistant = assistants.get(assistant_id)
    if assistant is None:
        message = f"assistant {shown(assistant_id)} is not defined in the assistants file"
        return None, [LineError(line_no, "assistant_id", message)]
    return assistant, []


def _unregistered_assistant_tools(
    request: dict[str, Any], params: dict[str, Any], line_no: int, known_tools: Collection[str] | None
) -> list[LineError]:
    """The assistant's function tools (those the job did not replace) without a registered handler."""
    if known_tools is None or params.get("tools") is not None:
        return []  # the job's own tools were checked by the schema
    return [
        LineError(
            line_no,
            "assistant_id",
            f"the assistant's function {shown(tool['name'])}: no tool handler registered for it",
        )
        for tool in request.get("tools") or ()
        if tool["name"] not in known_tools
    ]


def _parse_batch_line(data: dict[str, Any], line_no: int, known_tools: Collection[str] | None) -> JobSpec:
    try:
        BatchLine.model_validate(data, context={KNOWN_TOOLS: known_tools})
    except ValidationError as exc:
        raise LineErrors(line_errors(exc, line_no, guide=BATCH_LINE_GUIDE)) from None
    return JobSpec(
        line_no=line_no,
        custom_id=data["custom_id"],
        assistant_id="",
        thread=None,
        thread_id=conversation_id(data["body"]),
        params={},
        backend=BackendName.RESPONSES,
        request=stored_request(data["body"]),
    )


def _parse(
    text: str,
    line_no: int,
    known_tools: Collection[str] | None,
    default_backend: BackendName,
    assistants: Mapping[str, AssistantDefinition] | None,
) -> tuple[JobSpec, bool]:
    """The job on one line and whether it gave its own custom_id."""
    data = _decode_object(text, line_no)
    if not BATCH_LINE_KEYS.isdisjoint(data):
        return _parse_batch_line(data, line_no, known_tools), True
    errors: list[LineError] = []
    try:
        JobLine.model_validate(data, context={KNOWN_TOOLS: known_tools})
    except ValidationError as exc:
        errors.extend(line_errors(exc, line_no))
    errors.extend(_thread_choice_errors(data, line_no))
    named = data.get("backend")
    backend = BackendName(named) if named in tuple(BackendName) else default_backend
    if backend is BackendName.ASSISTANTS and data.get("lane") not in (None, "auto", "standard"):
        errors.append(LineError(line_no, "lane", "cost lanes serve the responses backend only: give auto or standard"))
    assistant = None
    if backend is BackendName.RESPONSES:
        assistant, missing = _assistant_errors(data, line_no, assistants)
        errors.extend(missing)
    if errors:
        raise LineErrors(errors)
    explicit_id = "custom_id" in data
    params = data.get("params", {})
    request = None
    if backend is BackendName.RESPONSES:
        try:
            request = responses_request(
                params=params, thread=data.get("thread"), thread_id=data.get("thread_id"), assistant=assistant
            )
        except RequestNotMappable as exc:
            raise LineErrors([LineError(line_no, r.field, r.message) for r in exc.refusals]) from None
        if unregistered := _unregistered_assistant_tools(request, params, line_no, known_tools):
            raise LineErrors(unregistered)
    spec = JobSpec(
        line_no=line_no,
        custom_id=data["custom_id"] if explicit_id else default_custom_id(line_no),
        assistant_id=data["assistant_id"],
        thread=data.get("thread"),
        thread_id=data.get("thread_id"),
        params=params,
        backend=backend,
        request=request,
        new_conversation=data.get("new_conversation") is True,
        deadline=data.get("deadline"),
        lane=data.get("lane"),
    )
    if spec.lane == "batch" and spec.needs_more_than_one_request:
        message = (
            "the batch lane answers one request per job: a job with function tools or a conversation cannot run "
            "there (give auto or another lane)"
        )
        raise LineErrors([LineError(line_no, "lane", message)])
    return spec, explicit_id


def parse_job_line(
    text: str,
    line_no: int,
    *,
    known_tools: Collection[str] | None = None,
    default_backend: BackendName = BackendName.ASSISTANTS,
    assistants: Mapping[str, AssistantDefinition] | None = None,
) -> JobSpec:
    """Validate one job line (JSON text); raises ``LineErrors`` listing every problem found.

    With ``known_tools``, a function tool (or forced ``tool_choice``) whose name is not in it is an error.
    ``default_backend`` is the backend of a line that names none (assistants, for compatibility: the
    command line passes the configured one); responses jobs take their assistant from ``assistants``.
    """
    return _parse(text, line_no, known_tools, BackendName(default_backend), assistants)[0]


def _numbered_lines(stream: IO[bytes], max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """``(line_no, content)`` without the line ending; ``None`` for a line over ``max_line_bytes``.

    An oversized line is skipped in chunks, so it is never held in memory whole.
    """
    limit = max_line_bytes + 2  # room for "\r\n"
    line_no = 0
    while chunk := stream.readline(limit):
        line_no += 1
        complete = chunk.endswith(b"\n") or len(chunk) < limit
        content = chunk.removesuffix(b"\n").removesuffix(b"\r")
        if not complete:
            while (rest := stream.readline(_SKIP_CHUNK_BYTES)) and not rest.endswith(b"\n"):
                pass
        yield line_no, (content if complete and len(content) <= max_line_bytes else None)


def _decode_line(content: bytes, line_no: int) -> str:
    if line_no == 1:
        content = content.removeprefix(_UTF8_BOM)
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineErrors([LineError(line_no, "", f"invalid UTF-8 at byte {exc.start + 1} of the line")]) from None


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file is read.

    Reading keeps millions of small dicts and lists alive; the collector would rescan them again
    and again (doubling the read time) and find nothing, since parsed JSON cannot hold cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _duplicate_error(spec: JobSpec, explicit_id: bool, first_line: int) -> LineError:
    message = f"duplicate custom_id {shown(spec.custom_id)} (also on line {first_line})"
    if not explicit_id:
        message += f"; this line gives no custom_id, so it defaults to {shown(spec.custom_id)}"
    return LineError(spec.line_no, "custom_id", message)


def _id_key(custom_id: str) -> bytes:
    """A fixed-size stand-in for a custom_id (ids may be 512 characters; a million of them are kept)."""
    return hashlib.blake2b(custom_id.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def scan_job_file(
    path: str | Path,
    errors: LineErrorLog,
    *,
    known_tools: Collection[str] | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    default_backend: BackendName = BackendName.ASSISTANTS,
    assistants: Mapping[str, AssistantDefinition] | None = None,
    on_line: Callable[[int], None] | None = None,
) -> Iterator[JobSpec]:
    """The valid jobs of a job file, one at a time in line order, holding none of them.

    Every problem goes to ``errors`` (a line's, or the file's: missing, unreadable, no jobs), and the
    caller decides what a problem means; a line whose custom_id an earlier line has is a problem of
    the later line. ``on_line`` hears the size in bytes of every line read (for progress).
    ``default_backend`` and ``assistants`` are as for ``parse_job_line``.
    """
    if max_line_bytes < 1:
        raise ValueError(f"max_line_bytes must be positive, not {max_line_bytes}")
    display = errors.path
    tools = frozenset(known_tools) if known_tools is not None else None
    backend = BackendName(default_backend)
    first_line_of: dict[bytes, int] = {}
    try:
        with open(path, "rb") as stream, _cyclic_gc_paused():
            for line_no, content in _numbered_lines(stream, max_line_bytes):
                if on_line is not None:
                    on_line(len(content) + 1 if content is not None else max_line_bytes)
                if content is None:
                    errors.add(
                        LineError(line_no, "", f"line is longer than {max_line_bytes} bytes; not parsed", display)
                    )
                    continue
                if not content.strip():
                    continue
                try:
                    spec, explicit_id = _parse(_decode_line(content, line_no), line_no, tools, backend, assistants)
                except LineErrors as exc:
                    for error in exc.errors:
                        errors.add(replace(error, path=display))
                    continue
                first_line = first_line_of.setdefault(_id_key(spec.custom_id), line_no)
                if first_line != line_no:
                    errors.add(replace(_duplicate_error(spec, explicit_id, first_line), path=display))
                    continue
                yield spec
    except FileNotFoundError:
        errors.add(LineError(0, "", "file not found", display))
        return
    except OSError as exc:
        errors.add(LineError(0, "", f"cannot read file: {exc.strerror or exc}", display))
        return
    if not first_line_of and not errors.count:
        errors.add(LineError(0, "", "file contains no jobs", display))


def read_job_file(
    path: str | Path,
    *,
    known_tools: Collection[str] | None = None,
    skip_invalid: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    default_backend: BackendName = BackendName.ASSISTANTS,
    assistants: Mapping[str, AssistantDefinition] | None = None,
) -> JobFileReadResult:
    """Validate a whole job file before returning any of it (every job held in memory: see ``scan_job_file``).

    Raises ``JobFileError`` with every error if any line is invalid (unless ``skip_invalid``, which
    returns the valid jobs and the errors), if the file holds no jobs, or if it cannot be read.
    ``default_backend`` and ``assistants`` are as for ``parse_job_line``.
    """
    errors = LineErrorLog(str(path))
    jobs = list(
        scan_job_file(
            path,
            errors,
            known_tools=known_tools,
            max_line_bytes=max_line_bytes,
            default_backend=default_backend,
            assistants=assistants,
        )
    )
    file_problems = [error for error in errors.errors if error.line_no == 0]
    if file_problems or (errors.count and not skip_invalid):
        raise errors.file_error()
    return JobFileReadResult(jobs=jobs, errors=errors.errors)
