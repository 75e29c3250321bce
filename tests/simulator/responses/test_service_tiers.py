"""Cost lanes of /v1/responses: flex (models, capacity 429s) and the background discount windows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.simulator.responses.rsim import RSim

TWO_HOURS = {"completion_window": "2h"}
TEN_SECONDS = {"run_duration_min_s": 10.0, "run_duration_max_s": 10.0}


def test_flex_is_reported_for_flex_models_and_default_otherwise(rsim: RSim) -> None:
    """o4-mini with flex reports flex; a request without a tier, or with auto, reports default."""
    assert rsim.create(model="o4-mini", input="Hi", service_tier="flex")["service_tier"] == "flex"
    assert rsim.create(input="Hi")["service_tier"] == "default"
    assert rsim.create(input="Hi", service_tier="auto")["service_tier"] == "default"


def test_flex_for_a_model_that_does_not_offer_it_is_a_400(make_rsim: Callable[..., RSim]) -> None:
    """gpt-4o is not a flex model by default; flex_models can change that."""
    sim = make_rsim()
    error = sim.error("POST", "/responses", 400, json={"model": "gpt-4o", "input": "Hi", "service_tier": "flex"})
    assert error["param"] == "service_tier" and "gpt-4o" in error["message"]
    custom = make_rsim(flex_models=frozenset({"gpt-4o"}))
    assert custom.create(model="gpt-4o", input="Hi", service_tier="flex")["service_tier"] == "flex"


def test_flex_shortage_is_a_429_resource_unavailable_that_spares_the_rate_limits(
    make_rsim: Callable[..., RSim],
) -> None:
    """resource_unavailable: no retry-after, no rpm taken, not counted as rate limited; others still pass."""
    sim = make_rsim(flex_unavailable_rate=1.0, rpm=2)
    for _ in range(3):
        response = sim.raw.post("/responses", json={"model": "o3", "input": "Hi", "service_tier": "flex"})
        assert response.status_code == 429
        error = response.json()["error"]
        assert (error["code"], error["type"]) == ("resource_unavailable", "server_error")
        assert "retry-after" not in response.headers and "retry-after-ms" not in response.headers
        assert response.headers["x-ratelimit-remaining-requests"] == "2"
    sim.create(model="o3", input="Hi")
    sim.create(model="o3", input="Hi")
    stats = sim.stats()
    assert stats["flex_unavailable"] == 3 and stats["rate_limited"]["requests"] == 0


def _flex_statuses(sim: RSim, count: int) -> list[int]:
    body = {"model": "gpt-5-mini", "input": "Hi", "service_tier": "flex"}
    return [sim.raw.post("/responses", json=body).status_code for _ in range(count)]


def test_flex_shortage_share_is_about_the_rate_and_deterministic(make_rsim: Callable[..., RSim]) -> None:
    """At rate 0.5 about half of 60 flex requests get 429; the same seed picks the same ones."""
    first = _flex_statuses(make_rsim(flex_unavailable_rate=0.5, seed=2), 60)
    assert 15 <= first.count(429) <= 45 and set(first) == {200, 429}
    assert _flex_statuses(make_rsim(flex_unavailable_rate=0.5, seed=2), 60) == first


def test_a_2h_window_runs_slower_and_echoes_its_options(make_rsim: Callable[..., RSim]) -> None:
    """With slowdown 3, a 10 s response in the 2h window is queued 3 s and completes at 30 s."""
    sim = make_rsim(background_window_slowdown=3.0, **TEN_SECONDS)
    options = {"completion_window": "2h", "continuation_id": "job-7"}
    created = sim.create(input="Summarise", background=True, background_options=options)
    assert created["background_options"] == options and created["service_tier"] == "default"
    sim.clock.advance(2.9)
    assert sim.get(created["id"])["status"] == "queued"
    sim.clock.advance(27.0)
    assert sim.get(created["id"])["status"] == "in_progress"
    sim.clock.advance(0.2)
    done = sim.get(created["id"])
    assert done["status"] == "completed" and done["background_options"] == options


def test_the_soonest_window_is_the_default_speed(make_rsim: Callable[..., RSim]) -> None:
    """completion_window soonest (the default when omitted) keeps the usual 10 s."""
    sim = make_rsim(**TEN_SECONDS)
    created = sim.create(input="Summarise", background=True, background_options={})
    assert created["background_options"] == {"completion_window": "soonest"}
    sim.clock.advance(10.0)
    assert sim.get(created["id"])["status"] == "completed"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"background_options": TWO_HOURS}, "background_options"),
        ({"background": True, "stream": True, "background_options": {"completion_window": "8h"}}, "stream"),
        (
            {"background": True, "service_tier": "flex", "background_options": TWO_HOURS},
            "service_tier",
        ),
        (
            {"background": True, "background_options": {"completion_window": "4h"}},
            "background_options.completion_window",
        ),
        ({"background": True, "background_options": {"window": "2h"}}, "background_options.window"),
    ],
)
def test_background_options_that_contradict_the_request_are_400s(rsim: RSim, body: dict[str, Any], param: str) -> None:
    """No background, streaming, flex, an unknown window or field: 400 naming the field."""
    error = rsim.error("POST", "/responses", 400, json={"model": "o3", "input": "Hi", **body})
    assert error["param"] == param
