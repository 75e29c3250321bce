"""The official schemas of the Responses and Conversations APIs, and a transport that checks traffic with them.

`ResponsesContract` keeps the `/responses*` and `/conversations*` operations of
the OpenAPI document (spec/openai-openapi/) with every component they reference (plus ErrorResponse and
ResponseStreamEvent, which no operation names as JSON), rewritten as `batchrunner.testing.openapi_contract`
rewrites the Assistants part (`nullable` in 3.1 form). Two readings differ from a literal one, both
because the document contradicts itself otherwise:

- a `oneOf` with a `discriminator` is read as `anyOf`: JSON Schema ignores discriminators, and some
  members overlap (an input message with content parts is an EasyInputMessage and an InputMessage);
- `Response.usage` may be null: the schema says object, but the spec's own examples (the cancel
  example, the `response.created` and `response.queued` events) show `"usage": null`.

`CheckingTransport` validates every JSON request body against its operation and every response
(JSON, or each event of a `text/event-stream`) and records what does not match.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from batchrunner.testing import openapi_contract
from batchrunner.testing.openapi_contract import ContractViolation, find_openapi_spec

PATH_PREFIXES = ("/responses", "/conversations")
EXTRA_SCHEMAS = ("ErrorResponse", "ResponseStreamEvent")
SPEC_URI = "urn:openai-openapi-responses"
# Imported by name because jsonschema ships no type stubs here (types-jsonschema is not a dependency).
Draft202012Validator: Any = importlib.import_module("jsonschema").Draft202012Validator
best_match: Any = importlib.import_module("jsonschema.exceptions").best_match


def _nullable_usage(spec: dict[str, Any]) -> None:
    for part in spec["components"]["schemas"]["Response"]["allOf"]:
        usage = part.get("properties", {}).get("usage")
        if usage is not None:
            part["properties"]["usage"] = {"anyOf": [usage, {"type": "null"}]}


@functools.lru_cache(maxsize=2)
def load_responses_spec(spec_path: str) -> dict[str, Any]:
    """The Responses and Conversations part of the spec, in 3.1 form (cached; read-only)."""
    with open(spec_path, encoding="utf-8") as handle:
        spec = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    paths = {
        path: copy.deepcopy(item)
        for path, item in spec["paths"].items()
        if "?" not in path and any(path == prefix or path.startswith(prefix + "/") for prefix in PATH_PREFIXES)
    }
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("x-oaiMeta", None)
    todo = {f"#/components/schemas/{name}" for name in EXTRA_SCHEMAS}
    todo |= set(openapi_contract.component_refs(paths))
    components: dict[str, dict[str, Any]] = {}
    while todo:
        ref = todo.pop()
        _, _, section, name = ref.split("/", 3)
        if name in components.setdefault(section, {}):
            continue
        node = spec["components"][section][name]
        components[section][name] = copy.deepcopy(node)
        todo |= set(openapi_contract.component_refs(node))
    reduced: dict[str, Any] = openapi_contract.discriminated_any_of(
        openapi_contract.denull({"paths": paths, "components": components})
    )
    _nullable_usage(reduced)
    return reduced


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


@dataclass(frozen=True)
class Operation:
    """One operation, with the JSON pointers of its request schema and of its JSON responses' schemas."""

    method: str
    template: str
    pattern: re.Pattern[str]
    request_schema: str | None
    json_responses: dict[str, str]


