"""The Kubernetes base in deploy/k8s builds, and every manifest passes the Kubernetes or CRD schemas."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from types import ModuleType

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from batchrunner.testing.required import missing
from tests.deploy.crd_schemas import CUSTOM_RESOURCE_SCHEMAS
from tests.deploy.k8s_manifests import K8S_DIR, Manifest, build, find, load_kustomization

# The oldest Kubernetes the base promises to work on, and the newest schemas installed.
KUBERNETES_VERSIONS = ("1.29", "latest")


@pytest.fixture(scope="module")
def resources() -> list[Manifest]:
    return build()


@pytest.fixture(scope="module")
def kubernetes_validate(services_required: bool) -> ModuleType:
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        message = "kubernetes-validate is not installed (pip install kubernetes-validate; test extra)"
        if services_required:
            pytest.fail(message)
        pytest.skip(message)


# -- the kustomization ------------------------------------------------------------------------------


def test_kustomization_lists_every_file_in_the_folder() -> None:
    """Every manifest in deploy/k8s is a resource of the base, and every resource exists."""
    listed = load_kustomization()["resources"]
    assert len(listed) == len(set(listed))
    on_disk = {path.name for path in K8S_DIR.iterdir() if path.is_file()} - {"kustomization.yaml"}
    assert set(listed) == on_disk


def test_base_contains_the_expected_resources(resources: list[Manifest]) -> None:
    """The base holds the worker, its migration Job, config, secret template, metrics, PDB and scaler."""
    kinds = sorted(resource["kind"] for resource in resources)
    assert kinds == sorted(
        [
            "Namespace",
            "ConfigMap",
            "Secret",
            "Job",
            "Deployment",
            "Service",
            "ServiceMonitor",
            "PodDisruptionBudget",
            "ScaledObject",
        ]
    )
    names = [(resource["kind"], resource["metadata"]["name"]) for resource in resources]
    assert len(names) == len(set(names))


def test_kubectl_kustomize_builds_the_same_resources(resources: list[Manifest]) -> None:
    """When kubectl is installed, its kustomize accepts the base and yields the same resources."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        missing("kubectl is not installed; the base is built by k8s_manifests.build instead")
    built = subprocess.run(
        [kubectl, "kustomize", str(K8S_DIR)], capture_output=True, text=True, timeout=60, check=False
    )
    assert built.returncode == 0, built.stderr
    documents = [document for document in yaml.safe_load_all(built.stdout) if document]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in documents) == sorted(
        (r["kind"], r["metadata"]["name"]) for r in resources
    )
    namespaced = [d for d in documents if d["kind"] != "Namespace"]
    assert {d["metadata"].get("namespace") for d in namespaced} == {load_kustomization()["namespace"]}


# -- schemas ----------------------------------------------------------------------------------------


def _is_custom(resource: Manifest) -> bool:
    return (resource["apiVersion"], resource["kind"]) in CUSTOM_RESOURCE_SCHEMAS


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_resources_validate_against_kubernetes_schemas(
    resources: list[Manifest], kubernetes_validate: ModuleType, version: str
) -> None:
    """Every built-in kind passes kubernetes-validate in strict mode (unknown fields are errors)."""
    target = kubernetes_validate.latest_version() if version == "latest" else version
    core = [resource for resource in resources if not _is_custom(resource)]
    assert core
    for resource in core:
        try:
            kubernetes_validate.validate(resource, target, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{resource['kind']}/{resource['metadata']['name']} (k8s {target}): {error.message}")


def test_custom_resources_validate_against_their_crd_subsets(resources: list[Manifest]) -> None:
    """ServiceMonitor and ScaledObject are not core kinds; they pass the structural CRD schemas instead."""
    custom = [resource for resource in resources if _is_custom(resource)]
    assert {resource["kind"] for resource in custom} == {"ServiceMonitor", "ScaledObject"}
    for resource in custom:
        schema = CUSTOM_RESOURCE_SCHEMAS[(resource["apiVersion"], resource["kind"])]
        jsonschema.validate(resource, schema)


def test_crd_schemas_reject_misspelt_fields(resources: list[Manifest]) -> None:
    """The CRD subsets are closed: a misspelt field or a missing list name fails validation."""
    scaled = find(resources, "ScaledObject")
    schema = CUSTOM_RESOURCE_SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")]
    misspelt = {**scaled, "spec": {**scaled["spec"], "maxReplicas": 3}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(misspelt, schema)
    trigger = {**scaled["spec"]["triggers"][0]}
    trigger["metadata"] = {k: v for k, v in trigger["metadata"].items() if k != "listName"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**scaled, "spec": {**scaled["spec"], "triggers": [trigger]}}, schema)


def test_scaled_object_hpa_behavior_is_valid_autoscaling_v2(
    resources: list[Manifest], kubernetes_validate: ModuleType
) -> None:
    """KEDA passes `advanced.horizontalPodAutoscalerConfig.behavior` to an HPA: it must be a valid one."""
    spec = find(resources, "ScaledObject")["spec"]
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "keda-hpa-check"},
        "spec": {
            "scaleTargetRef": spec["scaleTargetRef"],
            "minReplicas": spec["minReplicaCount"],
            "maxReplicas": spec["maxReplicaCount"],
            "behavior": spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"],
        },
    }
    kubernetes_validate.validate(hpa, kubernetes_validate.latest_version(), strict=True)
