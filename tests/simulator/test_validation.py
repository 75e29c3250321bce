"""Request validation, 404s and conflicts, answered with OpenAI-shaped error bodies."""

from __future__ import annotations

from typing import Any

import pytest

from tests.simulator.simhelpers import BETA, Sim

TOO_MANY_PAIRS = {f"k{index}": "v" for index in range(17)}


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({}, "assistant_id", "Missing required parameter"),
        ({"assistant_id": 5}, "assistant_id", "expected a string"),
        ({"assistant_id": "asst_support", "foo": 1}, "foo", "Unrecognized request argument"),
        ({"assistant_id": "asst_support", "temperature": 2.5}, "temperature", "above maximum"),
        ({"assistant_id": "asst_support", "temperature": "hot"}, "temperature", "expected a decimal"),
        ({"assistant_id": "asst_support", "top_p": -0.1}, "top_p", "below minimum"),
        ({"assistant_id": "asst_support", "max_prompt_tokens": 255}, "max_prompt_tokens", ">= 256"),
        ({"assistant_id": "asst_support", "max_completion_tokens": 100}, "max_completion_tokens", ">= 256"),
        (
            {"assistant_id": "asst_support", "max_completion_tokens": 300.5},
            "max_completion_tokens",
            "integer",
        ),
        ({"assistant_id": "asst_support", "parallel_tool_calls": "yes"}, "parallel_tool_calls", "boolean"),
        ({"assistant_id": "asst_support", "metadata": TOO_MANY_PAIRS}, "metadata", "at most 16"),
        ({"assistant_id": "asst_support", "metadata": {"k" * 65: "v"}}, "metadata", "maximum length 64"),
        ({"assistant_id": "asst_support", "metadata": {"k": "v" * 513}}, "metadata.k", "maximum length 512"),
        ({"assistant_id": "asst_support", "metadata": {"k": 1}}, "metadata.k", "expected a string"),
        ({"assistant_id": "asst_support", "tool_choice": "sometimes"}, "tool_choice", "Supported values"),
        (
            {"assistant_id": "asst_support", "tool_choice": {"type": "function"}},
            "tool_choice.function",
            "Missing",
        ),
        (
            {"assistant_id": "asst_support", "truncation_strategy": {"type": "middle"}},
            "truncation_strategy.type",
            "Invalid value",
        ),
        (
            {
                "assistant_id": "asst_support",
                "truncation_strategy": {"type": "last_messages", "last_messages": 0},
            },
            "truncation_strategy.last_messages",
            "below minimum",
        ),
        ({"assistant_id": "asst_support", "response_format": "xml"}, "response_format", "Supported values"),
        (
            {"assistant_id": "asst_support", "response_format": {"type": "json_schema", "json_schema": {}}},
            "response_format.json_schema.name",
            "Missing",
        ),
        ({"assistant_id": "asst_support", "tools": [{"type": "browser"}]}, "tools[0].type", "Invalid value"),
        (
            {
                "assistant_id": "asst_support",
                "tools": [{"type": "function", "function": {"name": "bad name"}}],
            },
            "tools[0].function.name",
            "pattern",
        ),
        (
            {"assistant_id": "asst_support", "tools": [{"type": "code_interpreter"}] * 21},
            "tools",
            "maximum length 20",
        ),
        (
            {"assistant_id": "asst_support", "additional_messages": [{"role": "system", "content": "x"}]},
            "additional_messages[0].role",
            "Invalid value",
        ),
        (
            {"assistant_id": "asst_support", "additional_messages": [{"role": "user"}]},
            "additional_messages[0].content",
            "Missing",
        ),
        (
            {"assistant_id": "asst_support", "additional_messages": [{"role": "user", "content": []}]},
            "additional_messages[0].content",
            "minimum length 1",
        ),
        (
            {"assistant_id": "asst_support", "reasoning_effort": "extreme"},
            "reasoning_effort",
            "Invalid value",
        ),
        ({"assistant_id": "asst_support", "stream": "yes"}, "stream", "expected a boolean"),
    ],
)
def test_create_run_validation(sim: Sim, body: dict[str, Any], param: str, fragment: str) -> None:
    """Each invalid create-run body is a 400 invalid_request_error naming the field."""
    response = sim.client.post("/threads/thread_demo_shared/runs", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] is None
    assert error["param"] == param
    assert fragment in error["message"]
    assert sim.stats()["runs_created"] == 0


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/threads", {"messages": [{"role": "user", "content": "x", "extra": 1}]}, "messages[0].extra"),
        ("/threads", {"messages": "hello"}, "messages"),
        ("/threads", {"metadata": TOO_MANY_PAIRS}, "metadata"),
        (
            "/threads/runs",
            {"assistant_id": "asst_support", "thread": {"messages": [{}]}},
            "thread.messages[0].role",
        ),
        (
            "/threads/runs",
            {"assistant_id": "asst_support", "additional_instructions": "x"},
            "additional_instructions",
        ),
        (
            "/threads/thread_demo_shared/messages",
            {"role": "user", "content": [{"type": "text"}]},
            "content[0].text",
        ),
        (
            "/threads/thread_demo_shared/messages",
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u", "detail": "max"}}]},
            "content[0].image_url.detail",
        ),
        ("/assistants", {"name": "no model"}, "model"),
        ("/assistants", {"model": "gpt-4o", "name": "n" * 257}, "name"),
    ],
)
def test_other_body_validation(sim: Sim, path: str, body: dict[str, Any], param: str) -> None:
    """Thread, thread-and-run, message and assistant bodies are checked like the API does."""
    response = sim.client.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_submit_tool_outputs_body_is_validated(sim: Sim) -> None:
    """tool_outputs is required and its items need a tool_call_id."""
    run = sim.thread_and_run("asst_math", "1 + 1")
    path = f"/threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs"
    assert sim.client.post(path, json={}).json()["error"]["param"] == "tool_outputs"
    missing_id = sim.client.post(path, json={"tool_outputs": [{"output": "2"}]})
    assert missing_id.json()["error"]["param"] == "tool_outputs[0].tool_call_id"


