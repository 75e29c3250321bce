"""The ``batchrunner`` command line. With ``worker``, the only place that turns ``Settings`` into objects."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO, cast

import click

from batchrunner.deadlines import Deadline, parse_deadline
from batchrunner.lanes import LANE_CHOICES, Lane, LanePolicy
from batchrunner.settings import Settings


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as error:  # pydantic's ValidationError names the setting
        raise click.ClickException(f"invalid settings: {error}") from None


def _producer(settings: Settings) -> tuple[Any, Any]:
    from batchrunner.actors import JobQueue
    from batchrunner.broker import build_broker
    from batchrunner.runtime import make_repository

    if not settings.broker_url:
        raise click.ClickException(
            "BATCHRUNNER_BROKER_URL is empty: `enqueue` hands jobs to workers through a broker "
            "(redis://… or amqp://…). To run a file in this process, use `batchrunner run FILE`."
        )
    broker = build_broker(settings.broker_url)
    return make_repository(settings, pool_size=2), JobQueue(broker, settings.queue_name)


def _batch_id(repository: Any, name: str) -> int:
    batch_id = repository.batch_id(name)
    if batch_id is None:
        raise click.ClickException(f"no batch named {name!r}")
    return int(batch_id)


def _with_job_options(settings: Settings, assistants_file: str | None, backend: str | None) -> Settings:
    update: dict[str, object] = {}
    if assistants_file:
        update["assistants_file"] = assistants_file
    if backend:
        update["backend"] = backend
    return settings.model_copy(update=update) if update else settings


def _job_file_error(error: Exception) -> click.ClickException:
    return click.ClickException(f"{error}\nNothing was enqueued.")


@click.group()
@click.version_option(package_name="batchrunner")
def main() -> None:
    """Run large batches of OpenAI-style assistant runs reliably."""


_ASSISTANTS_HELP = (
    "Assistants file (YAML or JSON) for Responses jobs; default: BATCHRUNNER_ASSISTANTS_FILE, else "
    "assistants.yaml beside FILE."
)
_BACKEND_HELP = "Backend of jobs that name none: responses or assistants (default: BATCHRUNNER_BACKEND)."
_DEADLINE_HELP = (
    "When the jobs must be done: a duration from now (90m, 6h, 2d) or an ISO 8601 time with a zone. "
    "Unfinished jobs are then cancelled and recorded expired; a job's own deadline wins when earlier."
)


def _deadline_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Deadline | None:
    if value is None:
        return None
    try:
        return parse_deadline(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


_DEADLINE = click.option("--deadline", callback=_deadline_option, help=_DEADLINE_HELP)
_LANE = click.option(
    "--lane",
    type=click.Choice(LANE_CHOICES),
    default="auto",
    show_default=True,
    help="Cost lane of Responses jobs whose line names none; auto: the cheapest that meets the job's deadline.",
)


def _lane_policy(settings: Settings, lane: str) -> LanePolicy:
    return LanePolicy(default=Lane(lane), flex_models=frozenset(settings.flex_models))


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--batch", "batch_name", help="Batch name (default: the file name without extension).")
@click.option("--skip-invalid", is_flag=True, help="Enqueue the valid lines and report the invalid ones.")
@click.option("--assistants", "assistants_file", type=click.Path(dir_okay=False), help=_ASSISTANTS_HELP)
@click.option("--backend", type=click.Choice(["responses", "assistants"]), help=_BACKEND_HELP)
@_DEADLINE
@_LANE
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show progress bars with jobs/s (default: when stderr is a terminal).",
)
def enqueue(
    file: str,
    batch_name: str | None,
    skip_invalid: bool,
    assistants_file: str | None,
    backend: str | None,
    deadline: Deadline | None,
    lane: str,
    progress: bool | None,
) -> None:
    """Validate FILE and hand its jobs to the workers (again: only jobs the batch does not hold)."""
    from batchrunner.db.migrate import upgrade
    from batchrunner.enqueue import enqueue_file
    from batchrunner.jobs import JobFileError
    from batchrunner.runtime import load_tools

    settings = _with_job_options(_settings(), assistants_file, backend)
    repository, queue = _producer(settings)
    upgrade(settings.database_url)
    try:
        result = enqueue_file(
            file,
            repository,
            queue,
            batch_name=batch_name,
            known_tools=load_tools(settings).names(),
            skip_invalid=skip_invalid,
            default_backend=settings.backend,
            assistants_file=settings.assistants_file or None,
            deadline=deadline,
            lanes=_lane_policy(settings, lane),
            progress=progress,
        )
    except JobFileError as error:
        raise _job_file_error(error) from None
    for line_error in result.skipped_lines:
        click.echo(f"skipped {line_error}", err=True)
    if result.skipped_count > len(result.skipped_lines):
        click.echo(f"skipped ... and {result.skipped_count - len(result.skipped_lines)} more problems", err=True)
    if result.wake_up_error is not None:
        click.echo(
            f"warning: the wake-ups of {result.unwoken_jobs} new jobs may not have reached the broker "
            f"({result.wake_up_error}); the jobs are recorded, and the workers' sweeper starts them "
            "(every BATCHRUNNER_SWEEP_INTERVAL_SECONDS)",
            err=True,
        )
    click.echo(
        f"batch {result.batch_name}: {result.new_jobs} new jobs enqueued "
        f"({result.jobs_in_file - result.new_jobs} already in the batch)"
    )


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--batch", "batch_name", help="Batch name (default: the file name without extension).")
@click.option("--simulate", is_flag=True, help="Run against a built-in simulator started in this process.")
@click.option("--seed", type=int, default=0, show_default=True, help="Simulator seed (with --simulate).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@click.option("--assistants", "assistants_file", type=click.Path(dir_okay=False), help=_ASSISTANTS_HELP)
@click.option("--backend", type=click.Choice(["responses", "assistants"]), help=_BACKEND_HELP)
@_DEADLINE
@_LANE
def run(
    file: str,
    batch_name: str | None,
    simulate: bool,
    seed: int,
    progress: bool,
    assistants_file: str | None,
    backend: str | None,
    deadline: Deadline | None,
    lane: str,
) -> None:
    """Run FILE to the end in this process (in-process broker and worker threads)."""
    from batchrunner.embedded import run_file
    from batchrunner.jobs import JobFileError

    settings = _with_job_options(_settings(), assistants_file, backend)
    if not simulate and not settings.api_key_value():
        raise click.ClickException("OPENAI_API_KEY is not set (or use --simulate).")
    try:
        _, summary = run_file(
            settings,
            file,
            batch_name=batch_name,
            simulate=simulate,
            seed=seed,
            show_progress=progress,
            deadline=deadline,
            lanes=_lane_policy(settings, lane),
        )
    except JobFileError as error:
        raise _job_file_error(error) from None
    counts = ", ".join(f"{n} {state}" for state, n in sorted(summary.counts.items()))
    click.echo(f"batch {summary.batch_name}: {counts}")
    if summary.stop_reason:
        click.echo(f"batch stopped: {summary.stop_reason}", err=True)
    click.echo(f"results: batchrunner results {summary.batch_name}")
    sys.exit(1 if summary.failed else 0)


@main.command()
@click.argument("batch", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(batch: str | None, as_json: bool) -> None:
    """Jobs by state, per batch (or of BATCH)."""
    from batchrunner.results import batch_status
    from batchrunner.runtime import make_repository

    rows = batch_status(make_repository(_settings(), pool_size=1), batch)
    if batch and not rows:
        raise click.ClickException(f"no batch named {batch!r}")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        states = ", ".join(f"{state}={n}" for state, n in row["by_state"].items())
        click.echo(f"{row['batch']}: {row['status']}, {row['finished']}/{row['jobs']} finished ({states})")
        if row["stop_reason"]:
            click.echo(f"  stopped: {row['stop_reason']}")


@main.command()
@click.argument("batch")
@click.option("-o", "--output", type=click.File("w"), default="-", help="Write to this file (default stdout).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "openai-batch"]),
    default="jsonl",
    show_default=True,
    help="openai-batch: the Batch API's output lines {id, custom_id, response, error}, finished jobs only.",
)
def results(batch: str, output: TextIO, fmt: str) -> None:
    """One JSON line per job of BATCH: custom_id, status, ids, output text, usage, error."""
    from batchrunner.results import iter_result_text
    from batchrunner.runtime import make_repository

    settings = _settings()
    repository = make_repository(settings, pool_size=1)
    batch_id = _batch_id(repository, batch)
    if fmt == "jsonl":
        for text in iter_result_text(repository, batch_id):
            output.write(text)
        return
    from batchrunner.db.engine import make_engine
    from batchrunner.openai_batch_output import iter_openai_batch_text

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        for text in iter_openai_batch_text(engine, batch_id, batch):
            output.write(text)
    finally:
        engine.dispose()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--rpm", default=0, show_default=True, type=int, help="Requests per minute (0: no limit).")
@click.option("--tpm", default=0, show_default=True, type=int, help="Tokens per minute (0: no limit).")
@click.option(
    "--model-limits",
    default="{}",
    help='Limits of their own per model, JSON: {"gpt-4o": {"rpm": 500, "tpm": 30000}}; others get --rpm/--tpm.',
)
@click.option("--run-min", default=2.0, show_default=True, type=float, help="Shortest run, seconds.")
@click.option("--run-max", default=8.0, show_default=True, type=float, help="Longest run, seconds.")
@click.option("--poll-after-ms", default=1000, show_default=True, type=int)
@click.option("--quota-tokens", default=0, show_default=True, type=int, help="Tokens before insufficient_quota.")
@click.option("--fail-rate-limit-rate", default=0.0, type=float, help="Share of runs failing rate_limit_exceeded.")
@click.option("--fail-server-error-rate", default=0.0, type=float, help="Share of runs failing server_error.")
@click.option("--fault-5xx-rate", default=0.0, type=float, help="Share of requests answered 500/503.")
@click.option("--fault-drop-rate", default=0.0, type=float, help="Share of connections dropped.")
@click.option("--fault-slow-rate", default=0.0, type=float, help="Share of slow responses.")
@click.option("--fault-slow-seconds", default=0.0, type=float, help="Delay of a slow response.")
@click.option("--incomplete-rate", default=0.0, type=float, help="Share of responses ending incomplete.")
@click.option(
    "--response-retention",
    default=2_592_000.0,
    show_default=True,
    type=float,
    help="Seconds a stored response stays retrievable (then 404).",
)
@click.option("--flex-models", help="Comma-separated models that accept service_tier flex (default: the flex guide's).")
@click.option("--flex-unavailable-rate", default=0.0, type=float, help="Share of flex requests answered 429.")
@click.option("--background-window-slowdown", default=3.0, show_default=True, type=float, help="2h/8h windows run N x.")
@click.option("--batch-validating", default=5.0, show_default=True, type=float, help="Seconds a batch validates.")
@click.option("--batch-line", default=1.0, show_default=True, type=float, help="Seconds per batch line answered.")
@click.option("--batch-finalizing", default=5.0, show_default=True, type=float, help="Seconds finalizing/cancelling.")
@click.option("--batch-window", default=86_400.0, show_default=True, type=float, help="Seconds before a batch expires.")
@click.option("--batch-line-fail-rate", default=0.0, type=float, help="Share of batch lines answered 500.")
@click.option("--batch-expire-rate", default=0.0, type=float, help="Share of batches too slow for their window.")
def simulate(
    host: str,
    port: int,
    seed: int,
    rpm: int,
    tpm: int,
    model_limits: str,
    run_min: float,
    run_max: float,
    poll_after_ms: int,
    quota_tokens: int,
    fail_rate_limit_rate: float,
    fail_server_error_rate: float,
    fault_5xx_rate: float,
    fault_drop_rate: float,
    fault_slow_rate: float,
    fault_slow_seconds: float,
    incomplete_rate: float,
    response_retention: float,
    flex_models: str | None,
    flex_unavailable_rate: float,
    background_window_slowdown: float,
    batch_validating: float,
    batch_line: float,
    batch_finalizing: float,
    batch_window: float,
    batch_line_fail_rate: float,
    batch_expire_rate: float,
) -> None:
    """Serve the API simulator (Responses, Assistants, Files and Batches, under /v1) until interrupted."""
    from batchrunner.simulator.config import SimConfig, parse_model_limits
    from batchrunner.simulator.server import serve

    try:
        limits = parse_model_limits(model_limits)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--model-limits") from None
    lanes: dict[str, Any] = {}
    if flex_models is not None:
        lanes["flex_models"] = frozenset(name.strip() for name in flex_models.split(",") if name.strip())
    try:
        config = SimConfig(
            seed=seed,
            run_duration_min_s=run_min,
            run_duration_max_s=run_max,
            poll_after_ms=poll_after_ms,
            rpm=rpm,
            tpm=tpm,
            model_limits=limits,
            quota_tokens=quota_tokens,
            run_fail_rate_limit_rate=fail_rate_limit_rate,
            run_fail_server_error_rate=fail_server_error_rate,
            fault_5xx_rate=fault_5xx_rate,
            fault_drop_rate=fault_drop_rate,
            fault_slow_rate=fault_slow_rate,
            fault_slow_seconds=fault_slow_seconds,
            response_incomplete_rate=incomplete_rate,
            response_retention_s=response_retention,
            flex_unavailable_rate=flex_unavailable_rate,
            background_window_slowdown=background_window_slowdown,
            batch_validating_s=batch_validating,
            batch_line_s=batch_line,
            batch_finalizing_s=batch_finalizing,
            batch_window_s=batch_window,
            batch_line_fail_rate=batch_line_fail_rate,
            batch_expire_rate=batch_expire_rate,
            **lanes,
        )
    except ValueError as error:
        raise click.ClickException(f"simulator settings: {error}") from None
    click.echo(f"simulator on http://{host}:{port}/v1 (seed {seed})", err=True)
    serve(host, port, config)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (safe when several run at once)."""
    from batchrunner.db.migrate import upgrade

    upgrade(_settings().database_url, revision)
    click.echo(f"database upgraded to {revision}")


