"""The job state machine: ``advance(job_id)`` takes one step and says when to wake the job next.

Imports no Dramatiq and no API: it drives a ``Backend`` (backend/base.py) and speaks of jobs,
attempts and API objects. Postgres is the source of truth (DESIGN principle 1): a step claims the job
with a compare-and-set (a lease: ``next_wake_at`` moves past the step), does one thing at the API, and
writes the next state with another compare-and-set. A lost lease means another worker owns the job:
the step's result is dropped, never written twice.

States::

    pending ──[create container, commit its id]──▶ creating_run ──start the attempt (commit id)──▶ running
    running ──look──▶ running | requires_action ──tools, outputs handed back──▶ running (same or new object)
    running ──done──▶ [collecting ──details, messages──▶]
              succeeded | failed | cancelled | expired | incomplete
              or, failed with rate_limit_exceeded/server_error and attempts left, pending (a new attempt)

A backend whose objects carry their outputs (Responses) skips ``collecting``. A job found in
``creating_run`` after a crash first looks for the object tagged with its attempt's key and adopts it
when the backend can (principle 4). Jobs that target the same existing thread or conversation take a
container lock (principle 5).
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from batchrunner.api.errors import (
    ApiError,
    CapacityUnavailableError,
    QuotaExhaustedError,
    RateLimitedError,
    RequestRejectedError,
    RetryableError,
)
from batchrunner.api.headers import backoff_delay
from batchrunner.backend.base import Backend, Handle, MessageRecord, ObjectSnapshot
from batchrunner.db.repository import CANCEL_REQUESTED, JobView, LeaseLost, Repository
from batchrunner.deadlines import DEADLINE_EXCEEDED
from batchrunner.faults import FaultHook, no_faults
from batchrunner.lanes import COMPLETION_WINDOWS, DEADLINE_MARGIN, LANE_WINDOW, Lane, running_lane, window_fits
from batchrunner.limiter import Budget
from batchrunner.limiter.breaker import CircuitBreaker, MemoryBreakerStore
from batchrunner.limiter.models import ModelBudgets
from batchrunner.metrics import (
    BLIND_RECREATES,
    BUDGET_WAITS,
    LANE_FALLBACKS,
    RATE_LIMITED,
    STEP_RETRIES,
    TOOL_ROUNDS,
)
from batchrunner.polling import DurationTracker, PollPolicy
from batchrunner.recording import RunRecorder
from batchrunner.states import BATCH_LANE_STATES, FOLLOWING_STATES, TERMINAL_JOB_STATES, BatchStatus, JobState
from batchrunner.tokens import estimate_run_tokens
from batchrunner.tools.runner import ToolResult, ToolRunner

log = logging.getLogger(__name__)


def _round_key(job: JobView) -> str | None:
    """The key of the job's current round while no step has seen it wait for tool outputs (``Handle``)."""
    if job.state != JobState.RUNNING:
        return None
    return f"{job.attempt}/{job.tool_rounds}"


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
    # Tool rounds one attempt may take before it is ended as a runaway loop.
    max_tool_rounds: int = 16
    # A request flex had no capacity for is sent again after this long (to twice this, jittered).
    capacity_retry_s: float = 30.0
    # The shortest and longest waits between two polls of a response in a discount window, which may take
    # hours: polled like a standard one, each would spend a request a minute of the budget other jobs need.
    window_min_poll_s: float = 30.0
    window_max_poll_s: float = 300.0


@dataclass(frozen=True)
class Wake:
    """When to advance a job again; ``starting`` jobs have no run yet and wait behind runs in flight."""

    delay_s: float
    starting: bool = False


class ConfigurationError(Exception):
    """The worker cannot run this job as configured (e.g. its backend is not set up here)."""


class UnclearCreation(Exception):
    """Creating an API object failed in a way that does not tell whether the server created it."""

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
    """The tag every API object of one attempt carries (``metadata.batchrunner_job``)."""
    return f"{job_tag(batch_name, custom_id)}#{attempt}"


