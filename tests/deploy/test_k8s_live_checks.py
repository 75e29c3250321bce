"""The manifests' assumptions checked against live services: the probe command and the KEDA list."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis

from batchrunner.actors import JobQueue
from batchrunner.broker import build_broker
from batchrunner.testing.processes import batchrunner_env, free_port
from batchrunner.testing.redis_scratch import REDIS_URL, scratch_redis_db
from tests.deploy.k8s_manifests import Manifest, build, find, only_container, worker_deployment, worker_env

# A scratch Redis database of this module only (the dashboard e2e test uses 10 and 11).


@pytest.fixture(scope="module")
def resources() -> list[Manifest]:
    return build()


@pytest.fixture
def redis_server(services_required: bool) -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        if services_required:
            pytest.fail(f"Redis is not reachable: {error}")
        pytest.skip(f"Redis is not reachable: {error}")
    finally:
        client.close()


def _run_probe(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert command[0] == "batchrunner"
    argv = [sys.executable, "-m", "batchrunner", *command[1:]]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_probe_command_passes_only_when_database_and_broker_answer(
    resources: list[Manifest], postgres_url: str, redis_server: None
) -> None:
    """The probes' exact command exits 0 with live Postgres and Redis, non-zero when the broker is gone."""
    container = only_container(worker_deployment(resources))
    command = container["livenessProbe"]["exec"]["command"]
    assert container["readinessProbe"]["exec"]["command"] == command
    healthy = batchrunner_env(BATCHRUNNER_DATABASE_URL=postgres_url, BATCHRUNNER_BROKER_URL=REDIS_URL)
    result = _run_probe(command, healthy)
    assert result.returncode == 0, result.stderr
    broken = {**healthy, "BATCHRUNNER_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    result = _run_probe(command, broken)
    assert result.returncode != 0
    assert "broker" in result.stderr


def test_keda_list_is_the_backlog_of_ready_messages(resources: list[Manifest], redis_server: None) -> None:
    """Through batchrunner's own broker: a job sent now lengthens the KEDA list; a delayed one does not."""
    list_name = find(resources, "ScaledObject")["spec"]["triggers"][0]["metadata"]["listName"]
    queue_name = worker_env(resources)["BATCHRUNNER_QUEUE_NAME"]
    with scratch_redis_db() as url:
        queue = JobQueue(build_broker(url), queue_name)
        client = redis.Redis.from_url(url)
        try:
            queue.wake(1)
            queue.wake(2)
            queue.wake(3, delay_s=60)
            assert client.llen(list_name) == 2
        finally:
            client.close()
