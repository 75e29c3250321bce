"""Requests-per-minute and tokens-per-minute limits, a token quota, and OpenAI's rate-limit headers.

Each limit is a token bucket holding `limit` units that refills continuously at limit/60 per second
(OpenAI meters the same way, so a client that used half its budget sees `reset` of about 30s). A
request is admitted when the bucket holds its cost; otherwise it gets a 429 whose `retry-after`
says when the bucket will hold enough. A request whose token cost exceeds the whole tpm limit can
never pass and gets OpenAI's "Request too large" 429 without a retry-after.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from batchrunner.simulator.errors import APIError

QUOTA_MESSAGE = "You exceeded your current quota, please check your plan and billing details."
ORGANIZATION = "org-simulator"


def go_duration(seconds: float) -> str:
    """A duration the way Go prints it (and OpenAI's reset headers show it): 20ms, 1s, 6m0s, 1m30.5s."""
    millis = max(0, round(seconds * 1000))
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


@dataclass
class TokenBucket:
    """One per-minute limit; `level` is the budget left, refilled at limit/60 per second."""

    limit: int
    level: float
    updated_at: float

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated_at)
        self.level = min(float(self.limit), self.level + elapsed * self.limit / 60.0)
        self.updated_at = now

    def wait_for(self, cost: float) -> float:
        """Seconds until the bucket holds `cost` (0 when it already does)."""
        return max(0.0, (cost - self.level) * 60.0 / self.limit)

    def headers(self, kind: str) -> dict[str, str]:
        return {
            f"x-ratelimit-limit-{kind}": str(self.limit),
            f"x-ratelimit-remaining-{kind}": str(max(0, math.floor(self.level))),
            f"x-ratelimit-reset-{kind}": go_duration((self.limit - self.level) * 60.0 / self.limit),
        }


@dataclass
class Quota:
    """The organisation's token quota (0: none), shared by the limits of every model."""

    tokens: int
    charged: int = 0


class RateLimiter:
    """The rpm/tpm buckets of one model (or of requests that concern none); 0 disables a limit."""

    def __init__(self, rpm: int, tpm: int, quota: Quota | int, clock: Callable[[], float]) -> None:
        now = clock()
        self._clock = clock
        self.requests = TokenBucket(rpm, float(rpm), now) if rpm else None
        self.tokens = TokenBucket(tpm, float(tpm), now) if tpm else None
        self.quota = quota if isinstance(quota, Quota) else Quota(quota)

    @property
    def tokens_charged(self) -> int:
        """Tokens charged to the quota, by every model."""
        return self.quota.charged

    def _refill(self) -> None:
        now = self._clock()
        for bucket in (self.requests, self.tokens):
            if bucket is not None:
                bucket.refill(now)

    def headers(self) -> dict[str, str]:
        """The x-ratelimit-* headers of the limits that are configured."""
        self._refill()
        result: dict[str, str] = {}
        if self.requests is not None:
            result.update(self.requests.headers("requests"))
        if self.tokens is not None:
            result.update(self.tokens.headers("tokens"))
        return result

    def check_quota(self) -> None:
        """429 insufficient_quota once the charged tokens reached the quota."""
        if self.quota.tokens and self.quota.charged >= self.quota.tokens:
            raise APIError(429, QUOTA_MESSAGE, type="insufficient_quota", code="insufficient_quota")

    def admit_request(self) -> None:
        """Take one request from the rpm bucket, or raise its 429."""
        self._refill()
        bucket = self.requests
        if bucket is None:
            return
        if bucket.level < 1:
            raise self._limited(bucket, "requests", "RPM", 1)
        bucket.level -= 1

    def charge_tokens(self, cost: int) -> None:
        """Take `cost` tokens from the tpm bucket (or raise its 429) and count them against the quota."""
        self._refill()
        bucket = self.tokens
        if bucket is not None and cost > 0:
            if cost > bucket.limit:
                raise APIError(
                    429,
                    f"Request too large for tokens per min (TPM) in organization {ORGANIZATION}: Limit "
                    f"{bucket.limit}, Requested {cost}. The input or output tokens must be reduced in order "
                    "to run successfully.",
                    type="tokens",
                    code="rate_limit_exceeded",
                )
            if bucket.level < cost:
                raise self._limited(bucket, "tokens", "TPM", cost)
            bucket.level -= cost
        self.quota.charged += cost

    @staticmethod
    def _limited(bucket: TokenBucket, kind: str, unit: str, cost: int) -> APIError:
        wait = bucket.wait_for(cost)
        used = bucket.limit - max(0, math.floor(bucket.level))
        return APIError(
            429,
            f"Rate limit reached for {kind} per min ({unit}) in organization {ORGANIZATION}: Limit "
            f"{bucket.limit}, Used {used}, Requested {cost}. Please try again in {go_duration(wait)}.",
            type=kind,
            code="rate_limit_exceeded",
            headers={
                "retry-after": str(max(1, math.ceil(wait))),
                "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
            },
        )


class RateLimiters:
    """One ``RateLimiter`` per model a request concerns (``SimConfig.limits_of``), sharing one quota."""

    def __init__(
        self, limits_of: Callable[[str | None], tuple[int, int]], quota_tokens: int, clock: Callable[[], float]
    ) -> None:
        self._limits_of = limits_of
        self._clock = clock
        self.quota = Quota(quota_tokens)
        self._by_model: dict[str | None, RateLimiter] = {}

    def for_model(self, model: str | None) -> RateLimiter:
        limiter = self._by_model.get(model)
        if limiter is None:
            rpm, tpm = self._limits_of(model)
            limiter = self._by_model[model] = RateLimiter(rpm, tpm, self.quota, self._clock)
        return limiter

    @property
    def tokens_charged(self) -> int:
        return self.quota.charged
