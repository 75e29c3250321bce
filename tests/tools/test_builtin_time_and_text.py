"""The current_time and text_statistics tools."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchrunner.tools.builtin import MAX_TEXT_CHARS, current_time, text_statistics
from batchrunner.tools.protocol import ToolInputError

SUMMER_NOON_UTC = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)  # a Monday
WINTER_NOON_UTC = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)  # a Monday


def fixed(moment: datetime) -> Any:
    return lambda: moment


@pytest.mark.parametrize(
    ("timezone", "moment", "iso", "offset", "weekday"),
    [
        ("UTC", SUMMER_NOON_UTC, "2024-07-01T12:00:00+00:00", "+00:00", "Monday"),
        ("Asia/Kolkata", SUMMER_NOON_UTC, "2024-07-01T17:30:00+05:30", "+05:30", "Monday"),
        ("America/New_York", SUMMER_NOON_UTC, "2024-07-01T08:00:00-04:00", "-04:00", "Monday"),
        ("America/New_York", WINTER_NOON_UTC, "2024-01-15T07:00:00-05:00", "-05:00", "Monday"),
        ("Pacific/Kiritimati", SUMMER_NOON_UTC, "2024-07-02T02:00:00+14:00", "+14:00", "Tuesday"),
        ("Asia/Kathmandu", WINTER_NOON_UTC, "2024-01-15T17:45:00+05:45", "+05:45", "Monday"),
        (" Europe/Paris ", WINTER_NOON_UTC, "2024-01-15T13:00:00+01:00", "+01:00", "Monday"),
    ],
)
def test_current_time_in_a_zone(timezone: str, moment: datetime, iso: str, offset: str, weekday: str) -> None:
    """The time, UTC offset (daylight saving included) and weekday are those of the requested zone."""
    answer = current_time({"timezone": timezone}, clock=fixed(moment))
    assert answer["timezone"] == timezone.strip()
    assert answer["datetime"] == iso
    assert answer["utc_offset"] == offset
    assert answer["weekday"] == weekday
    assert answer["unix_timestamp"] == int(moment.timestamp())
    assert datetime.fromisoformat(answer["datetime"]) == moment


@pytest.mark.parametrize("arguments", [{}, {"timezone": None}])
def test_current_time_defaults_to_utc(arguments: dict[str, Any]) -> None:
    """Without a timezone the answer is in UTC."""
    answer = current_time(arguments, clock=fixed(SUMMER_NOON_UTC))
    assert (answer["timezone"], answer["utc_offset"]) == ("UTC", "+00:00")


def test_current_time_uses_the_real_clock_by_default() -> None:
    """Without an injected clock the answer is the present moment."""
    answer = current_time({"timezone": "Asia/Tokyo"})
    shown = datetime.fromisoformat(answer["datetime"])
    assert abs(shown - datetime.now(UTC)) < timedelta(seconds=5)
    assert answer["utc_offset"] == "+09:00"


@pytest.mark.parametrize(
    ("timezone", "message"),
    [
        ("Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'"),
        ("America", "unknown time zone"),
        ("../../etc/passwd", "unknown time zone"),
        ("/etc/passwd", "unknown time zone"),
        ("zone.tab", "unknown time zone"),
        ("UTC\x00", "unknown time zone"),
        ("A" * 5000, "unknown time zone"),
        ("", "must be an IANA time zone name"),
        (42, "must be an IANA time zone name"),
        (["UTC"], "must be an IANA time zone name"),
    ],
)
def test_unknown_or_hostile_zones_are_refused(timezone: Any, message: str) -> None:
    """Names that are not IANA zones, including paths, raise ToolInputError suggesting valid names."""
    with pytest.raises(ToolInputError, match=message) as caught:
        current_time({"timezone": timezone})
    assert len(str(caught.value)) < 300


def test_text_statistics_counts() -> None:
    """Characters, words, sentences, lines and average word length of a small text."""
    text = "The cat sat. The CAT ran!\nWhy? Because the dog's well-known bark scared it"
    words = [
        "The",
        "cat",
        "sat",
        "The",
        "CAT",
        "ran",
        "Why",
        "Because",
        "the",
        "dog's",
        "well-known",
        "bark",
        "scared",
        "it",
    ]
    stats = text_statistics({"text": text})
    assert stats["characters"] == len(text)
    assert stats["words"] == len(words)
    assert stats["sentences"] == 4
    assert stats["lines"] == 2
    assert stats["average_word_length"] == round(sum(map(len, words)) / len(words), 2)


def test_most_common_words_are_case_folded_and_skip_short_words() -> None:
    """The top five words are case-folded, ties broken alphabetically, and words under 3 letters left out."""
    text = "Zeta zeta ZETA alpha Alpha beta gamma delta epsilon a a a a an an an an is is is is"
    stats = text_statistics({"text": text})
    assert stats["most_common_words"] == [
        {"word": "zeta", "count": 3},
        {"word": "alpha", "count": 2},
        {"word": "beta", "count": 1},
        {"word": "delta", "count": 1},
        {"word": "epsilon", "count": 1},
    ]


@pytest.mark.parametrize(
    ("text", "words", "sentences", "lines"),
    [
        ("", 0, 0, 0),
        ("   \n\n  ", 0, 0, 3),
        ("no terminator at all", 4, 1, 1),
        ("Pi is 3.14 exactly. Or not", 6, 2, 1),
        ("1,000 items cost 2.50 each", 5, 1, 1),
        ("Wait... what?! Really.", 3, 3, 1),
        ("Grüße aus Köln. Straße", 4, 2, 1),
        ("snake_case words", 3, 1, 1),
        ("一 二 三", 3, 1, 1),
        ("line one\r\nline two\rline three\n", 6, 1, 3),
    ],
)
def test_text_statistics_edge_cases(text: str, words: int, sentences: int, lines: int) -> None:
    """Empty, blank, unterminated, decimal, Unicode and mixed-newline texts are counted sensibly."""
    stats = text_statistics({"text": text})
    assert (stats["words"], stats["sentences"], stats["lines"]) == (words, sentences, lines)
    assert stats["characters"] == len(text)


def test_text_statistics_of_no_words_has_zero_average() -> None:
    """A text without words has average word length 0.0 and no common words, not a division error."""
    stats = text_statistics({"text": "?! ..."})
    assert stats["average_word_length"] == 0.0
    assert stats["most_common_words"] == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "'text' is required and must be a string"),
        ({"text": 5}, "must be a string"),
        ({"text": ["a"]}, "must be a string"),
        ({"text": "x" * (MAX_TEXT_CHARS + 1)}, f"the limit is {MAX_TEXT_CHARS}"),
    ],
)
def test_text_statistics_refuses_bad_text(arguments: dict[str, Any], message: str) -> None:
    """A missing, non-string or overlong text raises ToolInputError."""
    with pytest.raises(ToolInputError, match=message):
        text_statistics(arguments)