@main.command()
@click.option("--processes", default=1, show_default=True, type=int)
@click.option("--threads", type=int, help="Threads per process (default: BATCHRUNNER_WORKER_THREADS).")
def worker(processes: int, threads: int | None) -> None:
    """Start workers: `dramatiq batchrunner.worker` with the configured threads."""
    settings = _settings()
    argv = [
        "dramatiq",
        "batchrunner.worker",
        "--processes",
        str(processes),
        "--threads",
        str(threads or settings.worker_threads),
    ]
    os.execvp(argv[0], argv)


@main.command()
def sweep() -> None:
    """Re-drive every job whose wake-up is overdue (workers also do this periodically)."""
    from batchrunner.sweeper import Sweeper

    settings = _settings()
    repository, queue = _producer(settings)
    sweeper = Sweeper(repository, queue, grace_s=settings.sweep_grace_seconds)
    click.echo(f"re-drove {sweeper.sweep_once()} overdue jobs")


@main.command()
@click.argument("batch")
def cancel(batch: str) -> None:
    """Cancel BATCH: pending jobs stop, in-flight runs are cancelled through the API."""
    repository, queue = _producer(_settings())
    ids = repository.cancel_batch(_batch_id(repository, batch))
    queue.wake_all(ids)
    click.echo(f"batch {batch}: cancelling {len(ids)} unfinished jobs")


