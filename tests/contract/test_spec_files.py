"""The OpenAPI files the repository keeps are the ones recorded, closed, and what the script derives."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO / "spec" / "openai-openapi"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("openapi_subset", REPO / "scripts" / "openapi_subset.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _recorded_sha256() -> dict[str, str]:
    """File name -> sha256 from the README's table of files."""
    text = (SPEC_DIR / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| `([\w.-]+\.yaml)` \|.*\| `([0-9a-f]{64})` \|$", text, flags=re.MULTILINE))


def test_the_files_are_the_ones_the_readme_records() -> None:
    """Each derived file has the sha256 its README records: edited by hand, it would not."""
    recorded = _recorded_sha256()
    assert set(recorded) == {"openapi.subset.yaml", "assistants-runs.prism.yaml"}
    for name, digest in recorded.items():
        assert hashlib.sha256((SPEC_DIR / name).read_bytes()).hexdigest() == digest, name


def _load(name: str) -> Any:
    with open(SPEC_DIR / name, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@pytest.mark.parametrize("name", ["openapi.subset.yaml", "assistants-runs.prism.yaml"])
def test_every_reference_resolves_inside_the_file(name: str) -> None:
    """Nothing the kept paths need was left behind."""
    document = _load(name)
    missing = {
        ref
        for ref in _script().component_refs(document)
        if ref.split("/", 3)[3] not in document["components"].get(ref.split("/", 3)[2], {})
    }
    assert missing == set()


def test_reducing_the_subset_again_changes_nothing() -> None:
    """The script's reduction, run on its own output, is a fixed point: the subset is exactly the closure."""
    script = _script()
    subset = _load("openapi.subset.yaml")
    again = script.reduce(subset, script.SUBSET_PREFIXES, script.SUBSET_SCHEMAS, keep_examples=True)
    assert script.render(again) == (SPEC_DIR / "openapi.subset.yaml").read_text(encoding="utf-8")


def test_the_prism_file_is_the_subset_denulled() -> None:
    """The Prism file follows from the subset by the script's own steps, so the two never drift apart."""
    script = _script()
    prism = script.denull(
        script.reduce(_load("openapi.subset.yaml"), script.PRISM_PREFIXES, script.PRISM_SCHEMAS, keep_examples=False)
    )
    assert script.render(prism) == (SPEC_DIR / "assistants-runs.prism.yaml").read_text(encoding="utf-8")
    assert not _has_nullable_flag(prism) and _has_nullable_flag(_load("openapi.subset.yaml"))


def _has_nullable_flag(node: Any) -> bool:
    """Whether an OpenAPI 3.0 ``nullable: true|false`` is anywhere under ``node``."""
    if isinstance(node, dict):
        return isinstance(node.get("nullable"), bool) or any(_has_nullable_flag(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_nullable_flag(value) for value in node)
    return False
