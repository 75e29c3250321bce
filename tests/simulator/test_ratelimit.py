"""Rate limits: rpm/tpm buckets, x-ratelimit-* headers, 429 bodies and retry-after, quota."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from batchrunner.simulator.ratelimit import go_duration
from tests.simulator.simhelpers import Sim


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.02, "20ms"), (0.0015, "2ms"), (1, "1s"), (1.25, "1.25s"), (90.5, "1m30.5s"), (360, "6m0s"),
     (3725, "1h2m5s")],
)  # fmt: skip
def test_go_duration(seconds: float, text: str) -> None:
    """Reset headers use Go's duration format."""
    assert go_duration(seconds) == text


def test_no_limit_headers_when_unlimited(sim: Sim) -> None:
    """Without configured limits no x-ratelimit headers are sent."""
    response = sim.client.get("/assistants/asst_support")
    assert not [name for name in response.headers if name.startswith("x-ratelimit")]


def test_rpm_headers_and_429(make_sim: Callable[..., Sim]) -> None:
    """Each request spends one of rpm; over it a 429 `requests` error says when to retry."""
    sim = make_sim(rpm=3)
    remaining = []
    for _ in range(3):
        response = sim.client.get("/assistants/asst_support")
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(response.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]
    assert response.headers["x-ratelimit-reset-requests"] == "1m0s"
    limited = sim.client.get("/assistants/asst_support")
    assert limited.status_code == 429
    error = limited.json()["error"]
    assert error["type"] == "requests" and error["code"] == "rate_limit_exceeded" and error["param"] is None
    assert error["message"].startswith("Rate limit reached for requests")
    assert limited.headers["retry-after"] == "20" and limited.headers["retry-after-ms"] == "20000"
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    sim.clock.advance(20)
    assert sim.client.get("/assistants/asst_support").status_code == 200
    assert sim.stats()["rate_limited"]["requests"] == 1


def test_rpm_refills_continuously(make_sim: Callable[..., Sim]) -> None:
    """The request budget refills at rpm/60 per second, visible in remaining and reset."""
    sim = make_sim(rpm=60)
    for _ in range(30):
        sim.client.get("/assistants/asst_support")
    sim.clock.advance(10)
    response = sim.client.get("/assistants/asst_support")
    assert response.headers["x-ratelimit-remaining-requests"] == "39"
    assert response.headers["x-ratelimit-reset-requests"] == "21s"


def test_tpm_charges_run_creation_by_estimated_prompt_and_max_completion(
    make_sim: Callable[..., Sim],
) -> None:
    """Creating a run costs its prompt estimate plus max_completion_tokens; GETs cost no tokens."""
    sim = make_sim(tpm=10_000)
    text = "y" * 400
    run = sim.thread_and_run("asst_support", text, max_completion_tokens=1000)
    instructions_tokens = -(-len("You are a concise customer-support assistant.") // 4)
    expected_cost = instructions_tokens + 100 + 1000
    retrieved = sim.client.get(f"/threads/{run['thread_id']}/runs/{run['id']}")
    assert retrieved.headers["x-ratelimit-remaining-tokens"] == str(10_000 - expected_cost)
    assert retrieved.headers["x-ratelimit-limit-tokens"] == "10000"


def test_tpm_429_and_request_too_large(make_sim: Callable[..., Sim]) -> None:
    """Over the token budget a run gets a `tokens` 429 and is not created; above tpm it is too large."""
    sim = make_sim(tpm=1000)
    sim.thread_and_run("asst_support", "hello", max_completion_tokens=900)
    limited = sim.client.post("/threads/runs", json={"assistant_id": "asst_support", "max_completion_tokens": 900})
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "tokens"
    assert int(limited.headers["retry-after"]) >= 1
    assert sim.stats()["runs_created"] == 1
    too_large = sim.client.post("/threads/runs", json={"assistant_id": "asst_support", "max_completion_tokens": 5000})
    assert too_large.status_code == 429 and too_large.json()["error"]["message"].startswith("Request too large")
    assert "retry-after" not in too_large.headers
    assert sim.stats()["rate_limited"]["tokens"] == 2


def test_quota_exhaustion_answers_insufficient_quota(make_sim: Callable[..., Sim]) -> None:
    """Once the charged tokens reach quota_tokens every request gets 429 insufficient_quota."""
    sim = make_sim(quota_tokens=500)
    sim.thread_and_run("asst_support", "hello", max_completion_tokens=600)
    response = sim.client.get("/assistants/asst_support")
    assert response.status_code == 429
    assert response.json()["error"] == {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
    assert "retry-after" not in response.headers
    assert sim.stats()["rate_limited"]["insufficient_quota"] == 1


def test_rejected_run_costs_no_tokens(make_sim: Callable[..., Sim]) -> None:
    """A create request refused with 400 or 404 charges nothing against tpm."""
    sim = make_sim(tpm=5000)
    bad_choice = {"type": "function", "function": {"name": "missing"}}
    assert (
        sim.client.post("/threads/runs", json={"assistant_id": "asst_math", "tool_choice": bad_choice}).status_code
        == 400
    )
    assert sim.client.post("/threads/runs", json={"assistant_id": "asst_nope"}).status_code == 404
    busy = sim.client.post("/threads/thread_demo_shared/runs", json={"assistant_id": "asst_support"})
    spent = 5000 - int(busy.headers["x-ratelimit-remaining-tokens"])
    conflict = sim.client.post("/threads/thread_demo_shared/runs", json={"assistant_id": "asst_support"})
    assert conflict.status_code == 400
    assert int(conflict.headers["x-ratelimit-remaining-tokens"]) == 5000 - spent
    instructions, message = (
        "You are a concise customer-support assistant.",
        "We are reviewing the Q3 support backlog.",
    )
    assert spent == -(-len(instructions) // 4) + -(-len(message) // 4)