class ResponsesContract:
    """Validators for the component schemas, the operations and the stream events of the two APIs."""

    def __init__(self, spec_path: str | Path | None = None) -> None:
        path = Path(spec_path) if spec_path is not None else find_openapi_spec(Path(__file__))
        self.spec = load_responses_spec(str(path.resolve()))
        self._registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, Resource.from_contents(self.spec, default_specification=DRAFT202012)
        )
        self._validators: dict[str, Any] = {}
        self.operations = list(self._operations())
        self.event_schemas = self._event_schemas()

    def _operations(self) -> Iterator[Operation]:
        for template, item in self.spec["paths"].items():
            regex = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
            for method, operation in item.items():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                json_part = ("content", "application/json", "schema")
                body = "requestBody" in operation and "application/json" in operation["requestBody"]["content"]
                request = _pointer("paths", template, method, "requestBody", *json_part) if body else None
                responses = {
                    str(code): _pointer("paths", template, method, "responses", str(code), *json_part)
                    for code, declared in operation["responses"].items()
                    if "application/json" in declared.get("content", {})
                }
                yield Operation(method.upper(), template, re.compile(f"^{regex}$"), request, responses)

    def _event_schemas(self) -> dict[str, dict[str, str]]:
        schemas = self.spec["components"]["schemas"]
        events: dict[str, dict[str, str]] = {}
        for member in schemas["ResponseStreamEvent"]["anyOf"]:
            for kind in schemas[member["$ref"].rsplit("/", 1)[1]]["properties"]["type"]["enum"]:
                events[kind] = member
        return events

    def operation(self, method: str, path: str) -> Operation:
        for operation in self.operations:
            if operation.method == method and operation.pattern.match(path):
                return operation
        raise ContractViolation(f"{method} {path}: no such operation in the spec")

    def _check(self, pointer: str, instance: Any, what: str) -> None:
        validator = self._validators.get(pointer)
        if validator is None:
            validator = Draft202012Validator({"$ref": f"{SPEC_URI}#/{pointer}"}, registry=self._registry)
            self._validators[pointer] = validator
        errors = list(validator.iter_errors(instance))
        if errors:
            best = best_match(errors)
            where = "$" + "".join(f"[{p!r}]" for p in best.absolute_path)
            raise ContractViolation(f"{what} violates the spec at {where}: {best.message[:300]}")

    def validate(self, schema_name: str, instance: Any) -> None:
        """Check `instance` against #/components/schemas/<schema_name>."""
        self._check(_pointer("components", "schemas", schema_name), instance, schema_name)

    def validate_event(self, event: dict[str, Any]) -> None:
        """Check one decoded stream event against the ResponseStreamEvent member of its `type`."""
        member = self.event_schemas.get(event.get("type", ""))
        if member is None:
            raise ContractViolation(f"stream event {event.get('type')!r}: not a ResponseStreamEvent")
        self._check(member["$ref"].removeprefix("#/"), event, event["type"])

    def validate_request(self, method: str, path: str, body: Any) -> None:
        operation = self.operation(method, path)
        if operation.request_schema is not None and body is not None:
            self._check(operation.request_schema, body, f"{method} {path}")

    def validate_response(self, method: str, path: str, status: int, body: Any) -> None:
        operation = self.operation(method, path)
        what = f"{method} {operation.template} {status}"
        if status >= 400:
            self.validate("ErrorResponse", body)
            return
        pointer = operation.json_responses.get(str(status))
        if pointer is not None:
            self._check(pointer, body, what)


@functools.lru_cache(maxsize=1)
def responses_contract() -> ResponsesContract:
    """One contract per process: loading and reducing the 3 MB document takes a second or two."""
    return ResponsesContract()


def parse_sse(text: str) -> list[dict[str, Any]]:
    """The decoded events of a complete `text/event-stream` body; each `event:` line must name its `type`."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        data = json.loads(lines["data"])
        if lines.get("event") != data.get("type"):
            raise ContractViolation(f"event line {lines.get('event')!r} names another type than {data.get('type')!r}")
        events.append(data)
    return events


@dataclass
class CheckingTransport(httpx.BaseTransport):
    """Checks the traffic through `inner` against the contract; `violations` lists what failed."""

    inner: httpx.BaseTransport
    contract: ResponsesContract
    check_requests: bool = True
    base_path: str = "/v1"
    violations: list[str] = field(default_factory=list)
    checked: int = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(self.base_path)
        raw = request.read()
        if self.check_requests and path.startswith(PATH_PREFIXES):
            try:
                self.contract.validate_request(request.method, path, json.loads(raw) if raw else None)
            except ContractViolation as violation:
                self.violations.append(f"request: {violation}")
        response = self.inner.handle_request(request)
        content = response.read()
        if path.startswith(PATH_PREFIXES):
            self.checked += 1
            try:
                if response.headers.get("content-type", "").startswith("text/event-stream"):
                    for event in parse_sse(content.decode()):
                        self.contract.validate_event(event)
                else:
                    self.contract.validate_response(request.method, path, response.status_code, json.loads(content))
            except (ContractViolation, ValueError) as violation:
                self.violations.append(f"response: {violation}")
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=content,
            request=request,
            extensions=response.extensions,
        )

    def close(self) -> None:
        self.inner.close()
