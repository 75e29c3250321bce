"""The Kubernetes base in deploy/k8s, read the way `kustomize build` reads it (without its transformers)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from batchrunner.settings import Settings

REPO = Path(__file__).resolve().parents[2]
K8S_DIR = REPO / "deploy" / "k8s"
PROCFILE = REPO / "Procfile"
WORKER = "batchrunner-worker"
MIGRATE = "batchrunner-migrate"

Manifest = dict[str, Any]


def load_kustomization(directory: Path = K8S_DIR) -> Manifest:
    data: Manifest = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    return data


def load_documents(path: Path) -> list[Manifest]:
    """Every non-empty YAML document of ``path``."""
    with path.open(encoding="utf-8") as file:
        return [document for document in yaml.safe_load_all(file) if document]


def build(directory: Path = K8S_DIR) -> list[Manifest]:
    """The resources the kustomization lists, in its order."""
    resources: list[Manifest] = []
    for name in load_kustomization(directory)["resources"]:
        resources.extend(load_documents(directory / name))
    return resources


def find(resources: Iterable[Manifest], kind: str, name: str | None = None) -> Manifest:
    """The one resource of ``kind`` (and ``name``); fails if there is none or more than one."""
    matches = [r for r in resources if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def procfile_command(process: str, path: Path = PROCFILE) -> list[str]:
    """The argv of one Procfile process type."""
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, command = line.partition(":")
        if sep and key.strip() == process:
            return shlex.split(command)
    raise KeyError(f"no {process!r} process in {path}")


def setting_variables() -> dict[str, str]:
    """Environment variable name -> Settings field, as pydantic-settings reads them."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    names: dict[str, str] = {}
    for field_name, info in Settings.model_fields.items():
        alias = info.validation_alias
        names[alias if isinstance(alias, str) else f"{prefix}{field_name}".upper()] = field_name
    return names


def pod_spec(resource: Manifest) -> Manifest:
    spec: Manifest = resource["spec"]["template"]["spec"]
    return spec


def only_container(resource: Manifest) -> Manifest:
    containers = pod_spec(resource)["containers"]
    assert len(containers) == 1, f"{resource['metadata']['name']}: expected one container"
    container: Manifest = containers[0]
    return container


def container_env(container: Manifest, resources: list[Manifest]) -> dict[str, str]:
    """The environment the container sees: its envFrom ConfigMaps and Secrets, then its env (which wins)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(find(resources, "ConfigMap", source["configMapRef"]["name"])["data"])
        elif "secretRef" in source:
            env.update(find(resources, "Secret", source["secretRef"]["name"])["stringData"])
    for variable in container.get("env", []):
        env[variable["name"]] = variable["value"]
    return env


def worker_deployment(resources: list[Manifest]) -> Manifest:
    return find(resources, "Deployment", WORKER)


def worker_env(resources: list[Manifest]) -> dict[str, str]:
    """The environment of the worker container."""
    return container_env(only_container(worker_deployment(resources)), resources)
