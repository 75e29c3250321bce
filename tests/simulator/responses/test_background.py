"""Background and synchronous responses: lifecycle timing, outcomes, usage, cancel, retention, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.simulator.responses.rsim import CALCULATE, RSim

ECHOED = {
    "instructions": "Be brief.",
    "tools": [{"type": "function", "name": "lookup", "description": "Find a ticket."}],
    "tool_choice": "none",
    "parallel_tool_calls": False,
    "temperature": 0.2,
    "top_p": 0.9,
    "metadata": {"batchrunner_job": "b:1", "team": "support"},
    "max_output_tokens": 512,
    "text": {"format": {"type": "json_object"}},
    "reasoning": {"effort": "low"},
}


def test_background_create_is_queued_and_echoes_the_request(rsim: RSim) -> None:
    """POST with background answers at once: queued, empty output, null usage, the request's config echoed."""
    # Raw: the spec marks a FunctionTool's strict and parameters required, but the API fills them in.
    response = rsim.raw.post(
        "/responses", json={"model": "gpt-4o-mini", "input": "Summarise ticket 42", "background": True, **ECHOED}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")
    assert int(response.headers["openai-processing-ms"]) > 0
    assert "openai-poll-after-ms" not in response.headers
    body = response.json()
    assert body["id"].startswith("resp_") and body["object"] == "response"
    assert (body["status"], body["output"], body["usage"]) == ("queued", [], None)
    assert (body["completed_at"], body["error"], body["incomplete_details"]) == (None, None, None)
    assert body["background"] is True and body["store"] is True
    assert body["model"] == "gpt-4o-mini" and body["previous_response_id"] is None and body["conversation"] is None
    for key in ("instructions", "tool_choice", "parallel_tool_calls", "temperature", "top_p", "metadata"):
        assert body[key] == ECHOED[key], key
    assert body["max_output_tokens"] == 512
    assert body["tools"] == [
        {"type": "function", "name": "lookup", "description": "Find a ticket.", "parameters": None, "strict": True}
    ]
    assert body["text"] == {"format": {"type": "json_object"}, "verbosity": "medium"}
    assert body["reasoning"] == {"effort": "low", "summary": None}


def test_background_response_moves_queued_in_progress_completed_on_the_clock(rsim: RSim) -> None:
    """A 10 s response is queued for 1 s, in progress until 10 s, then completed with a message and usage."""
    created = rsim.create(input="Summarise the printer backlog", background=True, store=True)
    rsim.clock.advance(0.99)
    assert rsim.get(created["id"])["status"] == "queued"
    rsim.clock.advance(0.02)
    assert rsim.get(created["id"])["status"] == "in_progress"
    rsim.clock.advance(8.9)
    middle = rsim.get(created["id"])
    assert middle["status"] == "in_progress" and middle["output"] == [] and middle["usage"] is None
    rsim.clock.advance(0.1)
    done = rsim.get(created["id"])
    assert done["status"] == "completed" and done["completed_at"] == created["created_at"] + 10
    [message] = done["output"]
    assert message["type"] == "message" and message["id"].startswith("msg_") and message["role"] == "assistant"
    assert message["status"] == "completed"
    [part] = message["content"]
    assert part["type"] == "output_text" and "printer" in part["text"] and part["annotations"] == []
    usage = done["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["input_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}
    assert rsim.get(created["id"]) == done


def test_durations_are_drawn_within_the_configured_range(make_rsim: Callable[..., RSim]) -> None:
    """Over many responses the time to finish spreads within [run_duration_min_s, run_duration_max_s]."""
    sim = make_rsim(run_duration_min_s=2.0, run_duration_max_s=6.0, seed=4)
    ids = [sim.create(input=f"question {index}", background=True)["id"] for index in range(12)]
    finished: dict[str, float] = {}
    for _ in range(70):
        sim.clock.advance(0.1)
        for response_id in ids:
            if response_id not in finished and sim.get(response_id)["status"] == "completed":
                finished[response_id] = sim.clock.now
    elapsed = sorted(finished[response_id] - 1_700_000_000.0 for response_id in ids)
    assert len(elapsed) == 12 and elapsed[0] >= 2.0 and elapsed[-1] <= 6.1
    assert elapsed[-1] - elapsed[0] > 1.0


def test_synchronous_response_answers_terminal_and_cannot_be_cancelled(rsim: RSim) -> None:
    """Without background the POST returns the completed response; cancelling it is a 400."""
    response = rsim.client.post("/responses", json={"model": "gpt-4o", "input": "Hello there, weather report"})
    body = response.json()
    assert body["status"] == "completed" and body["background"] is False and body["usage"] is not None
    assert body["completed_at"] == body["created_at"]
    assert response.headers["openai-processing-ms"] == "10000"  # the whole answer time of the model
    error = rsim.error("POST", f"/responses/{body['id']}/cancel", 400)
    assert error == {
        "message": "Cannot cancel a synchronous response.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert rsim.get(body["id"]) == body


def test_background_without_store_is_rejected_unless_configured(make_rsim: Callable[..., RSim]) -> None:
    """background + store:false is a 400 on param store; when allowed, the response is gone after 10 minutes."""
    strict = make_rsim()
    error = strict.error(
        "POST", "/responses", 400, json={"model": "m", "input": "x", "background": True, "store": False}
    )
    assert error["param"] == "store" and error["type"] == "invalid_request_error"
    assert strict.stats()["responses_created"] == 0

    lenient = make_rsim(background_requires_store=False)
    created = lenient.create(input="x", background=True, store=False)
    assert created["store"] is False
    lenient.clock.advance(599)
    assert lenient.get(created["id"])["status"] == "completed"
    lenient.clock.advance(1)
    assert lenient.error("GET", f"/responses/{created['id']}", 404)["message"] == (
        f"Response with id '{created['id']}' not found."
    )


def test_unstored_synchronous_response_is_not_retrievable(rsim: RSim) -> None:
    """store:false without background answers once and keeps nothing."""
    body = rsim.create(input="hello", store=False)
    assert body["status"] == "completed" and body["store"] is False
    rsim.error("GET", f"/responses/{body['id']}", 404)


def test_failed_responses_carry_the_error_code_and_usage(make_rsim: Callable[..., RSim]) -> None:
    """run_fail_*_rate make responses end failed with server_error or rate_limit_exceeded, billing the input."""
    for knob, code in (
        ("run_fail_server_error_rate", "server_error"),
        ("run_fail_rate_limit_rate", "rate_limit_exceeded"),
    ):
        sim = make_rsim(**{knob: 1.0})
        failed = sim.wait(sim.create(input="hello", background=True)["id"])
        assert failed["status"] == "failed" and failed["error"]["code"] == code and failed["error"]["message"]
        assert failed["output"] == [] and failed["completed_at"] is None
        assert failed["usage"]["output_tokens"] == 0 and failed["usage"]["input_tokens"] > 0


def test_incomplete_responses_cut_the_message(make_rsim: Callable[..., RSim]) -> None:
    """response_incomplete_rate and a small max_output_tokens both end incomplete with a partial message."""
    drawn = make_rsim(response_incomplete_rate=1.0, seed=2)
    complete = make_rsim(seed=2)
    text = "Write a detailed essay about warehouse staffing"
    cut = drawn.wait(drawn.create(input=text, background=True)["id"])
    full = complete.wait(complete.create(input=text, background=True)["id"])
    assert cut["status"] == "incomplete" and cut["incomplete_details"] == {"reason": "max_output_tokens"}
    assert cut["completed_at"] is None and cut["output"][0]["status"] == "incomplete"
    assert cut["usage"]["output_tokens"] == full["usage"]["output_tokens"] // 2
    cut_text, full_text = cut["output"][0]["content"][0]["text"], full["output"][0]["content"][0]["text"]
    assert full_text.startswith(cut_text) and len(cut_text) < len(full_text)

    small = complete.wait(complete.create(input=text, background=True, max_output_tokens=16)["id"])
    assert small["status"] == "incomplete" and small["usage"]["output_tokens"] == 16
    assert len(small["output"][0]["content"][0]["text"]) == 64


def test_incomplete_function_call_is_cut_and_needs_no_output(make_rsim: Callable[..., RSim]) -> None:
    """A call cut by max_output_tokens shows status incomplete; a follow-up need not answer it."""
    sim = make_rsim()
    text = "Compute " + " + ".join(str(number) for number in range(40))
    cut = sim.wait(sim.create(input=text, tools=[CALCULATE], background=True, max_output_tokens=16)["id"])
    [call] = cut["output"]
    assert cut["status"] == "incomplete" and call["type"] == "function_call" and call["status"] == "incomplete"
    assert len(call["arguments"]) == 64
    follow_up = sim.create(previous_response_id=cut["id"], input="never mind", background=True)
    assert follow_up["status"] == "queued"


def test_cancel_keeps_partial_output_and_is_idempotent(rsim: RSim) -> None:
    """Cancel: queued -> cancelled with no output; in progress -> cancelled with a partial in-progress message."""
    queued = rsim.create(input="Summarise the long backlog", background=True)
    cancelled = rsim.client.post(f"/responses/{queued['id']}/cancel").json()
    assert (cancelled["status"], cancelled["output"], cancelled["usage"]) == ("cancelled", [], None)
    assert cancelled["completed_at"] is None

    working = rsim.create(input="Write a detailed essay about the support backlog", background=True)
    rsim.clock.advance(5.5)  # half of the 9 s of work
    partial = rsim.client.post(f"/responses/{working['id']}/cancel").json()
    assert partial["status"] == "cancelled" and partial["usage"] is None
    [message] = partial["output"]
    assert message["status"] == "in_progress" and message["content"][0]["text"]
    rsim.clock.advance(60)
    again = rsim.client.post(f"/responses/{working['id']}/cancel").json()
    assert again == partial == rsim.get(working["id"])


def test_cancelling_an_ended_response_returns_it_unchanged(rsim: RSim) -> None:
    """Cancel after completion is a 200 with the completed response; unknown ids are 404s."""
    done = rsim.wait(rsim.create(input="hello", background=True)["id"])
    assert rsim.client.post(f"/responses/{done['id']}/cancel").json() == done
    error = rsim.error("POST", "/responses/resp_nope/cancel", 404)
    assert error["message"] == "Response with id 'resp_nope' not found." and error["type"] == "invalid_request_error"


def test_retention_expires_stored_responses(make_rsim: Callable[..., RSim]) -> None:
    """After response_retention_s a response is a 404, and cannot be continued."""
    sim = make_rsim(response_retention_s=100.0)
    created = sim.create(input="hello", background=True)
    sim.clock.advance(99.9)
    assert sim.get(created["id"])["status"] == "completed"
    sim.clock.advance(0.1)
    sim.error("GET", f"/responses/{created['id']}", 404)
    sim.error("GET", f"/responses/{created['id']}/input_items", 404)
    error = sim.error("POST", "/responses", 400, json={"model": "m", "previous_response_id": created["id"]})
    assert error["code"] == "previous_response_not_found"


def test_delete_removes_the_response(rsim: RSim) -> None:
    """DELETE answers {id, object, deleted}; the response is then a 404 everywhere."""
    created = rsim.create(input="hello", background=True)
    deleted = rsim.client.delete(f"/responses/{created['id']}")
    assert deleted.json() == {"id": created["id"], "object": "response", "deleted": True}
    for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/cancel"), ("GET", "/input_items")):
        rsim.error(method, f"/responses/{created['id']}{suffix}", 404)


def test_input_items_list_the_response_input(rsim: RSim) -> None:
    """input_items pages the response's own input, newest first by default, with after/limit/order."""
    items: list[Any] = [
        {"role": "developer", "content": "Answer in French."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "first"}]},
        {"role": "assistant", "content": "noted"},
        {"role": "user", "content": "second"},
    ]
    created = rsim.create(input=items, background=True)
    path = f"/responses/{created['id']}/input_items"
    listed = rsim.client.get(path).json()
    assert listed["object"] == "list" and listed["has_more"] is False
    texts = [item["content"][0]["text"] for item in listed["data"]]
    assert texts == ["second", "noted", "first", "Answer in French."]
    assert [item["role"] for item in listed["data"]] == ["user", "assistant", "user", "developer"]
    assert listed["data"][1]["content"][0] == {
        "type": "output_text",
        "text": "noted",
        "annotations": [],
        "logprobs": [],
    }
    assert all(item["id"].startswith("msg_") and item["status"] == "completed" for item in listed["data"])
    first_page = rsim.client.get(path, params={"order": "asc", "limit": 2}).json()
    assert [item["content"][0]["text"] for item in first_page["data"]] == ["Answer in French.", "first"]
    assert first_page["has_more"] is True and first_page["last_id"] == first_page["data"][-1]["id"]
    rest = rsim.client.get(path, params={"order": "asc", "after": first_page["last_id"]}).json()
    assert [item["content"][0]["text"] for item in rest["data"]] == ["noted", "second"] and rest["has_more"] is False
    assert rsim.error("GET", path, 400, params={"limit": 101})["param"] == "limit"
