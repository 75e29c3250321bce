"""Deadlines: when a job must be done, given as a duration from enqueueing (``6h``) or a time (ISO 8601).

A job still unfinished at its deadline is cancelled at the API and recorded ``expired`` with what it
used; one not started by then is never started. ``parse_deadline`` validates the text of a job line or
a command-line option; ``resolve`` turns it into a moment once the job is enqueued.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

DEADLINE_EXCEEDED = "deadline_exceeded"
DEADLINE_FORMAT = "a duration such as 90s, 45m, 6h, 2d or 1h30m, or an ISO 8601 time with a zone (2026-12-04T06:00Z)"
_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
_MAX_DURATION = timedelta(days=366)


@dataclass(frozen=True)
class Deadline:
    """Either ``after`` (a duration from enqueueing) or ``at`` (a moment); exactly one is set."""

    after: timedelta | None = None
    at: datetime | None = None

    def resolve(self, enqueued_at: datetime) -> datetime:
        if self.at is not None:
            return self.at
        assert self.after is not None
        return enqueued_at + self.after


def parse_deadline(text: str) -> Deadline:
    """The deadline ``text`` names; raises ``ValueError`` saying what is wrong with it."""
    value = text.strip()
    duration = _DURATION.fullmatch(value)
    if value and duration is not None:
        parts = {unit: int(amount or 0) for unit, amount in duration.groupdict().items()}
        after = timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
        if after <= timedelta(0):
            raise ValueError(f"{text!r} is no time at all: give {DEADLINE_FORMAT}")
        if after > _MAX_DURATION:
            raise ValueError(f"{text!r} is more than a year away")
        return Deadline(after=after)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not {DEADLINE_FORMAT}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z or an offset such as +01:00")
    return Deadline(at=moment)


def earliest(*moments: datetime | None) -> datetime | None:
    """The first of the given moments, ignoring None."""
    given = [moment for moment in moments if moment is not None]
    return min(given) if given else None


__all__ = ["DEADLINE_EXCEEDED", "DEADLINE_FORMAT", "Deadline", "earliest", "parse_deadline"]
