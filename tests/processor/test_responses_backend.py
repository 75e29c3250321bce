"""The state machine on the Responses backend, step by step against the simulator on a fake clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchrunner.api.errors import TransientError
from batchrunner.backend.base import Handle, ObjectSnapshot
from batchrunner.backend.responses.adapter import ResponsesBackend, continuation_body, create_body, snapshot_of
from batchrunner.jobs import BackendName, JobSpec, read_job_file
from batchrunner.limiter.base import Grant
from batchrunner.limiter.memory import MemoryBudget
from batchrunner.metrics import BLIND_RECREATES
from batchrunner.processor import ProcessorConfig
from batchrunner.simulator.config import SimConfig
from batchrunner.testing.harness import (
    Crash,
    FakeClock,
    crash_once_at,
    example_assistants,
    job,
    job_states,
    query_rows,
    step_harness,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "jobs.jsonl"
CREATE_RESPONSE = "POST /v1/responses"
RESPONSES = BackendName.RESPONSES


def _math_job(custom_id: str = "math", **fields: Any) -> Any:
    return job(custom_id, assistant_id="asst_math", text="What is 6 * 7?", backend=RESPONSES, **fields)


def test_example_file_succeeds_with_one_response_chain_per_job(database_url: str) -> None:
    """Every example job (tool rounds included) succeeds once, with its responses, items, messages and usage."""
    specs = [
        spec
        for spec in read_job_file(EXAMPLES, default_backend=RESPONSES, assistants=example_assistants()).jobs
        if spec.thread_id is None
    ]
    with step_harness(database_url) as harness:
        harness.enqueue(specs, batch="examples")
        harness.drain()
        stats = harness.sim_stats()
    assert job_states(database_url) == {spec.custom_id: "succeeded" for spec in specs}
    assert set(stats["response_chains_by_job_key"].values()) == {1}
    assert len(stats["response_chains_by_job_key"]) == len(specs)
    assert "400" not in stats["requests"][CREATE_RESPONSE]
    # Usage: every job's totals are the sums over its responses, and every response has usage.
    mismatched = query_rows(
        database_url,
        "SELECT j.custom_id FROM jobs j JOIN api_objects o ON o.job_id = j.id GROUP BY j.id, j.custom_id,"
        " j.total_tokens, j.prompt_tokens HAVING SUM(o.total_tokens) <> j.total_tokens"
        " OR SUM(o.prompt_tokens) <> j.prompt_tokens OR COUNT(o.total_tokens) <> COUNT(*)",
    )
    assert mismatched == []
    messages = query_rows(database_url, "SELECT count(DISTINCT job_id) AS n FROM messages WHERE role = 'assistant'")
    assert messages[0].n == len(specs)
    items = query_rows(database_url, "SELECT DISTINCT type FROM response_output_items")
    assert {row.type for row in items} >= {"message", "function_call"}


def test_a_tool_round_chains_a_new_response_and_sums_usage_over_both(sqlite_url: str) -> None:
    """A completed response with function calls is answered by a second response; both are recorded."""
    with step_harness(sqlite_url) as harness:
        harness.enqueue([_math_job()])
        harness.drain()
        stats = harness.sim_stats()
    assert job_states(sqlite_url) == {"math": "succeeded"}
    objects = query_rows(
        sqlite_url, "SELECT api_id, round, status, outcome, total_tokens FROM api_objects ORDER BY round"
    )
    assert [(row.round, row.status, row.outcome) for row in objects] == [
        (0, "completed", "succeeded"),
        (1, "completed", "succeeded"),
    ]
    assert stats["responses_by_job_key"] == {"batch/math#1": 2}
    assert stats["response_chains_by_job_key"] == {"batch/math#1": 1}
    (invocation,) = query_rows(
        sqlite_url,
        "SELECT t.name, t.outcome, o.round FROM tool_invocations t JOIN api_objects o ON o.id = t.object_pk",
    )
    assert (invocation.name, invocation.outcome, invocation.round) == ("calculate", "ok", 0)
    (row,) = query_rows(sqlite_url, "SELECT total_tokens, tool_rounds, object_id, output_text FROM jobs")
    assert row.total_tokens == sum(o.total_tokens for o in objects)
    assert row.tool_rounds == 1 and row.object_id == objects[1].api_id
    assert "42" in row.output_text


def test_the_tool_round_bound_fails_a_runaway_job_with_its_own_code(sqlite_url: str) -> None:
    """A job asking for tools more often than max_tool_rounds ends failed with max_tool_rounds_exceeded."""
    with step_harness(sqlite_url, config=ProcessorConfig(max_tool_rounds=0)) as harness:
        harness.enqueue([_math_job()])
        harness.drain()
    (row,) = query_rows(sqlite_url, "SELECT state, error_code FROM jobs")
    assert (row.state, row.error_code) == ("failed", "max_tool_rounds_exceeded")
    assert query_rows(sqlite_url, "SELECT count(*) AS n FROM tool_invocations")[0].n == 0


def test_failed_responses_get_bounded_new_attempts(sqlite_url: str) -> None:
    """A response that fails with server_error becomes a new attempt (a new chain), up to max_run_attempts."""
    sim = SimConfig(run_duration_min_s=1, run_duration_max_s=2, run_fail_server_error_rate=1.0)
    with step_harness(sqlite_url, sim, config=ProcessorConfig(max_run_attempts=2)) as harness:
        harness.enqueue([job("flaky", backend=RESPONSES)])
        harness.drain()
        stats = harness.sim_stats()
    (row,) = query_rows(sqlite_url, "SELECT state, attempt, error_code FROM jobs")
    assert (row.state, row.attempt, row.error_code) == ("failed", 2, "server_error")
    assert stats["response_chains_by_job_key"] == {"batch/flaky#1": 1, "batch/flaky#2": 1}


def test_a_response_the_api_no_longer_has_is_an_expired_attempt(sqlite_url: str) -> None:
    """A 404 on a response that was never saved (retention ran out) records the job as expired."""
    sim = SimConfig(run_duration_min_s=100, run_duration_max_s=100, response_retention_s=10)
    with step_harness(sqlite_url, sim) as harness:
        harness.enqueue([job("gone", backend=RESPONSES)])
        harness.step()  # created; the next look is long after the retention
        harness.clock.advance_to(harness.clock.now + timedelta(seconds=500))
        harness.drain()
    (row,) = query_rows(sqlite_url, "SELECT state, error_code FROM jobs")
    assert (row.state, row.error_code) == ("expired", "response_not_found")


def test_cancelled_batch_cancels_responses_through_the_api(sqlite_url: str) -> None:
    """Cancelling a batch cancels in-flight background responses and records the jobs cancelled."""
    sim = SimConfig(run_duration_min_s=60, run_duration_max_s=90)
    with step_harness(sqlite_url, sim) as harness:
        harness.enqueue([job(f"c{n}", line_no=n, backend=RESPONSES) for n in range(1, 4)])
        for _ in range(3):
            harness.step()
        harness.cancel_batch()
        harness.drain()
        stats = harness.sim_stats()
    assert set(job_states(sqlite_url).values()) == {"cancelled"}
    assert sum(stats["requests"]["POST /v1/responses/{response_id}/cancel"].values()) == 3
    assert {row.status for row in query_rows(sqlite_url, "SELECT status FROM api_objects")} == {"cancelled"}


class LostCreateAnswer(ResponsesBackend):
    """The first create reaches the server, but its answer is lost (as with a timeout after the send)."""

    lost = 0

    def start(self, job: JobSpec, container_id: str | None, tag: str) -> ObjectSnapshot:
        snapshot = super().start(job, container_id, tag)
        if not LostCreateAnswer.lost:
            LostCreateAnswer.lost += 1
            raise TransientError("timed out reading the response", endpoint="/responses", method="POST")
        return snapshot


class SynchronousServer(ResponsesBackend):
    """A server that ignores ``background``: each create answers with the finished response; nothing is looked up."""

    def start(self, job: JobSpec, container_id: str | None, tag: str) -> ObjectSnapshot:
        body = {key: value for key, value in create_body(job, tag).items() if key != "background"}
        return snapshot_of(self._client.create_response(body))

    def continue_with_tool_outputs(
        self, current: ObjectSnapshot, job: JobSpec, tag: str, outputs: list[tuple[str, str]]
    ) -> ObjectSnapshot:
        body = continuation_body(job, tag, current.object_id, outputs)
        del body["background"]
        return snapshot_of(self._client.create_response(body))

    def look(self, handle: Handle) -> ObjectSnapshot:
        raise AssertionError(f"looked up {handle.object_id}: a finished answer needs no look")


def test_a_server_that_answers_at_once_needs_no_look_even_with_a_tool_round(sqlite_url: str) -> None:
    """A create answered completed (tool calls included) is handled in the same step: no GET, no second step."""
    with step_harness(sqlite_url, responses_backend_factory=SynchronousServer) as harness:
        (job_id,) = harness.enqueue([_math_job()])
        assert harness.processor.advance(job_id) is None  # done in one step
        stats = harness.sim_stats()
    assert job_states(sqlite_url) == {"math": "succeeded"}
    assert "GET /v1/responses/{response_id}" not in stats["requests"]
    assert [row.round for row in query_rows(sqlite_url, "SELECT round FROM api_objects ORDER BY round")] == [0, 1]


def test_an_unclear_create_is_retried_at_once_and_counted(sqlite_url: str) -> None:
    """With nothing to look up, a create whose answer was lost is retried after a short backoff, and counted."""
    LostCreateAnswer.lost = 0
    before = BLIND_RECREATES.labels(backend="responses")._value.get()
    config = ProcessorConfig(retry_base_s=0.5, create_settle_s=15.0)
    with step_harness(sqlite_url, config=config, responses_backend_factory=LostCreateAnswer) as harness:
        (job_id,) = harness.enqueue([job("lost", backend=RESPONSES)])
        delay = harness.processor.advance(job_id)
        assert delay is not None and delay < 15.0  # backoff, not the settle period
        harness.drain()
        stats = harness.sim_stats()
    assert job_states(sqlite_url) == {"lost": "succeeded"}
    assert stats["response_chains_by_job_key"] == {"batch/lost#1": 2}
    assert BLIND_RECREATES.labels(backend="responses")._value.get() == before + 1


def test_a_crash_before_the_commit_recreates_the_attempt_and_counts_it(sqlite_url: str) -> None:
    """No API lists responses: after a crash between create and commit the attempt is created again, counted."""
    crash_once, _ = crash_once_at("after_run_create")
    before = BLIND_RECREATES.labels(backend="responses")._value.get()
    lease = 30.0
    with step_harness(sqlite_url, fault_hook=crash_once, config=ProcessorConfig(step_lease_s=lease)) as harness:
        harness.enqueue([job("crashy", backend=RESPONSES)])
        with pytest.raises(Crash):
            harness.drain()
        harness.clock.advance_to(harness.clock.now + timedelta(seconds=lease + 60))
        for job_id in harness.repository.claim_overdue(now=harness.clock.now, grace=timedelta(seconds=10)):
            harness.wake(job_id)
        harness.drain()
        stats = harness.sim_stats()
    assert job_states(sqlite_url) == {"crashy": "succeeded"}
    assert stats["response_chains_by_job_key"] == {"batch/crashy#1": 2}  # the documented residual window
    assert BLIND_RECREATES.labels(backend="responses")._value.get() == before + 1
    assert len(query_rows(sqlite_url, "SELECT id FROM api_objects")) == 1


def test_a_crash_before_a_tool_round_is_committed_answers_it_again_and_counts_it(sqlite_url: str) -> None:
    """A crash after a round's outputs went out but before the new response was committed re-answers the round."""
    crash_once, _ = crash_once_at("after_tool_outputs")
    before = BLIND_RECREATES.labels(backend="responses")._value.get()
    lease = 30.0
    with step_harness(sqlite_url, fault_hook=crash_once, config=ProcessorConfig(step_lease_s=lease)) as harness:
        harness.enqueue([_math_job()])
        with pytest.raises(Crash):
            harness.drain()
        harness.clock.advance_to(harness.clock.now + timedelta(seconds=lease + 60))
        for job_id in harness.repository.claim_overdue(now=harness.clock.now, grace=timedelta(seconds=10)):
            harness.wake(job_id)
        harness.drain()
        stats = harness.sim_stats()
    assert job_states(sqlite_url) == {"math": "succeeded"}
    assert stats["response_chains_by_job_key"] == {"batch/math#1": 1}
    assert stats["responses_by_job_key"] == {"batch/math#1": 3}  # the lost continuation, then the committed one
    assert BLIND_RECREATES.labels(backend="responses")._value.get() == before + 1
    rounds = [row.round for row in query_rows(sqlite_url, "SELECT round FROM api_objects ORDER BY round")]
    assert rounds == [0, 1]


