"""The calculate tool: correct arithmetic, and refusal of everything that is not arithmetic."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from batchrunner.tools.builtin import MAX_EXPRESSION_CHARS, calculate
from batchrunner.tools.protocol import ToolInputError


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 1 + 2 * 3),
        ("(1 + 2) * 3", (1 + 2) * 3),
        ("7 / 2", 7 / 2),
        ("7 // 2", 7 // 2),
        ("-7 % 3", -7 % 3),
        ("2 ** 10", 2**10),
        ("2 ** -2", 2**-2),
        ("-(3 - 5)", -(3 - 5)),
        ("+4", 4),
        ("1_000 * 1.5", 1_000 * 1.5),
        ("1e3 + 0.5", 1e3 + 0.5),
        ("2 * (3 + sqrt(16))", 2 * (3 + math.sqrt(16))),
        ("abs(-3.5)", abs(-3.5)),
        ("round(2.567, 2)", round(2.567, 2)),
        ("round(2.5)", round(2.5)),
        ("min(3, 1, 2)", 1),
        ("max(3, 1, 2)", 3),
        ("floor(-2.5) + ceil(2.1)", math.floor(-2.5) + math.ceil(2.1)),
        ("log(8, 2)", math.log(8, 2)),
        ("log(e)", math.log(math.e)),
        ("exp(1)", math.exp(1)),
        ("pi * 2", math.pi * 2),
        ("2 ** 3000", 2**3000),
        ("  3 * 3  ", 9),
    ],
)
def test_arithmetic_is_evaluated(expression: str, expected: float) -> None:
    """Numbers, operators, parentheses, constants and the allowed functions give Python's own answers."""
    assert calculate({"expression": expression}) == {"expression": expression, "result": expected}


def test_result_type_follows_the_arithmetic() -> None:
    """Whole-number arithmetic stays an int; division gives a float."""
    assert isinstance(calculate({"expression": "6 * 7"})["result"], int)
    assert isinstance(calculate({"expression": "6 / 3"})["result"], float)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('id')", "only these functions can be called"),
        ("open('/etc/passwd')", "only these functions can be called"),
        ("().__class__.__bases__", "Attribute is not allowed"),
        ("(1).real", "Attribute is not allowed"),
        ("x + 1", "unknown name 'x'"),
        ("__builtins__", "unknown name"),
        ("lambda: 1", "Lambda is not allowed"),
        ("[1, 2][0]", "Subscript is not allowed"),
        ("[x for x in (1, 2)]", "ListComp is not allowed"),
        ("1 if 1 else 2", "IfExp is not allowed"),
        ("1 < 2", "Compare is not allowed"),
        ("1 and 2", "BoolOp is not allowed"),
        ("not 1", "UnaryOp is not allowed"),
        ("~1", "UnaryOp is not allowed"),
        ("1 << 3", "operator LShift is not allowed"),
        ("6 & 3", "operator BitAnd is not allowed"),
        ("'a' * 3", "only numbers are allowed"),
        ("True + 1", "only numbers are allowed"),
        ("None", "only numbers are allowed"),
        ("2j", "only numbers are allowed"),
        ("f'{1}'", "JoinedStr is not allowed"),
        ("(y := 2)", "NamedExpr is not allowed"),
        ("abs(x=1)", "only these functions can be called, with plain arguments"),
        ("sqrt(*[4])", "Starred is not allowed"),
        ("max()", r"max\(\) takes 1 to 64 arguments"),
        ("sqrt(1, 2)", r"sqrt\(\) takes 1 argument"),
        ("import os", "not valid arithmetic"),
        ("1 +", "not valid arithmetic"),
        ("1; 2", "not valid arithmetic"),
        ("1\x002", "not valid arithmetic"),
    ],
)
def test_anything_but_arithmetic_is_refused(expression: str, message: str) -> None:
    """Names, attributes, other calls, other syntax and non-numbers raise ToolInputError saying why."""
    with pytest.raises(ToolInputError, match=message):
        calculate({"expression": expression})


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("9 ** 9 ** 9", "too large"),
        ("10 ** 10000", "too large"),
        ("(2 ** 3000) * (2 ** 3000)", "too large"),
        ("2 ** 3999 / 3", "cannot be evaluated"),
        ("1e308 * 10", "too large"),
        ("1e999", "too large"),
        ("10.0 ** 400", "cannot be evaluated"),
        ("exp(1000)", "cannot be evaluated"),
        ("round(5, -10 ** 9)", "whole number of digits"),
        ("round(5, 0.5)", "whole number of digits"),
        ("1 / 0", "division by zero"),
        ("1 % 0", "cannot be evaluated"),
        ("0 ** -1", "cannot be evaluated"),
        ("sqrt(-1)", "math domain error"),
        ("log(0)", "math domain error"),
        ("(-8) ** (1 / 3)", "not a real number"),
        ("-" * 60 + "1", "nested more than"),
        ("(" * 240 + "1" + ")" * 240, "not valid arithmetic"),
    ],
)
def test_hostile_arithmetic_is_refused_quickly(expression: str, message: str) -> None:
    """Huge powers, overflow, domain errors and deep nesting raise ToolInputError in well under a second."""
    started = time.monotonic()
    with pytest.raises(ToolInputError, match=message):
        calculate({"expression": expression})
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "'expression' is required and must be a string"),
        ({"expression": 12}, "must be a string"),
        ({"expression": None}, "must be a string"),
        ({"expression": "   "}, "must not be empty"),
        ({"expression": "1+" * MAX_EXPRESSION_CHARS + "1"}, f"the limit is {MAX_EXPRESSION_CHARS}"),
    ],
)
def test_missing_or_overlong_expressions_are_refused(arguments: dict[str, Any], message: str) -> None:
    """The expression must be a non-empty string no longer than MAX_EXPRESSION_CHARS."""
    with pytest.raises(ToolInputError, match=message):
        calculate(arguments)
