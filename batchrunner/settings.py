"""The one reader of the environment (DESIGN principle 7).

Every other module takes plain arguments; only the CLI and the worker entry point build a
``Settings`` and turn it into objects.
"""

from __future__ import annotations

import os
import tempfile
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from batchrunner.faults import parse_fault_points
from batchrunner.jobs import BackendName
from batchrunner.lanes import DEFAULT_FLEX_MODELS
from batchrunner.pricing import DEFAULT_MODEL_PRICES, ModelPrice, parse_model_price

DEFAULT_DATABASE_URL = "sqlite:///batchrunner.db"


class ModelCaps(BaseModel):
    """A model's own caps (0: none), in place of ``requests_per_minute``/``tokens_per_minute``."""

    model_config = ConfigDict(extra="forbid")

    requests_per_minute: int = Field(0, ge=0)
    tokens_per_minute: int = Field(0, ge=0)


class Settings(BaseSettings):
    """batchrunner's settings, read from ``BATCHRUNNER_*`` variables and a ``.env`` file."""

    model_config = SettingsConfigDict(
        env_prefix="BATCHRUNNER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL, description="SQLAlchemy URL; a SQLite file in the working directory by default."
    )
    broker_url: str = Field(
        "", description="redis://… or amqp://…; empty runs an in-process broker (embedded mode only)."
    )
    backend: BackendName = Field(
        BackendName.RESPONSES,
        description="`responses` (the Responses API, default) or `assistants` (Assistants v2); a job may say its own.",
    )
    assistants_file: str = Field(
        "",
        description="YAML or JSON file defining the assistants Responses jobs name; empty: `assistants.yaml` "
        "beside the job file.",
    )
    api_base_url: str = Field("https://api.openai.com/v1", description="Base URL every API path is appended to.")
    openai_api_key: SecretStr | None = Field(
        None, validation_alias="OPENAI_API_KEY", description="The API key (a secret; never logged)."
    )
    api_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one API request.")

    worker_threads: int = Field(8, ge=1, le=256, description="Worker threads per process (embedded `run` too).")
    queue_name: str = Field("batchrunner", description="Dramatiq queue the actors use.")

    poll_interval_seconds: float = Field(
        2.0, gt=0, description="Poll interval when the server sends no openai-poll-after-ms."
    )
    max_poll_interval_seconds: float = Field(60.0, gt=0, description="Longest wait between two polls of a run.")
    poll_age_share: float = Field(
        0.2,
        gt=0,
        le=1,
        description="Two polls of a run are at least this share of its age apart (within the bounds above).",
    )
    max_run_streams: int = Field(
        500,
        ge=0,
        description="Runs or responses per worker process followed over a stream instead of polled (0: always poll).",
    )
    max_run_attempts: int = Field(
        3, ge=1, description="Attempts per job when runs fail with rate_limit_exceeded/server_error."
    )
    max_request_retries: int = Field(
        8, ge=0, description="Retries of one step after 5xx, timeouts or dropped connections."
    )
    retry_base_seconds: float = Field(0.5, gt=0, description="First backoff delay of a retried request.")
    retry_max_seconds: float = Field(30.0, gt=0, description="Cap of the retry backoff.")
    api_down_after_failures: int = Field(
        5, ge=1, description="Requests failing in a row (5xx or no answer), fleet-wide, that open the circuit breaker."
    )
    api_probe_requests: int = Field(2, ge=1, description="Requests let through as probes while the API is down.")
    api_probe_first_seconds: float = Field(5.0, gt=0, description="Wait before the first probe of an outage.")
    api_probe_max_seconds: float = Field(
        60.0, gt=0, description="Cap of the doubling wait between probes (and of the delay to resume after an outage)."
    )
    step_lease_seconds: float = Field(
        120.0, gt=0, description="How long a worker owns a job while it takes one step; the sweeper waits this."
    )
    thread_busy_recheck_seconds: float = Field(
        2.0, gt=0, description="How soon a job waiting for its thread's active run checks again."
    )

    max_tool_rounds: int = Field(
        16, ge=1, description="Tool rounds one attempt may take; one more fails the job (max_tool_rounds_exceeded)."
    )
    tool_modules: list[str] = Field(
        default_factory=list, description="Extra modules whose `TOOLS` dict registers tool handlers."
    )
    tool_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one tool handler call.")
    tool_error_policy: str = Field(
        "output", description="`output`: a raising handler's error goes back to the model; `fail`: fail the job."
    )
    tool_max_output_chars: int = Field(32768, ge=1, description="Longest tool output sent back to the run.")

    budget_redis_url: str = Field(
        "",
        description="Redis holding the fleet-wide budget (and the circuit breaker); empty: the broker's Redis. "
        "Required with a RabbitMQ broker: workers refuse to start without it.",
    )
    requests_per_minute: int = Field(
        0, ge=0, description="Cap of the fleet's requests per minute; 0: only the limit the server announces."
    )
    tokens_per_minute: int = Field(
        0, ge=0, description="Cap of the fleet's tokens per minute; 0: only the limit the server announces."
    )
    budget_per_model: bool = Field(
        True,
        description="Meter each model at limits of its own (learned from its answers); false: every model at one "
        "limit.",
    )
    model_limits: dict[str, ModelCaps] = Field(
        default_factory=dict,
        description='Caps per model, JSON: {"gpt-4o": {"requests_per_minute": 500, "tokens_per_minute": 30000}}.',
    )
    limit_share: float = Field(
        0.95, gt=0, le=1, description="Share of the limits the server announces (x-ratelimit-limit-*) the fleet uses."
    )
    probe_requests_per_minute: int = Field(
        60, ge=1, description="Requests per minute before the server's first answer says its limits (no cap set)."
    )
    start_reserve_share: float = Field(
        0.5, ge=0, lt=1, description="Share of the budget's 2 s burst that starting runs leaves to runs in flight."
    )

    fault_points: str = Field(
        "", description="Testing only: crash points, e.g. `after_run_create=0.3` (see batchrunner/faults.py)."
    )
    model_prices: dict[str, Annotated[ModelPrice, BeforeValidator(parse_model_price)]] = Field(
        default_factory=lambda: dict(DEFAULT_MODEL_PRICES),
        description="USD per million tokens by model, JSON: model -> [input, output], [input, cached_input, "
        'output] or {"input", "cached_input", "output"}; for `report usage` and `estimate`.',
    )
    flex_models: frozenset[str] = Field(
        DEFAULT_FLEX_MODELS, description="Models served in the flex lane, as a JSON list (replaces the default)."
    )
    batch_check_seconds: float = Field(
        30.0,
        gt=0,
        description="How often each worker puts queued batch-lane jobs into Batch API files and looks at the batches "
        "in flight.",
    )
    batch_enqueued_token_limit: int = Field(
        0, ge=0, description="The Batch API's enqueued-token limit per model (your organization's; 0: none known)."
    )
    batch_enqueued_token_limits: dict[str, int] = Field(
        default_factory=dict,
        description='Enqueued-token limits of single models, JSON: {"gpt-4o": 90000}; others get the one above.',
    )
    batch_file_max_lines: int = Field(
        50_000, ge=1, le=50_000, description="Most lines of one Batch API input file (the API's limit: 50,000)."
    )
    sweep_interval_seconds: float = Field(30.0, gt=0, description="How often each worker runs the sweeper.")
    sweep_grace_seconds: float = Field(
        60.0, ge=0, description="How long past its wake-up a job waits before the sweeper re-drives it."
    )
    metrics_host: str = Field("127.0.0.1", description="Address the worker's Prometheus endpoint binds to.")
    metrics_port: int = Field(9191, ge=0, le=65535, description="Port of the worker's Prometheus endpoint.")
    metrics_dir: str = Field(
        default_factory=lambda: os.path.join(tempfile.gettempdir(), "batchrunner-metrics"),
        description="prometheus-client multiprocess directory shared by a worker's processes.",
    )

    @field_validator("tool_error_policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value not in {"output", "fail"}:
            raise ValueError("must be 'output' or 'fail'")
        return value

    @field_validator("fault_points")
    @classmethod
    def _known_fault_points(cls, value: str) -> str:
        parse_fault_points(value)
        return value

    def api_key_value(self) -> str | None:
        """The API key in clear, for the HTTP client only."""
        return self.openai_api_key.get_secret_value() if self.openai_api_key else None
