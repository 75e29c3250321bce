"""Offline checks of the Kubernetes base in deploy/k8s: commands, settings, probes, metrics, scaling.

Schemas and the kustomization: test_k8s_schemas.py. Checks against live services (the probe command,
the KEDA list in Redis): test_k8s_live_checks.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from batchrunner.settings import Settings
from tests.deploy.k8s_manifests import (
    MIGRATE,
    WORKER,
    Manifest,
    build,
    find,
    only_container,
    pod_spec,
    procfile_command,
    setting_variables,
    worker_deployment,
    worker_env,
)

# Settings for tests only (crash injection): a production fleet must never set them.
TESTING_ONLY_SETTINGS = frozenset({"BATCHRUNNER_FAULT_POINTS"})
# Settings only operator commands read (`report usage`; `enqueue`, which resolves each job's backend and
# assistant into the stored request), not workers: optional here.
OPERATOR_ONLY_SETTINGS = frozenset({"BATCHRUNNER_MODEL_PRICES", "BATCHRUNNER_BACKEND", "BATCHRUNNER_ASSISTANTS_FILE"})
# What `batchrunner health` may spend starting Python and importing before it checks anything.
PYTHON_STARTUP_S = 3


@pytest.fixture(scope="module")
def resources() -> list[Manifest]:
    return build()


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# -- commands ---------------------------------------------------------------------------------------


def test_worker_command_is_the_procfile_worker_line(resources: list[Manifest]) -> None:
    """The pod runs exactly what the Procfile's `worker:` line runs."""
    container = only_container(worker_deployment(resources))
    assert container["command"] == procfile_command("worker")
    assert "args" not in container


