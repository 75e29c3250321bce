"""Bad CreateResponse bodies get the API's 400 invalid_request_error naming the parameter, and create nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.simulator.responses.rsim import CALCULATE, RSim

M = {"model": "gpt-4o"}
BAD_BODIES: list[tuple[Any, str]] = [
    ({}, "model"),
    ({"model": 1}, "model"),
    ({**M, "temperature": 2.5}, "temperature"),
    ({**M, "top_p": -0.1}, "top_p"),
    ({**M, "max_output_tokens": 8}, "max_output_tokens"),
    ({**M, "max_output_tokens": "many"}, "max_output_tokens"),
    ({**M, "metadata": {f"k{index}": "v" for index in range(17)}}, "metadata"),
    ({**M, "metadata": {"k": "v" * 513}}, "metadata.k"),
    ({**M, "metadata": {"k" * 65: "v"}}, "metadata"),
    ({**M, "assistant_id": "asst_1"}, "assistant_id"),
    ({**M, "input": 5}, "input"),
    ({**M, "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({**M, "input": [{"role": "user"}]}, "input[0].content"),
    ({**M, "input": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}, "input[0].content[0].type"),
    ({**M, "input": [{"type": "function_call_output", "call_id": "", "output": "x"}]}, "input[0].call_id"),
    ({**M, "input": [{"type": "function_call_output", "call_id": "call_1"}]}, "input[0].output"),
    ({**M, "input": [{"type": "function_call", "call_id": "call_1", "name": "f"}]}, "input[0].arguments"),
    ({**M, "tools": [{"type": "function"}]}, "tools[0].name"),
    ({**M, "tools": [{"type": "function", "name": "bad name!"}]}, "tools[0].name"),
    ({**M, "tools": [{"type": "function", "function": {"name": "nested"}}]}, "tools[0].function"),
    ({**M, "tools": [{"type": "wizard"}]}, "tools[0].type"),
    ({**M, "tools": {"type": "function"}}, "tools"),
    ({**M, "tool_choice": "sometimes"}, "tool_choice"),
    ({**M, "tools": [CALCULATE], "tool_choice": {"type": "function", "name": "missing"}}, "tool_choice"),
    ({**M, "text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
    ({**M, "text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ({**M, "reasoning": {"effort": "extreme"}}, "reasoning.effort"),
    ({**M, "background": "yes"}, "background"),
    ({**M, "store": "no"}, "store"),
    ({**M, "stream": 1}, "stream"),
    ({**M, "parallel_tool_calls": "true"}, "parallel_tool_calls"),
    ({**M, "service_tier": "turbo"}, "service_tier"),
    ({**M, "truncation": "maybe"}, "truncation"),
    ({**M, "conversation": 5}, "conversation"),
    ({**M, "previous_response_id": 5}, "previous_response_id"),
    ({**M, "include": ["everything"]}, "include[0]"),
    ([M], "body"),
]


@pytest.mark.parametrize(("body", "param"), BAD_BODIES)
def test_bad_bodies_are_400s_naming_the_parameter(rsim: RSim, body: Any, param: str) -> None:
    """Each malformed body is a 400 invalid_request_error whose param names the field; nothing is created."""
    error = rsim.error("POST", "/responses", 400, json=body)
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param
    assert rsim.stats()["responses_created"] == 0 and not rsim.store.responses


def test_error_wording_matches_the_api(rsim: RSim) -> None:
    """The messages of a missing field, a value below its minimum and an unknown parameter."""
    assert (
        rsim.error("POST", "/responses", 400, json={"input": "x"})["message"] == "Missing required parameter: 'model'."
    )
    small = rsim.error("POST", "/responses", 400, json={**M, "max_output_tokens": 8})
    assert small["message"] == (
        "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 8 instead."
    )
    unknown = rsim.error("POST", "/responses", 400, json={**M, "assistant_id": "asst_1"})
    assert unknown["message"] == "Unknown parameter: 'assistant_id'." and unknown["code"] == "unknown_parameter"


def test_body_that_is_not_json_is_a_400(rsim: RSim) -> None:
    """A body that does not parse is the API's JSON-parse 400."""
    response = rsim.raw.post("/responses", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "parse the JSON body" in response.json()["error"]["message"]


def test_fields_the_simulator_does_not_model_are_accepted(rsim: RSim) -> None:
    """Valid fields such as include, user, prompt_cache_key and stream_options are accepted and echoed where shown."""
    body = rsim.create(
        model="o4-mini",  # a model that offers flex
        input=[
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_image", "image_url": "https://x.test/a.png", "detail": "low"}],
            }
        ],
        include=["message.output_text.logprobs"],
        user="u-1",
        safety_identifier="s-1",
        prompt_cache_key="k-1",
        stream_options={"include_obfuscation": False},
        top_logprobs=2,
        service_tier="flex",
        truncation="auto",
    )
    assert (body["user"], body["safety_identifier"], body["prompt_cache_key"]) == ("u-1", "s-1", "k-1")
    assert (body["top_logprobs"], body["service_tier"], body["truncation"]) == (2, "flex", "auto")
    item = rsim.client.get(f"/responses/{body['id']}/input_items").json()["data"][0]
    assert item["content"] == [{"type": "input_image", "image_url": "https://x.test/a.png", "detail": "low"}]
