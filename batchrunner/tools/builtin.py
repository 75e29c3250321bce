"""Built-in tool handlers, registered through the ``batchrunner.tools`` entry points in pyproject.toml.

- ``calculate``: ``{"expression": "2 * (3 + sqrt(16))"}`` → ``{"expression": ..., "result": 14.0}``
- ``current_time``: ``{"timezone": "Europe/Paris"}`` → ISO-8601 time, UTC offset and weekday there
- ``text_statistics``: ``{"text": "..."}`` → characters, words, sentences, lines, common words

Each one checks its arguments and raises ``ToolInputError`` with a message the model can act on.
"""

from __future__ import annotations

import ast
import math
import re
import zoneinfo
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from batchrunner.tools.protocol import ToolInputError

MAX_EXPRESSION_CHARS = 500
MAX_TEXT_CHARS = 1_000_000
# Integers stay below about 1,200 digits, so every operation on them is quick and they print as JSON.
_MAX_INT_BITS = 4000
_MAX_NESTING = 50
_MAX_ROUND_DIGITS = 100
_MIN_COMMON_WORD_CHARS = 3

Number = int | float

_BINARY_OPERATORS: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _log(x: Number, base: Number = math.e) -> float:
    return math.log(x, base)


def _round(x: Number, digits: Number | None = None) -> Number:
    if digits is None:
        return round(x)
    if not isinstance(digits, int) or abs(digits) > _MAX_ROUND_DIGITS:
        raise ToolInputError(
            f"round() takes a whole number of digits between -{_MAX_ROUND_DIGITS} and {_MAX_ROUND_DIGITS}"
        )
    return round(x, digits)


def _min(*values: Number) -> Number:
    return min(values)


def _max(*values: Number) -> Number:
    return max(values)


# name: (function, smallest and largest number of arguments)
_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "sqrt": (math.sqrt, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (_min, 1, 64),
    "max": (_max, 1, 64),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "log": (_log, 1, 2),
    "exp": (math.exp, 1, 1),
}


def calculate(arguments: dict[str, Any], /) -> dict[str, Any]:
    """Evaluate an arithmetic expression safely: numbers, + - * / // % **, parentheses, a few functions."""
    expression = _text_argument(arguments, "expression", MAX_EXPRESSION_CHARS)
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ToolInputError(f"the expression is not valid arithmetic: {getattr(exc, 'msg', exc)}") from None
    try:
        result = _evaluate(tree.body, depth=0)
    except ToolInputError:
        raise
    except (ZeroDivisionError, OverflowError) as exc:
        raise ToolInputError(f"the expression cannot be evaluated: {exc}") from None
    except ValueError as exc:  # math domain errors such as sqrt(-1) or log(0)
        raise ToolInputError(f"the expression cannot be evaluated: {exc}") from None
    return {"expression": expression, "result": result}


