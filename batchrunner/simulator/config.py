"""Knobs of the API simulator: timing, limits, injected faults and the clock.

The run knobs (durations, failure rates) drive Assistants runs and Responses alike; the `response_*`
and `background_requires_store` knobs only concern the Responses API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulator's behaviour depends on; equal configs give equal simulations."""

    seed: int = 0
    run_duration_min_s: float = 2.0
    run_duration_max_s: float = 8.0
    poll_after_ms: int = 1000
    rpm: int = 0
    tpm: int = 0
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
