"""Model prices: the tiers of the table, the lanes' shares, the price setting's forms, and the usage report's cost."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from batchrunner.db.engine import make_engine
from batchrunner.db.models import ApiObject, Batch, Job
from batchrunner.lanes import CONCRETE_LANES, Lane
from batchrunner.pricing import DEFAULT_MODEL_PRICES, ModelPrice, parse_model_price, usage_cost
from batchrunner.reports import usage_report
from batchrunner.settings import Settings


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No batchrunner settings in the environment, and no .env file in the working directory."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("BATCHRUNNER_"):
            monkeypatch.delenv(key)


def test_published_prices_with_cached_input() -> None:
    """The default table holds OpenAI's standard input, cached input and output prices."""
    assert DEFAULT_MODEL_PRICES["gpt-4o"] == ModelPrice(2.50, 1.25, 10.00)
    assert DEFAULT_MODEL_PRICES["gpt-4.1-nano"] == ModelPrice(0.10, 0.025, 0.40)
    assert DEFAULT_MODEL_PRICES["o3-mini"] == ModelPrice(1.10, 0.55, 4.40)
    assert all(price.cached_input <= price.input for price in DEFAULT_MODEL_PRICES.values())


@pytest.mark.parametrize(
    ("lane", "share"),
    [
        (Lane.STANDARD, 1.0),
        (Lane.BACKGROUND_2H, 0.7),
        (Lane.BACKGROUND_8H, 0.6),
        (Lane.FLEX, 0.5),
        (Lane.BATCH, 0.5),
    ],
)
def test_a_usage_costs_the_standard_price_times_the_lanes_share(lane: Lane, share: float) -> None:
    """3M input tokens (1M of them cached) and 1M output on gpt-4o: (2 x 2.50 + 1.25 + 10.00) x the share."""
    cost = usage_cost(
        DEFAULT_MODEL_PRICES,
        "gpt-4o",
        input_tokens=3_000_000,
        cached_input_tokens=1_000_000,
        output_tokens=1_000_000,
        lane=lane,
    )
    assert cost == pytest.approx(16.25 * share)


def test_every_model_and_lane_is_priced_from_the_table() -> None:
    """For each model and lane the cost follows the table's three prices, cached tokens at the cached price."""
    shares = {Lane.STANDARD: 1.0, Lane.BACKGROUND_2H: 0.7, Lane.BACKGROUND_8H: 0.6, Lane.FLEX: 0.5, Lane.BATCH: 0.5}
    for model, price in DEFAULT_MODEL_PRICES.items():
        for lane in CONCRETE_LANES:
            expected = (700 * price.input + 300 * price.cached_input + 50 * price.output) * shares[lane] / 1e6
            cost = usage_cost(
                DEFAULT_MODEL_PRICES, model, input_tokens=1000, cached_input_tokens=300, output_tokens=50, lane=lane
            )
            assert cost == pytest.approx(expected), (model, lane)


def test_a_model_without_a_price_costs_none() -> None:
    """An unknown model, or none, has no cost rather than a made-up one."""
    assert usage_cost(DEFAULT_MODEL_PRICES, "my-finetune", input_tokens=10, output_tokens=10) is None
    assert usage_cost(DEFAULT_MODEL_PRICES, None, input_tokens=10, output_tokens=10) is None


def test_impossible_usages_are_refused() -> None:
    """More cached than input tokens, negative counts and the auto pseudo-lane raise ValueError."""
    with pytest.raises(ValueError, match="cached"):
        usage_cost(DEFAULT_MODEL_PRICES, "gpt-4o", input_tokens=10, cached_input_tokens=11, output_tokens=0)
    with pytest.raises(ValueError):
        usage_cost(DEFAULT_MODEL_PRICES, "gpt-4o", input_tokens=-1, output_tokens=0)
    with pytest.raises(ValueError, match="auto"):
        usage_cost(DEFAULT_MODEL_PRICES, "gpt-4o", input_tokens=1, output_tokens=1, lane=Lane.AUTO)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ([2.5, 10], ModelPrice(2.5, 2.5, 10.0)),
        ([2.5, 1.25, 10], ModelPrice(2.5, 1.25, 10.0)),
        ({"input": 2.5, "cached_input": 1.25, "output": 10}, ModelPrice(2.5, 1.25, 10.0)),
        ({"input": 2.5, "output": 10}, ModelPrice(2.5, 2.5, 10.0)),
    ],
)
def test_every_price_form_is_read(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch, written: object, expected: ModelPrice
) -> None:
    """BATCHRUNNER_MODEL_PRICES takes [input, output] (cached = input), three numbers, or an object."""
    monkeypatch.setenv("BATCHRUNNER_MODEL_PRICES", json.dumps({"gpt-4o": written}))
    assert Settings().model_prices == {"gpt-4o": expected}


