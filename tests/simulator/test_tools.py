"""Tool rounds: which functions are called, with which arguments, and what follows the outputs."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from batchrunner.simulator.toolcalls import (
    arguments_from_schema,
    extract_expression,
    extract_quoted,
    extract_timezone,
    plan_tool_calls,
)
from tests.simulator.simhelpers import Sim, tool_calls


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is (17 + 25) * 3?", "(17 + 25) * 3"),
        ("quick: 2+2", "2+2"),
        ("compute -3 * (4 + 5)) now", "-3 * (4 + 5)"),
        ("Q3 review on 2024-05-01, total 12 / 4", "12 / 4"),
        ("We are reviewing the Q3 support backlog.", None),
    ],
)
def test_extract_expression(text: str, expected: str | None) -> None:
    """The first arithmetic expression is found; dates and lone numbers are not expressions."""
    assert extract_expression(text) == expected


@pytest.mark.parametrize(
    ("text", "zone", "quoted"),
    [
        ("What time is it in Europe/Paris?", "Europe/Paris", None),
        ("Time in America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires", None),
        ('Count words in "the quick fox"', None, "the quick fox"),
        ("It's 'single quoted' here", None, "single quoted"),
        ("Don't split on apostrophes isn't it", None, None),
    ],
)
def test_extract_timezone_and_quoted(text: str, zone: str | None, quoted: str | None) -> None:
    """Zone names and quoted text are picked out of a message."""
    assert extract_timezone(text) == zone
    assert extract_quoted(text) == quoted


def test_unknown_function_gets_required_properties_from_its_schema() -> None:
    """Required string properties are filled with the message; other required types get neutral values."""
    schema = {
        "type": "object",
        "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}, "note": {"type": "string"}},
        "required": ["query", "limit"],
    }
    assert arguments_from_schema(schema, "find orders") == {"query": "find orders", "limit": 0}
    assert arguments_from_schema(None, "x") == {}


def test_math_assistant_round_trip(sim: Sim) -> None:
    """asst_math asks for calculate with the message's expression, then quotes the submitted output."""
    run = sim.thread_and_run("asst_math", "What is (17 + 25) * 3?")
    waiting = sim.wait_for(run, {"requires_action"})
    assert waiting["usage"] is None
    [call] = tool_calls(waiting)
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "calculate"
    assert json.loads(call["function"]["arguments"]) == {"expression": "(17 + 25) * 3"}
    resumed = sim.submit(waiting, {call["id"]: "126"})
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "in_progress" and resumed.json()["required_action"] is None
    done = sim.wait_for(run, {"completed"})
    message = sim.client.get(f"/threads/{run['thread_id']}/messages", params={"run_id": run["id"]}).json()["data"][0]
    assert message["content"][0]["text"]["value"] == "The result of calculate is 126."
    steps = sim.client.get(f"/threads/{run['thread_id']}/runs/{run['id']}/steps", params={"order": "asc"}).json()
    assert [step["type"] for step in steps["data"]] == ["tool_calls", "message_creation"]
    recorded = steps["data"][0]["step_details"]["tool_calls"][0]
    assert recorded["id"] == call["id"] and recorded["function"]["output"] == "126"
    total = {key: sum(step["usage"][key] for step in steps["data"]) for key in done["usage"]}
    assert total == done["usage"]


def test_tool_step_shows_null_output_and_usage_while_waiting(sim: Sim) -> None:
    """While the run waits, its tool_calls step is in_progress with null output and null usage."""
    run = sim.wait_for(sim.thread_and_run("asst_math", "1 + 1"), {"requires_action"})
    [step] = sim.client.get(f"/threads/{run['thread_id']}/runs/{run['id']}/steps").json()["data"]
    assert step["status"] == "in_progress" and step["usage"] is None
    assert step["step_details"]["tool_calls"][0]["function"]["output"] is None
    fetched = sim.client.get(f"/threads/{run['thread_id']}/runs/{run['id']}/steps/{step['id']}")
    assert fetched.status_code == 200 and fetched.json() == step


@pytest.mark.parametrize(
    ("text", "zone"), [("What time is it in Asia/Tokyo?", "Asia/Tokyo"), ("What time is it?", "UTC")]
)
def test_clock_assistant_passes_the_zone(sim: Sim, text: str, zone: str) -> None:
    """asst_clock calls current_time with the zone named in the message, or UTC."""
    waiting = sim.wait_for(sim.thread_and_run("asst_clock", text), {"requires_action"})
    [call] = tool_calls(waiting)
    assert call["function"]["name"] == "current_time"
    assert json.loads(call["function"]["arguments"]) == {"timezone": zone}


