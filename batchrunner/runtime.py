"""Composition root: turns ``Settings`` into the objects a worker or the embedded runner uses."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from batchrunner.api.object_streams import ObjectStreams
from batchrunner.backend.assistants.adapter import AssistantsBackend
from batchrunner.backend.assistants.client import AssistantsClient, RequestRecord
from batchrunner.backend.base import Backend
from batchrunner.backend.responses.adapter import ResponsesBackend
from batchrunner.backend.responses.batch_client import BatchClient
from batchrunner.backend.responses.client import ResponsesClient
from batchrunner.batch_lane import BatchLane, BatchLaneConfig, LineRecorder
from batchrunner.db.api_batches import ApiBatchStore
from batchrunner.db.engine import make_engine, make_session_factory
from batchrunner.db.repository import Repository
from batchrunner.faults import crashing_hook, parse_fault_points
from batchrunner.limiter import DEFAULT_KEY_PREFIX, Budget, Learning, MemoryBudget, RedisBudget
from batchrunner.limiter.breaker import CircuitBreaker, make_breaker
from batchrunner.limiter.breaker_state import BreakerPolicy
from batchrunner.limiter.models import BudgetFactory, ModelBudgets
from batchrunner.metrics import API_REQUEST_DURATION, API_REQUESTS, RUN_STREAMS_OPEN
from batchrunner.polling import DurationTracker, PollPolicy
from batchrunner.processor import JobProcessor, ProcessorConfig
from batchrunner.recording import RunRecorder
from batchrunner.settings import Settings
from batchrunner.tools.registry import ToolRegistry
from batchrunner.tools.runner import ToolRunner

log = logging.getLogger(__name__)


def count_request(record: RequestRecord) -> None:
    status = str(record.status_code) if record.status_code is not None else "error"
    endpoint = f"{record.method} {record.endpoint}"
    API_REQUESTS.labels(endpoint=endpoint, status_code=status).inc()
    API_REQUEST_DURATION.labels(endpoint=endpoint).observe(record.seconds)


class SettledObjectWaker:
    """Wakes a job whose object stream settled: due now in the database, then a wake-up message."""

    def __init__(self, repository: Repository) -> None:
        self._repository = repository
        self.send: Callable[[int], None] | None = None

    def __call__(self, job_id: int, object_id: str) -> None:
        if self._repository.wake_for_object(job_id, object_id) and self.send is not None:
            self.send(job_id)

    def wake_all(self, job_ids: list[int]) -> None:
        """Send a wake-up to each of ``job_ids`` (due already in the database; the sweeper is the backstop)."""
        if self.send is not None:
            for job_id in job_ids:
                self.send(job_id)


def load_tools(settings: Settings) -> ToolRegistry:
    return ToolRegistry.load(entry_points=True, modules=settings.tool_modules)


def learned_durations(repository: Repository) -> DurationTracker:
    """A duration tracker that starts from the runs already recorded, so a new worker polls lean at once."""
    durations = DurationTracker()
    try:
        recorded = repository.recent_run_durations()
    except Exception:  # a database that is restarting must not stop the worker from booting
        log.warning("could not read recent run durations; polling learns them afresh", exc_info=True)
        return durations
    for assistant_id, model, seconds in recorded:
        durations.observe(assistant_id, model, seconds)
    return durations


def make_repository(settings: Settings, *, pool_size: int | None = None) -> Repository:
    engine = make_engine(settings.database_url, pool_size=pool_size or settings.worker_threads + 2)
    return Repository(make_session_factory(engine))


def _fleet_redis_url(settings: Settings) -> str | None:
    url = settings.budget_redis_url or settings.broker_url
    return url if url.startswith(("redis://", "rediss://", "unix://")) else None


def unshared_budget_problem(settings: Settings) -> str | None:
    """Why a fleet of workers with these settings would not share one budget, or None if it would.

    A Redis broker holds the budget itself; any other broker (RabbitMQ) needs BATCHRUNNER_BUDGET_REDIS_URL,
    or every process would meter the API's limit on its own and the fleet would overrun it.
    """
    if _fleet_redis_url(settings) is not None:
        return None
    if settings.budget_redis_url:
        return "BATCHRUNNER_BUDGET_REDIS_URL must be a redis://, rediss:// or unix:// URL"
    return (
        "the broker is not Redis, so the fleet-wide rate-limit budget has nowhere to live: set "
        "BATCHRUNNER_BUDGET_REDIS_URL=redis://… (every worker process the same), or each process would meter "
        "the API's limit on its own and together they would overrun it"
    )


def limit_learning(settings: Settings) -> Learning:
    """How budgets learn the server's limits (every budget does, with the configured caps as bounds)."""
    return Learning(share=settings.limit_share, probe_requests_per_minute=settings.probe_requests_per_minute)


