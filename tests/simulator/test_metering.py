"""Limits per model: each request counts against the model it concerns, model-less ones against the defaults."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from batchrunner.simulator.config import SimConfig, parse_model_limits
from tests.simulator.simhelpers import Sim

LIMITS = (("gpt-4o", 3, 0), ("gpt-4o-mini", 5, 0))


def test_a_models_requests_spend_only_its_own_limit(make_sim: Callable[..., Sim]) -> None:
    """Creates and retrievals of gpt-4o responses spend gpt-4o's 3 rpm; gpt-4o-mini's 5 stay whole."""
    sim = make_sim(rpm=100, model_limits=LIMITS)
    created = sim.client.post("/responses", json={"model": "gpt-4o", "input": "hi", "background": True})
    assert created.headers["x-ratelimit-limit-requests"] == "3"
    assert created.headers["x-ratelimit-remaining-requests"] == "2"
    looked = sim.client.get(f"/responses/{created.json()['id']}")
    assert looked.headers["x-ratelimit-remaining-requests"] == "1"
    mini = sim.client.post("/responses", json={"model": "gpt-4o-mini", "input": "hi", "background": True})
    assert (mini.headers["x-ratelimit-limit-requests"], mini.headers["x-ratelimit-remaining-requests"]) == ("5", "4")
    sim.client.post("/responses", json={"model": "gpt-4o", "input": "hi", "background": True})
    limited = sim.client.post("/responses", json={"model": "gpt-4o", "input": "hi", "background": True})
    assert limited.status_code == 429 and "Limit 3" in limited.json()["error"]["message"]
    assert sim.client.post("/responses", json={"model": "gpt-4o-mini", "input": "hi"}).status_code == 200
    assert sim.stats()["metered_by_model"] == {
        "gpt-4o": {"served": 3, "limited": 1},
        "gpt-4o-mini": {"served": 2, "limited": 0},
    }


def test_runs_count_against_their_assistants_model_and_threads_against_the_defaults(
    make_sim: Callable[..., Sim],
) -> None:
    sim = make_sim(rpm=100, model_limits=LIMITS)
    run = sim.thread_and_run("asst_support", "hello")  # asst_support runs gpt-4o-mini
    looked = sim.client.get(f"/threads/{run['thread_id']}/runs/{run['id']}")
    assert (looked.headers["x-ratelimit-limit-requests"], looked.headers["x-ratelimit-remaining-requests"]) == (
        "5",
        "3",
    )
    other = sim.thread_and_run("asst_support", "hi", model="gpt-4o")  # the run's own model wins
    assert other["model"] == "gpt-4o"
    thread = sim.client.post("/threads", json={})
    assert thread.headers["x-ratelimit-limit-requests"] == "100"
    stats = sim.stats()["metered_by_model"]
    assert stats["gpt-4o-mini"]["served"] == 2 and stats["gpt-4o"]["served"] == 1 and stats[""]["served"] == 1


def test_the_quota_is_the_organisations_across_models(make_sim: Callable[..., Sim]) -> None:
    sim = make_sim(model_limits=LIMITS, quota_tokens=1)
    assert sim.client.post("/responses", json={"model": "gpt-4o", "input": "hi"}).status_code == 200
    exhausted = sim.client.post("/responses", json={"model": "gpt-4o-mini", "input": "hi"})
    assert exhausted.status_code == 429 and exhausted.json()["error"]["code"] == "insufficient_quota"


def test_model_limits_parse_from_json_with_clear_errors() -> None:
    assert parse_model_limits('{"gpt-4o": {"rpm": 500, "tpm": 30000}, "o3": {"rpm": 10}}') == (
        ("gpt-4o", 500, 30000),
        ("o3", 10, 0),
    )
    for text, message in [
        ("[1]", "JSON object"),
        ("{", "not JSON"),
        ('{"m": {"rpm": -1}}', ">= 0"),
        ('{"m": 5}', "rpm"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_model_limits(text)
    with pytest.raises(ValueError, match="model_limits"):
        SimConfig(model_limits=(("", 1, 1),))


def test_models_without_limits_of_their_own_share_the_default_bucket(make_sim: Callable[..., Sim]) -> None:
    """As models sharing one limit do: an unnamed model's requests and model-less ones spend the same --rpm."""
    sim = make_sim(rpm=3, model_limits=LIMITS)
    first = sim.client.post("/responses", json={"model": "gpt-4.1-mini", "input": "hi"})
    thread = sim.client.post("/threads", json={})
    assert (first.headers["x-ratelimit-remaining-requests"], thread.headers["x-ratelimit-remaining-requests"]) == (
        "2",
        "1",
    )
    assert sim.stats()["metered_by_model"] == {"": {"served": 2, "limited": 0}}