class RefusesOneRequest(MemoryBudget):
    """A budget without limits that refuses its ``refused``-th request (counting from 1) once."""

    def __init__(self, refused: int, clock: FakeClock) -> None:
        super().__init__(0, 0, clock=clock.timestamp)
        self.refused, self.calls = refused, 0

    def try_acquire(self, *, requests: int = 1, tokens: int = 0, reserve_share: float = 0.0) -> Grant:
        self.calls += 1
        if self.calls == self.refused:
            return Grant(False, 1.0, "requests", None)
        return super().try_acquire(requests=requests, tokens=tokens, reserve_share=reserve_share)


@pytest.mark.parametrize("refused", range(1, 6))
def test_a_round_whose_answer_waited_for_budget_is_not_counted_as_sent_twice(sqlite_url: str, refused: int) -> None:
    """A round recorded, then held back by the budget, sent nothing: no blind recreate is counted or made."""
    before = BLIND_RECREATES.labels(backend="responses")._value.get()
    clock = FakeClock()
    budget = RefusesOneRequest(refused, clock)
    with step_harness(sqlite_url, budget=budget, clock=clock) as harness:
        harness.enqueue([_math_job()])
        harness.drain()
        stats = harness.sim_stats()
    assert budget.calls > refused  # the refusal happened, and the job went on
    assert job_states(sqlite_url) == {"math": "succeeded"}
    assert stats["responses_by_job_key"] == {"batch/math#1": 2}
    assert BLIND_RECREATES.labels(backend="responses")._value.get() == before


