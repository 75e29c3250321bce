"""Builds the Dramatiq broker named by a URL: Redis, RabbitMQ, or in-process."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker


class BrokerConfigError(ValueError):
    """The broker URL names no broker batchrunner can build."""


def build_broker(url: str) -> dramatiq.Broker:
    """``redis://…`` or ``rediss://…``, ``amqp://…``, or empty for an in-process broker."""
    if not url:
        return StubBroker()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url)  # type: ignore[no-untyped-call]
    if url.startswith(("amqp://", "amqps://")):
        try:
            from dramatiq.brokers.rabbitmq import RabbitmqBroker
        except ImportError as error:  # pika is an optional dependency
            raise BrokerConfigError(
                "BATCHRUNNER_BROKER_URL is an amqp:// URL but pika is not installed: pip install 'dramatiq[rabbitmq]'"
            ) from error
        return RabbitmqBroker(url=url)
    scheme = url.split(":", 1)[0]
    raise BrokerConfigError(
        f"BATCHRUNNER_BROKER_URL has unsupported scheme {scheme!r}: use redis://, amqp:// or leave it empty"
    )


def ready_messages(broker: dramatiq.Broker, queue_name: str) -> int | None:
    """Messages due now and waiting in ``queue_name`` (delayed ones excluded); None when the broker can't say."""
    if isinstance(broker, StubBroker):
        queue = broker.queues.get(queue_name)
        return queue.qsize() if queue is not None else 0
    from dramatiq.brokers.redis import RedisBroker

    if isinstance(broker, RedisBroker):
        return int(broker.client.llen(f"{broker.namespace}:{queue_name}"))
    counts = getattr(broker, "get_queue_message_counts", None)  # RabbitMQ: (ready, delayed, dead)
    if counts is not None:
        return int(counts(queue_name)[0])
    return None