@pytest.mark.parametrize(
    ("path", "kind", "object_id"),
    [
        ("/assistants/asst_nope", "assistant", "asst_nope"),
        ("/threads/thread_nope", "thread", "thread_nope"),
        ("/threads/thread_demo_shared/runs/run_nope", "run", "run_nope"),
        ("/threads/thread_demo_shared/messages/msg_nope", "message", "msg_nope"),
    ],
)
def test_unknown_objects_are_404(sim: Sim, path: str, kind: str, object_id: str) -> None:
    """Ids naming nothing are 404 invalid_request_error."""
    response = sim.client.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": f"No {kind} found with id '{object_id}'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_unknown_assistant_in_run_is_404(sim: Sim) -> None:
    """Creating a run with an unknown assistant is a 404 and creates nothing."""
    response = sim.client.post("/threads/runs", json={"assistant_id": "asst_nope"})
    assert response.status_code == 404 and "asst_nope" in response.json()["error"]["message"]
    assert sim.stats()["runs_created"] == 0


def test_unknown_route_is_404_invalid_url(sim: Sim) -> None:
    """A path or method the API does not serve is a 404 naming it."""
    response = sim.client.delete("/threads/thread_demo_shared")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (DELETE /v1/threads/thread_demo_shared)"
    assert sim.client.get("/models").status_code == 404


def test_active_run_blocks_new_runs_and_messages(sim: Sim) -> None:
    """A thread with an active run refuses another run and new messages until the run ends."""
    run = sim.client.post("/threads/thread_demo_shared/runs", json={"assistant_id": "asst_support"}).json()
    second = sim.client.post("/threads/thread_demo_shared/runs", json={"assistant_id": "asst_support"})
    assert second.status_code == 400
    assert second.json()["error"]["message"] == f"Thread thread_demo_shared already has an active run {run['id']}."
    message = sim.client.post("/threads/thread_demo_shared/messages", json={"role": "user", "content": "more"})
    assert message.status_code == 400 and run["id"] in message.json()["error"]["message"]
    sim.wait_for(run, {"completed"})
    assert sim.client.post("/threads/thread_demo_shared/runs", json={"assistant_id": "asst_support"}).status_code == 200
    assert sim.stats()["runs_created"] == 2


def test_missing_beta_header_is_rejected(sim: Sim) -> None:
    """Without OpenAI-Beta: assistants=v2 the API answers 400, like the real one."""
    response = sim.client.get("/assistants/asst_support", headers={"OpenAI-Beta": ""})
    assert response.status_code == 400 and "OpenAI-Beta" in response.json()["error"]["message"]
    assert sim.client.get("/assistants/asst_support", headers=BETA).status_code == 200


def test_invalid_json_is_rejected(sim: Sim) -> None:
    """A body that is not JSON is a 400."""
    response = sim.client.post("/threads", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "parse the JSON body" in response.json()["error"]["message"]


def test_valid_full_create_run_body_is_echoed(sim: Sim) -> None:
    """Every documented create-run field is accepted and reflected on the run object."""
    body = {
        "assistant_id": "asst_support",
        "model": "gpt-4o",
        "instructions": "Be brief.",
        "additional_instructions": "Sign as Bot.",
        "additional_messages": [{"role": "user", "content": [{"type": "text", "text": "Extra context"}]}],
        "metadata": {"team": "support"},
        "temperature": 0.2,
        "top_p": 0.9,
        "max_prompt_tokens": 1000,
        "max_completion_tokens": 512,
        "truncation_strategy": {"type": "last_messages", "last_messages": 5},
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "response_format": {"type": "json_object"},
        "reasoning_effort": "low",
    }
    run = sim.client.post("/threads/thread_demo_shared/runs", json=body).json()
    assert run["model"] == "gpt-4o" and run["instructions"] == "Be brief.\n\nSign as Bot."
    assert run["metadata"] == {"team": "support"} and run["temperature"] == 0.2 and run["top_p"] == 0.9
    assert run["max_prompt_tokens"] == 1000 and run["max_completion_tokens"] == 512
    assert run["truncation_strategy"] == {"type": "last_messages", "last_messages": 5}
    assert run["parallel_tool_calls"] is False and run["response_format"] == {"type": "json_object"}
    messages = sim.client.get("/threads/thread_demo_shared/messages", params={"order": "asc"}).json()["data"]
    assert messages[-1]["content"][0]["text"]["value"] == "Extra context"
    sim.wait_for(run, {"completed"})
    answer = sim.client.get("/threads/thread_demo_shared/messages", params={"run_id": run["id"]}).json()["data"][0]
    assert answer["content"][0]["text"]["value"].startswith('{"summary": ')