def test_a_job_that_asks_for_a_conversation_runs_every_response_of_its_rounds_on_it(sqlite_url: str) -> None:
    """``new_conversation``: one conversation per job, committed first, tagged, holding the whole exchange."""
    with step_harness(sqlite_url) as harness:
        harness.enqueue([_math_job(new_conversation=True)])
        harness.drain()
        stats = harness.sim_stats()
        [row] = query_rows(sqlite_url, "SELECT container_id FROM jobs")
        with httpx.Client(transport=harness.transport, base_url="http://sim/v1") as sim:
            conversation = sim.get(f"/conversations/{row.container_id}").json()
            items = sim.get(f"/conversations/{row.container_id}/items", params={"order": "asc"}).json()["data"]
    assert job_states(sqlite_url) == {"math": "succeeded"}
    assert row.container_id.startswith("conv_")
    assert conversation["metadata"] == {"batchrunner_job": "batch/math"}
    assert stats["requests"]["POST /v1/conversations"] == {"200": 1}
    assert stats["responses_by_job_key"] == {"batch/math#1": 2}
    # The input, the call, its output and the answer are the conversation's items, in that order.
    assert [item["type"] for item in items] == ["message", "function_call", "function_call_output", "message"]
    assert [item.get("role") for item in items if item["type"] == "message"] == ["user", "assistant"]
    containers = query_rows(sqlite_url, "SELECT DISTINCT container_id FROM api_objects")
    assert [c.container_id for c in containers] == [row.container_id]


def test_jobs_without_a_conversation_of_their_own_create_none(sqlite_url: str) -> None:
    """A new thread needs no conversation on the Responses backend unless the job asks for one."""
    with step_harness(sqlite_url) as harness:
        harness.enqueue([_math_job()])
        harness.drain()
        stats = harness.sim_stats()
    assert "POST /v1/conversations" not in stats["requests"]
    assert [row.container_id for row in query_rows(sqlite_url, "SELECT container_id FROM jobs")] == [None]
