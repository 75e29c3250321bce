"""Reading whole job files: good files, file-level problems, numbering, duplicates, skip_invalid."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from batchrunner.jobs import (
    JobFileError,
    LineError,
    LineErrors,
    default_custom_id,
    parse_job_line,
    read_job_file,
)
from tests.jobs.jobfile_helpers import FIXTURES, function_tool, line, params_line, write_lines

GOOD_FILE = FIXTURES / "good_jobs.jsonl"


def test_good_fixture_reads_every_job_in_line_order() -> None:
    """The fixture's jobs come back in order with their line numbers; the blank line 3 is skipped."""
    jobs = read_job_file(GOOD_FILE).jobs
    assert [job.line_no for job in jobs] == [1, 2, 4, 5, 6, 7, 8]
    assert [job.custom_id for job in jobs] == [
        "ticket-42",
        "follow-up",
        "line-4",
        "structured",
        "nullables",
        "modes",
        "json-mode",
    ]
    assert read_job_file(GOOD_FILE).errors == []


def test_params_and_thread_are_exactly_the_given_json() -> None:
    """params and thread hold the line's own JSON: no defaults added, explicit nulls kept, ints stay ints."""
    raw = [json.loads(text) for text in GOOD_FILE.read_text(encoding="utf-8").splitlines() if text.strip()]
    jobs = read_job_file(GOOD_FILE).jobs
    for job, source in zip(jobs, raw, strict=True):
        assert job.params == source.get("params", {})
        assert job.thread == source.get("thread")
        assert job.thread_id == source.get("thread_id")
        assert job.assistant_id == source["assistant_id"]
    nullables = next(job for job in jobs if job.custom_id == "nullables")
    assert nullables.params["temperature"] is None
    follow_up = next(job for job in jobs if job.custom_id == "follow-up")
    assert follow_up.params["top_p"] == 1 and isinstance(follow_up.params["top_p"], int)


def test_defaults_for_a_minimal_job(tmp_path: Path) -> None:
    """A job with only assistant_id and thread_id gets the default custom_id and empty params."""
    path = write_lines(tmp_path / "jobs.jsonl", ["", "", json.dumps({"assistant_id": "asst_1", "thread_id": "t_1"})])
    (job,) = read_job_file(path).jobs
    assert (job.line_no, job.custom_id, job.thread, job.thread_id, job.params) == (
        3,
        "line-3",
        None,
        "t_1",
        {},
    )
    assert default_custom_id(3) == "line-3"


def test_existing_thread_with_additional_messages(tmp_path: Path) -> None:
    """thread_id with params.additional_messages is valid and keeps the messages as given."""
    messages = [
        {"role": "user", "content": "again?"},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
    ]
    text = json.dumps({"assistant_id": "asst_1", "thread_id": "thread_9", "params": {"additional_messages": messages}})
    (job,) = read_job_file(write_lines(tmp_path / "jobs.jsonl", [text])).jobs
    assert job.thread is None and job.thread_id == "thread_9"
    assert job.params["additional_messages"] == messages


def test_crlf_bom_and_missing_final_newline_are_accepted(tmp_path: Path) -> None:
    """Windows line endings, a UTF-8 byte order mark and an unterminated last line all read fine."""
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + line(custom_id="a").encode() + b"\r\n\r\n" + line(custom_id="b").encode())
    jobs = read_job_file(path).jobs
    assert [(job.line_no, job.custom_id) for job in jobs] == [(1, "a"), (3, "b")]


def test_unicode_content_survives(tmp_path: Path) -> None:
    """Non-ASCII text (raw UTF-8 and escaped surrogate pairs) is decoded correctly."""
    text = line(thread={"messages": [{"role": "user", "content": "Grüße 🚀"}]}).replace("🚀", "\\ud83d\\ude80")
    path = write_lines(tmp_path / "jobs.jsonl", [text.replace("\\u00fc", "ü")])
    (job,) = read_job_file(path).jobs
    assert job.thread is not None and job.thread["messages"][0]["content"] == "Grüße 🚀"


