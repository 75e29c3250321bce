"""Counters behind `GET /_sim/stats`: requests by route and status, runs and responses per job key, 429s,
files and batches, and flex capacity shortages (429 resource_unavailable, kept apart from rate limits).

batchrunner tags everything one job attempt creates with the same `batchrunner_job` metadata value,
so `runs_by_job_key` and `response_chains_by_job_key` above 1 for a key mean a duplicate: a second
run, or a second chain of responses (a response created without `previous_response_id`).
"""

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
        self.responses_created = 0
        self.responses_by_job_key: Counter[str] = Counter()
        self.response_chains_by_job_key: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter({"requests": 0, "tokens": 0, "insufficient_quota": 0})
        # Per model a request was metered against ("" for none): requests served, and answered 429.
        self.metered: defaultdict[str, Counter[str]] = defaultdict(lambda: Counter({"served": 0, "limited": 0}))
        self.files_created = 0
        self.batches_created = 0
        self.batches_by_job_key: Counter[str] = Counter()
        self.flex_unavailable = 0

    def record_request(self, route: str, status: int | str) -> None:
        """Count one answered (or dropped) request under "<METHOD> <route template>"."""
        self.requests[route][str(status)] += 1

    def record_run(self, metadata: dict[str, str]) -> None:
        """Count a created run, and its job key when the client tagged one."""
        self.runs_created += 1
        job_key = metadata.get(JOB_KEY_METADATA)
        if job_key is not None:
            self.runs_by_job_key[job_key] += 1

    def record_response(self, metadata: dict[str, str], *, chain_start: bool) -> None:
        """Count a created response, and its job key (as a chain start too, unless it continues one)."""
        self.responses_created += 1
        job_key = metadata.get(JOB_KEY_METADATA)
        if job_key is not None:
            self.responses_by_job_key[job_key] += 1
            if chain_start:
                self.response_chains_by_job_key[job_key] += 1

    def record_file(self) -> None:
        self.files_created += 1

    def record_batch(self, metadata: dict[str, str]) -> None:
        """Count a created batch, and its job key when the client tagged one."""
        self.batches_created += 1
        job_key = metadata.get(JOB_KEY_METADATA)
        if job_key is not None:
            self.batches_by_job_key[job_key] += 1

    def record_flex_unavailable(self) -> None:
        self.flex_unavailable += 1

    def record_rate_limited(self, kind: str) -> None:
        self.rate_limited[kind] += 1

    def record_metered(self, model: str | None, *, limited: bool) -> None:
        self.metered[model or ""]["limited" if limited else "served"] += 1

    def snapshot(self, active_runs: int, active_responses: int = 0, active_batches: int = 0) -> dict[str, Any]:
        return {
            "requests": {route: dict(statuses) for route, statuses in sorted(self.requests.items())},
            "runs_created": self.runs_created,
            "runs_by_job_key": dict(self.runs_by_job_key),
            "rate_limited": dict(self.rate_limited),
            "metered_by_model": {model: dict(counts) for model, counts in sorted(self.metered.items())},
            "active_runs": active_runs,
            "responses_created": self.responses_created,
            "responses_by_job_key": dict(self.responses_by_job_key),
            "response_chains_by_job_key": dict(self.response_chains_by_job_key),
            "active_responses": active_responses,
            "files_created": self.files_created,
            "batches_created": self.batches_created,
            "batches_by_job_key": dict(self.batches_by_job_key),
            "active_batches": active_batches,
            "flex_unavailable": self.flex_unavailable,
        }