def _evaluate(node: ast.expr, depth: int) -> Number:
    if depth > _MAX_NESTING:
        raise ToolInputError(f"the expression is nested more than {_MAX_NESTING} levels deep")
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ToolInputError(f"only numbers are allowed, not {value!r}")
        return _checked(value)
    if isinstance(node, ast.Name):
        if node.id not in _CONSTANTS:
            raise ToolInputError(f"unknown name {node.id!r}; the only constants are {', '.join(_CONSTANTS)}")
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        operand = _evaluate(node.operand, depth + 1)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left = _evaluate(node.left, depth + 1)
        right = _evaluate(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            return _checked(_power(left, right))
        operator = _BINARY_OPERATORS.get(type(node.op))
        if operator is None:
            raise ToolInputError(f"the operator {type(node.op).__name__} is not allowed; use + - * / // % **")
        return _checked(operator(left, right))
    if isinstance(node, ast.Call):
        return _checked(_call(node, depth))
    raise ToolInputError(f"{type(node).__name__} is not allowed in an arithmetic expression")


def _call(node: ast.Call, depth: int) -> Number:
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if name not in _FUNCTIONS or node.keywords:
        raise ToolInputError(f"only these functions can be called, with plain arguments: {', '.join(_FUNCTIONS)}")
    function, fewest, most = _FUNCTIONS[name]
    if not fewest <= len(node.args) <= most:
        count = f"{fewest} to {most}" if most != fewest else str(fewest)
        raise ToolInputError(f"{name}() takes {count} argument{'s' if most > 1 else ''}")
    return function(*(_evaluate(argument, depth + 1) for argument in node.args))


def _power(base: Number, exponent: Number) -> Number:
    # Checked before computing: 9**9**9 would otherwise take minutes and gigabytes.
    whole = isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1
    if whole and exponent * math.log2(abs(base)) > _MAX_INT_BITS:
        raise ToolInputError(f"the result of {_short(base)}**{_short(exponent)} is too large")
    result = base**exponent
    if isinstance(result, complex):
        raise ToolInputError("the result is not a real number (a negative number to a fractional power)")
    return result


def _checked(value: Number) -> Number:
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolInputError("the result is too large (or not a number)")
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise ToolInputError("the result is too large")
    return value


def _short(value: Number) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:8] + "..." + text[-8:]


def current_time(arguments: dict[str, Any], /, *, clock: Callable[[], datetime] | None = None) -> dict[str, Any]:
    """The current date and time in an IANA time zone (``UTC`` unless one is given)."""
    name = arguments.get("timezone")
    name = "UTC" if name is None else name
    if not isinstance(name, str) or not name.strip():
        raise ToolInputError("'timezone' must be an IANA time zone name such as 'Europe/Paris' or 'UTC'")
    zone = _zone(name.strip())
    now = (clock or _utc_now)().astimezone(zone)
    offset = now.utcoffset() or timedelta(0)
    return {
        "timezone": name.strip(),
        "datetime": now.isoformat(timespec="seconds"),
        "utc_offset": _format_offset(offset),
        "weekday": now.strftime("%A"),
        "abbreviation": now.tzname(),
        "unix_timestamp": int(now.timestamp()),
    }


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ToolInputError(
            f"unknown time zone {name[:64]!r}: use an IANA name such as 'America/New_York', 'Asia/Tokyo' or 'UTC'"
        ) from None


def _format_offset(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


# Apostrophes and hyphens join the parts of one word ("don't", "well-known"), as do a point or comma
# between digits ("3.14", "1,000").
_WORD = re.compile(r"[^\W_]+(?:(?:['\u2019-]|(?<=\d)[.,](?=\d))[^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?…]+(?=\s|$)")


def text_statistics(arguments: dict[str, Any], /) -> dict[str, Any]:
    """Counts of characters, words, sentences and lines, the most common words and the average word length."""
    text = _text_argument(arguments, "text", MAX_TEXT_CHARS, allow_empty=True)
    words = _WORD.findall(text)
    common = Counter(word.casefold() for word in words if len(word) >= _MIN_COMMON_WORD_CHARS)
    top = sorted(common.items(), key=lambda item: (-item[1], item[0]))[:5]
    sentences = [part for part in _SENTENCE_END.split(text) if _WORD.search(part)]
    return {
        "characters": len(text),
        "words": len(words),
        "sentences": len(sentences),
        "lines": len(text.splitlines()),
        "most_common_words": [{"word": word, "count": count} for word, count in top],
        "average_word_length": round(sum(map(len, words)) / len(words), 2) if words else 0.0,
    }


def _text_argument(arguments: dict[str, Any], key: str, max_chars: int, *, allow_empty: bool = False) -> str:
    value = arguments.get(key)
    if not isinstance(value, str):
        raise ToolInputError(f"'{key}' is required and must be a string")
    if not allow_empty and not value.strip():
        raise ToolInputError(f"'{key}' must not be empty")
    if len(value) > max_chars:
        raise ToolInputError(f"'{key}' is {len(value)} characters long; the limit is {max_chars}")
    return value
