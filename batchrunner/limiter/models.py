"""A fleet budget per model: the API limits each model on its own, so batchrunner meters each on its own.

``ModelBudgets.for_model(model)`` is the budget of the requests that concern ``model`` (creating a run or
response for it, and looking at, answering or cancelling one); ``for_model(None)`` meters requests that
concern no model (threads, messages, conversations), as the simulator does (``simulator.metering``).
Each budget has its own caps (``caps``, else ``default_caps``) and learns its own limits from the
answers to its requests. ``single(budget)`` puts every model on one budget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from batchrunner.limiter.base import Budget

# (model or None, requests-per-minute cap, tokens-per-minute cap) -> a budget of its own
BudgetFactory = Callable[[str | None, int, int], Budget]


class ModelBudgets:
    def __init__(
        self,
        make: BudgetFactory,
        caps: Mapping[str, tuple[int, int]] | None = None,
        default_caps: tuple[int, int] = (0, 0),
    ) -> None:
        self._make = make
        self._caps = dict(caps or {})
        self._default_caps = default_caps
        self._budgets: dict[str | None, Budget] = {}
        self._lock = threading.Lock()
        self._single: Budget | None = None

    @classmethod
    def single(cls, budget: Budget) -> ModelBudgets:
        """Every model, and requests of none, on ``budget``."""
        budgets = cls(lambda model, rpm, tpm: budget)
        budgets._single = budget
        return budgets

    def for_model(self, model: str | None) -> Budget:
        if self._single is not None:
            return self._single
        budget = self._budgets.get(model)
        if budget is not None:
            return budget
        with self._lock:
            budget = self._budgets.get(model)
            if budget is None:
                rpm, tpm = self._caps.get(model, self._default_caps) if model else self._default_caps
                budget = self._budgets[model] = self._make(model, rpm, tpm)
            return budget

    def known(self) -> dict[str, Budget]:
        """The budgets in use so far, by model ("" for requests of none, or for the one budget of all)."""
        if self._single is not None:
            return {"": self._single}
        with self._lock:
            return {model or "": budget for model, budget in self._budgets.items()}


__all__ = ["BudgetFactory", "ModelBudgets"]
