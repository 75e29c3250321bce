"""The crash tests' own tools: the job generator and the record checks (no services needed)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batchrunner.jobs import read_job_file
from batchrunner.processor import run_tag
from batchrunner.testing.checks import (
    BatchRecords,
    JobRow,
    RunRow,
    assert_all_terminal,
    assert_complete_records,
    assert_no_half_written_runs,
    assert_one_run_per_attempt,
)
from batchrunner.testing.jobgen import SHARED_THREAD_ID, TOOL_ASSISTANTS, generate_jobs, tool_job_ids, write_job_file

pytestmark = pytest.mark.crash

BUILTIN_TOOLS = {"calculate", "current_time", "text_statistics"}
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_generated_jobs_have_the_asked_mix_and_are_valid(tmp_path: Path) -> None:
    """generate_jobs gives the asked numbers of tool and shared-thread jobs, all valid job lines with unique ids."""
    jobs = generate_jobs(200, tool_share=0.25, shared_thread_jobs=4, seed=3)
    parsed = read_job_file(write_job_file(tmp_path / "jobs.jsonl", jobs), known_tools=BUILTIN_TOOLS)
    assert len(parsed.jobs) == 200 and parsed.errors == []
    assert len(tool_job_ids(jobs)) == 50
    assert {spec.assistant_id for spec in parsed.jobs} == {*TOOL_ASSISTANTS, "asst_support"}
    assert Counter(spec.thread_id for spec in parsed.jobs)[SHARED_THREAD_ID] == 4
    assert len({spec.custom_id for spec in parsed.jobs}) == 200
    assert generate_jobs(200, tool_share=0.25, shared_thread_jobs=4, seed=3) == jobs
    assert generate_jobs(200, tool_share=0.25, shared_thread_jobs=4, seed=4) != jobs


def test_generate_jobs_rejects_an_impossible_mix() -> None:
    """More tool and shared-thread jobs than jobs, or a share outside [0, 1], is an error."""
    with pytest.raises(ValueError):
        generate_jobs(4, tool_share=0.5, shared_thread_jobs=3)
    with pytest.raises(ValueError):
        generate_jobs(10, tool_share=1.5)


def _records(*, tool_calls: int = 1, finished: datetime | None = NOW, total: int | None = 30) -> BatchRecords:
    jobs = {
        "a": JobRow(1, "a", "asst_support", "succeeded", 1, "run_a", 0, None, "answer"),
        "b": JobRow(2, "b", "asst_math", "succeeded", 1, "run_b", 0, None, "42"),
    }
    runs = [
        RunRow(10, 1, "a", 1, 0, "assistants", "run_a", "completed", "succeeded", 10, 20, 30, NOW),
        RunRow(11, 2, "b", 1, 0, "assistants", "run_b", "completed", "succeeded", 10, 20, total, finished),
    ]
    records = BatchRecords(
        "batch", jobs, runs, step_types={10: {"message_creation"}, 11: {"tool_calls", "message_creation"}}
    )
    records.assistant_messages.update({10: 1, 11: 1})
    records.tool_invocations[11] = tool_calls
    return records


def _stats(**counts: int) -> dict[str, object]:
    return {"runs_by_job_key": {run_tag("batch", custom_id, 1): n for custom_id, n in counts.items()}}


def test_checks_pass_on_complete_records() -> None:
    """Whole records with one API run per attempt pass every check."""
    records = _records()
    assert_all_terminal(records)
    assert_one_run_per_attempt(records, _stats(a=1, b=1))
    assert_complete_records(records)
    assert_no_half_written_runs(records)


@pytest.mark.parametrize(
    ("stats", "message"),
    [
        (_stats(a=1, b=2), "batch/b#1: 2 runs created at the API"),
        (_stats(a=1), "batch/b#1: in the runs table, never created at the API"),
        (_stats(a=1, b=1, c=1), "batch/c#1: created at the API, not in the runs table"),
    ],
)
def test_one_run_per_attempt_names_the_offending_attempt(stats: dict[str, object], message: str) -> None:
    """A duplicated, unrecorded or phantom run fails the check, naming the job attempt."""
    with pytest.raises(AssertionError, match=message.replace("#", "\\#")):
        assert_one_run_per_attempt(_records(), stats)


def test_incomplete_or_half_written_records_fail() -> None:
    """Missing usage or tool calls fail the completeness check; an unfinished run record fails the half-written one."""
    with pytest.raises(AssertionError, match="b: object run_b has usage"):
        assert_complete_records(_records(total=None))
    with pytest.raises(AssertionError, match="b: tool job run_b"):
        assert_complete_records(_records(tool_calls=0))
    with pytest.raises(AssertionError, match="API objects of finished jobs left half-written"):
        assert_no_half_written_runs(_records(finished=None))
    records = _records()
    records.jobs["a"] = JobRow(1, "a", "asst_support", "running", 1, "run_a", 0, None, None)
    with pytest.raises(AssertionError, match="a: running"):
        assert_all_terminal(records)


def _chain_records(*, round_one_tokens: int | None = 12) -> BatchRecords:
    """A Responses tool job: a round-0 response with the function call, a round-1 response with the answer."""
    jobs = {"m": JobRow(1, "m", "asst_math", "succeeded", 1, "resp_2", 0, None, "42")}
    runs = [
        RunRow(20, 1, "m", 1, 0, "responses", "resp_1", "completed", "succeeded", 5, 5, 10, None),
        RunRow(21, 1, "m", 1, 1, "responses", "resp_2", "completed", "succeeded", 8, 4, round_one_tokens, NOW),
    ]
    records = BatchRecords("batch", jobs, runs, step_types={20: {"function_call"}, 21: {"message"}})
    records.assistant_messages[21] = 1
    records.tool_invocations[20] = 1
    return records


def test_a_response_chain_counts_as_one_attempt_and_is_checked_whole() -> None:
    """A chain passes with one chain start at the API; a response of it without usage fails the check."""
    stats = {"response_chains_by_job_key": {run_tag("batch", "m", 1): 1}}
    records = _chain_records()
    assert_one_run_per_attempt(records, stats)
    assert_complete_records(records)
    assert_no_half_written_runs(records)
    with pytest.raises(AssertionError, match="m: object resp_2 has usage"):
        assert_complete_records(_chain_records(round_one_tokens=None))


def test_blind_recreates_are_tolerated_only_up_to_the_allowance() -> None:
    """Extra chains at the API pass within the allowance and fail beyond it; the records must hold one."""
    stats = {"response_chains_by_job_key": {run_tag("batch", "m", 1): 3}}
    assert_one_run_per_attempt(_chain_records(), stats, blind_recreates_allowed=2)
    with pytest.raises(AssertionError, match="3 runs created at the API"):
        assert_one_run_per_attempt(_chain_records(), stats, blind_recreates_allowed=1)
