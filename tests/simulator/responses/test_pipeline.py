"""The shared request pipeline on the Responses routes: rate limits, quota, faults, headers, stats, seeds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.simulator.responses.rsim import CALCULATE, OpenStream, RSim, outputs_for, wait_for_response


def test_rpm_limits_responses_routes_with_the_usual_headers(make_rsim: Callable[..., RSim]) -> None:
    """Under rpm=3 the fourth request (a poll counts too) is a 429 requests, with x-ratelimit-* and retry-after."""
    sim = make_rsim(rpm=3)
    created = sim.create(input="hello", background=True)
    sim.get(created["id"])
    third = sim.client.get("/conversations/conv_nope")
    assert third.headers["x-ratelimit-remaining-requests"] == "0"
    limited = sim.raw.get(f"/responses/{created['id']}")
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "requests" and limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-ratelimit-limit-requests"] == "3"
    assert "openai-processing-ms" in limited.headers and limited.headers["x-request-id"].startswith("req_")
    stats = sim.stats()
    assert stats["rate_limited"]["requests"] == 1
    assert stats["requests"]["GET /v1/responses/{response_id}"] == {"200": 1, "429": 1}
    sim.clock.advance(20)
    assert sim.get(created["id"])["status"] == "completed"


def test_tpm_charges_before_creating_so_a_429_leaves_no_trace(make_rsim: Callable[..., RSim]) -> None:
    """A create over the tpm budget is a 429 tokens that creates nothing and draws no id."""
    sim = make_rsim(tpm=1000, seed=5)
    twin = make_rsim(tpm=1000, seed=5)
    first = sim.create(input="hello", max_output_tokens=600)
    assert int(sim.raw.get(f"/responses/{first['id']}").headers["x-ratelimit-remaining-tokens"]) < 400
    limited = sim.raw.post("/responses", json={"model": "gpt-4o", "input": "again", "max_output_tokens": 600})
    assert limited.status_code == 429 and limited.json()["error"]["type"] == "tokens"
    assert sim.stats()["responses_created"] == 1 and sim.stats()["rate_limited"]["tokens"] == 1
    sim.clock.advance(60)
    later = sim.create(input="again", max_output_tokens=600)
    twin.create(input="hello", max_output_tokens=600)
    twin.clock.advance(60)
    assert later == twin.create(input="again", max_output_tokens=600)


def test_request_too_large_and_quota(make_rsim: Callable[..., RSim]) -> None:
    """A create costing more than the whole tpm is "Request too large"; spent quota is insufficient_quota."""
    small = make_rsim(tpm=100)
    error = small.error("POST", "/responses", 429, json={"model": "m", "input": "x", "max_output_tokens": 200})
    assert error["message"].startswith("Request too large") and error["code"] == "rate_limit_exceeded"
    broke = make_rsim(quota_tokens=10)
    broke.create(input="a question long enough to spend the little quota there is")
    for path in ("/responses", "/conversations"):
        error = broke.error("POST", path, 429, json={"model": "m", "input": "x"} if path == "/responses" else {})
        assert error["type"] == "insufficient_quota" and error["code"] == "insufficient_quota"


def test_beta_header_is_only_required_on_assistants_routes(rsim: RSim) -> None:
    """Responses and Conversations need no OpenAI-Beta header; the Assistants routes still do."""
    assert "OpenAI-Beta" not in rsim.client.headers
    assert rsim.client.post("/responses", json={"model": "m", "input": "hi"}).status_code == 200
    assert rsim.client.post("/conversations", json={}).status_code == 200
    beta = rsim.raw.get("/assistants/asst_support")
    assert beta.status_code == 400 and beta.json()["error"]["code"] == "invalid_beta"
    assert "openai-processing-ms" not in beta.headers


def test_every_responses_reply_carries_processing_ms_and_a_request_id(rsim: RSim) -> None:
    """200s, 400s and 404s of both APIs carry openai-processing-ms and x-request-id, never poll-after."""
    replies = [
        rsim.client.post("/responses", json={"model": "m", "input": "hi", "background": True}),
        rsim.raw.post("/responses", json={}),
        rsim.raw.get("/responses/resp_nope"),
        rsim.client.post("/conversations", json={}),
        rsim.raw.get("/conversations/conv_nope/items"),
    ]
    assert [reply.status_code for reply in replies] == [200, 400, 404, 200, 404]
    for reply in replies:
        assert int(reply.headers["openai-processing-ms"]) > 0 and reply.headers["x-request-id"].startswith("req_")
        assert "openai-poll-after-ms" not in reply.headers
    assert len({reply.headers["x-request-id"] for reply in replies}) == len(replies)


def test_injected_faults_hit_responses_routes(make_rsim: Callable[..., RSim]) -> None:
    """5xx faults answer ErrorResponses (before or after the work), drops reach the client; counts stay exact."""
    failing = make_rsim(fault_5xx_rate=1.0, seed=11)
    statuses = set()
    for index in range(8):
        body = {"model": "m", "input": "hi", "background": True, "metadata": {"batchrunner_job": f"j{index}"}}
        response = failing.raw.post("/responses", json=body)
        statuses.add(response.status_code)
        assert response.json()["error"]["type"] == "server_error" and "openai-processing-ms" in response.headers
    assert statuses <= {500, 503}
    stats = failing.stats()
    assert 0 < stats["responses_created"] < 8  # some struck after the response was created
    assert sum(stats["responses_by_job_key"].values()) == stats["responses_created"] == len(failing.store.responses)

    dropping = make_rsim(fault_drop_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        dropping.raw.post("/responses", json={"model": "m", "input": "hi"})
    assert dropping.stats()["requests"]["POST /v1/responses"] == {"dropped": 1}


def test_stream_struck_by_a_fault_after_the_work_is_an_error(make_rsim: Callable[..., RSim]) -> None:
    """A streamed create answered 5xx is plain JSON even when the response was created."""
    sim = make_rsim(fault_5xx_rate=1.0, seed=11)
    for _ in range(6):
        response = sim.raw.post("/responses", json={"model": "m", "input": "hi", "stream": True})
        assert response.headers["content-type"] == "application/json" and response.status_code in (500, 503)


def test_stats_count_responses_and_chains_per_job_key(rsim: RSim) -> None:
    """responses_by_job_key counts every response; response_chains_by_job_key only those without a predecessor."""
    tag = {"batchrunner_job": "batch:job-1:attempt-1"}
    first = rsim.create(input="What is 6 * 7?", tools=[CALCULATE], metadata=tag)
    rsim.create(previous_response_id=first["id"], input=outputs_for(first), tools=[CALCULATE], metadata=tag)
    duplicate = {"batchrunner_job": "batch:job-2:attempt-1"}
    rsim.create(input="hello", metadata=duplicate, background=True)
    rsim.create(input="hello", metadata=duplicate, background=True)
    rsim.create(input="untagged")
    stats = rsim.stats()
    assert stats["responses_created"] == 5
    assert stats["responses_by_job_key"] == {"batch:job-1:attempt-1": 2, "batch:job-2:attempt-1": 2}
    assert stats["response_chains_by_job_key"] == {"batch:job-1:attempt-1": 1, "batch:job-2:attempt-1": 2}
    assert stats["active_responses"] == 2
    assert stats["runs_created"] == 0 and stats["runs_by_job_key"] == {} and stats["active_runs"] == 0
    assert stats["requests"]["POST /v1/responses"] == {"200": 5}
    rsim.clock.advance(11)
    assert rsim.stats()["active_responses"] == 0
    assert rsim.client.post("http://sim.test/_sim/reset").status_code == 200
    reset = rsim.stats()
    assert reset["responses_created"] == 0 and reset["responses_by_job_key"] == {}
    assert reset["response_chains_by_job_key"] == {}
    assert rsim.get(first["id"])["id"] == first["id"]


def _transcript(sim: RSim) -> list[Any]:
    """Drive a fixed script over both APIs and record every body (stream texts included)."""
    seen: list[Any] = []
    tag = {"batchrunner_job": "x"}
    asked = sim.create(input="What is (2 + 3) * 4?", tools=[CALCULATE], background=True, metadata=tag)
    plain = sim.create(input="Summarise the Q3 backlog of printer tickets", background=True)
    conversation = sim.client.post("/conversations", json={"items": [{"role": "user", "content": "refunds?"}]}).json()
    on_conversation = sim.create(conversation=conversation["id"], background=True)
    seen += [asked, plain, conversation, on_conversation]
    streamed = sim.client.post("/responses", json={"model": "m", "input": "a detailed essay", "stream": True})
    seen.append(streamed.text)
    for _ in range(20):
        sim.clock.advance(0.5)
        seen += [sim.get(response["id"]) for response in (asked, plain, on_conversation)]
    answered = sim.get(asked["id"])
    follow_up = sim.create(previous_response_id=asked["id"], input=outputs_for(answered), tools=[CALCULATE])
    seen.append(follow_up)
    seen.append(sim.client.get(f"/conversations/{conversation['id']}/items").json())
    seen.append(sim.client.get(f"/responses/{follow_up['id']}/input_items").json())
    return seen


def test_same_seed_same_transcript(make_rsim: Callable[..., RSim]) -> None:
    """Two simulators with one seed answer a script identically: ids, timings, texts, usage, events."""
    first = _transcript(make_rsim(seed=7, run_fail_server_error_rate=0.2, response_incomplete_rate=0.2))
    second = _transcript(make_rsim(seed=7, run_fail_server_error_rate=0.2, response_incomplete_rate=0.2))
    assert first == second
    statuses = {item["status"] for item in first if isinstance(item, dict) and item.get("object") == "response"}
    assert {"completed", "queued", "in_progress"} <= statuses


def test_other_seed_other_transcript(make_rsim: Callable[..., RSim]) -> None:
    """Another seed gives other ids and other drawn timings."""
    first, second = _transcript(make_rsim(seed=7)), _transcript(make_rsim(seed=8))
    assert first[0]["id"] != second[0]["id"]
    statuses = [[item.get("status") for item in transcript if isinstance(item, dict)] for transcript in (first, second)]
    assert statuses[0] != statuses[1]


def test_streams_and_polls_share_the_store_lock_safely(make_rsim: Callable[..., RSim]) -> None:
    """A stream held open by another thread does not block polls of other responses."""
    sim = make_rsim(run_duration_min_s=10.0, run_duration_max_s=10.0)
    stream = OpenStream(
        sim, "POST", "/responses", json={"model": "m", "input": "hi", "background": True, "stream": True}
    )
    streamed_id = wait_for_response(sim)
    other = sim.create(input="hello", background=True)
    assert sim.get(other["id"])["status"] == "queued"
    sim.clock.advance(11)
    assert stream.events()[-1]["response"]["id"] == streamed_id