def make_fleet_budgets(
    settings: Settings, *, in_memory: bool = False, key_prefix: str = DEFAULT_KEY_PREFIX
) -> ModelBudgets:
    """The fleet budget, shared through Redis, learning the server's limits; ``in_memory``: this process only.

    One budget per model (caps from ``model_limits``, else the global ones), each learning its model's
    limits; models that share one limit stay under it together by following the server's remaining
    counts. Without ``budget_per_model``, one budget for every model.
    """
    url = None if in_memory else _fleet_redis_url(settings)
    learning = limit_learning(settings)
    caps = {model: (cap.requests_per_minute, cap.tokens_per_minute) for model, cap in settings.model_limits.items()}
    defaults = (settings.requests_per_minute, settings.tokens_per_minute)
    if url is None:

        def memory_budget(model: str | None, rpm: int, tpm: int) -> Budget:
            return MemoryBudget(rpm, tpm, learning=learning)

        make: BudgetFactory = memory_budget
    else:
        client = redis.Redis.from_url(url)

        def redis_budget(model: str | None, rpm: int, tpm: int) -> Budget:
            prefix = key_prefix if model is None else f"{key_prefix}:model:{model}"
            return RedisBudget(client, rpm, tpm, key_prefix=prefix, learning=learning)

        make = redis_budget
    if not settings.budget_per_model:
        return ModelBudgets.single(make(None, *defaults))
    return ModelBudgets(make, caps, defaults)


def make_fleet_breaker(settings: Settings) -> CircuitBreaker:
    """The circuit breaker, kept beside the fleet budget (in Redis, or in memory in embedded mode)."""
    policy = BreakerPolicy(
        failure_threshold=settings.api_down_after_failures,
        probe_requests=settings.api_probe_requests,
        first_probe_s=min(settings.api_probe_first_seconds, settings.api_probe_max_seconds),
        max_probe_interval_s=settings.api_probe_max_seconds,
        probe_timeout_s=max(60.0, 2 * settings.api_timeout_seconds),
    )
    return make_breaker(_fleet_redis_url(settings), policy)


# How many step leases a driver holds a Batch API submission for (10 minutes by default).
BATCH_LEASE_STEP_LEASES = 5


def batch_lane_config(settings: Settings) -> BatchLaneConfig:
    return BatchLaneConfig(
        check_interval_s=settings.batch_check_seconds,
        # A driver that died mid-submission holds it this long; uploading a 200 MB file takes a while.
        lease_s=BATCH_LEASE_STEP_LEASES * settings.step_lease_seconds,
        max_file_lines=settings.batch_file_max_lines,
        enqueued_token_limits=dict(settings.batch_enqueued_token_limits),
        default_enqueued_tokens=settings.batch_enqueued_token_limit,
        max_run_attempts=settings.max_run_attempts,
    )