def test_migration_job_runs_the_procfile_release_line(resources: list[Manifest]) -> None:
    """The migration Job runs the Procfile's `release:` step, `batchrunner db upgrade`, and never restarts."""
    job = find(resources, "Job", MIGRATE)
    container = only_container(job)
    assert container["command"] == procfile_command("release") == ["batchrunner", "db", "upgrade"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert container["image"] == only_container(worker_deployment(resources))["image"]


def _health_timeout_s(probe_command: list[str]) -> float:
    """The per-service wait of a `batchrunner health` command line, parsed by the CLI itself."""
    from batchrunner.cli import health

    assert probe_command[:2] == ["batchrunner", "health"], probe_command
    context = health.make_context("health", list(probe_command[2:]))
    return float(context.params["timeout"])


def test_probes_call_batchrunner_health(resources: list[Manifest]) -> None:
    """Liveness and readiness exec `batchrunner health`; the probe outlasts its two service waits."""
    container = only_container(worker_deployment(resources))
    for probe_name in ("livenessProbe", "readinessProbe"):
        probe = container[probe_name]
        command = probe["exec"]["command"]
        assert command[:2] == ["batchrunner", "health"], probe_name
        assert probe["timeoutSeconds"] >= 2 * _health_timeout_s(command) + PYTHON_STARTUP_S, probe_name
    assert container["livenessProbe"]["failureThreshold"] * container["livenessProbe"]["periodSeconds"] >= 60


def _dramatiq_options(command: list[str]) -> Any:
    from dramatiq.cli import make_argument_parser

    assert command[0] == "dramatiq"
    return make_argument_parser().parse_args(command[1:])  # type: ignore[no-untyped-call]


def test_grace_period_outlasts_dramatiq_shutdown_wait(resources: list[Manifest]) -> None:
    """Kubernetes waits longer than Dramatiq's --worker-shutdown-timeout before it sends SIGKILL."""
    worker = worker_deployment(resources)
    options = _dramatiq_options(only_container(worker)["command"])
    shutdown_wait_s = options.worker_shutdown_timeout / 1000
    grace = pod_spec(worker)["terminationGracePeriodSeconds"]
    assert grace > shutdown_wait_s
    assert "lifecycle" not in only_container(worker)


def test_worker_threads_setting_matches_the_command(resources: list[Manifest]) -> None:
    """BATCHRUNNER_WORKER_THREADS (database pool size) equals the command's --threads."""
    options = _dramatiq_options(only_container(worker_deployment(resources))["command"])
    assert int(worker_env(resources)["BATCHRUNNER_WORKER_THREADS"]) == options.threads


# -- settings ---------------------------------------------------------------------------------------


def _configured_names(resources: list[Manifest]) -> Iterator[tuple[str, str]]:
    for key in find(resources, "ConfigMap")["data"]:
        yield "ConfigMap", key
    for key in find(resources, "Secret")["stringData"]:
        yield "Secret", key
    for resource in (worker_deployment(resources), find(resources, "Job", MIGRATE)):
        for variable in only_container(resource).get("env", []):
            yield resource["metadata"]["name"], variable["name"]


def test_every_configured_variable_is_a_real_setting(resources: list[Manifest]) -> None:
    """Each ConfigMap, Secret and env key is a variable Settings reads (no typos, no dead config)."""
    known = setting_variables()
    assert "BATCHRUNNER_DATABASE_URL" in known and "OPENAI_API_KEY" in known
    unknown = [(source, name) for source, name in _configured_names(resources) if name not in known]
    assert not unknown


def test_config_secret_and_env_cover_every_setting_exactly_once(resources: list[Manifest]) -> None:
    """The worker sees every setting it reads, each defined in one place only."""
    worker_sources = [(s, n) for s, n in _configured_names(resources) if s != MIGRATE]
    names = [name for _, name in worker_sources]
    assert len(names) == len(set(names)), "a setting is defined twice"
    missing = set(setting_variables()) - TESTING_ONLY_SETTINGS - OPERATOR_ONLY_SETTINGS - set(names)
    assert not missing, "settings the worker reads but the manifests do not set"


def test_testing_only_settings_exist_and_are_never_configured(resources: list[Manifest]) -> None:
    """The exception lists name real settings (not stale), and crash injection is set nowhere."""
    assert set(setting_variables()) >= TESTING_ONLY_SETTINGS | OPERATOR_ONLY_SETTINGS
    assert not {name for _, name in _configured_names(resources)} & TESTING_ONLY_SETTINGS


def test_secret_template_holds_only_placeholders(resources: list[Manifest]) -> None:
    """The Secret carries the API key and database URL as REPLACE_ME placeholders, nothing else."""
    secret = find(resources, "Secret")
    assert "data" not in secret
    assert set(secret["stringData"]) == {"OPENAI_API_KEY", "BATCHRUNNER_DATABASE_URL"}
    assert all(value == "REPLACE_ME" for value in secret["stringData"].values())
    config = find(resources, "ConfigMap")["data"]
    assert not {"OPENAI_API_KEY", "BATCHRUNNER_DATABASE_URL"} & set(config)


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in setting_variables():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def test_worker_environment_parses_into_settings(resources: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> None:
    """The pod's environment is accepted by Settings and means what the manifests intend."""
    settings = _settings_from(worker_env(resources), monkeypatch)
    assert settings.metrics_host == "0.0.0.0"
    assert settings.broker_url.startswith("redis://")
    assert settings.api_key_value() == "REPLACE_ME"
    assert settings.tool_modules == []


# -- metrics ----------------------------------------------------------------------------------------


def test_metrics_endpoint_is_reachable_by_prometheus(resources: list[Manifest]) -> None:
    """Metrics bind 0.0.0.0 on the container port named `metrics`, in a per-pod emptyDir."""
    worker = worker_deployment(resources)
    container = only_container(worker)
    env = worker_env(resources)
    assert env["BATCHRUNNER_METRICS_HOST"] == "0.0.0.0"
    ports = {port["name"]: port for port in container["ports"]}
    assert ports["metrics"]["containerPort"] == int(env["BATCHRUNNER_METRICS_PORT"]) == 9191
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volume_name = mounts[env["BATCHRUNNER_METRICS_DIR"]]
    volumes = {volume["name"]: volume for volume in pod_spec(worker)["volumes"]}
    assert "emptyDir" in volumes[volume_name]


def test_metrics_service_and_monitor_select_the_worker_pods(resources: list[Manifest]) -> None:
    """Service -> worker pods, ServiceMonitor -> Service, both through the port named `metrics`."""
    pod_labels = worker_deployment(resources)["spec"]["template"]["metadata"]["labels"]
    service = find(resources, "Service")
    monitor = find(resources, "ServiceMonitor")
    assert _matches(service["spec"]["selector"], pod_labels)
    assert _matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    (service_port,) = service["spec"]["ports"]
    assert service_port["name"] == "metrics" and service_port["targetPort"] == "metrics"
    assert service["spec"]["publishNotReadyAddresses"] is True, "unready workers must still be scraped"
    assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == ["metrics"]
    migrate_labels = find(resources, "Job", MIGRATE)["spec"]["template"]["metadata"]["labels"]
    assert not _matches(service["spec"]["selector"], migrate_labels)


def test_pdb_covers_the_workers_and_allows_a_drain(resources: list[Manifest]) -> None:
    """The PodDisruptionBudget selects the worker pods and lets one go at a time."""
    pdb = find(resources, "PodDisruptionBudget")
    pod_labels = worker_deployment(resources)["spec"]["template"]["metadata"]["labels"]
    assert _matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert pdb["spec"]["maxUnavailable"] == 1


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti)?$")
_FACTORS = {None: 1.0, "m": 0.001, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}


def _quantity(value: str | int) -> float:
    match = _QUANTITY.match(str(value))
    assert match, f"unparsable quantity {value!r}"
    return float(match.group(1)) * _FACTORS[match.group(2)]


def test_every_container_has_requests_within_limits(resources: list[Manifest]) -> None:
    """CPU and memory requests and limits are set on every container, requests not above limits."""
    for resource in (worker_deployment(resources), find(resources, "Job", MIGRATE)):
        limits = only_container(resource)["resources"]
        for name in ("cpu", "memory"):
            assert _quantity(limits["requests"][name]) <= _quantity(limits["limits"][name]), resource["kind"]


# -- scaling ----------------------------------------------------------------------------------------


def test_scaled_object_watches_the_dramatiq_queue_of_the_broker(resources: list[Manifest]) -> None:
    """KEDA scales the worker Deployment on `dramatiq:<queue>` in the broker's Redis database."""
    scaled = find(resources, "ScaledObject")
    env = worker_env(resources)
    assert scaled["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": WORKER}
    assert scaled["spec"]["minReplicaCount"] >= 1, "workers hold delayed messages and the sweeper"
    assert scaled["spec"]["maxReplicaCount"] >= scaled["spec"]["minReplicaCount"]
    assert "replicas" not in worker_deployment(resources)["spec"], "the ScaledObject owns the replica count"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    metadata = trigger["metadata"]
    assert metadata["listName"] == f"dramatiq:{env['BATCHRUNNER_QUEUE_NAME']}"
    broker = urlsplit(env["BATCHRUNNER_BROKER_URL"])
    assert metadata["address"] == f"{broker.hostname}:{broker.port or 6379}"
    assert metadata["databaseIndex"] == (broker.path.strip("/") or "0")
    assert int(metadata["listLength"]) > 0
