"""Check requests and responses against the official OpenAI OpenAPI document.

The document is the subset of the official ``openapi.yaml`` kept in the repository
(``spec/openai-openapi/openapi.subset.yaml``, made by ``scripts/openapi_subset.py``), or the file
``BATCHRUNNER_OPENAPI_SPEC`` names (the whole official document, say). It mixes OpenAPI 3.0
``nullable: true`` into a 3.1 document, which a JSON-Schema validator would read as "null is not
allowed". The loader therefore keeps only the ``/threads`` and ``/assistants`` paths (with every
component they reference) and rewrites ``nullable`` into 3.1 form, as the script does for Prism. The
reduced spec is cached per process.

``OpenApiContract`` validates bodies, query strings and declared response headers, and the events of
streamed runs (``validate_stream_event``, against ``AssistantStreamEvent``, which no operation references);
``ContractCheckingTransport`` wraps any httpx transport and records every violation in both directions.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError, best_match  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "SPEC_ENV",
    "ContractCheckingTransport",
    "ContractViolation",
    "OpenApiContract",
    "RecordedViolation",
    "component_refs",
    "denull",
    "find_openapi_spec",
    "load_contract",
    "load_reduced_spec",
]

SPEC_RELATIVE_PATH = Path("spec") / "openai-openapi" / "openapi.subset.yaml"
SPEC_ENV = "BATCHRUNNER_OPENAPI_SPEC"
PATH_PREFIXES = ("/threads", "/assistants")
STREAM_EVENT_SCHEMA = "AssistantStreamEvent"
EXTRA_SCHEMAS = ("ErrorResponse", "Error", STREAM_EVENT_SCHEMA)
_SPEC_URI = "urn:openai-openapi"
_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_MAX_REPORTED_ERRORS = 5


class ContractViolation(AssertionError):
    """A request or response does not match the OpenAPI document."""


def find_openapi_spec(start: Path | None = None) -> Path:
    """``$BATCHRUNNER_OPENAPI_SPEC``, else the nearest ``spec/openai-openapi/openapi.subset.yaml`` in
    ``start`` or one of its parents.

    ``start`` defaults to this file, so from a checkout it finds the subset the repository keeps.
    """
    named = os.environ.get(SPEC_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise FileNotFoundError(f"{SPEC_ENV}={named}: no such file")
        return path.resolve()
    origin = (start or Path(__file__)).resolve()
    for directory in (origin, *origin.parents):
        candidate = directory / SPEC_RELATIVE_PATH
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {SPEC_RELATIVE_PATH} in {origin} or any of its parents")


# -- loading ---------------------------------------------------------------------------------------


def component_refs(node: Any) -> Iterator[str]:
    """Every ``#/components/...`` reference under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                yield value
            else:
                yield from component_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from component_refs(value)


def _reduce(spec: dict[str, Any]) -> dict[str, Any]:
    """The selected paths and the transitive closure of the components they reference."""
    paths = {
        path: copy.deepcopy(item)
        for path, item in spec["paths"].items()
        if any(path == prefix or path.startswith(prefix + "/") for prefix in PATH_PREFIXES)
    }
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("x-oaiMeta", None)
    todo = {f"#/components/schemas/{name}" for name in EXTRA_SCHEMAS} | set(component_refs(paths))
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
    return {"openapi": spec.get("openapi"), "paths": paths, "components": components}


