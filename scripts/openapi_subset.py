"""Regenerate spec/openai-openapi/ from the official OpenAI OpenAPI document.

    python scripts/openapi_subset.py OPENAPI_YAML

OPENAPI_YAML is ``openapi.yaml`` of the ``openai/openai-openapi`` repository at the commit recorded in
spec/openai-openapi/README.md (its sha256 is checked first). Writes two files beside that README:

- ``openapi.subset.yaml``: the paths batchrunner speaks to (and #/components they reference,
  transitively), plus the schemas no operation references that the tests validate against (the stream
  events, the error bodies). Every node is copied unchanged, the operations' examples (``x-oaiMeta``)
  included: tests parse them.
- ``assistants-runs.prism.yaml``: the ``/threads`` and ``/assistants`` part in OpenAPI 3.1 form
  (``nullable: true`` rewritten, examples dropped), which Prism can validate with.

and prints the sha256 of each, to record in the README. ``--check`` writes nothing and fails if the
files in the repository differ from what the document gives.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from batchrunner.testing.openapi_contract import component_refs, denull

SPEC_DIR = Path(__file__).resolve().parents[1] / "spec" / "openai-openapi"
SUBSET = SPEC_DIR / "openapi.subset.yaml"
PRISM = SPEC_DIR / "assistants-runs.prism.yaml"
SOURCE_SHA256 = "db5d7478feae10b4d331834c60d9765a8aa042e38419f9b1694288c11aa8ebc8"
SUBSET_PREFIXES = ("/responses", "/conversations", "/threads", "/assistants", "/files", "/batches")
SUBSET_SCHEMAS = ("ErrorResponse", "Error", "AssistantStreamEvent", "ResponseStreamEvent")
PRISM_PREFIXES = ("/threads", "/assistants")
PRISM_SCHEMAS = ("AssistantStreamEvent", "ErrorResponse", "Error")
_TOP_LEVEL = ("openapi", "info", "servers", "security")
_HEADER = (
    "# DERIVED FILE, not the official document: made by scripts/openapi_subset.py from openapi.yaml of\n"
    "# openai/openai-openapi (MIT licence, Copyright (c) OpenAI; see LICENSE and README.md beside this file).\n"
)


def reduce(
    spec: dict[str, Any], prefixes: Iterable[str], schemas: Iterable[str], *, keep_examples: bool
) -> dict[str, Any]:
    """The paths under ``prefixes``, ``schemas``, and the transitive closure of what they reference.

    Without ``keep_examples``, the operations' ``x-oaiMeta`` (documentation and examples) is dropped.
    """
    chosen = tuple(prefixes)
    out = {key: copy.deepcopy(spec[key]) for key in _TOP_LEVEL if key in spec}
    out["paths"] = {
        path: copy.deepcopy(item)
        for path, item in spec["paths"].items()
        if any(path == prefix or path.startswith(prefix + "/") for prefix in chosen)
    }
    for item in out["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and not keep_examples:
                operation.pop("x-oaiMeta", None)
    todo = {f"#/components/schemas/{name}" for name in schemas} | set(component_refs(out["paths"]))
    seen: set[str] = set()
    components: dict[str, dict[str, Any]] = {}
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, section, name = ref.split("/", 3)
        node = spec["components"][section][name]
        components.setdefault(section, {})[name] = copy.deepcopy(node)
        todo |= set(component_refs(node))
    if "securitySchemes" in spec.get("components", {}):
        components["securitySchemes"] = copy.deepcopy(spec["components"]["securitySchemes"])
    out["components"] = {section: dict(sorted(nodes.items())) for section, nodes in sorted(components.items())}
    return out


def render(document: dict[str, Any]) -> str:
    return _HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def derived_files(source: Path) -> dict[Path, str]:
    """The two derived files' contents, from the official document at ``source``."""
    raw = source.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SOURCE_SHA256:
        raise SystemExit(f"{source}: sha256 {digest}, not the recorded {SOURCE_SHA256} (see spec/openai-openapi/)")
    spec = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {
        SUBSET: render(reduce(spec, SUBSET_PREFIXES, SUBSET_SCHEMAS, keep_examples=True)),
        PRISM: render(denull(reduce(spec, PRISM_PREFIXES, PRISM_SCHEMAS, keep_examples=False))),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="the official openapi.yaml")
    parser.add_argument("--check", action="store_true", help="compare with the files in the repository")
    args = parser.parse_args(argv)
    stale = []
    for path, text in derived_files(args.source).items():
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
        print(f"{path.name}: {len(text.encode()):,} bytes, sha256 {sha256(text)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run without --check", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