@main.command()
@click.argument("batch")
@click.option("--failed", "only_failed", is_flag=True, help="Only failed jobs (not cancelled/expired/incomplete).")
@click.option("--deadline", callback=_deadline_option, help="A new deadline for retried jobs (else they keep theirs).")
def retry(batch: str, only_failed: bool, deadline: Deadline | None) -> None:
    """Start new attempts of BATCH's jobs that did not succeed; resumes a stopped batch."""
    repository, queue = _producer(_settings())
    batch_id = _batch_id(repository, batch)
    retried = repository.retry_batch(batch_id, only_failed=only_failed, deadline=deadline)
    ids = retried + repository.resume_batch(batch_id)
    queue.wake_all(sorted(set(ids)), starting=True)
    click.echo(f"batch {batch}: {len(set(ids))} jobs started again")


@main.group()
def report() -> None:
    """Reports from the database."""


@report.command("usage")
@click.option("--batch", "batch_name", help="Only this batch.")
@click.option(
    "--by", "by", type=click.Choice(["batch", "assistant", "model", "day", "lane"]), default="model", show_default=True
)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def report_usage(batch_name: str | None, by: str, fmt: str) -> None:
    """Token usage (summed over runs, every attempt counted) with an estimated cost."""
    from batchrunner.db.engine import make_engine
    from batchrunner.reports import Grouping, ReportFormat, render, usage_report
    from batchrunner.runtime import make_repository

    settings = _settings()
    batch_id = None
    if batch_name is not None:
        batch_id = _batch_id(make_repository(settings, pool_size=1), batch_name)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        rows = usage_report(engine, cast(Grouping, by), batch_id=batch_id, prices=settings.model_prices)
    finally:
        engine.dispose()
    click.echo(render(rows, cast(ReportFormat, fmt), cast(Grouping, by)))


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--assistants", "assistants_file", type=click.Path(dir_okay=False), help=_ASSISTANTS_HELP)
@click.option("--backend", type=click.Choice(["responses", "assistants"]), help=_BACKEND_HELP)
@click.option(
    "--deadline",
    callback=_deadline_option,
    help="When the jobs must be done, as for enqueue; it picks each job's auto lane (a line's own deadline wins "
    "when earlier; with neither, auto is standard).",
)
@click.option(
    "--output-tokens",
    type=click.IntRange(min=1),
    help="Output tokens assumed for a job with no max output cap (default: 256).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def estimate(
    file: str,
    assistants_file: str | None,
    backend: str | None,
    deadline: Deadline | None,
    output_tokens: int | None,
    fmt: str,
) -> None:
    """Estimated tokens and cost of FILE per model and lane, before anything runs (reads the file only)."""
    from datetime import UTC, datetime

    from batchrunner.enqueue import assistants_for
    from batchrunner.estimate import DEFAULT_OUTPUT_TOKENS, EstimateFormat, EstimateOptions, estimate_job_file, render
    from batchrunner.jobs import BackendName, JobFileError
    from batchrunner.runtime import load_tools

    settings = _with_job_options(_settings(), assistants_file, backend)
    options = EstimateOptions(
        prices=settings.model_prices,
        flex_models=settings.flex_models,
        deadline=deadline,
        default_output_tokens=output_tokens or DEFAULT_OUTPUT_TOKENS,
    )
    try:
        result = estimate_job_file(
            file,
            options,
            now=datetime.now(UTC),
            known_tools=load_tools(settings).names(),
            default_backend=BackendName(settings.backend),
            assistants=assistants_for(file, settings.assistants_file or None),
        )
    except JobFileError as error:
        raise click.ClickException(f"{error}\nNothing was estimated.") from None
    click.echo(render(result, cast(EstimateFormat, fmt)))


@main.command()
@click.option("--timeout", default=5.0, show_default=True, type=float, help="Seconds to wait for each service.")
def health(timeout: float) -> None:
    """Exit 0 only when the database and the broker answer (for liveness and readiness probes)."""
    from batchrunner.health import check_health

    problems = check_health(_settings(), timeout_s=timeout)
    for problem in problems:
        click.echo(f"unhealthy: {problem}", err=True)
    if problems:
        sys.exit(1)
    click.echo("ok")