@pytest.mark.parametrize(
    ("written", "complaint"),
    [
        ([2.5], "[input, output]"),
        ([1, 2, 3, 4], "[input, cached_input, output]"),
        (["2.5", 10], "input must be a number"),
        ([2.5, True], "output must be a number"),
        ([-1, 10], ">= 0"),
        ([2.5, 10, 1.25], "cached_input (10.0) is above input (2.5)"),
        ({"input": 2.5}, "missing keys ['output']"),
        ({"input": 2.5, "output": 10, "cache": 1}, "unknown keys ['cache']"),
        (3, "[input, output]"),
    ],
)
def test_bad_prices_are_refused_with_what_is_wrong(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch, written: object, complaint: str
) -> None:
    """A malformed price names the model's setting and what is wrong with it."""
    monkeypatch.setenv("BATCHRUNNER_MODEL_PRICES", json.dumps({"gpt-4o": written}))
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert "model_prices.gpt-4o" in str(raised.value)
    assert complaint in str(raised.value)


def test_parse_model_price_refuses_a_non_finite_number() -> None:
    """Infinity is no price."""
    with pytest.raises(ValueError, match="finite"):
        parse_model_price([float("inf"), 1.0])


def test_flex_models_setting_replaces_the_default(clean_environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """BATCHRUNNER_FLEX_MODELS is a JSON list that replaces the flex guide's models."""
    assert "o3" in Settings().flex_models
    monkeypatch.setenv("BATCHRUNNER_FLEX_MODELS", '["gpt-4o"]')
    assert Settings().flex_models == frozenset({"gpt-4o"})


# (model, created day, prompt, cached, completion) of the API objects of one job.
USAGE = [
    ("gpt-4o", datetime(2026, 3, 1, 9, tzinfo=UTC), 3000, 1000, 200),
    ("gpt-4o", datetime(2026, 3, 2, 23, 30, tzinfo=UTC), 500, 0, 50),
    ("gpt-4o-mini", datetime(2026, 3, 2, 10, tzinfo=UTC), 8000, 6000, 400),
]


def test_usage_report_prices_cached_tokens_alike_in_every_grouping(database_url: str) -> None:
    """report usage prices cached input at the cached price, and every grouping adds up to the same cost."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with Session(engine) as session, session.begin():
            batch = Batch(name="priced")
            session.add(batch)
            session.flush()
            job = Job(
                batch_id=batch.id,
                custom_id="j",
                line_no=1,
                spec={},
                assistant_id="asst_x",
                state="succeeded",
                backend="responses",
            )
            session.add(job)
            session.flush()
            for index, (model, created, prompt, cached, completion) in enumerate(USAGE):
                session.add(
                    ApiObject(
                        job_id=job.id,
                        attempt=1,
                        round=index,
                        backend="responses",
                        kind="response",
                        api_id=f"resp_{index}",
                        model=model,
                        status="completed",
                        created_at=created,
                        prompt_tokens=prompt,
                        cached_tokens=cached,
                        completion_tokens=completion,
                        total_tokens=prompt + completion,
                    )
                )
        expected = sum(
            (
                (prompt - cached) * DEFAULT_MODEL_PRICES[model].input
                + cached * DEFAULT_MODEL_PRICES[model].cached_input
                + completion * DEFAULT_MODEL_PRICES[model].output
            )
            / 1e6
            for model, _, prompt, cached, completion in USAGE
        )
        for by in ("batch", "assistant", "model", "day"):
            rows = usage_report(engine, by)
            costs = [row.estimated_cost_usd for row in rows]
            assert all(cost is not None for cost in costs), (by, rows)
            assert sum(cost or 0.0 for cost in costs) == pytest.approx(expected), by
        by_day = {row.key: row.estimated_cost_usd for row in usage_report(engine, "day")}
        first_day = (3000 - 1000) * 2.50 + 1000 * 1.25 + 200 * 10.00
        assert by_day["2026-03-01"] == pytest.approx(first_day / 1e6)
    finally:
        engine.dispose()