def processor_config(settings: Settings) -> ProcessorConfig:
    return ProcessorConfig(
        step_lease_s=settings.step_lease_seconds,
        max_run_attempts=settings.max_run_attempts,
        max_step_retries=settings.max_request_retries,
        retry_base_s=settings.retry_base_seconds,
        retry_max_s=settings.retry_max_seconds,
        thread_busy_recheck_s=settings.thread_busy_recheck_seconds,
        fail_job_on_tool_error=settings.tool_error_policy == "fail",
        create_settle_s=max(15.0, 3 * settings.api_timeout_seconds),
        start_reserve_share=settings.start_reserve_share,
        stream_fallback_s=settings.max_poll_interval_seconds,
        max_tool_rounds=settings.max_tool_rounds,
        poll_policy=PollPolicy(
            default_interval_s=settings.poll_interval_seconds,
            max_interval_s=settings.max_poll_interval_seconds,
            age_share=settings.poll_age_share,
        ),
    )


@dataclass
class Runtime:
    settings: Settings
    repository: Repository
    client: AssistantsClient
    responses_client: ResponsesClient
    tools: ToolRunner
    budget: ModelBudgets
    processor: JobProcessor
    settled_runs: SettledObjectWaker
    batch_client: BatchClient
    batch_lane: BatchLane
    streams: ObjectStreams | None = field(default=None)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        budget: ModelBudgets | None = None,
    ) -> Runtime:
        repository = make_repository(settings)
        breaker = make_fleet_breaker(settings)

        def on_response(record: RequestRecord) -> None:
            count_request(record)
            breaker.observe(record)

        api: dict[str, Any] = {
            "timeout": settings.api_timeout_seconds,
            "transport": transport,
            "on_response": on_response,
        }
        client = AssistantsClient(settings.api_base_url, settings.api_key_value(), **api)
        responses_client = ResponsesClient(settings.api_base_url, settings.api_key_value(), **api)
        tools = ToolRunner(
            load_tools(settings),
            timeout_seconds=settings.tool_timeout_seconds,
            max_output_chars=settings.tool_max_output_chars,
        )
        budget = budget or make_fleet_budgets(settings)
        settled_runs = SettledObjectWaker(repository)
        # A test's in-process transport serves plain requests only; streams need a real server.
        streams = (
            ObjectStreams(
                settings.api_base_url,
                settings.api_key_value(),
                max_streams=settings.max_run_streams,
                on_settled=settled_runs,
                timeout=settings.api_timeout_seconds,
                on_response=on_response,
                on_open_count=RUN_STREAMS_OPEN.set,
            )
            if settings.max_run_streams > 0 and transport is None
            else None
        )
        backends: list[Backend] = [AssistantsBackend(client, streams), ResponsesBackend(responses_client, streams)]
        durations = learned_durations(repository)
        fault_hook = crashing_hook(parse_fault_points(settings.fault_points))
        processor = JobProcessor(
            repository,
            {backend.name: backend for backend in backends},
            tools,
            budget,
            processor_config(settings),
            durations=durations,
            fault_hook=fault_hook,
            breaker=breaker,
        )
        batch_client = BatchClient(settings.api_base_url, settings.api_key_value(), **api)
        lines = LineRecorder(
            repository,
            RunRecorder(repository, durations),
            settled_runs.wake_all,
            max_run_attempts=settings.max_run_attempts,
            flex_models=settings.flex_models,
        )
        batch_lane = BatchLane(
            ApiBatchStore(repository.engine),
            repository,
            batch_client,
            lines,
            settled_runs.wake_all,
            batch_lane_config(settings),
            fault_hook=fault_hook,
        )
        return cls(
            settings,
            repository,
            client,
            responses_client,
            tools,
            budget,
            processor,
            settled_runs,
            batch_client,
            batch_lane,
            streams,
        )

    def wake_jobs_with(self, send: Callable[[int], None]) -> None:
        """How to send a wake-up for a job whose object stream settled (the broker's queue)."""
        self.settled_runs.send = send

    def close(self) -> None:
        if self.streams is not None:
            self.streams.close()
        self.client.close()
        self.responses_client.close()
        self.batch_client.close()
        self.tools.close()
