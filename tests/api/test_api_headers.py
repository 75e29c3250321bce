"""Tables for the pure header parsers and the retry timing in ``batchrunner.api.headers``."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from batchrunner.api.headers import (
    RateLimitInfo,
    backoff_delay,
    parse_duration,
    parse_poll_after_ms,
    parse_rate_limit,
    parse_retry_after,
)

NOW = 1_700_000_000.0
HTTP_DATE_IN_30S = format_datetime(datetime.fromtimestamp(NOW + 30, tz=UTC), usegmt=True)
HTTP_DATE_IN_PAST = format_datetime(datetime.fromtimestamp(NOW - 30, tz=UTC), usegmt=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1m30.5s", 90.5),
        ("1h2m3s", 3723.0),
        ("500us", 0.0005),
        ("500\u00b5s", 0.0005),
        ("7ns", 7e-9),
        ("0s", 0.0),
        ("0", 0.0),
        ("2.5", 2.5),
        (" 3s ", 3.0),
        (".5s", 0.5),
        ("", None),
        ("-1s", None),
        ("1x", None),
        ("s", None),
        ("1s garbage", None),
        ("1 s", None),
        ("abc", None),
    ],
)
def test_parse_duration(text: str, expected: float | None) -> None:
    """Go-style durations become seconds; malformed or negative ones become None."""
    result = parse_duration(text)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250.5"}, 0.2505),
        ({"Retry-After-Ms": "100", "Retry-After": "9"}, 0.1),
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after-ms": "-5", "retry-after": "3"}, 3.0),
        ({"retry-after-ms": "soon", "retry-after": "4"}, 4.0),
        ({"retry-after": HTTP_DATE_IN_30S}, 30.0),
        ({"retry-after": HTTP_DATE_IN_PAST}, 0.0),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "tomorrow"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after-ms": "nan"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """retry-after-ms wins over retry-after; seconds and HTTP-dates are read; garbage is ignored."""
    result = parse_retry_after(headers, now=NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


def test_parse_retry_after_reads_httpx_headers() -> None:
    """An ``httpx.Headers`` object is read case-insensitively like a plain mapping."""
    assert parse_retry_after(httpx.Headers({"RETRY-AFTER": "12"})) == 12.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"openai-poll-after-ms": "1500"}, 1500),
        ({"OpenAI-Poll-After-Ms": "0"}, 0),
        ({"openai-poll-after-ms": "250.9"}, 250),
        ({"openai-poll-after-ms": "-1"}, None),
        ({"openai-poll-after-ms": "later"}, None),
        ({}, None),
    ],
)
def test_parse_poll_after_ms(headers: dict[str, str], expected: int | None) -> None:
    """The poll hint is a non-negative integer of milliseconds, else None."""
    assert parse_poll_after_ms(headers) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {
                "x-ratelimit-limit-requests": "500",
                "x-ratelimit-limit-tokens": "30000",
                "x-ratelimit-remaining-requests": "499",
                "x-ratelimit-remaining-tokens": "29000",
                "x-ratelimit-reset-requests": "120ms",
                "x-ratelimit-reset-tokens": "6m0s",
            },
            RateLimitInfo(500, 30000, 499, 29000, 0.12, 360.0),
        ),
        ({"x-ratelimit-remaining-tokens": "0"}, RateLimitInfo(remaining_tokens=0)),
        ({"X-RateLimit-Reset-Requests": "1s"}, RateLimitInfo(reset_requests_s=1.0)),
        (
            {"x-ratelimit-limit-requests": "many", "x-ratelimit-remaining-requests": "3"},
            RateLimitInfo(remaining_requests=3),
        ),
        ({"x-ratelimit-reset-tokens": "soon"}, None),
        ({"content-type": "application/json"}, None),
    ],
)
def test_parse_rate_limit(headers: dict[str, str], expected: RateLimitInfo | None) -> None:
    """Any subset of the six x-ratelimit headers is read; unusable values are left out."""
    assert parse_rate_limit(headers) == expected


@pytest.mark.parametrize(
    ("attempt", "retry_after", "rand_value", "expected"),
    [
        (0, None, 0.0, 0.5),
        (1, None, 0.0, 1.0),
        (2, None, 0.0, 2.0),
        (3, None, 0.0, 4.0),
        (4, None, 0.0, 8.0),
        (5, None, 0.0, 8.0),
        (500, None, 0.0, 8.0),
        (-3, None, 0.0, 0.5),
        (0, None, 1.0, 0.375),
        (2, None, 0.5, 1.75),
        (5, None, 1.0, 6.0),
        (2, 30.0, 0.9, 30.0),
        (7, 0.0, 0.9, 0.0),
        (0, 3.25, 0.0, 3.25),
        (3, -1.0, 0.0, 4.0),
        (3, float("nan"), 0.0, 4.0),
    ],
)
def test_backoff_delay(attempt: int, retry_after: float | None, rand_value: float, expected: float) -> None:
    """Capped exponential backoff shortened by up to 25 % jitter; a valid retry_after is used as is."""
    delay = backoff_delay(attempt, base=0.5, cap=8.0, retry_after=retry_after, rand=lambda: rand_value)
    assert delay == pytest.approx(expected)


def test_backoff_delay_stays_within_cap_for_any_jitter() -> None:
    """Whatever the random source returns, the delay stays within [0.75 * raw, cap]."""
    for attempt in range(12):
        for value in (-1.0, 0.0, 0.3, 0.999, 2.0):
            delay = backoff_delay(attempt, base=0.5, cap=8.0, retry_after=None, rand=lambda: value)  # noqa: B023
            raw = min(8.0, 0.5 * 2**attempt)
            assert 0.75 * raw - 1e-9 <= delay <= raw + 1e-9
