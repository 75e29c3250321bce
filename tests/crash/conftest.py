"""Fixtures of the crash tests: ``make_stack(SimConfig(...), **settings)`` builds a whole stack per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from starlette.applications import Starlette

from batchrunner.simulator.config import SimConfig
from batchrunner.simulator.server import BackgroundSimulator
from batchrunner.testing.processes import batchrunner_env, free_port
from batchrunner.testing.rabbitmq import AMQP_URL, delete_queues, queue_family, rabbitmq_available
from batchrunner.testing.redis_scratch import REDIS_URL, scratch_redis_db
from tests.crash.fleet import API_KEY, FAST_SETTINGS, CrashStack, unique_queue_name

MakeStack = Callable[..., CrashStack]


@pytest.fixture(scope="session")
def redis_server(services_required: bool) -> str:
    """The Redis server's URL; skips (or fails under CI) when Redis is down."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        if services_required:
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def make_stack(postgres_url: str, redis_server: str, tmp_path: Path, services_required: bool) -> Iterator[MakeStack]:
    """A factory of one ``CrashStack`` per test: simulator with ``config``, workers' env with ``settings``.

    ``settings`` override the fast defaults (and may set ``OPENAI_API_KEY``); ``prepare_app`` gets the
    simulator's Starlette app before it starts; ``database_url`` replaces the session's Postgres
    database (a migrated one on a private server, say); ``broker="amqp"`` runs the fleet on RabbitMQ,
    its budget in the test's Redis database (``BATCHRUNNER_BUDGET_REDIS_URL``).
    """
    with ExitStack() as cleanup:

        def make(
            config: SimConfig,
            *,
            prepare_app: Callable[[Starlette], None] | None = None,
            database_url: str | None = None,
            broker: str = "redis",
            **settings: str,
        ) -> CrashStack:
            url = database_url or postgres_url
            simulator = BackgroundSimulator(config)
            if prepare_app is not None:  # e.g. add middleware, before the app serves its first request
                prepare_app(simulator.app)
            cleanup.enter_context(simulator)
            redis_url = cleanup.enter_context(scratch_redis_db())
            client = redis.Redis.from_url(redis_url)
            cleanup.callback(client.close)
            engine = sa.create_engine(url, pool_pre_ping=True)
            cleanup.callback(engine.dispose)
            queue_name = unique_queue_name()
            brokers = {"BATCHRUNNER_BROKER_URL": redis_url}
            if broker == "amqp":
                if not rabbitmq_available():
                    if services_required:
                        pytest.fail(f"RabbitMQ is not reachable at {AMQP_URL} (or pika is missing)")
                    pytest.skip(f"RabbitMQ is not reachable at {AMQP_URL} (or pika is missing)")
                brokers = {"BATCHRUNNER_BROKER_URL": AMQP_URL, "BATCHRUNNER_BUDGET_REDIS_URL": redis_url}
                cleanup.callback(delete_queues, queue_family(queue_name))
            env = batchrunner_env(
                BATCHRUNNER_DATABASE_URL=url,
                **brokers,
                BATCHRUNNER_API_BASE_URL=simulator.base_url,
                BATCHRUNNER_QUEUE_NAME=queue_name,
                BATCHRUNNER_METRICS_PORT=str(free_port()),
                BATCHRUNNER_METRICS_DIR=str(tmp_path / "metrics"),
                **{"OPENAI_API_KEY": API_KEY, **FAST_SETTINGS, **settings},
            )
            stack = CrashStack(env, simulator, engine, client, tmp_path, queue_name)
            # Registered last, so workers stop before the simulator, Redis and the engine go away.
            cleanup.callback(stack.stop_workers)
            return stack

        yield make
