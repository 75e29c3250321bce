"""Responses validate against the official OpenAPI schemas (the Prism-friendly 3.1 subset in spec/)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.simulator.simhelpers import Sim, tool_calls

PRISM_SPEC = Path(__file__).resolve().parents[2] / "spec" / "openai-openapi" / "assistants-runs.prism.yaml"
SPEC_URI = "urn:openai-openapi"
# Imported by name because jsonschema ships no type stubs here (types-jsonschema is not a dependency).
Draft202012Validator: Any = importlib.import_module("jsonschema").Draft202012Validator


@pytest.fixture(scope="module")
def validate() -> Any:
    """validate(schema_name, instance) against #/components/schemas/<schema_name>."""
    path = PRISM_SPEC
    document = yaml.safe_load(path.read_text())
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )

    def check(schema_name: str, instance: Any) -> None:
        schema = {"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}
        validator = Draft202012Validator(schema, registry=registry)
        errors = sorted(validator.iter_errors(instance), key=lambda error: list(error.path))
        assert not errors, f"{schema_name}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])

    return check


def test_run_lifecycle_responses_match_schemas(sim: Sim, validate: Any) -> None:
    """Run, step, message, thread and list bodies validate at every stage of a tool-using run."""
    run = sim.thread_and_run("asst_analyst", 'Compute 3 * 7 and count "a b c"', metadata={"k": "v"})
    validate("RunObject", run)
    validate("ThreadObject", sim.client.get(f"/threads/{run['thread_id']}").json())
    waiting = sim.wait_for(run, {"requires_action"})
    validate("RunObject", waiting)
    base = f"/threads/{run['thread_id']}/runs/{run['id']}"
    validate("ListRunStepsResponse", sim.client.get(f"{base}/steps").json())
    resumed = sim.submit(waiting, {call["id"]: "21" for call in tool_calls(waiting)}).json()
    validate("RunObject", resumed)
    done = sim.wait_for(run, {"completed"})
    validate("RunObject", done)
    steps = sim.client.get(f"{base}/steps").json()
    validate("ListRunStepsResponse", steps)
    validate("RunStepObject", sim.client.get(f"{base}/steps/{steps['data'][0]['id']}").json())
    messages = sim.client.get(f"/threads/{run['thread_id']}/messages").json()
    validate("ListMessagesResponse", messages)
    validate(
        "MessageObject",
        sim.client.get(f"/threads/{run['thread_id']}/messages/{messages['data'][0]['id']}").json(),
    )
    validate("ListRunsResponse", sim.client.get(f"/threads/{run['thread_id']}/runs").json())


def test_terminal_variants_match_schemas(make_sim: Any, validate: Any) -> None:
    """Failed, incomplete, cancelled and expired runs (and their steps and messages) validate."""
    sim = make_sim(run_fail_rate_limit_rate=1.0)
    validate("RunObject", sim.wait_for(sim.thread_and_run("asst_support", "x"), {"failed"}))
    sim = make_sim(run_expiry_s=20.0)
    incomplete = sim.wait_for(
        sim.thread_and_run("asst_support", "a detailed essay please", max_completion_tokens=256),
        {"incomplete"},
    )
    validate("RunObject", incomplete)
    validate("ListMessagesResponse", sim.client.get(f"/threads/{incomplete['thread_id']}/messages").json())
    cancelled = sim.thread_and_run("asst_support", "x")
    sim.client.post(f"/threads/{cancelled['thread_id']}/runs/{cancelled['id']}/cancel")
    validate("RunObject", sim.wait_for(cancelled, {"cancelled"}))
    expiring = sim.wait_for(sim.thread_and_run("asst_math", "1 + 1"), {"requires_action"})
    sim.clock.advance(30)
    validate("RunObject", sim.get_run(expiring))
    validate(
        "ListRunStepsResponse",
        sim.client.get(f"/threads/{expiring['thread_id']}/runs/{expiring['id']}/steps").json(),
    )


def test_assistant_thread_and_error_bodies_match_schemas(sim: Sim, validate: Any) -> None:
    """Assistant, thread, empty list and error bodies validate."""
    created = sim.client.post(
        "/assistants", json={"model": "gpt-4o", "tools": [{"type": "file_search"}], "metadata": {"a": "b"}}
    ).json()
    validate("AssistantObject", created)
    validate("ListAssistantsResponse", sim.client.get("/assistants").json())
    for assistant_id in ("asst_support", "asst_math", "asst_clock", "asst_analyst"):
        validate("AssistantObject", sim.client.get(f"/assistants/{assistant_id}").json())
    thread = sim.client.post(
        "/threads",
        json={
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}],
                }
            ]
        },
    ).json()
    validate("ThreadObject", thread)
    validate("ListMessagesResponse", sim.client.get(f"/threads/{thread['id']}/messages").json())
    empty = sim.client.post("/threads", json={}).json()
    validate("ListRunsResponse", sim.client.get(f"/threads/{empty['id']}/runs").json())
    validate("ErrorResponse", sim.client.get("/threads/thread_nope").json())
    validate("ErrorResponse", sim.client.post("/threads/runs", json={}).json())
