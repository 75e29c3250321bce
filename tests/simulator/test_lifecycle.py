"""Run lifecycle: statuses over time, usage, steps, messages, cancel, expiry, failures, incomplete."""

from __future__ import annotations

from collections.abc import Callable

from tests.simulator.simhelpers import Sim, tool_calls


def test_run_moves_from_queued_to_completed_with_the_clock(sim: Sim) -> None:
    """A run starts queued, goes in_progress, then completes; usage is null until it is terminal."""
    run = sim.thread_and_run("asst_support", "Summarise ticket 42: the printer jams on duplex jobs.")
    assert run["status"] == "queued"
    assert run["usage"] is None and run["started_at"] is None
    seen = [run["status"]]
    for _ in range(40):
        sim.clock.advance(0.25)
        current = sim.get_run(run)
        if current["status"] != seen[-1]:
            seen.append(current["status"])
        if current["status"] != "completed":
            assert current["usage"] is None
    assert seen == ["queued", "in_progress", "completed"]
    assert current["usage"]["total_tokens"] == current["usage"]["prompt_tokens"] + current["usage"]["completion_tokens"]
    assert current["usage"]["prompt_tokens"] > 0 and current["usage"]["completion_tokens"] > 0
    assert current["started_at"] is not None and current["completed_at"] >= current["started_at"]


def test_run_duration_stays_within_configured_bounds(make_sim: Callable[..., Sim]) -> None:
    """The simulated processing time of each run lies within [run_duration_min_s, run_duration_max_s]."""
    sim = make_sim(run_duration_min_s=3.0, run_duration_max_s=4.0)
    for index in range(5):
        run = sim.thread_and_run("asst_support", f"Question number {index} about invoices")
        sim.clock.advance(2.9)
        assert sim.get_run(run)["status"] != "completed"
        sim.clock.advance(1.2)
        assert sim.get_run(run)["status"] == "completed"