def test_analyst_makes_parallel_calls_when_asked_for_both(sim: Sim) -> None:
    """A message with numbers and quoted text gets calculate and text_statistics in one round."""
    waiting = sim.wait_for(
        sim.thread_and_run("asst_analyst", 'Compute 12 * 4 and give statistics for "to be or not"'),
        {"requires_action"},
    )
    calls = tool_calls(waiting)
    assert [call["function"]["name"] for call in calls] == ["calculate", "text_statistics"]
    assert json.loads(calls[1]["function"]["arguments"]) == {"text": "to be or not"}
    sim.submit(waiting, {calls[0]["id"]: "48", calls[1]["id"]: "4 words"})
    sim.wait_for(waiting, {"completed"})
    text = sim.client.get(f"/threads/{waiting['thread_id']}/messages").json()["data"][0]["content"][0]["text"]
    assert text["value"] == "The result of calculate is 48. The result of text_statistics is 4 words."


def test_parallel_tool_calls_false_limits_the_round_to_one_call(sim: Sim) -> None:
    """parallel_tool_calls=false yields a single call even when several are asked for."""
    run = sim.thread_and_run("asst_analyst", 'Compute 12 * 4 and count "a b"', parallel_tool_calls=False)
    assert len(tool_calls(sim.wait_for(run, {"requires_action"}))) == 1


def test_tool_choice_none_and_named(sim: Sim) -> None:
    """tool_choice none answers directly; a named function is the only one called."""
    direct = sim.wait_for(sim.thread_and_run("asst_math", "2 + 2", tool_choice="none"), {"completed"})
    assert direct["status"] == "completed"
    named = sim.thread_and_run(
        "asst_analyst",
        'Compute 12 * 4 and count "a b"',
        tool_choice={"type": "function", "function": {"name": "text_statistics"}},
    )
    calls = tool_calls(sim.wait_for(named, {"requires_action"}))
    assert [call["function"]["name"] for call in calls] == ["text_statistics"]


def test_named_tool_choice_must_exist(sim: Sim) -> None:
    """Naming a function the run does not have is a 400 on tool_choice."""
    response = sim.client.post(
        "/threads/runs",
        json={"assistant_id": "asst_math", "tool_choice": {"type": "function", "function": {"name": "nope"}}},
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "tool_choice"


def test_tools_override_with_custom_function(sim: Sim) -> None:
    """A run's tools override replaces the assistant's; unknown functions get schema-built arguments."""
    tool = {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            },
        },
    }
    run = sim.thread_and_run("asst_support", "Where is my order?", tools=[tool])
    assert run["tools"] == [tool]
    [call] = tool_calls(sim.wait_for(run, {"requires_action"}))
    assert call["function"]["name"] == "lookup_order"
    assert json.loads(call["function"]["arguments"]) == {"query": "Where is my order?"}


def test_plan_tool_calls_ignores_non_function_tools() -> None:
    """code_interpreter and file_search tools never produce function calls."""
    assert plan_tool_calls([{"type": "code_interpreter"}, {"type": "file_search"}], "auto", True, "1 + 1") == []


def test_submit_rejects_wrong_ids_and_wrong_status(make_sim: Callable[..., Sim]) -> None:
    """Tool outputs are refused when ids are missing or unknown, or when the run is not waiting."""
    sim = make_sim()
    waiting = sim.wait_for(sim.thread_and_run("asst_analyst", 'Compute 1 + 2 and count "x y"'), {"requires_action"})
    first, second = (call["id"] for call in tool_calls(waiting))
    missing = sim.submit(waiting, {first: "3"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "tool_outputs"
    unknown = sim.submit(waiting, {first: "3", second: "2", "call_unknown": "?"})
    assert unknown.status_code == 400
    assert sim.get_run(waiting)["status"] == "requires_action"
    assert sim.submit(waiting, {first: "3", second: "2"}).status_code == 200
    again = sim.submit(waiting, {first: "3", second: "2"})
    assert again.status_code == 400
    assert again.json()["error"]["message"] == 'Runs in status "in_progress" do not accept tool outputs.'
