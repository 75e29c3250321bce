"""Knobs of the API simulator: timing, limits, injected faults and the clock.

The run knobs (durations, failure rates) drive Assistants runs and Responses alike; the `response_*`
and `background_requires_store` knobs only concern the Responses API. The cost-lane knobs shape flex
(`flex_*`), the background discount windows (`background_window_slowdown`) and the Batch API (`batch_*`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from batchrunner.lanes import DEFAULT_FLEX_MODELS


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulator's behaviour depends on; equal configs give equal simulations."""

    seed: int = 0
    run_duration_min_s: float = 2.0
    run_duration_max_s: float = 8.0
    poll_after_ms: int = 1000
    # The limits every request shares, but those concerning a model of `model_limits`.
    rpm: int = 0
    tpm: int = 0
    # (model, rpm, tpm) of models metered at limits of their own (see `metering`).
    model_limits: tuple[tuple[str, int, int], ...] = ()
    quota_tokens: int = 0
    run_fail_rate_limit_rate: float = 0.0
    run_fail_server_error_rate: float = 0.0
    fault_5xx_rate: float = 0.0
    fault_drop_rate: float = 0.0
    fault_slow_rate: float = 0.0
    fault_slow_seconds: float = 0.0
    run_expiry_s: float = 600.0
    clock: Callable[[], float] = time.time
    # The real API answers 400 without `OpenAI-Beta: assistants=v2`; turning this off eases curl demos.
    require_beta_header: bool = True
    # Share of responses that end `incomplete` (reason max_output_tokens) with a partial output item.
    response_incomplete_rate: float = 0.0
    # How long a stored response stays retrievable (30 days, as OpenAI keeps stored responses).
    response_retention_s: float = 2_592_000.0
    # The English background guide rejects `background` with `store: false`; the newer localized
    # guides accept it and drop the response after about 10 minutes. False models the newer text.
    background_requires_store: bool = True
    # The models that accept `service_tier: "flex"` (others get a 400), and the share of flex requests
    # answered 429 resource_unavailable (a capacity shortage, not a rate limit).
    flex_models: frozenset[str] = DEFAULT_FLEX_MODELS
    flex_unavailable_rate: float = 0.0
    # How many times longer a background response with completion_window "2h" or "8h" takes.
    background_window_slowdown: float = 3.0
    # Batch API: validating lasts `batch_validating_s`; lines are answered one per `batch_line_s`;
    # finalizing (and cancelling) lasts `batch_finalizing_s`; a batch expires `batch_window_s` after
    # its creation (24h, as the API's only completion window). `batch_line_fail_rate` of lines answer
    # 500 server_error; `batch_expire_rate` of batches are too slow to finish within their window.
    batch_validating_s: float = 5.0
    batch_line_s: float = 1.0
    batch_finalizing_s: float = 5.0
    batch_window_s: float = 86_400.0
    batch_line_fail_rate: float = 0.0
    batch_expire_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.run_duration_min_s < 0 or self.run_duration_max_s < self.run_duration_min_s:
            raise ValueError("need 0 <= run_duration_min_s <= run_duration_max_s")
        for name in ("poll_after_ms", "rpm", "tpm", "quota_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        rates = (
            "run_fail_rate_limit_rate",
            "run_fail_server_error_rate",
            "fault_5xx_rate",
            "fault_drop_rate",
            "fault_slow_rate",
            "response_incomplete_rate",
            "flex_unavailable_rate",
            "batch_line_fail_rate",
            "batch_expire_rate",
        )
        for name in rates:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.run_fail_rate_limit_rate + self.run_fail_server_error_rate > 1.0:
            raise ValueError("run failure rates must add up to at most 1")
        if self.run_fail_rate_limit_rate + self.run_fail_server_error_rate + self.response_incomplete_rate > 1.0:
            raise ValueError("run failure rates and response_incomplete_rate must add up to at most 1")
        if self.fault_5xx_rate + self.fault_drop_rate > 1.0:
            raise ValueError("fault_5xx_rate + fault_drop_rate must be at most 1")
        if self.fault_slow_seconds < 0 or self.run_expiry_s <= 0:
            raise ValueError("fault_slow_seconds must be >= 0 and run_expiry_s > 0")
        if self.response_retention_s <= 0:
            raise ValueError("response_retention_s must be > 0")
        if self.background_window_slowdown < 1.0:
            raise ValueError("background_window_slowdown must be >= 1")
        for name in ("batch_validating_s", "batch_line_s", "batch_finalizing_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.batch_window_s <= 0:
            raise ValueError("batch_window_s must be > 0")
        if isinstance(self.flex_models, str) or not all(isinstance(m, str) and m for m in self.flex_models):
            raise ValueError("flex_models must be a collection of model names")
        object.__setattr__(self, "flex_models", frozenset(self.flex_models))
        for model, rpm, tpm in self.model_limits:
            if not model or rpm < 0 or tpm < 0:
                raise ValueError(f"model_limits: need a model name and limits >= 0, got {(model, rpm, tpm)!r}")

    @property
    def limited_models(self) -> frozenset[str]:
        """The models metered at limits of their own."""
        return frozenset(name for name, _, _ in self.model_limits)

    def limits_of(self, model: str | None) -> tuple[int, int]:
        """The (rpm, tpm) a request concerning ``model`` (None: no model) is metered against."""
        for name, rpm, tpm in self.model_limits:
            if name == model:
                return rpm, tpm
        return self.rpm, self.tpm


def parse_model_limits(text: str) -> tuple[tuple[str, int, int], ...]:
    """``{"gpt-4o": {"rpm": 500, "tpm": 30000}, ...}`` as ``SimConfig.model_limits``; ValueError says why not."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError('not JSON: give an object such as {"gpt-4o": {"rpm": 500, "tpm": 30000}}') from None
    if not isinstance(data, dict):
        raise ValueError("give a JSON object of model -> {rpm, tpm}")
    limits = []
    for model, entry in data.items():
        if not isinstance(entry, dict) or set(entry) - {"rpm", "tpm"}:
            raise ValueError(f"{model!r}: give {{'rpm': N, 'tpm': M}} (either may be left out: 0, no limit)")
        values = [entry.get(key, 0) for key in ("rpm", "tpm")]
        if not all(isinstance(value, int) and not isinstance(value, bool) and value >= 0 for value in values):
            raise ValueError(f"{model!r}: rpm and tpm must be whole numbers >= 0")
        limits.append((str(model), values[0], values[1]))
    return tuple(limits)
