"""Every Prometheus metric of batchrunner, defined once.

Names follow Prometheus conventions (seconds, ``_total``). Label sets are bounded: models, endpoint
templates, statuses, tool names from the registry; never job, run or thread ids. In worker processes
``PROMETHEUS_MULTIPROC_DIR`` is set before this module is imported, so the metrics are
multiprocess-safe and exposed on one endpoint together with Dramatiq's own middleware.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from batchrunner.jobs import BackendName
from batchrunner.storable_text import ReplacedIn

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

RUNS_FINISHED = Counter(
    "batchrunner_runs_finished_total",
    "API objects (Assistants runs, Responses responses) that reached a terminal status, by backend.",
    ["status", "model", "backend"],
)
RUN_DURATION = Histogram(
    "batchrunner_run_duration_seconds",
    "From run creation to its terminal status, as the API reports it.",
    ["model"],
    buckets=_LATENCY_BUCKETS,
)
RUN_RECORD_DELAY = Histogram(
    "batchrunner_run_record_delay_seconds",
    "From a run finishing at the API to its terminal record being committed.",
    buckets=_REQUEST_BUCKETS,
)
API_REQUESTS = Counter(
    "batchrunner_api_requests_total",
    "API requests by endpoint template and HTTP status ('error' when no response arrived).",
    ["endpoint", "status_code"],
)
API_REQUEST_DURATION = Histogram(
    "batchrunner_api_request_duration_seconds", "API request latency.", ["endpoint"], buckets=_REQUEST_BUCKETS
)
RATE_LIMITED = Counter(
    "batchrunner_rate_limited_total",
    "429 answers by kind (requests, tokens, insufficient_quota, resource_unavailable: flex capacity).",
    ["kind"],
)
LANE_FALLBACKS = Counter(
    "batchrunner_lane_fallbacks_total",
    "Jobs moved to another cost lane to meet their deadline (from flex after capacity shortages).",
    ["from_lane", "to_lane"],
)
TOKENS = Counter(
    "batchrunner_tokens_total",
    "Tokens spent, by model and kind (prompt, completion, cached, reasoning).",
    ["model", "kind"],
)
TEXT_REPLACED = Counter(
    "batchrunner_text_replaced_total",
    "Characters no database can store (NUL, unpaired surrogates) in API or tool text, stored as U+FFFD.",
    ["where"],
)
TOOL_CALLS = Counter("batchrunner_tool_calls_total", "Tool handler calls by tool and outcome.", ["name", "outcome"])
TOOL_CALL_DURATION = Histogram(
    "batchrunner_tool_call_duration_seconds", "Tool handler latency.", ["name"], buckets=_REQUEST_BUCKETS
)
JOBS_BY_STATE = Gauge(
    "batchrunner_jobs", "Jobs by state, as last counted by a sweeper.", ["state"], multiprocess_mode="mostrecent"
)
JOBS_IN_FLIGHT = Gauge(
    "batchrunner_jobs_in_flight",
    "Jobs with a run in progress at the API, as last counted by a sweeper.",
    multiprocess_mode="mostrecent",
)
BUDGET_REMAINING = Gauge(
    "batchrunner_rate_limit_budget_remaining",
    "Remaining fleet-wide budget in the current window (requests or tokens), by model ('' for requests of none).",
    ["resource", "model"],
    multiprocess_mode="mostrecent",
)
RUN_STREAMS_OPEN = Gauge(
    "batchrunner_run_streams_open",
    "Streams a worker holds open (runs and responses it hears about without polling).",
    multiprocess_mode="livesum",
)
BUDGET_WAITS = Counter(
    "batchrunner_rate_limit_waits_total", "Steps deferred because the fleet budget was spent.", ["resource"]
)
BLIND_RECREATES = Counter(
    "batchrunner_blind_recreates_total",
    "Attempts created again after a crash on a backend whose objects cannot be looked up (a possible duplicate).",
    ["backend"],
)
TOOL_ROUNDS = Counter("batchrunner_tool_rounds_total", "Tool rounds answered, by backend.", ["backend"])
SWEEPER_REDRIVES = Counter("batchrunner_sweeper_redrives_total", "Overdue jobs re-driven by the sweeper.")
STEP_RETRIES = Counter(
    "batchrunner_step_retries_total", "Job steps retried after a transient API failure.", ["endpoint"]
)
API_DOWN = Gauge(
    "batchrunner_api_down",
    "1 while the fleet's circuit breaker holds every request back (the API failed across the fleet), else 0.",
    multiprocess_mode="max",
)
API_DOWN_SINCE = Gauge(
    "batchrunner_api_down_since_seconds",
    "When the current API outage began (Unix time), 0 when the API is up.",
    multiprocess_mode="max",
)
API_OUTAGES = Counter("batchrunner_api_outages_total", "Times the circuit breaker opened (the API went down).")


BATCH_LANE_LINES = Counter(
    "batchrunner_batch_lane_lines_total",
    "Batch API lines recorded, by what became of their job (succeeded, failed, ..., retried: another attempt).",
    ["outcome"],
)
API_BATCHES_ENDED = Counter(
    "batchrunner_api_batches_ended_total", "Batch API batches that ended, by their final status.", ["status"]
)
BATCH_LANE_SUBMITTED_LINES = Counter(
    "batchrunner_batch_lane_submitted_lines_total", "Lines uploaded in Batch API input files."
)


def prime_label_sets(tool_names: list[str]) -> None:
    """Create the series a worker will write, at zero, so a first event is visible to ``rate()``."""
    RUN_STREAMS_OPEN.set(0)
    API_DOWN.set(0)
    API_DOWN_SINCE.set(0)
    for backend in BackendName:
        BLIND_RECREATES.labels(backend=backend)
        TOOL_ROUNDS.labels(backend=backend)
    for kind in ("requests", "tokens", "insufficient_quota", "resource_unavailable"):
        RATE_LIMITED.labels(kind=kind)
    for resource in ("requests", "tokens", "paused", "api_down"):
        BUDGET_WAITS.labels(resource=resource)
    LANE_FALLBACKS.labels(from_lane="flex", to_lane="standard")  # the one fallback there is
    for outcome in ("succeeded", "failed", "incomplete", "cancelled", "retried"):
        BATCH_LANE_LINES.labels(outcome=outcome)
    for status in ("completed", "failed", "expired", "cancelled"):
        API_BATCHES_ENDED.labels(status=status)
    for where in ReplacedIn:
        TEXT_REPLACED.labels(where=where)
    for name in tool_names:
        for outcome in ("ok", "error", "timeout"):
            TOOL_CALLS.labels(name=name, outcome=outcome)
