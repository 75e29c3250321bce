"""The job state machine: ``advance(job_id)`` takes one step and says when to wake the job next.

Imports no Dramatiq. Postgres is the source of truth (DESIGN principle 1): a step claims the job with a
compare-and-set (a lease: ``next_wake_at`` moves past the step), does one thing at the API, and writes the
next state with another compare-and-set. A lost lease means another worker owns the job: the step's
result is dropped, never written twice.

States::

    pending ──create thread (commit id)──▶ creating_run ──create run (commit id)──▶ running
    running ──poll──▶ running | requires_action ──tools + submit──▶ running
    running ──terminal (commit)──▶ collecting ──steps (commit), messages──▶
              succeeded | failed | cancelled | expired | incomplete
              or, failed with rate_limit_exceeded/server_error and attempts left, pending (a new attempt)

A job found in ``creating_run`` after a crash first looks for the run tagged with its attempt's key and
adopts it (principle 4). Jobs that target the same existing thread take a thread lock (principle 5).
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from batchrunner.api.errors import (
    ApiError,
    QuotaExhaustedError,
    RateLimitedError,
    RequestRejectedError,
    RetryableError,
)
from batchrunner.api.headers import backoff_delay
from batchrunner.backend.base import RETRYABLE_RUN_ERRORS, RunBackend, RunSnapshot
from batchrunner.db.repository import JobView, LeaseLost, Repository
from batchrunner.faults import FaultHook, no_faults
from batchrunner.limiter import Budget
from batchrunner.metrics import BUDGET_WAITS, RATE_LIMITED, STEP_RETRIES
from batchrunner.polling import DurationTracker, PollPolicy
from batchrunner.recording import RunRecorder
from batchrunner.tokens import estimate_run_tokens
from batchrunner.tools.runner import ToolRunner

log = logging.getLogger(__name__)

TERMINAL_JOB_STATES = frozenset({"succeeded", "failed", "cancelled", "expired", "incomplete"})
_RUN_STATUS_TO_JOB_STATE = {
    "completed": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
    "expired": "expired",
    "incomplete": "incomplete",
}


@dataclass(frozen=True)
class ProcessorConfig:
    step_lease_s: float = 120.0
    max_run_attempts: int = 3
    max_step_retries: int = 8
    retry_base_s: float = 0.5
    retry_max_s: float = 30.0
    thread_busy_recheck_s: float = 2.0
    fail_job_on_tool_error: bool = False
    poll_policy: PollPolicy = field(default_factory=PollPolicy)
    # After a create-run whose outcome is unknown (timeout, dropped connection, 5xx) the server may
    # still create the run later: look for it only after this long, before creating another.
    create_settle_s: float = 15.0
    # Share of the budget's burst that starting a new run leaves for the polls of runs in flight, so a
    # binding limit delays starts rather than noticing that runs finished.
    start_reserve_share: float = 0.5
    # A run whose stream is followed is looked at when the stream says so; this wake-up is the fallback
    # for a stream (or a process) that dies.
    stream_fallback_s: float = 60.0


@dataclass(frozen=True)
class Wake:
    """When to advance a job again; ``starting`` jobs have no run yet and wait behind runs in flight."""

    delay_s: float
    starting: bool = False


class UnclearCreation(Exception):
    """Creating a run failed in a way that does not tell whether the server created it."""

    def __init__(self, cause: RetryableError) -> None:
        super().__init__(cause.message)
        self.cause = cause


class BudgetWait(Exception):
    """The fleet budget is spent for now: try again after ``seconds`` (never counts as a retry)."""

    def __init__(self, seconds: float, resource: str) -> None:
        super().__init__(f"budget for {resource} spent; wait {seconds:.2f}s")
        self.seconds = seconds
        self.resource = resource


def job_tag(batch_name: str, custom_id: str) -> str:
    """Metadata value that names a job at the API (at most 512 characters)."""
    tag = f"{batch_name}/{custom_id}"
    if len(tag) <= 480:
        return tag
    return f"{batch_name[:100]}/{hashlib.sha256(tag.encode()).hexdigest()}"


def run_tag(batch_name: str, custom_id: str, attempt: int) -> str:
    return f"{job_tag(batch_name, custom_id)}#{attempt}"


class JobProcessor:
    """Advances jobs one step at a time; safe to call from many threads and processes."""

    def __init__(
        self,
        repository: Repository,
        backend: RunBackend,
        tools: ToolRunner,
        budget: Budget,
        config: ProcessorConfig | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        durations: DurationTracker | None = None,
        rand: Callable[[], float] = random.random,
        fault_hook: FaultHook = no_faults,
    ) -> None:
        self._repo = repository
        self._backend = backend
        self._tools = tools
        self._budget = budget
        self._config = config or ProcessorConfig()
        self._now = clock or (lambda: datetime.now(UTC))
        self._durations = durations or DurationTracker()
        self._rand = rand
        self._fault = fault_hook
        self._recorder = RunRecorder(repository, self._durations)
        self._started = threading.local()

    def advance(self, job_id: int) -> float | None:
        """Take one step of job ``job_id``; return seconds until its next wake-up, or None when done."""
        wake = self.advance_step(job_id)
        return wake.delay_s if wake is not None else None

    def advance_step(self, job_id: int) -> Wake | None:
        """Like ``advance``, and say whether the job is still waiting to start (it then yields to runs in flight)."""
        now = self._now()
        job = self._repo.claim(job_id, now=now, lease_until=now + timedelta(seconds=self._config.step_lease_s))
        if job is None:
            return None
        self._started.flag = False
        delay = self._advance_claimed(job)
        if delay is None:
            return None
        return Wake(delay, starting=job.state == "pending" and not self._started.flag)

    def _advance_claimed(self, job: JobView) -> float | None:
        job_id = job.id
        try:
            return self._step(job)
        except LeaseLost:
            log.info("job %s: lease lost to another worker; dropping this step", job_id)
            return None
        except Exception as error:
            return self._handle_step_error(self._repo.latest(job), error)

    def _handle_step_error(self, job: JobView, error: Exception) -> float | None:
        """Turn a failed step into the job's next wake-up (DESIGN principle 6); unknown errors propagate."""
        if isinstance(error, BudgetWait):
            BUDGET_WAITS.labels(resource=error.resource).inc()
            return self._reschedule(job, error.seconds)
        if isinstance(error, RateLimitedError):
            RATE_LIMITED.labels(kind=error.kind or "requests").inc()
            pause = error.retry_after if error.retry_after is not None else 1.0
            self._budget.pause(pause)
            return self._reschedule(job, pause)
        if isinstance(error, QuotaExhaustedError):
            RATE_LIMITED.labels(kind="insufficient_quota").inc()
            self._repo.stop_batch(job.batch_id, f"insufficient_quota: {error.message}")
            self._repo.park(job)
            return None
        if isinstance(error, UnclearCreation):
            return self._retry_later(job, error.cause, at_least_s=self._config.create_settle_s)
        if isinstance(error, RetryableError):
            return self._retry_later(job, error)
        if isinstance(error, RequestRejectedError):
            if "already has an active run" in error.message:
                return self._retry_later(job, error)
            self._fail(job, code=error.code or f"http_{error.status_code}", message=error.message)
            return None
        raise error

    # -- dispatch ---------------------------------------------------------------------------------

    def _step(self, job: JobView) -> float | None:
        if job.batch_status == "cancelled":
            return self._cancel(job)
        if job.batch_status == "stopped":
            self._repo.park(job)
            return None
        if job.state == "pending":
            return self._start_attempt(job)
        if job.state == "creating_run":
            return self._resume_run_creation(job)
        if job.state in ("running", "requires_action"):
            return self._poll(job)
        if job.state == "collecting":
            return self._resume_collecting(job)
        log.warning("job %s: unexpected state %r", job.id, job.state)
        return None

    # -- starting a run ---------------------------------------------------------------------------

    def _start_attempt(self, job: JobView) -> float | None:
        spec = job.spec
        if job.target_thread_id and not self._repo.try_lock_thread(job.target_thread_id, job.id):
            return self._reschedule(job, self._config.thread_busy_recheck_s)
        estimated = estimate_run_tokens(spec)
        thread_id = job.thread_id or job.target_thread_id
        if thread_id is None:
            # Budget for the thread and its run at once: a refusal between the two would leave the
            # new thread's id to be committed on its own, one more write per job.
            self._spend(requests=2, tokens=estimated, starting=True)
            thread_id = self._backend.create_thread(spec, job_tag(job.batch_name, job.custom_id))
            self._fault("after_thread_create")
        else:
            self._spend(requests=1, tokens=estimated, starting=True)
        # The thread id is committed before the run is created (DESIGN principle 4).
        job = self._repo.begin_run_creation(job, estimated_tokens=estimated, thread_id=thread_id)
        return self._create_run(job)

    def _resume_run_creation(self, job: JobView) -> float | None:
        assert job.thread_id is not None
        self._spend(requests=1)
        adopted = self._backend.find_run(job.thread_id, self._run_tag(job))
        if adopted is not None:
            log.info("job %s: adopted run %s created before a crash", job.id, adopted.run_id)
            return self._after_run_created(job, adopted)
        self._spend(requests=1, tokens=job.estimated_tokens)
        return self._create_run(job)

    def _create_run(self, job: JobView) -> float | None:
        assert job.thread_id is not None
        try:
            snapshot = self._backend.create_run(job.thread_id, job.spec, self._run_tag(job))
        except RateLimitedError:
            raise  # a 429 created nothing
        except RetryableError as error:
            raise UnclearCreation(error) from None
        self._fault("after_run_create")
        return self._after_run_created(job, snapshot)

    def _after_run_created(self, job: JobView, snapshot: RunSnapshot) -> float | None:
        self._started.flag = True
        self._observe(snapshot)
        if snapshot.is_terminal:
            return self._finish(self._repo.record_run_created(job, snapshot), snapshot)
        delay = self._next_look(snapshot)
        job = self._repo.record_run_created(job, snapshot, reschedule_at=self._wake_at(delay))
        return self._hand_to_stream(job, snapshot, delay)

    def _run_tag(self, job: JobView) -> str:
        return run_tag(job.batch_name, job.custom_id, job.attempt)

    # -- following a run --------------------------------------------------------------------------

    def _poll(self, job: JobView) -> float | None:
        assert job.thread_id is not None and job.run_id is not None
        self._spend(requests=1)
        snapshot = self._backend.get_run(job.thread_id, job.run_id)
        self._observe(snapshot)
        if snapshot.needs_tool_outputs:
            return self._answer_tools(job, snapshot)
        if snapshot.is_terminal:
            return self._finish(job, snapshot)
        return self._record_poll_and_reschedule(job, snapshot)

    def _answer_tools(self, job: JobView, snapshot: RunSnapshot) -> float | None:
        thread_id, run_id = snapshot.thread_id, snapshot.run_id
        job = self._repo.record_poll(job, snapshot, state="requires_action")
        # Budget for the submit is taken before the handlers run: a refusal afterwards would run them twice.
        self._spend(requests=1)
        calls = [(call.call_id, call.name, call.arguments) for call in snapshot.tool_calls]
        results = self._tools.run_all(calls)
        job = self._recorder.record_tool_results(job, results)
        failed = [result for result in results if result.fail_job]
        if failed and self._config.fail_job_on_tool_error:
            first = failed[0]
            self._backend.cancel_run(thread_id, run_id)
            self._fail(job, code=f"tool_{first.outcome}", message=f"tool {first.name}: {first.error}")
            return None
        after = self._backend.submit_tool_outputs(
            thread_id, run_id, [(result.tool_call_id, result.output) for result in results]
        )
        self._fault("after_tool_outputs")
        self._observe(after)
        if after.is_terminal:
            return self._finish(self._repo.record_poll(job, after, state="running"), after)
        return self._record_poll_and_reschedule(job, after, state="running")

    def _finish(self, job: JobView, snapshot: RunSnapshot) -> float | None:
        """The run ended: record that at once, then collect its outputs (each request its own step)."""
        job = self._repo.record_terminal(job, snapshot)
        return self._collect(job, snapshot)

    def _resume_collecting(self, job: JobView) -> float | None:
        assert job.run_id is not None
        snapshot = self._repo.load_snapshot(job.run_id)
        if snapshot is None:  # the run row is missing: look at the run again
            job = self._repo.record_poll(job, self._backend.get_run(job.thread_id or "", job.run_id), state="running")
            return 0.0
        return self._collect(job, snapshot)

    def _collect(self, job: JobView, snapshot: RunSnapshot) -> float | None:
        # Budget for both requests is taken at once; steps are committed before messages are fetched,
        # so after a 429 on the second request the first is not repeated.
        needs_steps = not self._repo.has_steps(snapshot.run_id)
        self._spend(requests=2 if needs_steps else 1)
        if needs_steps:
            steps = self._backend.list_steps(snapshot.thread_id, snapshot.run_id)
            job = self._repo.record_steps(job, snapshot.run_id, steps)
        messages = self._backend.list_output_messages(snapshot.thread_id, snapshot.run_id)
        retry = (
            snapshot.status == "failed"
            and snapshot.last_error_code in RETRYABLE_RUN_ERRORS
            and job.attempt < self._config.max_run_attempts
        )
        state = "pending" if retry else _RUN_STATUS_TO_JOB_STATE.get(snapshot.status, "failed")
        self._recorder.record_finished(job, snapshot, messages, state=state, retry=retry)
        self._budget_reconcile(job.estimated_tokens, snapshot.usage.total_tokens if snapshot.usage else 0)
        if retry:
            log.info(
                "job %s: run %s failed with %s; starting attempt %s",
                job.id,
                snapshot.run_id,
                snapshot.last_error_code,
                job.attempt + 1,
            )
            return 0.0
        return None

    # -- cancelling -------------------------------------------------------------------------------

    def _cancel(self, job: JobView) -> float | None:
        if job.state == "collecting":
            return self._resume_collecting(job)
        if job.state in ("running", "requires_action") and job.thread_id and job.run_id:
            self._spend(requests=1)
            snapshot = self._backend.get_run(job.thread_id, job.run_id)
            if snapshot.is_terminal:
                return self._finish(job, snapshot)
            if snapshot.status != "cancelling":
                self._spend(requests=1)
                snapshot = self._backend.cancel_run(job.thread_id, job.run_id)
                if snapshot.is_terminal:
                    return self._finish(job, snapshot)
            return self._record_poll_and_reschedule(job, snapshot)
        if job.state == "creating_run" and job.thread_id:
            self._spend(requests=1)
            adopted = self._backend.find_run(job.thread_id, self._run_tag(job))
            if adopted is not None:
                job = self._repo.record_run_created(job, adopted)
                return self._cancel(job)
        self._repo.finish_without_run(job, state="cancelled", code="cancelled", message="batch cancelled")
        return None

    # -- bookkeeping ------------------------------------------------------------------------------

    def _spend(self, *, requests: int, tokens: int = 0, starting: bool = False) -> None:
        reserve = self._config.start_reserve_share if starting else 0.0
        grant = self._budget.try_acquire(requests=requests, tokens=tokens, reserve_share=reserve)
        if not grant.granted:
            raise BudgetWait(grant.wait_seconds, grant.reason or "requests")

    def _budget_reconcile(self, estimated: int, actual: int) -> None:
        if estimated or actual:
            self._budget.adjust_tokens(actual - estimated)

    def _observe(self, snapshot: RunSnapshot) -> None:
        info = snapshot.rate_limit
        if info is not None:
            self._budget.observe_server_limits(
                remaining_requests=info.remaining_requests,
                reset_requests_s=info.reset_requests_s,
                remaining_tokens=info.remaining_tokens,
                reset_tokens_s=info.reset_tokens_s,
            )

    def _wake_at(self, delay_s: float) -> datetime:
        return self._now() + timedelta(seconds=delay_s)

    def _reschedule(self, job: JobView, delay_s: float) -> float:
        self._repo.release(job, next_wake_at=self._wake_at(delay_s))
        return delay_s

    def _record_poll_and_reschedule(self, job: JobView, snapshot: RunSnapshot, *, state: str | None = None) -> float:
        delay = self._next_look(snapshot)
        job = self._repo.record_poll(job, snapshot, state=state, reschedule_at=self._wake_at(delay))
        return self._hand_to_stream(job, snapshot, delay)

    def _next_look(self, snapshot: RunSnapshot) -> float:
        delay = self._poll_delay(snapshot)
        if snapshot.streamed or self._backend.is_followed(snapshot.run_id):
            return max(delay, self._config.stream_fallback_s)
        return delay

    def _hand_to_stream(self, job: JobView, snapshot: RunSnapshot, delay: float) -> float:
        """Once the run id is committed, let a streamed run's stream wake the job; if it already settled, look now."""
        if snapshot.streamed and not self._backend.follow_run(snapshot.run_id, job.id):
            return self._reschedule(job, 0.0)
        return delay

    def _poll_delay(self, snapshot: RunSnapshot) -> float:
        now = self._now()
        age = (now - snapshot.created_at).total_seconds() if snapshot.created_at else 0.0
        if snapshot.created_at and snapshot.status in ("queued", "in_progress"):
            self._durations.observe_running(snapshot.assistant_id, snapshot.model, snapshot.run_id, age)
        return self._config.poll_policy.next_delay(
            poll_after_ms=snapshot.poll_after_ms,
            age_s=max(age, 0.0),
            earliest_finish_s=self._durations.earliest_finish(snapshot.assistant_id, snapshot.model),
        )

    def _retry_later(self, job: JobView, error: ApiError, *, at_least_s: float = 0.0) -> float | None:
        if job.step_retries >= self._config.max_step_retries:
            self._fail(
                job, code="retries_exhausted", message=f"gave up after {job.step_retries} retries: {error.message}"
            )
            return None
        retry_after = error.retry_after if isinstance(error, RetryableError) else None
        delay = backoff_delay(
            job.step_retries,
            base=self._config.retry_base_s,
            cap=self._config.retry_max_s,
            retry_after=retry_after,
            rand=self._rand,
        )
        delay = max(delay, at_least_s)
        STEP_RETRIES.labels(endpoint=error.endpoint or "unknown").inc()
        log.warning("job %s: %s; retry %s in %.1fs", job.id, error.message, job.step_retries + 1, delay)
        self._repo.release(job, next_wake_at=self._now() + timedelta(seconds=delay), step_retries=job.step_retries + 1)
        return delay

    def _fail(self, job: JobView, *, code: str, message: str) -> None:
        self._repo.finish_without_run(job, state="failed", code=code, message=message)


__all__ = ["TERMINAL_JOB_STATES", "BudgetWait", "JobProcessor", "ProcessorConfig", "Wake", "job_tag", "run_tag"]