def test_completion_adds_assistant_message_and_step_with_matching_usage(sim: Sim) -> None:
    """The answer is an assistant message tied to the run, recorded by a message_creation step."""
    run = sim.thread_and_run("asst_support", "Summarise the refund policy for damaged parcels")
    done = sim.wait_for(run, {"completed"})
    messages = sim.client.get(f"/threads/{run['thread_id']}/messages", params={"run_id": run["id"]}).json()["data"]
    assert len(messages) == 1
    message = messages[0]
    assert message["role"] == "assistant" and message["run_id"] == run["id"]
    assert message["assistant_id"] == "asst_support" and message["status"] == "completed"
    text = message["content"][0]["text"]["value"]
    assert "refund" in text and "parcels" in text
    steps = sim.client.get(f"/threads/{run['thread_id']}/runs/{run['id']}/steps").json()["data"]
    assert [step["type"] for step in steps] == ["message_creation"]
    assert steps[0]["step_details"]["message_creation"]["message_id"] == message["id"]
    assert steps[0]["usage"] == done["usage"]
    assert done["usage"]["completion_tokens"] == -(-len(text) // 4)


def test_prompt_tokens_count_instructions_and_thread_messages(sim: Sim) -> None:
    """Prompt tokens are ceil(chars/4) of the instructions plus every thread message."""
    instructions = "Answer in one line."
    text = "x" * 401
    run = sim.thread_and_run("asst_support", text, instructions=instructions)
    done = sim.wait_for(run, {"completed"})
    assert done["instructions"] == instructions
    assert done["usage"]["prompt_tokens"] == -(-len(instructions) // 4) + -(-len(text) // 4)


def test_poll_after_header_on_create_and_retrieve(make_sim: Callable[..., Sim]) -> None:
    """Run creation and retrieval carry openai-poll-after-ms with the configured value."""
    sim = make_sim(poll_after_ms=750)
    response = sim.client.post("/threads/runs", json={"assistant_id": "asst_support"})
    assert response.headers["openai-poll-after-ms"] == "750"
    run = response.json()
    retrieved = sim.client.get(f"/threads/{run['thread_id']}/runs/{run['id']}")
    assert retrieved.headers["openai-poll-after-ms"] == "750"


def test_cancel_goes_through_cancelling_to_cancelled(sim: Sim) -> None:
    """Cancelling an active run shows `cancelling` for a moment, then `cancelled` with cancelled_at."""
    run = sim.thread_and_run("asst_support", "Long running question")
    response = sim.client.post(f"/threads/{run['thread_id']}/runs/{run['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelling"
    sim.clock.advance(0.5)
    assert sim.get_run(run)["status"] == "cancelling"
    sim.clock.advance(1.0)
    cancelled = sim.get_run(run)
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None
    assert cancelled["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    again = sim.client.post(f"/threads/{run['thread_id']}/runs/{run['id']}/cancel")
    assert again.status_code == 400 and "cancelled" in again.json()["error"]["message"]


def test_unanswered_requires_action_expires(make_sim: Callable[..., Sim]) -> None:
    """A run waiting for tool outputs past expires_at ends expired; its tool step too."""
    sim = make_sim(run_expiry_s=30.0)
    run = sim.thread_and_run("asst_math", "What is 6 * 7?")
    assert run["expires_at"] == run["created_at"] + 30
    waiting = sim.wait_for(run, {"requires_action"})
    sim.clock.advance(31)
    expired = sim.get_run(waiting)
    assert expired["status"] == "expired" and expired["required_action"] is None
    steps = sim.client.get(f"/threads/{run['thread_id']}/runs/{run['id']}/steps").json()["data"]
    assert [(step["type"], step["status"]) for step in steps] == [("tool_calls", "expired")]
    assert steps[0]["expired_at"] is not None
    late = sim.submit(waiting, {call["id"]: "42" for call in tool_calls(waiting)})
    assert late.status_code == 400 and '"expired"' in late.json()["error"]["message"]


def test_failure_rates_fail_runs_with_the_configured_codes(make_sim: Callable[..., Sim]) -> None:
    """Runs fail with last_error rate_limit_exceeded or server_error at the configured shares."""
    for rate_field, code in (
        ("run_fail_rate_limit_rate", "rate_limit_exceeded"),
        ("run_fail_server_error_rate", "server_error"),
    ):
        sim = make_sim(**{rate_field: 1.0})
        failed = sim.wait_for(sim.thread_and_run("asst_support", "Hello there"), {"failed", "completed"})
        assert failed["status"] == "failed" and failed["last_error"]["code"] == code
        assert failed["failed_at"] is not None and failed["usage"] is not None


def test_failure_rate_applies_to_a_share_of_runs(make_sim: Callable[..., Sim]) -> None:
    """With a 50% failure rate, some but not all of 40 runs fail."""
    sim = make_sim(run_fail_server_error_rate=0.5)
    runs = [sim.thread_and_run("asst_support", f"message {index}") for index in range(40)]
    sim.clock.advance(10)
    statuses = [sim.get_run(run)["status"] for run in runs]
    assert 5 < statuses.count("failed") < 35
    assert statuses.count("failed") + statuses.count("completed") == 40


def test_max_completion_tokens_makes_long_answer_incomplete(sim: Sim) -> None:
    """A reply longer than max_completion_tokens ends the run incomplete with a cut-off message."""
    text = "Write a detailed essay about warehouse logistics and staffing"
    run = sim.thread_and_run("asst_support", text, max_completion_tokens=256)
    done = sim.wait_for(run, {"completed", "incomplete"})
    assert done["status"] == "incomplete"
    assert done["incomplete_details"] == {"reason": "max_completion_tokens"}
    assert done["usage"]["completion_tokens"] == 256
    message = sim.client.get(f"/threads/{run['thread_id']}/messages", params={"run_id": run["id"]}).json()["data"][0]
    assert message["status"] == "incomplete" and message["incomplete_details"] == {"reason": "max_tokens"}
    unlimited = sim.wait_for(sim.thread_and_run("asst_support", text), {"completed", "incomplete"})
    assert unlimited["status"] == "completed" and unlimited["usage"]["completion_tokens"] > 256


def test_max_prompt_tokens_makes_oversized_prompt_incomplete(sim: Sim) -> None:
    """A last message that alone exceeds max_prompt_tokens ends the run incomplete (max_prompt_tokens)."""
    run = sim.thread_and_run("asst_support", "word " * 400, max_prompt_tokens=256)
    done = sim.wait_for(run, {"completed", "incomplete"})
    assert done["status"] == "incomplete" and done["incomplete_details"] == {"reason": "max_prompt_tokens"}


def test_zero_duration_runs_finish_on_creation(make_sim: Callable[..., Sim]) -> None:
    """With a zero duration the create response already shows the finished run."""
    sim = make_sim(run_duration_min_s=0.0, run_duration_max_s=0.0)
    assert sim.thread_and_run("asst_support", "hi")["status"] == "completed"
    assert sim.thread_and_run("asst_math", "2 + 2")["status"] == "requires_action"
