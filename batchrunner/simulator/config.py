"""Knobs of the API simulator: timing, limits, injected faults and the clock."""

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
        )
        for name in rates:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.run_fail_rate_limit_rate + self.run_fail_server_error_rate > 1.0:
            raise ValueError("run failure rates must add up to at most 1")
        if self.fault_5xx_rate + self.fault_drop_rate > 1.0:
            raise ValueError("fault_5xx_rate + fault_drop_rate must be at most 1")
        if self.fault_slow_seconds < 0 or self.run_expiry_s <= 0:
            raise ValueError("fault_slow_seconds must be >= 0 and run_expiry_s > 0")