class JobProcessor:
    """Advances jobs one step at a time; safe to call from many threads and processes."""

    def __init__(
        self,
        repository: Repository,
        backends: Backend | Mapping[str, Backend],
        tools: ToolRunner,
        budget: Budget | ModelBudgets,
        config: ProcessorConfig | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        durations: DurationTracker | None = None,
        rand: Callable[[], float] = random.random,
        fault_hook: FaultHook = no_faults,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._repo = repository
        # Without a breaker of the caller's (whose clients report to it), nothing ever opens this one.
        self._breaker = breaker or CircuitBreaker(MemoryBreakerStore())
        self._backends: Mapping[str, Backend] = (
            {backends.name: backends} if not isinstance(backends, Mapping) else dict(backends)
        )
        self._tools = tools
        self._budgets = budget if isinstance(budget, ModelBudgets) else ModelBudgets.single(budget)
        # An Assistants job's model is its assistant's, which only its runs tell (the server keeps it).
        self._assistant_models: dict[str, str] = {}
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
        if job.deadline_at is not None and job.deadline_at > now:  # as the database clamps its wake-up
            delay = min(delay, (job.deadline_at - now).total_seconds())
        return Wake(delay, starting=job.state == JobState.PENDING and not self._started.flag)

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
            self._budget_of(job).pause(pause)
            return self._reschedule(job, pause)
        if isinstance(error, CapacityUnavailableError):
            RATE_LIMITED.labels(kind="resource_unavailable").inc()
            return self._after_capacity_shortage(job)
        if isinstance(error, QuotaExhaustedError):
            RATE_LIMITED.labels(kind="insufficient_quota").inc()
            self._repo.stop_batch(job.batch_id, f"insufficient_quota: {error.message}")
            self._repo.park(job)
            return None
        if isinstance(error, UnclearCreation | RetryableError):
            cause = error.cause if isinstance(error, UnclearCreation) else error
            self._breaker.record_failure(str(job.id), f"{cause.method} {cause.endpoint}: {cause.message}")
            if self._breaker.is_down():
                # The API is down for the whole fleet, not for this job: wait for it without spending a retry.
                BUDGET_WAITS.labels(resource="api_down").inc()
                STEP_RETRIES.labels(endpoint=cause.endpoint or "unknown").inc()
                settle = self._config.create_settle_s if isinstance(error, UnclearCreation) else 0.0
                return self._reschedule(job, max(self._breaker.wait_hint() * (1.0 + 0.1 * self._rand()), settle))
        if isinstance(error, UnclearCreation):
            return self._retry_later(job, error.cause, at_least_s=self._config.create_settle_s)
        if isinstance(error, RetryableError):
            return self._retry_later(job, error)
        if isinstance(error, RequestRejectedError):
            if "already has an active run" in error.message or error.code == "conversation_locked":
                return self._retry_later(job, error)
            self._fail(job, code=error.code or f"http_{error.status_code}", message=error.message)
            return None
        raise error

    # -- dispatch ---------------------------------------------------------------------------------

    def _backend(self, job: JobView) -> Backend:
        backend = self._backends.get(job.backend)
        if backend is None:
            raise ConfigurationError(f"job {job.id} is for the {job.backend!r} backend, which this worker does not run")
        return backend

    def _step(self, job: JobView) -> float | None:
        if job.state in BATCH_LANE_STATES:
            return self._held_by_batch_lane(job)
        if job.batch_status == BatchStatus.CANCELLED:
            return self._stop(job, CANCEL_REQUESTED)
        if job.past_deadline(self._now()):
            return self._stop(job, DEADLINE_EXCEEDED)
        if job.batch_status == BatchStatus.STOPPED:
            self._repo.park(job)
            return None
        if job.state == JobState.PENDING:
            return self._start_attempt(job)
        if job.state == JobState.CREATING:
            return self._resume_start(job)
        if job.state in FOLLOWING_STATES:
            return self._look(job)
        if job.state == JobState.COLLECTING:
            return self._resume_collecting(job)
        log.warning("job %s: unexpected state %r", job.id, job.state)
        return None

    def _held_by_batch_lane(self, job: JobView) -> float | None:
        """A job the Batch API lane holds wakes only at its deadline (or when its batch is cancelled): it
        expires then, a job not yet in an input file is cancelled with its batch; else the driver keeps it
        (a batch already submitted is cancelled by the driver, which keeps the lines answered so far)."""
        if job.past_deadline(self._now()):
            assert job.deadline_at is not None
            message = f"the job's deadline ({job.deadline_at.isoformat()}) passed while it waited in the Batch API lane"
            self._repo.finish_without_object(job, state=JobState.EXPIRED, code=DEADLINE_EXCEEDED, message=message)
            return None
        if job.batch_status == BatchStatus.CANCELLED and job.state == JobState.BATCH_QUEUED:
            self._repo.finish_without_object(job, state=JobState.CANCELLED, code="cancelled", message="batch cancelled")
            return None
        self._repo.release(job, next_wake_at=job.deadline_at)
        return None

    # -- starting an attempt ----------------------------------------------------------------------

    def _start_attempt(self, job: JobView) -> float | None:
        spec, backend = job.spec, self._backend(job)
        if running_lane(spec.lane) is Lane.BATCH:
            # The Batch API lane's driver (``batch_lane``) takes it from here: no per-minute budget is spent.
            self._repo.queue_for_api_batch(job, estimated_tokens=estimate_run_tokens(spec))
            return None
        if job.target_container_id and not self._repo.try_lock_container(job.target_container_id, job.id):
            return self._reschedule(job, self._config.thread_busy_recheck_s)
        estimated = estimate_run_tokens(spec)
        container_id = job.container_id or job.target_container_id
        if container_id is None and backend.needs_container(spec):
            # Budget for the container and the first object at once: a refusal between the two would
            # leave the new container's id to be committed on its own, one more write per job.
            self._spend(job, requests=2, tokens=estimated, starting=True)
            container_id = backend.create_container(spec, job_tag(job.batch_name, job.custom_id))
            self._fault("after_thread_create")
        else:
            self._spend(job, requests=1, tokens=estimated, starting=True)
        # The container id is committed before the object is created (DESIGN principle 4).
        job = self._repo.begin_attempt(job, estimated_tokens=estimated, container_id=container_id)
        return self._create_first_object(job)

    def _resume_start(self, job: JobView) -> float | None:
        backend = self._backend(job)
        if backend.can_adopt():
            self._spend(job, requests=1)
            adopted = backend.adopt(job.spec, job.container_id, self._attempt_tag(job))
            if adopted is not None:
                log.info("job %s: adopted %s %s created before a crash", job.id, adopted.kind, adopted.object_id)
                return self._after_started(job, adopted)
        else:
            self._count_blind_recreate(job, backend, "attempt")
        self._spend(job, requests=1, tokens=job.estimated_tokens)
        return self._create_first_object(job)

    @staticmethod
    def _count_blind_recreate(job: JobView, backend: Backend, what: str) -> None:
        """Nothing lists this backend's objects: one created just before a crash cannot be found again."""
        BLIND_RECREATES.labels(backend=backend.name).inc()
        log.warning(
            "job %s: the %s of attempt %s may have created an API object before a crash, which the %s backend "
            "cannot look up; creating it again",
            job.id,
            what,
            job.attempt,
            backend.name,
        )

    def _create_first_object(self, job: JobView) -> float | None:
        backend = self._backend(job)
        try:
            snapshot = backend.start(job.spec, job.container_id, self._attempt_tag(job))
        except (RateLimitedError, CapacityUnavailableError):
            # A 429 created nothing: the attempt never started, so its next step starts it afresh
            # instead of counting a blind recreate.
            self._repo.unstart_attempt(job)
            raise
        except RetryableError as error:
            if not backend.can_adopt():
                raise  # nothing to look for later: waiting would not avoid the duplicate
            raise UnclearCreation(error) from None
        self._fault("after_run_create")
        return self._after_started(job, snapshot)

    def _after_started(self, job: JobView, snapshot: ObjectSnapshot) -> float | None:
        self._started.flag = True
        self._observe(job, snapshot)
        if snapshot.is_done:
            return self._finish(self._repo.record_started(job, snapshot), snapshot)
        delay = self._next_look(job, snapshot)
        job = self._repo.record_started(job, snapshot, reschedule_at=self._wake_at(delay))
        if snapshot.needs_tool_outputs:  # answered at once (a server that ignores background): no look needed
            return self._answer_tools(job, snapshot)
        return self._hand_to_stream(job, snapshot, delay)

    def _attempt_tag(self, job: JobView) -> str:
        return run_tag(job.batch_name, job.custom_id, job.attempt)

    # -- following an attempt ---------------------------------------------------------------------

    def _look(self, job: JobView) -> float | None:
        assert job.object_id is not None
        backend, handle = self._backend(job), self._handle(job)
        # A round already seen waiting for its answer takes the budget of the answer with the look's:
        # taken apart, under a spent budget each look would use the request its answer then waits for.
        answer_prepaid = job.state == JobState.REQUIRES_ACTION
        requests = (0 if backend.look_is_free(handle) else 1) + (1 if answer_prepaid else 0)
        if requests:
            self._spend(job, requests=requests)
        snapshot = backend.look(handle)
        self._observe(job, snapshot)
        return self._after_look(job, snapshot, answer_prepaid=answer_prepaid)

    def _after_look(self, job: JobView, snapshot: ObjectSnapshot, *, answer_prepaid: bool = False) -> float | None:
        if snapshot.needs_tool_outputs:
            return self._answer_tools(job, snapshot, answer_prepaid=answer_prepaid)
        if snapshot.is_done:
            return self._finish(job, snapshot)
        return self._record_look_and_reschedule(job, snapshot)

    def _handle(self, job: JobView) -> Handle:
        assert job.object_id is not None
        return Handle(job.object_id, job.container_id, _round_key(job))

    def _answer_tools(self, job: JobView, snapshot: ObjectSnapshot, *, answer_prepaid: bool = False) -> float | None:
        backend = self._backend(job)
        recorded = self._results_recorded_before(job, backend)
        if recorded:
            # An earlier step answered this round and did not commit the object its answer made.
            self._count_blind_recreate(job, backend, "tool round")
        job = self._repo.record_observed(job, snapshot, state=JobState.REQUIRES_ACTION)
        if snapshot.ended:  # a chained backend's round ended its object: count it now, it was paid for
            self._recorder.count_finished(job, snapshot)
            self._budget_reconcile(
                job, self._estimate_of(job, backend), snapshot.usage.total_tokens if snapshot.usage else 0
            )
        if job.tool_rounds >= self._config.max_tool_rounds:
            if not snapshot.ended:
                self._spend(job, requests=1)
                backend.cancel(snapshot.handle)
            self._fail(
                job,
                code="max_tool_rounds_exceeded",
                message=f"the model asked for tools again after {job.tool_rounds} rounds "
                f"(BATCHRUNNER_MAX_TOOL_ROUNDS={self._config.max_tool_rounds})",
            )
            return None
        # Budget for the hand-back is taken before the handlers run: a refusal afterwards would run them twice.
        if not answer_prepaid:
            self._spend(job, requests=1)
        calls = [(call.call_id, call.name, call.arguments) for call in snapshot.tool_calls]
        results = _results_for(calls, recorded)
        if results is None:
            results = self._tools.run_all(calls)
            job = self._recorder.record_tool_results(job, results)
        failed = [result for result in results if result.fail_job]
        if failed and self._config.fail_job_on_tool_error:
            first = failed[0]
            if not snapshot.ended:
                backend.cancel(snapshot.handle)
            self._fail(job, code=f"tool_{first.outcome}", message=f"tool {first.name}: {first.error}")
            return None
        outputs = [(result.tool_call_id, result.output) for result in results]
        # An unclear answer is retried like any other: for a backend that chains objects, the next try
        # finds the job in requires_action and counts the round it may create twice.
        if snapshot.container_id is None and job.container_id is not None:
            snapshot = replace(snapshot, container_id=job.container_id)  # a server may leave it out of the object
        after = backend.continue_with_tool_outputs(snapshot, job.spec, self._attempt_tag(job), outputs)
        self._fault("after_tool_outputs")
        TOOL_ROUNDS.labels(backend=backend.name).inc()
        self._observe(job, after)
        if after.is_done:
            return self._finish(self._repo.record_continued(job, after), after)
        delay = self._next_look(job, after)
        job = self._repo.record_continued(job, after, reschedule_at=self._wake_at(delay))
        if after.needs_tool_outputs:  # the next round is already asked for: answer it in this step
            return self._answer_tools(job, after)
        return self._hand_to_stream(job, after, delay)

    def _results_recorded_before(self, job: JobView, backend: Backend) -> list[ToolResult]:
        """The tool results an earlier step of this round recorded: if any, its answer may have reached the API.

        A round seen and recorded whose answer was then held back (a spent budget) recorded nothing.
        """
        if not backend.chains_objects or job.state != JobState.REQUIRES_ACTION or job.object_id is None:
            return []
        return self._repo.recorded_tool_results(job.object_id)

    def _finish(self, job: JobView, snapshot: ObjectSnapshot) -> float | None:
        """The object ended: record it at once; then collect what it did not carry (each request its own step)."""
        if snapshot.details is not None and snapshot.messages is not None:
            return self._conclude(job, snapshot, list(snapshot.messages))
        job = self._repo.record_terminal(job, snapshot)
        return self._collect(job, snapshot)

    def _resume_collecting(self, job: JobView) -> float | None:
        assert job.object_id is not None
        snapshot = self._repo.load_snapshot(job.object_id)
        if snapshot is None:  # the object's end was not recorded: look at it again
            job = self._repo.record_observed(job, self._backend(job).look(self._handle(job)), state=JobState.RUNNING)
            return 0.0
        return self._collect(job, snapshot)

    def _collect(self, job: JobView, snapshot: ObjectSnapshot) -> float | None:
        # Budget for every request is taken at once; details are committed before messages are fetched,
        # so after a 429 on the second request the first is not repeated.
        backend = self._backend(job)
        details_stored = snapshot.details is not None or self._repo.has_details(snapshot.object_id)
        self._spend(job, requests=backend.collect_requests(snapshot, details_stored=details_stored))
        if not details_stored:
            job = self._repo.record_details(job, snapshot.object_id, backend.fetch_details(snapshot))
        messages = list(snapshot.messages) if snapshot.messages is not None else backend.fetch_messages(snapshot)
        return self._conclude(job, snapshot, messages)

    def _conclude(self, job: JobView, snapshot: ObjectSnapshot, messages: list[MessageRecord]) -> float | None:
        retry = snapshot.retryable and job.attempt < self._config.max_run_attempts and not job.cancel_requested
        if retry:
            state = JobState.PENDING
        elif job.cancel_requested:
            state = job.stopped_state  # cancel is advisory at the API: a late completion is recorded, not used
        else:
            state = snapshot.outcome or JobState.FAILED
        self._recorder.record_finished(job, snapshot, messages, state=state, retry=retry)
        estimated = self._estimate_of(job, self._backend(job))
        self._budget_reconcile(job, estimated, snapshot.usage.total_tokens if snapshot.usage else 0)
        if retry:
            log.info(
                "job %s: %s %s failed with %s; starting attempt %s",
                job.id,
                snapshot.kind,
                snapshot.object_id,
                snapshot.error_code,
                job.attempt + 1,
            )
            return 0.0
        return None

    # -- cancelling -------------------------------------------------------------------------------

    def _stop(self, job: JobView, reason: str) -> float | None:
        """End a job batchrunner no longer wants (``reason``: its batch was cancelled, or its deadline passed).

        An object in flight is cancelled at the API and recorded when it ends, with whatever it used.
        """
        if job.state == JobState.COLLECTING:
            return self._resume_collecting(job)
        backend = self._backend(job)
        if job.state in FOLLOWING_STATES and job.object_id:
            self._spend(job, requests=1)
            snapshot = backend.look(self._handle(job))
            if snapshot.is_done:
                return self._finish(job, snapshot)
            if not snapshot.ended and not snapshot.cancelling:
                self._spend(job, requests=1)
                job = self._repo.mark_cancel_requested(job, reason=reason)
                snapshot = self._cancel_object(job)
                if snapshot.is_done:
                    return self._finish(job, snapshot)
            if not snapshot.ended:
                return self._record_look_and_reschedule(job, snapshot)
        if job.state == JobState.CREATING and backend.can_adopt():
            self._spend(job, requests=1)
            adopted = backend.adopt(job.spec, job.container_id, self._attempt_tag(job))
            if adopted is not None:
                job = self._repo.record_started(job, adopted)
                return self._stop(job, reason)
        if reason == DEADLINE_EXCEEDED:
            assert job.deadline_at is not None
            message = f"the job's deadline ({job.deadline_at.isoformat()}) passed before it was done"
            self._repo.finish_without_object(job, state=JobState.EXPIRED, code=DEADLINE_EXCEEDED, message=message)
        else:
            self._repo.finish_without_object(job, state=JobState.CANCELLED, code="cancelled", message="batch cancelled")
        return None

    def _cancel_object(self, job: JobView) -> ObjectSnapshot:
        """Cancel the job's object; one that ended since it was looked at refuses (400), so look again."""
        backend = self._backend(job)
        try:
            return backend.cancel(self._handle(job))
        except RequestRejectedError:
            self._spend(job, requests=1)
            snapshot = backend.look(self._handle(job))
            if not snapshot.is_done:
                raise
            return snapshot

    def _after_capacity_shortage(self, job: JobView) -> float:
        """Flex had no capacity for the job's request (nothing was created, nothing charged): try again
        later, alone (no fleet-wide pause, no retry spent), or in the standard lane once flex can no
        longer meet the job's deadline."""
        now = self._now()
        lane = running_lane(job.spec.lane)
        time_left = job.deadline_at - now if job.deadline_at is not None else None
        # Without a deadline nothing hurries the job: it waits for flex capacity however long it takes.
        if time_left is not None and not window_fits(lane, time_left):
            LANE_FALLBACKS.labels(from_lane=lane.value, to_lane=Lane.STANDARD.value).inc()
            log.info("job %s: %s had no capacity and its deadline is near; running it standard", job.id, lane)
            self._repo.move_to_lane(job, Lane.STANDARD, next_wake_at=now)
            return 0.0
        delay = self._config.capacity_retry_s * (1.0 + self._rand())
        if time_left is not None:  # wake before flex stops meeting the deadline, to fall back in time
            delay = min(delay, max((time_left - LANE_WINDOW[lane] - DEADLINE_MARGIN).total_seconds(), 0.0))
        return self._reschedule(job, delay)

    # -- bookkeeping ------------------------------------------------------------------------------

    def _model_of(self, job: JobView) -> str | None:
        """The model the job's requests concern, as its spec names it (a run's assistant's, once seen)."""
        spec = job.spec
        named = (spec.request or {}).get("model") if spec.request is not None else spec.params.get("model")
        if isinstance(named, str) and named:
            return named
        return self._assistant_models.get(spec.assistant_id)

    def _budget_of(self, job: JobView) -> Budget:
        return self._budgets.for_model(self._model_of(job))

    def _spend(self, job: JobView, *, requests: int, tokens: int = 0, starting: bool = False) -> None:
        """Take budget for the job's next requests, all counted against its model.

        A container (a thread, a conversation) concerns no model, and the simulator meters it apart; it
        is still counted here, with the object it is created for, so that a refusal between the two
        never spends one without the other.
        """
        api_down_for = self._breaker.admit()
        if api_down_for > 0:
            # Spread the fleet's jobs over a tenth of the wait, so the API's return is not a stampede.
            raise BudgetWait(api_down_for * (1.0 + 0.1 * self._rand()), "api_down")
        reserve = self._config.start_reserve_share if starting else 0.0
        grant = self._budget_of(job).try_acquire(requests=requests, tokens=tokens, reserve_share=reserve)
        if not grant.granted:
            raise BudgetWait(grant.wait_seconds, grant.reason or "requests")

    @staticmethod
    def _estimate_of(job: JobView, backend: Backend) -> int:
        """The tokens reserved for the object now ending: the attempt's estimate went to its first object."""
        return 0 if backend.chains_objects and job.tool_rounds > 0 else job.estimated_tokens

    def _budget_reconcile(self, job: JobView, estimated: int, actual: int) -> None:
        if estimated or actual:
            self._budget_of(job).adjust_tokens(actual - estimated)

    def _observe(self, job: JobView, snapshot: ObjectSnapshot) -> None:
        """Learn from an answer: the server's limits for the job's model, and an assistant's model."""
        if job.spec.request is None and snapshot.model and job.spec.assistant_id not in self._assistant_models:
            self._assistant_models[job.spec.assistant_id] = snapshot.model
        budget = self._budget_of(job)
        info = snapshot.rate_limit
        budget.learn_server_limits(
            info.limit_requests if info is not None else None, info.limit_tokens if info is not None else None
        )
        if info is not None:
            budget.observe_server_limits(
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

    def _record_look_and_reschedule(self, job: JobView, snapshot: ObjectSnapshot) -> float:
        delay = self._next_look(job, snapshot)
        job = self._repo.record_observed(job, snapshot, state=JobState.RUNNING, reschedule_at=self._wake_at(delay))
        return self._hand_to_stream(job, snapshot, delay)

    def _next_look(self, job: JobView, snapshot: ObjectSnapshot) -> float:
        delay = self._poll_delay(job, snapshot)
        if snapshot.streamed or self._backend(job).is_followed(snapshot.object_id):
            return max(delay, self._config.stream_fallback_s)
        return delay

    def _hand_to_stream(self, job: JobView, snapshot: ObjectSnapshot, delay: float) -> float:
        """Once the object id is committed, let its stream wake the job; if the stream already settled, look now."""
        if snapshot.streamed and not self._backend(job).follow(snapshot.object_id, job.id, _round_key(job)):
            return self._reschedule(job, 0.0)
        return delay

    def _poll_delay(self, job: JobView, snapshot: ObjectSnapshot) -> float:
        now = self._now()
        age = (now - snapshot.created_at).total_seconds() if snapshot.created_at else 0.0
        assistant = snapshot.assistant_id or job.spec.assistant_id
        if snapshot.created_at and snapshot.is_running:
            self._durations.observe_running(assistant, snapshot.model, snapshot.object_id, age)
        policy = self._config.poll_policy
        if running_lane(job.spec.lane) in COMPLETION_WINDOWS:
            policy = replace(
                policy,
                default_interval_s=max(policy.default_interval_s, self._config.window_min_poll_s),
                max_interval_s=max(policy.max_interval_s, self._config.window_max_poll_s),
            )
        return policy.next_delay(
            poll_after_ms=snapshot.poll_after_ms,
            age_s=max(age, 0.0),
            earliest_finish_s=self._durations.earliest_finish(assistant, snapshot.model),
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
        self._repo.finish_without_object(job, state=JobState.FAILED, code=code, message=message)


def _results_for(calls: list[tuple[str, str, str]], recorded: list[ToolResult]) -> list[ToolResult] | None:
    """The recorded results of ``calls`` in their order, so that a handler runs once per call (an earlier
    answer did not get through); None unless every call has one."""
    by_call = {result.tool_call_id: result for result in recorded}
    if not all(call_id in by_call for call_id, _, _ in calls):
        return None
    return [by_call[call_id] for call_id, _, _ in calls]


__all__ = [
    "TERMINAL_JOB_STATES",
    "BudgetWait",
    "ConfigurationError",
    "JobProcessor",
    "ProcessorConfig",
    "Wake",
    "job_tag",
    "run_tag",
]
