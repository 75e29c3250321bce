"""The Batch API: lifecycle on the clock, output and error files, expiry, cancel, validation, determinism."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.simulator.batchsim import BSim, request_line
from tests.simulator.responses.rsim import CALCULATE
from tests.simulator.responses.schemas import responses_contract

FOUR = [request_line(f"job-{n}", f"Summarise ticket {n}") for n in range(4)]


def test_a_batch_validates_runs_finalizes_and_completes_on_the_clock(bsim: BSim) -> None:
    """validating 5 s, a line a second, finalizing 5 s: statuses, timestamps and counts at each stage."""
    created = bsim.run(FOUR, metadata={"batchrunner_job": "b:1"})
    start = created["created_at"]
    assert created["status"] == "validating" and created["id"].startswith("batch_")
    assert created["expires_at"] == start + 86_400 and created["metadata"] == {"batchrunner_job": "b:1"}
    assert created["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert "in_progress_at" not in created and "output_file_id" not in created
    bsim.clock.advance(5.0)
    running = bsim.batch(created["id"])
    assert (running["status"], running["in_progress_at"]) == ("in_progress", start + 5)
    assert running["model"] == "gpt-4o-mini" and running["request_counts"]["total"] == 4
    bsim.clock.advance(2.5)
    assert bsim.batch(created["id"])["request_counts"] == {"total": 4, "completed": 2, "failed": 0}
    bsim.clock.advance(1.5)
    finalizing = bsim.batch(created["id"])
    assert (finalizing["status"], finalizing["finalizing_at"]) == ("finalizing", start + 9)
    assert "output_file_id" not in finalizing
    bsim.clock.advance(5.0)
    done = bsim.batch(created["id"])
    assert (done["status"], done["completed_at"]) == ("completed", start + 14)
    assert done["request_counts"] == {"total": 4, "completed": 4, "failed": 0}
    assert "error_file_id" not in done and "failed_at" not in done


def test_every_line_is_answered_once_by_a_real_response_with_usage(bsim: BSim) -> None:
    """The output file holds one 200 line per custom_id whose body is a spec-valid completed Response."""
    batch = bsim.wait(bsim.run(FOUR)["id"])
    lines = bsim.read(batch["output_file_id"])
    assert sorted(line["custom_id"] for line in lines) == [f"job-{n}" for n in range(4)]
    assert len({line["id"] for line in lines}) == 4 and all(line["id"].startswith("batch_req_") for line in lines)
    contract = responses_contract()
    total_input = total_output = 0
    for line in lines:
        assert line["error"] is None and line["response"]["status_code"] == 200
        assert line["response"]["request_id"].startswith("req_")
        body = line["response"]["body"]
        contract.validate("Response", body)
        assert body["status"] == "completed" and body["model"] == "gpt-4o-mini"
        assert body["output"][0]["type"] == "message" and body["usage"]["output_tokens"] > 0
        total_input += body["usage"]["input_tokens"]
        total_output += body["usage"]["output_tokens"]
    assert batch["usage"]["input_tokens"] == total_input and batch["usage"]["output_tokens"] == total_output
    output_file = bsim.client.get(f"/files/{batch['output_file_id']}").json()
    assert output_file["purpose"] == "batch_output" and output_file["created_at"] == batch["completed_at"]


def test_a_tool_calling_answer_is_a_completed_response_with_function_calls(bsim: BSim) -> None:
    """A line whose model calls a tool ends completed with function_call items; the batch does not continue it."""
    line = request_line("calc", "What is 6 * 7?", tools=[CALCULATE], tool_choice="required")
    batch = bsim.wait(bsim.run([line])["id"])
    (answer,) = bsim.read(batch["output_file_id"])
    body = answer["response"]["body"]
    assert body["status"] == "completed" and {item["type"] for item in body["output"]} == {"function_call"}
    assert batch["request_counts"] == {"total": 1, "completed": 1, "failed": 0}


def test_a_line_the_endpoint_would_refuse_is_answered_400_in_the_error_file(bsim: BSim) -> None:
    """An invalid body gets status_code 400 with the API's error body; the other lines still complete."""
    bad = request_line("bad", "Hi", temperature=7)
    batch = bsim.wait(bsim.run([bad, *FOUR[:2]])["id"])
    assert batch["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
    (refused,) = bsim.read(batch["error_file_id"])
    assert refused["custom_id"] == "bad" and refused["error"] is None
    assert refused["response"]["status_code"] == 400
    assert refused["response"]["body"]["error"]["param"] == "temperature"
    assert len(bsim.read(batch["output_file_id"])) == 2


def test_line_failures_answer_500_server_error(make_bsim: Callable[..., BSim]) -> None:
    """With batch_line_fail_rate 1 every line is a 500 server_error a client can retry; none completes."""
    sim = make_bsim(batch_line_fail_rate=1.0)
    batch = sim.wait(sim.run(FOUR)["id"], step=2.0)
    assert batch["status"] == "completed" and "output_file_id" not in batch
    assert batch["request_counts"] == {"total": 4, "completed": 0, "failed": 4}
    for line in sim.read(batch["error_file_id"]):
        assert line["response"]["status_code"] == 500
        assert line["response"]["body"]["error"]["type"] == "server_error"


def test_a_batch_past_its_window_expires_with_batch_expired_lines(make_bsim: Callable[..., BSim]) -> None:
    """Window 8 s, validating 5 s, a line a second: 3 lines answered, 7 batch_expired, expired_at = expires_at."""
    sim = make_bsim(batch_window_s=8.0, batch_validating_s=5.0, batch_line_s=1.0)
    ten = [request_line(f"job-{n}", f"Question {n}") for n in range(10)]
    batch = sim.wait(sim.run(ten)["id"], step=0.5)
    assert batch["status"] == "expired" and batch["expired_at"] == batch["expires_at"]
    assert batch["request_counts"] == {"total": 10, "completed": 3, "failed": 7}
    answered = {line["custom_id"] for line in sim.read(batch["output_file_id"])}
    expired = sim.read(batch["error_file_id"])
    assert len(answered) == 3 and answered.isdisjoint(line["custom_id"] for line in expired)
    assert all(line["response"] is None and line["error"]["code"] == "batch_expired" for line in expired)


def test_batch_expire_rate_makes_batches_too_slow_for_the_24h_window(make_bsim: Callable[..., BSim]) -> None:
    """With batch_expire_rate 1 a batch answers only part of its lines within 24 h, then expires."""
    sim = make_bsim(batch_expire_rate=1.0, seed=4)
    ten = [request_line(f"job-{n}", f"Question {n}") for n in range(10)]
    created = sim.run(ten)
    sim.clock.advance(86_399.0)
    assert sim.batch(created["id"])["status"] == "in_progress"
    sim.clock.advance(1.0)
    batch = sim.batch(created["id"])
    assert batch["status"] == "expired"
    assert 2 <= batch["request_counts"]["completed"] <= 8 and batch["request_counts"]["failed"] >= 2


def test_cancel_keeps_the_lines_answered_so_far(bsim: BSim) -> None:
    """Cancelled after 2 of 4 lines: cancelling for 5 s, then cancelled with 2 outputs and 2 batch_cancelled."""
    created = bsim.run(FOUR)
    bsim.clock.advance(7.5)
    cancelling = bsim.client.post(f"/batches/{created['id']}/cancel").json()
    assert cancelling["status"] == "cancelling" and cancelling["cancelling_at"] == created["created_at"] + 7
    bsim.clock.advance(10.0)  # long enough for the other lines, were they still being answered
    batch = bsim.batch(created["id"])
    assert batch["status"] == "cancelled" and batch["cancelled_at"] == cancelling["cancelling_at"] + 5
    assert batch["request_counts"] == {"total": 4, "completed": 2, "failed": 2}
    assert len(bsim.read(batch["output_file_id"])) == 2
    cancelled = bsim.read(batch["error_file_id"])
    assert [line["error"]["code"] for line in cancelled] == ["batch_cancelled"] * 2


def test_cancelling_an_ended_batch_is_a_400_and_an_unknown_one_a_404(bsim: BSim) -> None:
    """A completed batch cannot be cancelled; an unknown id is not found."""
    batch = bsim.wait(bsim.run(FOUR[:1])["id"])
    refused = bsim.client.post(f"/batches/{batch['id']}/cancel")
    assert refused.status_code == 400 and "completed" in refused.json()["error"]["message"]
    assert bsim.client.get("/batches/batch_missing").status_code == 404


def test_a_bad_input_file_fails_the_batch_naming_its_lines(bsim: BSim) -> None:
    """Unparseable JSON, a second model and a duplicate custom_id: failed after validating, errors by line."""
    content = b"\n".join(
        [
            b'{"custom_id": "a", "method": "POST", "url": "/v1/responses", "body": {"model": "gpt-4o-mini"}}',
            b"{not json",
            b'{"custom_id": "b", "method": "POST", "url": "/v1/responses", "body": {"model": "gpt-4o"}}',
            b'{"custom_id": "a", "method": "POST", "url": "/v1/responses", "body": {"model": "gpt-4o-mini"}}',
            b'{"custom_id": "c", "method": "GET", "url": "/v1/responses", "body": {}}',
        ]
    )
    file_id = bsim.upload(content).json()["id"]
    created = bsim.create_batch(file_id)
    assert created["status"] == "validating"
    bsim.clock.advance(5.0)
    batch = bsim.batch(created["id"])
    assert batch["status"] == "failed" and batch["failed_at"] == created["created_at"] + 5
    assert "in_progress_at" not in batch and batch["request_counts"]["total"] == 0
    errors = [(error["line"], error["code"]) for error in batch["errors"]["data"]]
    assert errors == [
        (2, "invalid_json_line"),
        (3, "mismatched_model"),
        (4, "duplicate_custom_id"),
        (5, "invalid_method"),
    ]


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"input_file_id": "file-missing"}, "input_file_id"),
        ({"endpoint": "/v1/chat/completions"}, "endpoint"),
        ({"endpoint": "/v1/nothing"}, "endpoint"),
        ({"completion_window": "48h"}, "completion_window"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_create_refuses_bad_requests_with_a_400(bsim: BSim, change: dict[str, Any], param: str) -> None:
    """An unknown file, an endpoint not served, a window other than 24h or an unknown field is a 400."""
    body = {"input_file_id": bsim.upload_lines(FOUR), "endpoint": "/v1/responses", "completion_window": "24h"}
    response = bsim.client.post("/batches", json={**body, **change})
    assert response.status_code == 400 and response.json()["error"]["param"] == param


def test_create_refuses_a_file_not_uploaded_for_batch(bsim: BSim) -> None:
    """The input file must have purpose batch."""
    file_id = bsim.upload(b"{}", filename="notes.jsonl", purpose="user_data").json()["id"]
    body = {"input_file_id": file_id, "endpoint": "/v1/responses", "completion_window": "24h"}
    response = bsim.client.post("/batches", json=body)
    assert response.status_code == 400 and "purpose 'batch'" in response.json()["error"]["message"]


def _finished_files(sim: BSim, lines: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    batch = sim.wait(sim.run(lines)["id"], step=5.0)
    return [sim.read(batch[key]) for key in ("output_file_id", "error_file_id") if key in batch]


def test_equal_seeds_give_equal_files_and_output_order_is_shuffled(make_bsim: Callable[..., BSim]) -> None:
    """The same seed gives byte-equal results in the same shuffled order; another seed another order."""
    twenty = [request_line(f"job-{n:02}", f"Question {n}") for n in range(20)]
    config = {"batch_line_fail_rate": 0.2}
    first = _finished_files(make_bsim(seed=9, **config), twenty)
    again = _finished_files(make_bsim(seed=9, **config), twenty)
    other = _finished_files(make_bsim(seed=10, **config), twenty)
    assert first == again
    order = [line["custom_id"] for line in first[0]]
    assert order != sorted(order)
    assert order != [line["custom_id"] for line in other[0]]
    assert 0 < len(first[1]) < 20


def test_list_pages_newest_first_with_after_and_limit(bsim: BSim) -> None:
    """GET /batches lists newest first; limit and after walk the pages; stats count the batches."""
    file_id = bsim.upload_lines(FOUR[:1])
    ids = [bsim.create_batch(file_id)["id"] for _ in range(3)]
    first = bsim.client.get("/batches", params={"limit": 2}).json()
    assert [batch["id"] for batch in first["data"]] == ids[:0:-1] and first["has_more"] is True
    rest = bsim.client.get("/batches", params={"limit": 2, "after": first["last_id"]}).json()
    assert [batch["id"] for batch in rest["data"]] == ids[:1] and rest["has_more"] is False
    stats = bsim.stats()
    assert (stats["batches_created"], stats["active_batches"]) == (3, 3)