@pytest.mark.parametrize("content", [b"", b"\n", b"  \n\t\n\r\n"], ids=["empty", "one newline", "blank lines"])
def test_file_without_jobs_is_an_error(content: bytes, tmp_path: Path) -> None:
    """An empty file, or one of blank lines only, is rejected as containing no jobs."""
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(content)
    with pytest.raises(JobFileError) as raised:
        read_job_file(path)
    assert raised.value.errors == [LineError(0, "", "file contains no jobs", str(path))]
    assert str(raised.value) == f"{path}: file contains no jobs"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """A path that does not exist raises JobFileError saying so, not FileNotFoundError."""
    path = tmp_path / "nope.jsonl"
    with pytest.raises(JobFileError) as raised:
        read_job_file(path)
    assert str(raised.value) == f"{path}: file not found"


def test_directory_is_a_clear_error(tmp_path: Path) -> None:
    """A directory given as the job file raises JobFileError naming the OS reason."""
    with pytest.raises(JobFileError) as raised:
        read_job_file(tmp_path)
    assert str(raised.value).startswith(f"{tmp_path}: cannot read file: ")


def test_oversized_line_is_rejected_unparsed_and_numbering_continues(tmp_path: Path) -> None:
    """A line over max_line_bytes is an error on its line; the lines after it keep their numbers."""
    small = line(custom_id="ok")
    huge = line(custom_id="big", thread={"messages": [{"role": "user", "content": "x" * 5_000_000}]})
    path = write_lines(tmp_path / "jobs.jsonl", [small, huge, line(custom_id="after")])
    result = read_job_file(path, max_line_bytes=1000, skip_invalid=True)
    assert [(job.line_no, job.custom_id) for job in result.jobs] == [(1, "ok"), (3, "after")]
    assert result.errors == [LineError(2, "", "line is longer than 1000 bytes; not parsed", str(path))]


def test_line_of_exactly_max_line_bytes_is_parsed(tmp_path: Path) -> None:
    """The limit is inclusive and does not count the line ending (LF or CRLF)."""
    text = line(custom_id="edge")
    for newline in (b"\n", b"\r\n"):
        path = write_lines(tmp_path / "jobs.jsonl", [text], newline=newline)
        assert [job.custom_id for job in read_job_file(path, max_line_bytes=len(text)).jobs] == ["edge"]
        with pytest.raises(JobFileError, match="longer than"):
            read_job_file(path, max_line_bytes=len(text) - 1)


def test_duplicate_explicit_custom_id_names_both_lines(tmp_path: Path) -> None:
    """A custom_id used twice is an error on the second line that names the first."""
    path = write_lines(tmp_path / "jobs.jsonl", [line(custom_id="a"), line(custom_id="b"), line(custom_id="a")])
    with pytest.raises(JobFileError) as raised:
        read_job_file(path)
    (error,) = raised.value.errors
    assert (error.line_no, error.field) == (3, "custom_id")
    assert error.message == 'duplicate custom_id "a" (also on line 1)'


def test_default_custom_id_colliding_with_an_explicit_one(tmp_path: Path) -> None:
    """A line without custom_id whose default id is already taken is reported, explaining the default."""
    path = write_lines(tmp_path / "jobs.jsonl", [line(custom_id="line-2"), line()])
    with pytest.raises(JobFileError) as raised:
        read_job_file(path)
    (error,) = raised.value.errors
    assert (error.line_no, error.field) == (2, "custom_id")
    assert "also on line 1" in error.message and "gives no custom_id" in error.message


