"""What a job file can be wrong about, as values a person can act on.

LineError        one problem: line number, dotted field path, message
LineErrors       exception: the problems of one line (from ``parse_job_line``)
JobFileError     exception: the problems of a whole file (from ``read_job_file``)
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LISTED_ERRORS = 50


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
    """A job file cannot be used; ``errors`` lists every problem, in line order."""

    def __init__(self, path: str, errors: list[LineError]) -> None:
        self.path = path
        self.errors = errors
        super().__init__(self._describe())

    def _describe(self) -> str:
        lines = [str(error) for error in self.errors[:MAX_LISTED_ERRORS]]
        if len(self.errors) > MAX_LISTED_ERRORS:
            lines.append(f"... and {len(self.errors) - MAX_LISTED_ERRORS} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._describe()
