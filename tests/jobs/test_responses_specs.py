"""JobSpec with a backend and a request: JSON round trip, old saved specs, and the example files on both backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batchrunner.jobfile.errors import LineErrors
from batchrunner.jobs import BackendName, JobFileError, JobSpec, load_assistants, read_job_file
from tests.jobs.responses_helpers import assert_valid_create_response, parse_responses, responses_job

EXAMPLES = Path(__file__).parents[2] / "examples"
BUILTIN_TOOLS = frozenset({"calculate", "current_time", "text_statistics"})
BATCH_LINE = {
    "custom_id": "b-1",
    "method": "POST",
    "url": "/v1/responses",
    "body": {"model": "gpt-4o", "input": "hi", "conversation": "conv_1"},
}


def _responses_specs() -> list[JobSpec]:
    return [
        parse_responses(responses_job("asst_full", params={"metadata": {"team": "x"}})),
        parse_responses(responses_job(thread_id="conv_1")),
        parse_responses(responses_job(new_conversation=True)),
        parse_responses(BATCH_LINE),
    ]


def test_responses_specs_round_trip_through_json_text() -> None:
    """backend and request survive to_json -> json text -> from_json, for job lines and Batch lines."""
    for spec in _responses_specs():
        data = json.loads(json.dumps(spec.to_json()))
        assert data["backend"] == "responses" and data["request"] == spec.request
        restored = JobSpec.from_json(data)
        assert restored == spec
        assert restored.backend is BackendName.RESPONSES


def test_assistants_spec_saves_its_backend_and_no_request() -> None:
    """An assistants spec writes backend "assistants" and request null, and reads back equal."""
    spec = parse_responses(responses_job(backend="assistants"))
    data = spec.to_json()
    assert (data["backend"], data["request"]) == ("assistants", None)
    assert JobSpec.from_json(data) == spec


def test_spec_saved_before_backends_reads_as_an_assistants_spec() -> None:
    """A dict without backend and request (an old database row) is an assistants spec with no request."""
    old = {
        "line_no": 3,
        "custom_id": "old",
        "assistant_id": "asst_1",
        "thread": None,
        "thread_id": "thread_1",
        "params": {"temperature": 0.2},
    }
    spec = JobSpec.from_json(old)
    assert (spec.backend, spec.request, spec.thread_id) == (BackendName.ASSISTANTS, None, "thread_1")
    assert {key: value for key, value in spec.to_json().items() if key in old} == old


def test_batch_line_spec_has_neither_thread_nor_thread_id_allowed() -> None:
    """A responses spec with a request may have neither thread nor thread_id (a Batch line without conversation)."""
    data = {**parse_responses(BATCH_LINE).to_json(), "thread_id": None}
    assert JobSpec.from_json(data).thread_id is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"backend": "chat"}, "'backend' is not a backend"),
        ({"backend": 1}, "'backend' has the wrong type"),
        ({"request": []}, "'request' has the wrong type"),
        ({"request": None}, "a responses job spec needs its 'request'"),
        ({"thread": {"messages": []}}, "must not have both 'thread' and 'thread_id'"),
        ({"backend": "assistants"}, "an assistants job spec has no 'request'"),
        ({"extra": 1}, "unknown job spec keys"),
        ({"new_conversation": 1}, "'new_conversation' is not a boolean"),
        ({"new_conversation": True}, "cannot ask for a new conversation"),
    ],
)
def test_from_json_rejects_inconsistent_responses_specs(change: dict[str, Any], message: str) -> None:
    """from_json refuses a backend/request/thread combination that to_json could not have produced."""
    data = parse_responses(responses_job(thread_id="conv_1")).to_json() | change
    with pytest.raises(ValueError, match=message):
        JobSpec.from_json(data)


def test_backend_given_as_text_becomes_the_enum() -> None:
    """JobSpec(backend="responses") holds BackendName.RESPONSES, which equals the plain string."""
    spec = JobSpec(1, "c", "", None, None, {}, backend="responses", request={"model": "m"})  # type: ignore[arg-type]
    assert spec.backend is BackendName.RESPONSES and str(spec.backend) == "responses"
    with pytest.raises(ValueError):
        JobSpec(1, "c", "", None, None, {}, backend="chat")  # type: ignore[arg-type]


def test_example_jobs_read_cleanly_on_the_responses_backend() -> None:
    """examples/jobs.jsonl with examples/assistants.yaml gives one valid CreateResponse per line."""
    assistants = load_assistants(EXAMPLES / "assistants.yaml")
    jobs = read_job_file(
        EXAMPLES / "jobs.jsonl",
        default_backend=BackendName.RESPONSES,
        assistants=assistants,
        known_tools=BUILTIN_TOOLS,
    ).jobs
    assert len(jobs) == 21
    for job in jobs:
        assert job.backend is BackendName.RESPONSES and job.request is not None
        assert job.request["model"] == assistants[job.assistant_id].model
        assert job.request["instructions"] and job.request["input"]
        assert_valid_create_response(job.request)
        assert JobSpec.from_json(json.loads(json.dumps(job.to_json()))) == job
    by_id = {job.custom_id: job for job in jobs}
    assert by_id["math-1"].tool_names() == {"calculate"}
    assert by_id["analyst-2"].request is not None
    assert by_id["analyst-2"].request["instructions"] == "Report the numbers plainly."
    backlog = by_id["backlog-1"].request
    assert backlog is not None and backlog["conversation"] == "thread_demo_shared"
    assert backlog["input"] == [{"role": "user", "content": "List the three oldest tickets in the backlog."}]


def test_example_jobs_still_read_on_the_assistants_backend() -> None:
    """The same file read with the default (assistants) backend gives assistants specs without requests."""
    jobs = read_job_file(EXAMPLES / "jobs.jsonl").jobs
    assert {(job.backend, job.request is None) for job in jobs} == {(BackendName.ASSISTANTS, True)}


@pytest.mark.parametrize("backend", list(BackendName))
def test_bad_example_jobs_are_still_rejected(backend: BackendName) -> None:
    """examples/bad-jobs.jsonl fails on both backends, at its bad temperature and its two threads."""
    with pytest.raises(JobFileError) as raised:
        read_job_file(
            EXAMPLES / "bad-jobs.jsonl",
            default_backend=backend,
            assistants=load_assistants(EXAMPLES / "assistants.yaml"),
        )
    assert [(error.line_no, error.field) for error in raised.value.errors] == [
        (2, "params.temperature"),
        (3, "thread_id"),
    ]


def test_a_job_asks_for_a_conversation_of_its_own_only_with_a_new_thread() -> None:
    """``new_conversation`` is kept on the spec; with ``thread_id`` or as a non-boolean it is an error of its field."""
    assert parse_responses(responses_job(new_conversation=True)).new_conversation is True
    assert parse_responses(responses_job()).new_conversation is False
    for line, message in [
        (responses_job(thread_id="conv_1", new_conversation=True), "already runs on that thread or conversation"),
        (responses_job(new_conversation="yes"), "must be true or false"),
        (responses_job(new_conversation=None), "must not be null"),
    ]:
        with pytest.raises(LineErrors) as caught:
            parse_responses(line)
        [error] = caught.value.errors
        assert error.field == "new_conversation" and message in error.message, error
