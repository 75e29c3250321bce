"""A budget per model: its own caps, its own learned limits, shared by every process through Redis."""

from __future__ import annotations

from batchrunner.limiter import MemoryBudget, RedisBudget
from batchrunner.limiter.models import ModelBudgets
from batchrunner.runtime import make_fleet_budgets
from batchrunner.settings import ModelCaps, Settings
from tests.limiter.conftest import LIMITER_REDIS_URL


def test_each_model_gets_its_caps_and_requests_of_none_the_defaults() -> None:
    made: list[tuple[str | None, int, int]] = []

    def make(model: str | None, rpm: int, tpm: int) -> MemoryBudget:
        made.append((model, rpm, tpm))
        return MemoryBudget(rpm, tpm)

    budgets = ModelBudgets(make, {"gpt-4o": (500, 30_000)}, (100, 0))
    assert budgets.for_model("gpt-4o") is budgets.for_model("gpt-4o")
    budgets.for_model("o3")
    budgets.for_model(None)
    assert made == [("gpt-4o", 500, 30_000), ("o3", 100, 0), (None, 100, 0)]
    assert set(budgets.known()) == {"gpt-4o", "o3", ""}


def test_one_budget_for_every_model_when_given_one() -> None:
    budget = MemoryBudget(60, 0)
    budgets = ModelBudgets.single(budget)
    assert budgets.for_model("gpt-4o") is budget and budgets.for_model(None) is budget
    assert budgets.known() == {"": budget}


def test_processes_share_each_models_budget_and_what_it_learned(redis_prefix: str) -> None:
    settings = Settings(
        broker_url=LIMITER_REDIS_URL,
        budget_per_model=True,
        model_limits={"gpt-4o": ModelCaps(requests_per_minute=2)},
    )
    first = make_fleet_budgets(settings, key_prefix=redis_prefix)
    second = make_fleet_budgets(settings, key_prefix=redis_prefix)
    assert isinstance(first.for_model("gpt-4o"), RedisBudget)
    assert first.for_model("gpt-4o").try_acquire().granted
    assert not second.for_model("gpt-4o").try_acquire().granted  # 2 rpm, fleet-wide: the other process spent it
    assert second.for_model("gpt-4o-mini").try_acquire().granted  # another model's budget is whole
    first.for_model("gpt-4o-mini").learn_server_limits(1000, 0)
    newcomer = make_fleet_budgets(settings, key_prefix=redis_prefix).for_model("gpt-4o-mini")
    newcomer.try_acquire()  # a process that has not heard the server yet takes what the fleet heard
    assert newcomer.limits.requests_per_minute == 950


def test_by_default_each_model_has_a_budget_of_its_own() -> None:
    """The API limits models apart: by default each is metered apart, with the global caps as its own."""
    budgets = make_fleet_budgets(Settings(requests_per_minute=60), in_memory=True)
    assert budgets.for_model("gpt-4o") is not budgets.for_model("gpt-4o-mini")
    assert budgets.for_model("gpt-4o") is budgets.for_model("gpt-4o")
    assert budgets.for_model("gpt-4o-mini").caps.requests_per_minute == 60


def test_without_budget_per_model_every_model_shares_one_budget() -> None:
    budgets = make_fleet_budgets(Settings(requests_per_minute=60, budget_per_model=False), in_memory=True)
    assert budgets.for_model("gpt-4o") is budgets.for_model("gpt-4o-mini") is budgets.for_model(None)
    assert budgets.for_model("gpt-4o").caps.requests_per_minute == 60
