"""The RabbitMQ server tests use, and the queues a test leaves there, deleted afterwards.

The server is ``$BATCHRUNNER_TEST_AMQP_URL`` (default ``amqp://guest:guest@127.0.0.1:5672/%2F``).
Tests name queues of their own (``BATCHRUNNER_QUEUE_NAME``), so sessions sharing the server never take
each other's messages; Dramatiq declares, for each, a delay queue (``.DQ``) and a dead-letter queue
(``.XQ``), and batchrunner a ``.start`` queue beside each.
"""

from __future__ import annotations

import os

AMQP_URL = os.environ.get("BATCHRUNNER_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def rabbitmq_available(url: str = AMQP_URL) -> bool:
    try:
        import pika
    except ImportError:
        return False
    parameters = pika.URLParameters(url)
    parameters.socket_timeout = 3
    parameters.blocked_connection_timeout = 3
    try:
        pika.BlockingConnection(parameters).close()
    except Exception:
        return False
    return True


def queue_family(queue_name: str) -> list[str]:
    """Every queue batchrunner and Dramatiq declare for ``queue_name``."""
    bases = [queue_name, f"{queue_name}.start"]
    return [name for base in bases for name in (base, f"{base}.DQ", f"{base}.XQ")]


def delete_queues(names: list[str], url: str = AMQP_URL) -> None:
    """Delete ``names`` (absent ones are fine) from the server."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for name in names:
            channel.queue_delete(queue=name)
    finally:
        connection.close()


__all__ = ["AMQP_URL", "delete_queues", "queue_family", "rabbitmq_available"]