def denull(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` rewritten as JSON Schema (``type: [T, "null"]`` or ``anyOf``)."""
    if isinstance(node, list):
        return [denull(item) for item in node]
    if not isinstance(node, dict):
        return node
    members = node.get("allOf")
    if isinstance(members, list) and any(isinstance(m, dict) and m == {"nullable": True} for m in members):
        rest = [m for m in members if not (isinstance(m, dict) and set(m) == {"nullable"})]
        node = {k: v for k, v in node.items() if k != "allOf"}
        node["anyOf"] = [rest[0] if len(rest) == 1 else {"allOf": rest}, {"type": "null"}]
    node = {key: denull(value) for key, value in node.items()}
    nullable = node.pop("nullable", None)
    if nullable is not True:
        return node
    kind = node.get("type")
    if isinstance(kind, str):
        node["type"] = [kind, "null"]
        if "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        return node
    if isinstance(kind, list):
        node["type"] = kind if "null" in kind else [*kind, "null"]
        return node
    outer_keys = {"description", "default", "example", "title"}
    outer = {k: node.pop(k) for k in list(node) if k in outer_keys or k.startswith("x-")}
    return {**outer, "anyOf": [node, {"type": "null"}]}


@functools.lru_cache(maxsize=4)
def load_reduced_spec(spec_path: str) -> dict[str, Any]:
    """The Assistants part of the spec at ``spec_path``, in 3.1 form (cached; treat it as read-only)."""
    with open(spec_path, encoding="utf-8") as handle:
        spec = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    reduced: dict[str, Any] = denull(_reduce(spec))
    return reduced


@functools.lru_cache(maxsize=4)
def load_contract(spec_path: str | None = None) -> OpenApiContract:
    """A shared ``OpenApiContract`` for ``spec_path`` (the nearest official spec when None)."""
    return OpenApiContract(spec_path)


# -- operations ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path_template: str
    operation_id: str
    pattern: re.Pattern[str]
    literal_segments: int
    query_parameters: dict[str, dict[str, Any]]
    request_body: dict[str, Any] | None
    responses: dict[str, dict[str, Any]]

    def describe(self) -> str:
        return f"{self.operation_id} ({self.method} {self.path_template})"


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = [
        f"(?P<{seg[1:-1]}>[^/]+)" if seg.startswith("{") else re.escape(seg) for seg in template.strip("/").split("/")
    ]
    return re.compile("/" + "/".join(parts))


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


@dataclass(frozen=True)
class RecordedViolation:
    """One violation seen by ``ContractCheckingTransport``: ``direction`` is "request" or "response"."""

    direction: str
    method: str
    path: str
    message: str


class OpenApiContract:
    """The Assistants operations of the official spec, ready to validate traffic."""

    def __init__(self, spec_path: str | Path | None = None) -> None:
        path = Path(spec_path) if spec_path is not None else find_openapi_spec()
        self.spec = load_reduced_spec(str(path.resolve()))
        self._registry: Registry[Any] = Registry().with_resource(
            _SPEC_URI, Resource.from_contents(self.spec, default_specification=DRAFT202012)
        )
        self._validators: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.operations = self._collect_operations()
        self.stream_events = self._collect_stream_events()

    def _collect_operations(self) -> list[Operation]:
        operations = []
        for template, item in self.spec["paths"].items():
            shared = item.get("parameters", [])
            for method in _HTTP_METHODS:
                operation = item.get(method)
                if not isinstance(operation, dict):
                    continue
                parameters = [self._resolve(p) for p in (*shared, *operation.get("parameters", []))]
                responses = {str(code): self._resolve(resp) for code, resp in operation["responses"].items()}
                operations.append(
                    Operation(
                        method=method.upper(),
                        path_template=template,
                        operation_id=operation.get("operationId", f"{method} {template}"),
                        pattern=_template_pattern(template),
                        literal_segments=sum(1 for seg in template.split("/") if seg and not seg.startswith("{")),
                        query_parameters={p["name"]: p for p in parameters if p.get("in") == "query"},
                        request_body=self._resolve(operation["requestBody"]) if "requestBody" in operation else None,
                        responses=responses,
                    )
                )
        # Literal segments first, so POST /threads/runs is createThreadAndRun, not modifyThread("runs").
        operations.sort(key=lambda op: -op.literal_segments)
        return operations

    def _collect_stream_events(self) -> dict[str, str]:
        """Each AssistantStreamEvent name (``thread.run.completed``, ``done``...) and the pointer of its schema."""
        events: dict[str, str] = {}
        pending: list[tuple[str, ...]] = [("components", "schemas", STREAM_EVENT_SCHEMA)]
        while pending:
            location = pending.pop()
            node: Any = self.spec
            for part in location:
                node = node[int(part)] if isinstance(node, list) else node[part]
            if "$ref" in node:
                pending.append(tuple(node["$ref"][2:].split("/")))
            elif "oneOf" in node:
                pending.extend((*location, "oneOf", str(index)) for index in range(len(node["oneOf"])))
            else:
                for name in node["properties"]["event"]["enum"]:
                    events[name] = _pointer(*location)
        return events

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            _, _, section, name = node["$ref"].split("/", 3)
            node = self.spec["components"][section][name]
        return node

    # -- matching ----------------------------------------------------------------------------------

    def find_operation(self, method: str, path: str) -> Operation | None:
        """The operation serving ``method path`` (``path`` without the base URL, query ignored)."""
        bare = urlsplit(path).path.rstrip("/") or "/"
        for operation in self.operations:
            if operation.method == method.upper() and operation.pattern.fullmatch(bare):
                return operation
        return None

    def knows_path(self, path: str) -> bool:
        """True when some operation's template matches ``path`` (whatever the method)."""
        return any(op.pattern.fullmatch(path.rstrip("/") or "/") for op in self.operations)

    def _operation(self, method: str, path: str) -> Operation:
        operation = self.find_operation(method, path)
        if operation is None:
            raise ContractViolation(f"{method.upper()} {urlsplit(path).path}: no such operation in the spec")
        return operation

    # -- validation --------------------------------------------------------------------------------

    def _validator(self, pointer: str) -> Any:
        with self._lock:
            validator = self._validators.get(pointer)
            if validator is None:
                schema = {"$ref": f"{_SPEC_URI}#/{pointer}"}
                validator = Draft202012Validator(schema, registry=self._registry)
                self._validators[pointer] = validator
            return validator

    def _check(self, pointer: str, instance: Any, what: str) -> None:
        errors: list[ValidationError] = list(self._validator(pointer).iter_errors(instance))
        if not errors:
            return
        best = best_match(errors)
        details = [f"at {_json_path(best)}: {best.message}"]
        others = [f"at {_json_path(e)}: {e.message}" for e in errors if e is not best]
        details += others[: _MAX_REPORTED_ERRORS - 1]
        raise ContractViolation(f"{what} violates the spec " + "; ".join(_truncate(d) for d in details))

    def validate_request(self, method: str, url_path: str, body: Any | None) -> None:
        """Check a request: the operation exists, its query parameters and its JSON body are valid.

        ``url_path`` is the path after the base URL (``/threads/thread_1/runs?limit=5``).
        """
        operation = self._operation(method, url_path)
        self._check_query(operation, urlsplit(url_path).query)
        request_body = operation.request_body
        what = f"{operation.describe()} request body"
        if request_body is None:
            if body is not None:
                raise ContractViolation(f"{what}: the operation takes no body, got {_truncate(repr(body))}")
            return
        if body is None:
            if request_body.get("required"):
                raise ContractViolation(f"{what}: required but missing")
            return
        if "application/json" not in request_body.get("content", {}):
            raise ContractViolation(f"{what}: the operation does not accept JSON")
        pointer = _pointer(*self._operation_pointer(operation), "requestBody", "content", "application/json", "schema")
        self._check(pointer, body, what)

    def validate_response(
        self,
        method: str,
        url_path: str,
        status_code: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Check a response: 2xx bodies against the declared schema, error bodies against ErrorResponse."""
        operation = self._operation(method, url_path)
        what = f"{operation.describe()} response {status_code}"
        declared = operation.responses.get(str(status_code))
        if 200 <= status_code < 300:
            if declared is None:
                declared_codes = sorted(operation.responses)
                raise ContractViolation(f"{what}: status not declared (declared: {declared_codes})")
            if "application/json" in declared.get("content", {}):
                pointer = _pointer(
                    *self._response_location(operation, status_code), "content", "application/json", "schema"
                )
                self._check(pointer, body, what + " body")
        elif status_code >= 400:
            self._check(_pointer("components", "schemas", "ErrorResponse"), body, what + " body")
        if declared is not None and headers is not None:
            self._check_headers(declared, headers, what)

    def validate_stream_event(self, event: str, data: Any) -> None:
        """Check one event of a streamed run against the ``AssistantStreamEvent`` member named ``event``.

        ``data`` is the decoded JSON of the event's ``data:`` line (the text ``[DONE]`` for ``done``).
        """
        pointer = self.stream_events.get(event)
        if pointer is None:
            raise ContractViolation(f"stream event {event!r}: not an {STREAM_EVENT_SCHEMA}")
        self._check(pointer, {"event": event, "data": data}, f"stream event {event}")

    def _operation_pointer(self, operation: Operation) -> tuple[str, ...]:
        return ("paths", operation.path_template, operation.method.lower())

    def _response_location(self, operation: Operation, status_code: int) -> tuple[str, ...]:
        """Where the response object lives: inline in the operation, or in components/responses."""
        location = (*self._operation_pointer(operation), "responses", str(status_code))
        raw = self.spec["paths"][operation.path_template][operation.method.lower()]
        raw = raw["responses"][str(status_code)]
        while "$ref" in raw:
            location = tuple(raw["$ref"][2:].split("/"))
            raw = self.spec[location[0]][location[1]][location[2]]
        return location

    def _check_query(self, operation: Operation, query: str) -> None:
        values: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            values.setdefault(name, []).append(value)
        for name, given in values.items():
            parameter = operation.query_parameters.get(name)
            what = f"{operation.describe()} query parameter {name!r}"
            if parameter is None:
                known = sorted(operation.query_parameters)
                raise ContractViolation(f"{what}: not declared (declared: {known})")
            schema = parameter.get("schema", {})
            instance: Any = (
                [_coerce(schema.get("items", {}), v) for v in given]
                if schema.get("type") == "array"
                else _coerce(schema, given[-1])
            )
            errors = list(Draft202012Validator(schema).iter_errors(instance))
            if errors:
                raise ContractViolation(f"{what}: {_truncate(best_match(errors).message)}")

    def _check_headers(self, declared: dict[str, Any], headers: Mapping[str, str], what: str) -> None:
        lookup = {name.lower(): value for name, value in headers.items()}
        for name, spec in declared.get("headers", {}).items():
            value = lookup.get(name.lower())
            if value is None:
                continue  # no declared response header is required
            schema = spec.get("schema", {})
            errors = list(Draft202012Validator(schema).iter_errors(_coerce(schema, value)))
            if errors:
                raise ContractViolation(f"{what} header {name}: {_truncate(best_match(errors).message)}")


def _coerce(schema: dict[str, Any], text: str) -> Any:
    """A query or header string as the JSON type its schema declares (left as text when it does not parse)."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


def _json_path(error: ValidationError) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)


def _truncate(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- transport -------------------------------------------------------------------------------------


def _json_or_marker(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return _NotJson(content[:200])


@dataclass(frozen=True)
class _NotJson:
    head: bytes

    def __repr__(self) -> str:
        return f"<not JSON: {self.head!r}>"


@dataclass
class ContractCheckingTransport(httpx.BaseTransport):
    """Validates every request and response passing through ``inner``; violations are recorded.

    ``base_path`` is the URL path prefix in front of the spec's paths (such as ``/v1``); when None, the
    longest path suffix that names a spec operation is used. With ``raise_on_violation`` a request
    violation is raised instead of being sent.
    """

    inner: httpx.BaseTransport
    contract: OpenApiContract
    base_path: str | None = None
    raise_on_violation: bool = False
    violations: list[RecordedViolation] = field(default_factory=list)
    exchanges: int = 0  # requests seen, so a test can tell "no violations" from "no traffic"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _spec_path(self, request: httpx.Request) -> str:
        # Percent-encoded ids stay encoded, so an id holding "%2F" is still one path segment.
        path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        query = request.url.query.decode("ascii")
        if self.base_path is not None:
            prefix = self.base_path.rstrip("/")
            relative = path[len(prefix) :] if path.startswith(prefix + "/") else path
        else:
            segments = path.split("/")
            candidates = ("/" + "/".join(segments[i:]).lstrip("/") for i in range(len(segments)))
            relative = next((c for c in candidates if self.contract.knows_path(c)), path)
        return f"{relative}?{query}" if query else relative

    def _record(self, direction: str, request: httpx.Request, spec_path: str, message: str) -> None:
        with self._lock:
            self.violations.append(RecordedViolation(direction, request.method, spec_path, message))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        spec_path = self._spec_path(request)
        with self._lock:
            self.exchanges += 1
        body = _json_or_marker(request.read())
        try:
            if isinstance(body, _NotJson):
                raise ContractViolation(f"{request.method} {spec_path}: request body is not JSON: {body!r}")
            if body is not None and "json" not in request.headers.get("content-type", ""):
                raise ContractViolation(f"{request.method} {spec_path}: JSON body, non-JSON content-type")
            self.contract.validate_request(request.method, spec_path, body)
        except ContractViolation as violation:
            self._record("request", request, spec_path, str(violation))
            if self.raise_on_violation:
                raise
        response = self.inner.handle_request(request)
        # The raw (still encoded) bytes, read from the stream itself: a response built in memory by a mock
        # counts as consumed already, so iter_raw() would refuse it.
        stream = response.stream
        assert isinstance(stream, httpx.SyncByteStream)
        try:
            raw = b"".join(stream)
        finally:
            response.close()
        checked = httpx.Response(response.status_code, headers=response.headers, content=raw, request=request)
        try:
            try:
                data = _json_or_marker(checked.read())
            except httpx.DecodingError:
                raise ContractViolation(f"{request.method} {spec_path}: undecodable response body") from None
            if isinstance(data, _NotJson) or (data is None and response.status_code != 204):
                raise ContractViolation(
                    f"{request.method} {spec_path} response {response.status_code}: body is not JSON: {data!r}"
                )
            self.contract.validate_response(
                request.method, spec_path, response.status_code, data, headers=response.headers
            )
        except ContractViolation as violation:
            self._record("response", request, spec_path, str(violation))
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(raw),
            request=request,
            extensions=response.extensions,
        )

    def close(self) -> None:
        self.inner.close()


# -- single component schemas ------------------------------------------------------------------------


def discriminated_any_of(node: Any) -> Any:
    """``oneOf`` with an OpenAPI ``discriminator`` read as ``anyOf``.

    JSON Schema ignores ``discriminator``, and some members overlap (an ``input`` message
    ``{role, content: [...]}`` is both an ``EasyInputMessage`` and an ``InputMessage``), so "exactly one"
    would reject bodies the API takes; "at least one" keeps every other check.
    """
    if isinstance(node, list):
        return [discriminated_any_of(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: discriminated_any_of(value) for key, value in node.items()}
    if "discriminator" in node and "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
    return node


@functools.lru_cache(maxsize=8)
def _component_validator(spec_path: str, name: str) -> Any:
    """A validator for ``components/schemas/<name>`` and the components it references (3.1 form)."""
    with open(spec_path, encoding="utf-8") as handle:
        spec = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    todo = {f"#/components/schemas/{name}"}
    components: dict[str, dict[str, Any]] = {}
    while todo:
        ref = todo.pop()
        _, _, section, key = ref.split("/", 3)
        if key in components.setdefault(section, {}):
            continue
        node = spec["components"][section][key]
        components[section][key] = node
        todo |= set(component_refs(node))
    reduced = discriminated_any_of(denull({"components": components}))
    registry: Registry[Any] = Registry().with_resource(
        _SPEC_URI, Resource.from_contents(reduced, default_specification=DRAFT202012)
    )
    return Draft202012Validator({"$ref": f"{_SPEC_URI}#/components/schemas/{name}"}, registry=registry)


def validate_component(name: str, instance: Any, spec_path: str | Path | None = None) -> None:
    """Check ``instance`` against the component schema ``name`` (such as ``CreateResponse``) of the spec.

    Any path of the spec works, not only the Assistants ones; a ``oneOf`` with a discriminator is read as
    ``anyOf`` (see ``discriminated_any_of``). Raises ``ContractViolation``; validators are cached.
    """
    path = Path(spec_path) if spec_path is not None else find_openapi_spec()
    errors: list[ValidationError] = list(_component_validator(str(path.resolve()), name).iter_errors(instance))
    if errors:
        best = best_match(errors)
        details = [f"at {_json_path(best)}: {best.message}"]
        details += [f"at {_json_path(e)}: {e.message}" for e in errors if e is not best][: _MAX_REPORTED_ERRORS - 1]
        raise ContractViolation(f"{name} violates the spec " + "; ".join(_truncate(d) for d in details))


# -- other paths of the spec (Responses, Conversations) --------------------------------------------------

RESPONSES_PATH_PREFIXES = ("/responses", "/conversations")
RESPONSE_STREAM_EVENT_SCHEMA = "ResponseStreamEvent"


@functools.lru_cache(maxsize=4)
def load_paths_spec(spec_path: str, prefixes: tuple[str, ...]) -> dict[str, Any]:
    """The paths under ``prefixes`` with every component, in 3.1 form, discriminated ``oneOf`` as ``anyOf``.

    The beta variants (``/responses?beta=true``) are left out: a path with a query is no template.
    """
    with open(spec_path, encoding="utf-8") as handle:
        spec = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    paths = {
        path: item
        for path, item in spec["paths"].items()
        if "?" not in path and any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)
    }
    reduced: dict[str, Any] = discriminated_any_of(
        denull({"openapi": spec.get("openapi"), "paths": paths, "components": spec["components"]})
    )
    return reduced


class PathsContract(OpenApiContract):
    """``OpenApiContract`` over other paths of the spec (by default the Responses and Conversations API).

    ``validate_stream_event`` is for Assistants events; a Responses stream event (an object with a
    ``type``) is checked with ``validate_response_event``.
    """

    def __init__(
        self, prefixes: tuple[str, ...] = RESPONSES_PATH_PREFIXES, spec_path: str | Path | None = None
    ) -> None:
        path = Path(spec_path) if spec_path is not None else find_openapi_spec()
        self.spec = load_paths_spec(str(path.resolve()), prefixes)
        self._registry = Registry().with_resource(
            _SPEC_URI, Resource.from_contents(self.spec, default_specification=DRAFT202012)
        )
        self._validators = {}
        self._lock = threading.Lock()
        self.operations = self._collect_operations()
        self.stream_events = {}
        members = self.spec["components"]["schemas"].get(RESPONSE_STREAM_EVENT_SCHEMA, {}).get("anyOf", [])
        for member in members:
            name = member["$ref"].rsplit("/", 1)[1]
            for kind in self.spec["components"]["schemas"][name]["properties"]["type"]["enum"]:
                self.stream_events[kind] = _pointer("components", "schemas", name)

    def validate_response_event(self, data: Any) -> None:
        """Check one decoded ``data:`` object of a Responses stream against the member its ``type`` names."""
        kind = data.get("type") if isinstance(data, dict) else None
        pointer = self.stream_events.get(kind) if isinstance(kind, str) else None
        if pointer is None:
            raise ContractViolation(f"stream event {kind!r}: not a {RESPONSE_STREAM_EVENT_SCHEMA}")
        self._check(pointer, data, f"stream event {kind}")


@functools.lru_cache(maxsize=4)
def load_paths_contract(
    prefixes: tuple[str, ...] = RESPONSES_PATH_PREFIXES, spec_path: str | None = None
) -> PathsContract:
    """A shared ``PathsContract`` (loading the whole spec takes a few seconds)."""
    return PathsContract(prefixes, spec_path)
