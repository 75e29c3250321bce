"""JobSpec: JSON round trip, tool names, and agreement with the official OpenAPI request schemas."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batchrunner.jobs import RESERVED_METADATA_KEY, JobSpec, parse_job_line, read_job_file
from batchrunner.testing.openapi_contract import ContractViolation, OpenApiContract, load_contract
from tests.jobs.jobfile_cases import CASES, Case
from tests.jobs.jobfile_helpers import FIXTURES, function_tool, params_line

GOOD_FILE = FIXTURES / "good_jobs.jsonl"


@pytest.fixture(scope="module")
def contract() -> OpenApiContract:
    return load_contract()


def test_to_json_round_trips_through_json_text() -> None:
    """Every fixture job survives to_json -> json.dumps -> json.loads -> from_json unchanged."""
    for job in read_job_file(GOOD_FILE).jobs:
        restored = JobSpec.from_json(json.loads(json.dumps(job.to_json())))
        assert restored == job


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra": 1}, "unknown job spec keys"),
        ({"params": None}, "'params' has the wrong type"),
        ({"line_no": True}, "'line_no' has the wrong type"),
        ({"thread": None}, "exactly one of 'thread' and 'thread_id'"),
        ({"thread_id": "t"}, "exactly one of 'thread' and 'thread_id'"),
    ],
)
def test_from_json_rejects_other_shapes(change: dict[str, Any], message: str) -> None:
    """from_json refuses data that to_json could not have produced."""
    data = read_job_file(GOOD_FILE).jobs[0].to_json() | change
    with pytest.raises(ValueError, match=message):
        JobSpec.from_json(data)


def test_from_json_requires_every_key() -> None:
    """from_json names a missing key."""
    data = read_job_file(GOOD_FILE).jobs[0].to_json()
    del data["custom_id"]
    with pytest.raises(ValueError, match="no 'custom_id'"):
        JobSpec.from_json(data)


def test_tool_names_lists_only_function_tools() -> None:
    """tool_names() gives the function names of params.tools, ignoring built-in tools and tool_choice."""
    tools = [function_tool("calculate"), {"type": "code_interpreter"}, function_tool("current_time")]
    spec = parse_job_line(
        params_line(tools=tools, tool_choice={"type": "function", "function": {"name": "calculate"}}), 1
    )
    assert spec.tool_names() == {"calculate", "current_time"}
    assert parse_job_line(params_line(), 1).tool_names() == set()
    assert parse_job_line(params_line(tools=None), 1).tool_names() == set()


def _run_body(job: JobSpec) -> dict[str, Any]:
    """The create-run body batchrunner sends for ``job`` (its tag added to the metadata)."""
    metadata = {**(job.params.get("metadata") or {}), RESERVED_METADATA_KEY: "batch/" + job.custom_id}
    return {**job.params, "assistant_id": job.assistant_id, "metadata": metadata}


def test_accepted_jobs_make_requests_the_official_schema_accepts(contract: OpenApiContract) -> None:
    """Every fixture job's thread and run bodies validate against openapi.yaml, tag included."""
    for job in read_job_file(GOOD_FILE).jobs:
        if job.thread is not None:
            contract.validate_request("POST", "/threads", job.thread)
        contract.validate_request("POST", "/threads/thread_1/runs", _run_body(job))


def _body_cases() -> list[Any]:
    """Matrix cases whose bad line is a JSON object with object params, so it makes request bodies."""
    selected = []
    for case in CASES:
        try:
            data = json.loads(case.bad_line)
        except ValueError:
            continue
        line_level = case.expected[0][0] == ""  # not JSON as the job file accepts it
        if not line_level and isinstance(data, dict) and isinstance(data.get("params", {}), dict):
            selected.append(pytest.param(case, data, id=case.name))
    return selected


@pytest.mark.parametrize(("case", "data"), _body_cases())
def test_each_rejection_is_marked_as_the_spec_rules(
    case: Case, data: dict[str, Any], contract: OpenApiContract
) -> None:
    """openapi.yaml rejects the request body of exactly the cases marked spec_rejects.

    So no rule is invented by mistake, and the rules batchrunner adds on purpose are known.
    """
    (field, _), *_ = case.expected
    if field.startswith("thread.") and isinstance(data.get("thread"), dict):
        body, url = data["thread"], "/threads"
    else:
        body, url = {**data.get("params", {}), "assistant_id": "asst_1"}, "/threads/thread_1/runs"
    try:
        contract.validate_request("POST", url, body)
    except ContractViolation:
        rejected = True
    else:
        rejected = False
    assert rejected == case.spec_rejects
