"""What a job file can be wrong about, as values a person can act on.

LineError        one problem: line number, dotted field path, message
LineErrors       exception: the problems of one line (from ``parse_job_line``)
JobFileError     exception: the problems of a whole file (from ``read_job_file``)
LineErrorLog     what a streaming scan found (``scan_job_file``), bounded in memory
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LISTED_ERRORS = 50
# Errors a scan keeps (a file of a million bad lines is not held in memory); the rest are counted.
MAX_KEPT_ERRORS = 10_000


@dataclass(frozen=True)
class LineError:
    """One problem on one line. ``field`` is a path like ``thread.messages[0].role``; "" means the line.

    ``line_no`` is 0 for problems with the file as a whole (missing, empty). ``path`` names the file
    in ``str()`` and is filled in by ``read_job_file``.
    """

    line_no: int
    field: str
    message: str
    path: str = ""

    def __str__(self) -> str:
        if self.line_no > 0:
            where = f"{self.path}:{self.line_no}" if self.path else f"line {self.line_no}"
        else:
            where = self.path or "job file"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class LineErrors(ValueError):
    """A job line is invalid; ``errors`` lists every problem found on it."""

    def __init__(self, errors: list[LineError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors


class JobFileError(Exception):
    """A job file cannot be used; ``errors`` lists its problems in line order, ``total`` counts them all
    (more than listed when a scan kept only the first ``MAX_KEPT_ERRORS``)."""

    def __init__(self, path: str, errors: list[LineError], *, total: int | None = None) -> None:
        self.path = path
        self.errors = errors
        self.total = max(total or 0, len(errors))
        super().__init__(self._describe())

    def _describe(self) -> str:
        lines = [str(error) for error in self.errors[:MAX_LISTED_ERRORS]]
        if self.total > len(lines):
            lines.append(f"... and {self.total - len(lines)} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._describe()


@dataclass
class LineErrorLog:
    """The problems a scan of file ``path`` found: the first ``keep`` in line order, and how many in all."""

    path: str
    keep: int = MAX_KEPT_ERRORS
    errors: list[LineError] = field(default_factory=list)
    count: int = 0

    def add(self, error: LineError) -> None:
        self.count += 1
        if len(self.errors) < self.keep:
            self.errors.append(error)

    def file_error(self) -> JobFileError:
        return JobFileError(self.path, self.errors, total=self.count)
