"""``ready_messages`` counts wake-ups due now on a real Redis broker and on the stub, not delayed ones."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from batchrunner.actors import JobQueue


@pytest.fixture
def redis_broker(scratch_redis_url: str) -> Iterator[RedisBroker]:
    broker = RedisBroker(url=scratch_redis_url)  # type: ignore[no-untyped-call]
    yield broker
    broker.close()


def _fill(broker: dramatiq.Broker) -> JobQueue:
    queue = JobQueue(broker, f"q-{uuid.uuid4().hex[:8]}")
    for job_id in range(3):
        queue.wake(job_id, starting=True)
    queue.wake(10)
    queue.wake(11, delay_s=60)  # delayed: not due, so not counted
    return queue


def test_redis_queue_lengths_count_due_messages(redis_broker: RedisBroker) -> None:
    queue = _fill(redis_broker)
    assert queue.ready_messages(starting=True) == 3
    assert queue.ready_messages(starting=False) == 1


def test_stub_queue_lengths_count_due_messages() -> None:
    queue = _fill(StubBroker())
    assert queue.ready_messages(starting=True) == 3
    assert queue.ready_messages(starting=False) == 1


def test_an_unreachable_broker_reports_no_length() -> None:
    broker = RedisBroker(url="redis://127.0.0.1:1/0", socket_connect_timeout=0.2)  # type: ignore[no-untyped-call]
    started = time.monotonic()
    assert JobQueue(broker, "q").ready_messages(starting=False) is None
    assert time.monotonic() - started < 5
