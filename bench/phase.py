"""What one phase of the benchmark measured, in the units the table shows."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PhaseFigures:
    name: str
    jobs: int
    finished_jobs: int
    wall_s: float  # first API request of the phase to the last job's result
    jobs_per_min: float
    served_per_min_queued: float  # non-429 answers per minute while jobs were still waiting to start
    queued_window_s: float
    requests: int
    limited: int  # 429 answers
    failed_rate_limit: int
    failed_other: int
    requests_per_job: float
    # Assistants: implied by the poll hints; Responses (no hint): implied by polling at the poll interval.
    min_requests_per_job: float
    per_route: dict[str, float]  # requests per job, by "METHOD /route"
    delay_p50_s: float  # run finished at the API -> its outcome committed (batchrunner) / in hand (SDK)
    delay_p95_s: float
    cpu_s_per_job: float
    peak_rss_bytes: float
    hwm_rss_bytes: float
    # Runs open at the API, and runs finished there but not yet recorded (batchrunner), mean while queued.
    active_runs_mean: float = float("nan")
    awaiting_record_mean: float = float("nan")
    # Dramatiq messages due and waiting for a worker thread: a backlog means the workers are the bottleneck.
    ready_messages_mean: float = float("nan")
    ready_messages_peak: float = float("nan")
    tool_runs_per_call: float = float("nan")  # tool handler runs per tool call the simulator planned
    budget_waits_per_job: float = float("nan")  # steps deferred by the fleet budget (worker counter)
    # Responses only: a create and one retrieval per response, what a client knowing every end would need.
    floor_requests_per_job: float = float("nan")
    notes: list[str] = field(default_factory=list)
