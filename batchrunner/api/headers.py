"""Pure functions that read the API's response headers, and the retry timing built on them.

Nothing here performs I/O or reads a clock unless the caller lets it (``parse_retry_after`` takes ``now``).
Header lookups are case-insensitive whatever mapping is passed in.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

__all__ = [
    "RateLimitInfo",
    "backoff_delay",
    "parse_duration",
    "parse_poll_after_ms",
    "parse_rate_limit",
    "parse_retry_after",
]

HeaderSource = Mapping[str, str] | httpx.Headers

_DURATION_UNITS_S = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # Go writes microseconds with the micro sign,
    "\u03bcs": 1e-6,  # and some servers with the Greek mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")


@dataclass(frozen=True)
class RateLimitInfo:
    """The server's view of our rate-limit budget, from the ``x-ratelimit-*`` headers (any subset)."""

    limit_requests: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests_s: float | None = None
    reset_tokens_s: float | None = None


def _header(headers: HeaderSource, name: str) -> str | None:
    lookup = headers if isinstance(headers, httpx.Headers) else httpx.Headers(dict(headers))
    value = lookup.get(name)
    return value.strip() if value is not None else None


def _non_negative_float(text: str | None) -> float | None:
    if text is None or not _PLAIN_NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _non_negative_int(text: str | None) -> int | None:
    value = _non_negative_float(text)
    return int(value) if value is not None else None


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration such as ``"6m0s"``, ``"20ms"`` or ``"1h2m3s"``.

    A bare non-negative number is read as seconds, since some compatible servers send that. Negative,
    empty or malformed values give None.
    """
    text = text.strip()
    if not text:
        return None
    if _PLAIN_NUMBER.fullmatch(text):
        return float(text)
    total = 0.0
    position = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _DURATION_UNITS_S[match.group(2)]
        position = match.end()
    return total if position == len(text) and math.isfinite(total) else None


def parse_retry_after(headers: HeaderSource, *, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms`` first, then ``retry-after``.

    ``retry-after`` may be seconds or an HTTP-date; a date in the past means "now" (0.0). ``now`` is the
    current Unix time for HTTP-dates (the system clock when omitted). Negative or malformed values are
    ignored.
    """
    milliseconds = _non_negative_float(_header(headers, "retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000.0
    value = _header(headers, "retry-after")
    if value is None or not value:
        return None
    seconds = _non_negative_float(value)
    if seconds is not None:
        return seconds
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less date is read as such.
        return None
    reference = time.time() if now is None else now
    return max(0.0, moment.timestamp() - reference)


def parse_poll_after_ms(headers: HeaderSource) -> int | None:
    """The ``openai-poll-after-ms`` hint: milliseconds until the run is worth polling again."""
    return _non_negative_int(_header(headers, "openai-poll-after-ms"))


def parse_rate_limit(headers: HeaderSource) -> RateLimitInfo | None:
    """The six ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` headers; None when none is usable."""

    def reset(name: str) -> float | None:
        value = _header(headers, name)
        return parse_duration(value) if value is not None else None

    info = RateLimitInfo(
        limit_requests=_non_negative_int(_header(headers, "x-ratelimit-limit-requests")),
        limit_tokens=_non_negative_int(_header(headers, "x-ratelimit-limit-tokens")),
        remaining_requests=_non_negative_int(_header(headers, "x-ratelimit-remaining-requests")),
        remaining_tokens=_non_negative_int(_header(headers, "x-ratelimit-remaining-tokens")),
        reset_requests_s=reset("x-ratelimit-reset-requests"),
        reset_tokens_s=reset("x-ratelimit-reset-tokens"),
    )
    return None if info == RateLimitInfo() else info


# Jitter only ever shortens a delay (as the OpenAI SDKs do), so ``cap`` stays a true upper bound.
_JITTER_SHARE = 0.25


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None,
    rand: Callable[[], float],
) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts retries already made).

    The server's ``retry_after`` wins when it is given (it is the server's explicit instruction, so it is
    neither capped nor jittered). Otherwise the delay is ``min(cap, base * 2**attempt)`` reduced by up to
    25 % with ``rand()`` (a float in [0, 1)) so that clients failing together do not retry together.
    """
    if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
        return retry_after
    if base <= 0 or cap <= 0:
        return 0.0
    exponent = max(attempt, 0)
    # Past 2**64 the product is beyond any sensible cap; avoid building huge floats.
    raw = cap if exponent >= 64 else min(cap, base * 2.0**exponent)
    jitter = min(max(rand(), 0.0), 1.0)
    return raw * (1.0 - _JITTER_SHARE * jitter)
