"""New jobs as rows, spooled to a temporary file between reading a job file and writing its jobs.

A row is one line of PostgreSQL's ``COPY`` text format (tab-separated columns ``ROW_COLUMNS``, ``\\N``
for NULL, backslash escapes), so on Postgres a chunk of the spool goes to the server as it is, with no
work per row; other databases read the rows back (``parse_row``). A spool holds a file's jobs on disk,
so memory stays flat however long the file.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from types import TracebackType
from typing import IO, Any

from batchrunner.deadlines import earliest, parse_deadline
from batchrunner.jobs import BackendName, JobSpec
from batchrunner.lanes import LanePolicy

DEFAULT_LANES = LanePolicy()

ROW_COLUMNS = (
    "custom_id",
    "line_no",
    "backend",
    "assistant_id",
    "target_container_id",
    "deadline_at",
    "lane",
    "spec",
)
_NULL = "\\N"
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_ESCAPED = re.compile(r"\\(.)")
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def _text(value: str | None) -> str:
    if value is None:
        return _NULL
    return value.translate(_ESCAPES) if _NEEDS_ESCAPE.search(value) else value


def job_row(
    spec: JobSpec, enqueued_at: datetime, batch_deadline: datetime | None, lanes: LanePolicy = DEFAULT_LANES
) -> bytes:
    """The row of a new job; its deadline is the earlier of its own (counted from ``enqueued_at``) and the
    batch's, and its lane the one ``lanes`` resolves for it."""
    own = parse_deadline(spec.deadline).resolve(enqueued_at) if spec.deadline else None
    deadline = earliest(own, batch_deadline)
    lane = lanes.resolve(
        spec.lane,
        responses=spec.backend is BackendName.RESPONSES,
        time_left=deadline - enqueued_at if deadline is not None else None,
        uses_tools=spec.needs_more_than_one_request,
        model=(spec.request or {}).get("model"),
    )
    # ASCII JSON holds no tab, newline or carriage return: only its backslashes need escaping.
    spec_json = json.dumps(spec.to_json(), separators=(",", ":")).replace("\\", "\\\\")
    columns = (
        _text(spec.custom_id),
        str(spec.line_no),
        _text(str(spec.backend)),
        _text(spec.assistant_id),
        _text(spec.thread_id),
        deadline.isoformat() if deadline is not None else _NULL,
        lane.value,
        spec_json,
    )
    return ("\t".join(columns) + "\n").encode("utf-8")


def _unescaped(text: str) -> str | None:
    if text == _NULL:
        return None
    return _ESCAPED.sub(lambda match: _UNESCAPES.get(match.group(1), match.group(1)), text) if "\\" in text else text


def parse_row(row: bytes) -> dict[str, Any]:
    """A row back as column values (``spec`` as JSON, ``deadline_at`` as an aware datetime)."""
    values = [_unescaped(text) for text in row.decode("utf-8").removesuffix("\n").split("\t")]
    parsed: dict[str, Any] = dict(zip(ROW_COLUMNS, values, strict=True))
    parsed["line_no"] = int(parsed["line_no"])
    deadline = parsed["deadline_at"]
    parsed["deadline_at"] = datetime.fromisoformat(deadline) if deadline is not None else None
    parsed["spec"] = json.loads(parsed["spec"])
    return parsed


class RowSpool:
    """Rows written one by one to an anonymous temporary file, then read back in chunks."""

    def __init__(self) -> None:
        # Closed by the spool, itself the context manager.
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="batchrunner-enqueue-")  # noqa: SIM115
        self.count = 0

    def add(self, row: bytes) -> None:
        self._file.write(row)
        self.count += 1

    def chunks(self, rows_per_chunk: int) -> Iterator[list[bytes]]:
        """The rows in the order added, ``rows_per_chunk`` at a time."""
        self._file.flush()
        self._file.seek(0)
        chunk: list[bytes] = []
        for row in self._file:
            chunk.append(row)
            if len(chunk) >= rows_per_chunk:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RowSpool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def rows_of(
    specs: Iterable[JobSpec],
    enqueued_at: datetime,
    batch_deadline: datetime | None,
    lanes: LanePolicy = DEFAULT_LANES,
) -> list[bytes]:
    return [job_row(spec, enqueued_at, batch_deadline, lanes) for spec in specs]


__all__ = ["ROW_COLUMNS", "RowSpool", "job_row", "parse_row", "rows_of"]
