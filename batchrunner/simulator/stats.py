"""Counters behind `GET /_sim/stats`: requests by route and status, runs per job key, 429s."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

JOB_KEY_METADATA = "batchrunner_job"


class Stats:
    """What the simulator saw since it started or since the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.runs_created = 0
        self.runs_by_job_key: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter({"requests": 0, "tokens": 0, "insufficient_quota": 0})

    def record_request(self, route: str, status: int | str) -> None:
        """Count one answered (or dropped) request under "<METHOD> <route template>"."""
        self.requests[route][str(status)] += 1

    def record_run(self, metadata: dict[str, str]) -> None:
        """Count a created run, and its job key when the client tagged one."""
        self.runs_created += 1
        job_key = metadata.get(JOB_KEY_METADATA)
        if job_key is not None:
            self.runs_by_job_key[job_key] += 1

    def record_rate_limited(self, kind: str) -> None:
        self.rate_limited[kind] += 1

    def snapshot(self, active_runs: int) -> dict[str, Any]:
        return {
            "requests": {route: dict(statuses) for route, statuses in sorted(self.requests.items())},
            "runs_created": self.runs_created,
            "runs_by_job_key": dict(self.runs_by_job_key),
            "rate_limited": dict(self.rate_limited),
            "active_runs": active_runs,
        }
