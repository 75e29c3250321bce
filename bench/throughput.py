"""Throughput benchmark: real workers (Redis, Postgres) against the simulator, and the SDK baseline.

    python bench/throughput.py [--backend responses|assistants] --jobs 2000 --rpm 3000 --run-min 2 \\
        --run-max 8 --tool-share 0.2 --processes 1 --threads 8 [--baseline-jobs 300] [--skip-baseline]
    python bench/throughput.py --scenario long [--jobs 5000 --run-min 300 --run-max 600 --window 120]
        [--until-done]

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

# Run as a script, Python puts bench/ on the path, not the repository holding the `bench` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis
import sqlalchemy as sa

from batchrunner.db.migrate import upgrade
from batchrunner.settings import Settings
from batchrunner.simulator.config import parse_model_limits
from batchrunner.testing.databases import postgres_available, temporary_postgres_url
from batchrunner.testing.processes import WorkerProcess, batchrunner_env, free_port
from batchrunner.testing.redis_scratch import scratch_redis_db
from bench.baseline_phase import run_baseline
from bench.baseline_responses import POLL_INTERVAL_S as BASELINE_POLL_INTERVAL_S
from bench.children import REPO, SimSettings, SimulatorProcess
from bench.figures import (
    COLLECT_REQUESTS_BATCHRUNNER,
    expected_minimum_requests,
    expected_response_minimum,
    first_request_at,
    fmt,
    ratio,
)
from bench.jobgen import make_jobs, write_jobs, write_response_requests
from bench.long_scenario import long_rows
from bench.per_model import model_rows, model_table, spread_over_models
from bench.report import ASSISTANTS_WORDING, long_table, responses_wording, throughput_table
from bench.worker_phase import WorkerContext, run_to_completion, run_until_in_flight

API_KEY = "sk-bench-local"
# Dramatiq's Redis broker keeps the ids of a queue's ready messages in the list "<namespace>:<queue>".
READY_QUEUE_KEY = "dramatiq:batchrunner"
# The assistants the generated jobs name, for the Responses backend (it has no assistant objects).
ASSISTANTS_FILE = REPO / "examples" / "assistants.yaml"
POLL_INTERVAL_SETTING = "BATCHRUNNER_POLL_INTERVAL_SECONDS"
SCENARIO_DEFAULTS = {
    "throughput": {"jobs": 2000, "rpm": 3000, "run_min": 2.0, "run_max": 8.0},
    "long": {"jobs": 5000, "rpm": 60000, "run_min": 300.0, "run_max": 600.0},
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="batchrunner throughput benchmark", allow_abbrev=False)
    parser.add_argument("--scenario", choices=sorted(SCENARIO_DEFAULTS), default="throughput")
    parser.add_argument(
        "--backend",
        choices=["responses", "assistants"],
        default="responses",
        help="the API the jobs run on, for batchrunner and the baseline alike (default: responses, as the product's)",
    )
    parser.add_argument("--jobs", type=int, help="jobs to run (2000; long: 5000)")
    parser.add_argument("--rpm", type=int, help="the simulator's and the fleet's request limit (3000; long: 60000)")
    parser.add_argument("--tpm", type=int, default=0, help="token limit (0: none)")
    parser.add_argument("--run-min", type=float, help="shortest run, seconds (2; long: 300)")
    parser.add_argument("--run-max", type=float, help="longest run, seconds (8; long: 600)")
    parser.add_argument(
        "--poll-after-ms", type=int, default=1000, help="the simulator's poll hint (Assistants routes only)"
    )
    parser.add_argument("--tool-share", type=float, default=0.2, help="share of jobs with one tool round")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--baseline-jobs", type=int, help="jobs the SDK baseline runs (default: min(jobs, 300))")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--window", type=float, default=120.0, help="long: seconds measured once all are in flight")
    parser.add_argument("--until-done", action="store_true", help="long: also wait for every job to finish")
    parser.add_argument("--timeout", type=float, help="give up on the worker phase after this many seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--set",
        dest="worker_settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a worker setting, e.g. BATCHRUNNER_POLL_AGE_SHARE=0.3 (repeatable)",
    )
    parser.add_argument(
        "--no-configured-limit",
        action="store_true",
        help="do not tell the workers the limit: they learn it from the simulator's x-ratelimit-* headers",
    )
    parser.add_argument(
        "--model-limits",
        type=_model_limits,
        default=(),
        metavar="JSON",
        help='models the simulator limits on their own, e.g. \'{"gpt-4o-mini": {"rpm": 900}, "gpt-4o": {"rpm": 300}}\';'
        " the jobs are spread over them in proportion to their rpm and a per-model table is printed",
    )
    args = parser.parse_args(argv)
    for name, value in SCENARIO_DEFAULTS[args.scenario].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.baseline_jobs is None:
        args.baseline_jobs = min(args.jobs, 300)
    return args


def _model_limits(text: str) -> tuple[tuple[str, int, int], ...]:
    try:
        return parse_model_limits(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def served_limit(args: argparse.Namespace) -> int:
    """The requests per minute the jobs can use: with ``--model-limits`` every job names one of those
    models, so their limits (not ``--rpm``, left to requests of no model) add up to it."""
    if args.model_limits:
        return sum(rpm for _, rpm, _ in args.model_limits)
    return int(args.rpm)


def poll_interval_s(worker_settings: list[str]) -> float:
    """The workers' BATCHRUNNER_POLL_INTERVAL_SECONDS: a --set of it, else the setting's default."""
    value = Settings.model_fields["poll_interval_seconds"].default
    for item in worker_settings:
        name, _, setting = item.partition("=")
        if name == POLL_INTERVAL_SETTING:
            value = setting
    return float(value)


def _timeout(args: argparse.Namespace, hint_s: float) -> float:
    if args.timeout is not None:
        return float(args.timeout)
    if args.scenario == "long":
        return float(args.run_max * 3 + args.window + 600)
    if args.backend == "responses":
        interval = poll_interval_s(args.worker_settings)
        per_job = expected_response_minimum(args.run_min, args.run_max, args.tool_share, interval)
    else:
        per_job = expected_minimum_requests(args.run_min, args.run_max, args.tool_share, hint_s, 2)
    ceiling = served_limit(args) / per_job if served_limit(args) else 600.0
    return float(args.jobs / ceiling * 60 * 2 + 300)


def _wait_ready(workers: WorkerProcess, processes: int) -> None:
    deadline = time.monotonic() + 120
    while workers.log_text().count("batchrunner worker ready") < processes:
        if not workers.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"workers did not start:\n{workers.log_text()[-3000:]}")
        time.sleep(0.2)


def _worker_env(
    args: argparse.Namespace, db_url: str, redis_url: str, sim: SimulatorProcess, work_dir: Path, metrics_port: int
) -> dict[str, str]:
    settings = {
        "BATCHRUNNER_DATABASE_URL": db_url,
        "BATCHRUNNER_BROKER_URL": redis_url,
        "BATCHRUNNER_API_BASE_URL": sim.base_url,
        "BATCHRUNNER_METRICS_PORT": str(metrics_port),
        "BATCHRUNNER_METRICS_DIR": str(work_dir / "metrics"),
        "BATCHRUNNER_WORKER_THREADS": str(args.threads),
        "OPENAI_API_KEY": API_KEY,
        # The CLI's enqueue and the workers both follow the benchmark's backend, not the product's default.
        "BATCHRUNNER_BACKEND": args.backend,
    }
    if args.backend == "responses":
        settings["BATCHRUNNER_ASSISTANTS_FILE"] = str(ASSISTANTS_FILE)
    if not args.no_configured_limit:
        settings["BATCHRUNNER_REQUESTS_PER_MINUTE"] = str(args.rpm)
        if args.tpm:
            settings["BATCHRUNNER_TOKENS_PER_MINUTE"] = str(args.tpm)
    for item in args.worker_settings:
        name, separator, value = item.partition("=")
        if not separator or not name.startswith("BATCHRUNNER_"):
            raise SystemExit(f"--set expects BATCHRUNNER_NAME=VALUE, got {item!r}")
        settings[name] = value
    return batchrunner_env(**settings)


def _polling_text(args: argparse.Namespace) -> str:
    if args.backend == "assistants":
        return f"poll hint {args.poll_after_ms} ms"
    return (
        f"no poll hint (Responses routes send none): batchrunner polls at {POLL_INTERVAL_SETTING} = "
        f"{poll_interval_s(args.worker_settings):g} s growing with age, the SDK loop every "
        f"{BASELINE_POLL_INTERVAL_S:g} s"
    )


def _header(args: argparse.Namespace, generator: str, work_dir: Path) -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    objects = "runs" if args.backend == "assistants" else "responses"
    rounds = "one tool round" if args.backend == "assistants" else "one tool round (a chain of 2 responses)"
    return (
        f"scenario {args.scenario}, {args.backend} backend: {args.jobs} jobs, {objects} "
        f"{args.run_min:g}-{args.run_max:g} s, {args.tool_share:.0%} with {rounds}, limit {args.rpm} rpm"
        + (f" / {args.tpm} tpm" if args.tpm else "")
        + "".join(f"; {model} {rpm} rpm" + (f" / {tpm} tpm" if tpm else "") for model, rpm, tpm in args.model_limits)
        + f", {_polling_text(args)}; workers {args.processes} x {args.threads} threads"
        + (f" with {' '.join(args.worker_settings)}" if args.worker_settings else "")
        + f"\nmachine: {os.cpu_count()} CPUs, load average {load}; jobs from {generator}; logs in {work_dir}"
    )


def _notes(
    args: argparse.Namespace,
    result_notes: list[str],
    diagnostics: dict[str, float],
    enqueue_s: float,
    baseline_ran: bool,
) -> list[str]:
    if args.backend == "responses":
        interval = poll_interval_s(args.worker_settings)
        notes = [
            "finish -> recorded: api_objects.finished_recorded_at minus the response's exact (float) end in the"
            " simulator (/_bench/responses), for every response of a chain (a tool round's first one too); the"
            " API's completed_at has whole-second resolution. SDK column: the moment the loop's retrieve returned"
            " the response ended.",
            "minimum requests per job: the Responses API sends no poll hint, so there is no hint-implied minimum."
            f" Shown instead: create + ceil(response's duration / {interval:g} s) retrievals per response of the"
            f" chain (a client polling every {interval:g} s: batchrunner's {POLL_INTERVAL_SETTING}, the SDK loop's"
            f" sleep of {BASELINE_POLL_INTERVAL_S:g} s), from each response's simulated plan; the ceiling row and"
            " the ratio's target use it. The floor (create + the one retrieval that sees the end) is what a client"
            " knowing every end in advance would need. A response carries its output: collecting costs nothing.",
            f"enqueue (CLI, {args.jobs} jobs) took {enqueue_s:.1f} s; it overlaps the first requests.",
        ]
    else:
        notes = [
            "finish -> recorded: api_objects.finished_recorded_at minus the run's exact (float) finish time in the"
            " simulator (/_bench/runs); the API's completed_at and the worker histogram"
            " batchrunner_run_record_delay_seconds have whole-second resolution. SDK column: the moment the loop"
            " held the run's messages.",
            "minimum requests per job: create thread + create run + ceil(turn / poll hint) retrievals per turn"
            " (+ submit for a tool round) + collect (batchrunner: list steps + list messages; SDK: list messages),"
            " from each run's simulated plan.",
            f"enqueue (CLI, {args.jobs} jobs) took {enqueue_s:.1f} s; it overlaps the first requests.",
        ]
    if baseline_ran and args.baseline_jobs < args.jobs:
        notes.append(
            f"the baseline ran the first {args.baseline_jobs} of the {args.jobs} jobs (same specs); compare jobs"
            " per minute, not wall time."
        )
    if diagnostics:
        counters = ", ".join(f"{key} = {value:g}" for key, value in sorted(diagnostics.items()))
        notes.append(f"worker counters: {counters}")
    return notes + result_notes


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: workers stopped, database dropped, Redis emptied


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    hint_s = args.poll_after_ms / 1000.0
    if not postgres_available():
        print("PostgreSQL is not reachable at 127.0.0.1:5432", file=sys.stderr)
        return 2
    work_dir = Path(tempfile.mkdtemp(prefix="batchrunner-bench-"))
    jobs, generator = make_jobs(args.jobs, args.tool_share, args.seed)
    if args.model_limits:
        jobs = spread_over_models(jobs, args.model_limits, args.seed)
    jobs_path = write_jobs(jobs, work_dir / "jobs.jsonl")
    sim_settings = SimSettings(
        seed=args.seed,
        run_duration_min_s=args.run_min,
        run_duration_max_s=args.run_max,
        poll_after_ms=args.poll_after_ms,
        rpm=args.rpm,
        tpm=args.tpm,
        # Long runs must not expire while waiting for tool outputs: the API's 10 minutes is no test here.
        run_expiry_s=max(600.0, args.run_max * 2 + 600),
        model_limits=args.model_limits,
    )
    print(_header(args, generator, work_dir), flush=True)
    with ExitStack() as stack:
        sim = stack.enter_context(SimulatorProcess(sim_settings, free_port(), work_dir / "simulator.log"))
        db_url = stack.enter_context(temporary_postgres_url())
        upgrade(db_url)
        engine = sa.create_engine(db_url)
        stack.callback(engine.dispose)
        redis_url = stack.enter_context(scratch_redis_db())
        metrics_port = free_port()
        env = _worker_env(args, db_url, redis_url, sim, work_dir, metrics_port)
        workers = stack.enter_context(
            WorkerProcess(env, work_dir / "worker.log", processes=args.processes, threads=args.threads)
        )
        _wait_ready(workers, args.processes)
        broker = redis.Redis.from_url(redis_url)
        stack.callback(broker.close)
        interval = poll_interval_s(args.worker_settings)
        ctx = WorkerContext(
            sim,
            engine,
            env,
            workers,
            metrics_port,
            hint_s,
            f"bench-{args.scenario}",
            broker,
            READY_QUEUE_KEY,
            args.backend,
            interval,
        )
        if args.scenario == "long":
            result, in_flight_at, window_end = run_until_in_flight(
                ctx, jobs_path, args.jobs, args.window, _timeout(args, hint_s), args.until_done
            )
            workers.terminate()
            long_hint_s = hint_s if args.backend == "assistants" else None  # Responses routes send no hint
            rows = long_rows(result, args.jobs, args.rpm, in_flight_at, window_end, long_hint_s, interval)
            print(long_table(rows))
            for note in _notes(args, result.figures.notes, result.diagnostics, result.enqueue_s, False)[2:]:
                print(f"- {note}")
            return 0
        result = run_to_completion(ctx, jobs_path, args.jobs, _timeout(args, hint_s))
        workers.terminate()
        phases = [result.figures]
        if not args.skip_baseline:
            print("batchrunner phase done; running the SDK baseline ...", flush=True)
            subset = write_jobs(jobs[: args.baseline_jobs], work_dir / "baseline-jobs.jsonl")
            if args.backend == "responses":  # the SDK loop sends the resolved bodies, as a user's would
                subset = write_response_requests(subset, ASSISTANTS_FILE, work_dir / "baseline-requests.jsonl")
            threads = args.processes * args.threads
            phases.append(run_baseline(sim, subset, args.baseline_jobs, threads, work_dir, hint_s, args.backend))
        words = responses_wording(interval) if args.backend == "responses" else ASSISTANTS_WORDING
        print(throughput_table(phases, served_limit(args), words))
        if args.model_limits:
            first_request = first_request_at(result.runs, default=0.0)
            per_model = model_rows(result.sampler.samples, result.runs, args.model_limits, first_request)
            print(model_table(per_model, result.figures.failed_rate_limit))
        ceiling = ratio(served_limit(args), result.figures.min_requests_per_job)
        basis = (
            f"polling every {interval:g} s, no collect request"
            if args.backend == "responses"
            else f"{COLLECT_REQUESTS_BATCHRUNNER} collect requests"
        )
        print(
            f"- batchrunner reached {fmt(100 * ratio(result.figures.jobs_per_min, ceiling))} % of the ceiling "
            f"the limit implies ({fmt(ceiling)} jobs/min at {basis})."
        )
        for note in _notes(
            args, [n for p in phases for n in p.notes], result.diagnostics, result.enqueue_s, len(phases) > 1
        ):
            print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
