"""Every kind of bad job line, each checked for the exact line number, field and message.

Each case puts its bad line on line 3 of a file, after a valid job and a blank line and before
another valid job, so the tests also check that numbering counts blank lines and that valid
neighbours produce no errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchrunner.jobs import JobFileError, read_job_file
from tests.jobs.jobfile_cases import CASES, Case
from tests.jobs.jobfile_helpers import function_tool, line, params_line, write_lines


def test_matrix_has_distinct_cases() -> None:
    """The matrix covers at least 30 distinct kinds of bad lines, each with a unique name and line."""
    assert len(CASES) >= 30
    assert len({c.name for c in CASES}) == len(CASES)
    assert len({c.bad_line for c in CASES}) == len(CASES)


@pytest.mark.parametrize("bad", CASES, ids=[c.name for c in CASES])
def test_bad_line_is_reported_with_its_line_and_field(bad: Case, tmp_path: Path) -> None:
    """A bad line yields exactly the expected errors, all on its own line, naming field and problem."""
    path = write_lines(tmp_path / "jobs.jsonl", [line(custom_id="first"), "", bad.bad_line, line(custom_id="last")])
    with pytest.raises(JobFileError) as raised:
        read_job_file(path, known_tools=bad.known_tools)
    errors = raised.value.errors
    assert [(error.line_no, error.field) for error in errors] == [(3, field) for field, _ in bad.expected]
    for error, (field, fragment) in zip(errors, bad.expected, strict=True):
        assert fragment in error.message
        prefix = f"{path}:3: {field}: " if field else f"{path}:3: "
        assert str(error) == prefix + error.message
    assert raised.value.path == str(path)


@pytest.mark.parametrize("bad", CASES, ids=[c.name for c in CASES])
def test_skip_invalid_keeps_the_neighbours_of_a_bad_line(bad: Case, tmp_path: Path) -> None:
    """With skip_invalid, the bad line's errors are returned and the valid lines around it are read."""
    path = write_lines(tmp_path / "jobs.jsonl", [line(custom_id="first"), "", bad.bad_line, line(custom_id="last")])
    result = read_job_file(path, known_tools=bad.known_tools, skip_invalid=True)
    assert [job.custom_id for job in result.jobs] == ["first", "last"]
    assert [job.line_no for job in result.jobs] == [1, 4]
    assert {error.line_no for error in result.errors} == {3}


def test_valid_variant_of_each_tool_case_passes_with_known_tools(tmp_path: Path) -> None:
    """The handler check passes when every named function is registered (the cases fail only on names)."""
    tools = [function_tool("calculate"), function_tool("x")]
    path = write_lines(
        tmp_path / "jobs.jsonl",
        [
            params_line(tools=tools),
            json.dumps(
                {
                    "assistant_id": "a",
                    "thread_id": "t",
                    "params": {"tool_choice": {"type": "function", "function": {"name": "x"}}},
                }
            ),
        ],
    )
    result = read_job_file(path, known_tools={"calculate", "x"})
    assert [job.tool_names() for job in result.jobs] == [{"calculate", "x"}, set()]