def test_all_errors_of_all_lines_are_reported_in_line_order(tmp_path: Path) -> None:
    """Nothing is returned when any line is bad, and the error lists every problem of every line."""
    path = write_lines(
        tmp_path / "jobs.jsonl",
        [
            params_line(temperature=5, top_p=-1),
            line(custom_id="fine"),
            "{oops",
            line(custom_id="fine"),
        ],
    )
    with pytest.raises(JobFileError) as raised:
        read_job_file(path)
    found = [(error.line_no, error.field) for error in raised.value.errors]
    assert found == [(1, "params.temperature"), (1, "params.top_p"), (3, ""), (4, "custom_id")]
    assert str(raised.value).splitlines()[0] == f"{path}:1: params.temperature: must be <= 2 (got 5)"


def test_error_listing_is_capped_at_fifty(tmp_path: Path) -> None:
    """str() of a file with many bad lines lists 50 errors and counts the rest."""
    path = write_lines(tmp_path / "jobs.jsonl", ["[]"] * 120)
    with pytest.raises(JobFileError) as raised:
        read_job_file(path)
    assert len(raised.value.errors) == 120
    listed = str(raised.value).splitlines()
    assert len(listed) == 51
    assert listed[49].startswith(f"{path}:50: ")
    assert listed[50] == "... and 70 more"


def test_skip_invalid_returns_valid_jobs_and_every_error(tmp_path: Path) -> None:
    """skip_invalid returns the valid jobs (first of duplicates kept) plus the errors of the rest."""
    path = write_lines(
        tmp_path / "jobs.jsonl",
        [
            line(custom_id="a"),
            params_line(temperature="hot"),
            line(custom_id="a"),
            line(custom_id="b"),
            "[]",
        ],
    )
    result = read_job_file(path, skip_invalid=True)
    assert [(job.line_no, job.custom_id) for job in result.jobs] == [(1, "a"), (4, "b")]
    assert [(error.line_no, error.field) for error in result.errors] == [
        (2, "params.temperature"),
        (3, "custom_id"),
        (5, ""),
    ]


def test_skip_invalid_with_only_bad_lines_returns_no_jobs(tmp_path: Path) -> None:
    """A file whose every line is bad yields no jobs and all errors under skip_invalid (not 'no jobs')."""
    path = write_lines(tmp_path / "jobs.jsonl", ["[]", "{}"])
    result = read_job_file(path, skip_invalid=True)
    assert result.jobs == []
    assert [error.line_no for error in result.errors] == [1, 2, 2]


def test_parse_job_line_raises_line_errors() -> None:
    """parse_job_line checks one line alone and raises LineErrors carrying each error."""
    with pytest.raises(LineErrors) as raised:
        parse_job_line(params_line(temperature=9, tools=[function_tool("nope")]), 7, known_tools={"calc"})
    assert [str(error) for error in raised.value.errors] == [
        "line 7: params.tools[0].function.name: no tool handler registered for 'nope'",
        "line 7: params.temperature: must be <= 2 (got 9)",
    ]
    spec = parse_job_line(line(custom_id="solo"), 7)
    assert (spec.line_no, spec.custom_id) == (7, "solo")


def test_known_tools_none_skips_the_handler_check() -> None:
    """Without known_tools any well-formed function name is accepted."""
    spec = parse_job_line(params_line(tools=[function_tool("anything_at_all")]), 1)
    assert spec.tool_names() == {"anything_at_all"}


def test_large_file_reads_quickly(tmp_path: Path) -> None:
    """20,000 typical jobs validate in well under the time a quadratic reader would need."""
    path = tmp_path / "jobs.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        for index in range(20_000):
            stream.write(line(custom_id=f"job-{index}", params={"temperature": 0.2, "metadata": {"n": str(index)}}))
            stream.write("\n")
    started = time.perf_counter()
    result = read_job_file(path)
    elapsed = time.perf_counter() - started
    assert len(result.jobs) == 20_000
    assert elapsed < 10, f"reading 20k jobs took {elapsed:.1f}s"


def test_max_line_bytes_must_be_positive(tmp_path: Path) -> None:
    """A non-positive max_line_bytes is a programming error, reported before the file is opened."""
    with pytest.raises(ValueError, match="max_line_bytes"):
        read_job_file(tmp_path / "absent.jsonl", max_line_bytes=0)
