"""Every body the simulator serves on the Responses and Conversations routes matches the official schemas.

All the tests of this package already route their traffic through `CheckingTransport` (a violation fails
the test at teardown); these name the schemas explicitly, state by state, and show the checker bites.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from batchrunner.testing.openapi_contract import ContractViolation
from tests.simulator.responses.rsim import CALCULATE, RSim, outputs_for
from tests.simulator.responses.schemas import ResponsesContract, parse_sse


def test_responses_in_every_status_match_the_response_schema(
    make_rsim: Callable[..., RSim], contract: ResponsesContract
) -> None:
    """queued, in_progress, completed (message or calls), incomplete, failed and cancelled bodies are Responses."""
    sim = make_rsim(run_duration_min_s=10.0, run_duration_max_s=10.0)
    bodies: dict[str, Any] = {}
    asked = sim.create(input="What is 6 * 7?", tools=[CALCULATE], background=True, metadata={"batchrunner_job": "s"})
    bodies["queued"] = asked
    sim.clock.advance(2)
    bodies["in_progress"] = sim.get(asked["id"])
    bodies["cancelled"] = sim.client.post(f"/responses/{sim.create(input='x', background=True)['id']}/cancel").json()
    sim.clock.advance(9)
    bodies["calls"] = sim.get(asked["id"])
    bodies["message"] = sim.create(
        previous_response_id=asked["id"], input=outputs_for(bodies["calls"]), tools=[CALCULATE]
    )
    bodies["incomplete"] = sim.create(input="Write a detailed essay", max_output_tokens=16)
    failing = make_rsim(run_fail_rate_limit_rate=1.0)
    bodies["failed"] = failing.create(input="x")
    assert [body["status"] for body in bodies.values()] == [
        "queued", "in_progress", "cancelled", "completed", "completed", "incomplete", "failed",
    ]  # fmt: skip
    for body in bodies.values():
        contract.validate("Response", body)


def test_lists_conversations_and_events_match_their_schemas(rsim: RSim, contract: ResponsesContract) -> None:
    """ResponseItemList, ConversationResource, ConversationItemList, deletions and stream events validate."""
    conversation = rsim.client.post("/conversations", json={"items": [{"role": "user", "content": "hi"}]}).json()
    contract.validate("ConversationResource", conversation)
    answered = rsim.create(conversation=conversation["id"], input="What is 1 + 1?", tools=[CALCULATE])
    contract.validate("ResponseItemList", rsim.client.get(f"/responses/{answered['id']}/input_items").json())
    items = rsim.client.get(f"/conversations/{conversation['id']}/items").json()
    assert len(items["data"]) == 3
    contract.validate("ConversationItemList", items)
    deleted = rsim.client.delete(f"/conversations/{conversation['id']}").json()
    contract.validate("DeletedConversationResource", deleted)
    events = parse_sse(rsim.client.post("/responses", json={"model": "m", "input": "hi", "stream": True}).text)
    for event in events:
        contract.validate("ResponseStreamEvent", event)
    contract.validate("ErrorResponse", rsim.raw.get("/responses/resp_nope").json())


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ("Response", {"id": "resp_1", "object": "response", "status": "queued"}),
        ("ResponseItemList", {"object": "list", "data": [{"type": "message", "role": "assistant"}], "has_more": False}),
        ("ConversationResource", {"id": "conv_1", "object": "conversation", "metadata": {}, "created_at": "now"}),
        ("ResponseStreamEvent", {"type": "response.output_text.delta", "item_id": "msg_1", "delta": "x"}),
    ],
)  # fmt: skip
def test_the_checker_rejects_bodies_that_break_the_spec(contract: ResponsesContract, schema: str, body: Any) -> None:
    """A body missing required fields or with a wrong type is a ContractViolation, so passing means something."""
    with pytest.raises(ContractViolation):
        contract.validate(schema, body)


def test_the_checking_transport_saw_the_traffic(rsim: RSim) -> None:
    """The transport checks each exchange of the Responses routes (and only those)."""
    before = rsim.checked
    rsim.create(input="hi")
    rsim.client.get("http://sim.test/_sim/stats")
    assert rsim.checked == before + 1 and rsim.violations == []
