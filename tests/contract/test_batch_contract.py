"""The simulator's Files and Batch API replies validate against the official spec, in every batch status."""

from __future__ import annotations

from batchrunner.simulator import SimConfig
from tests.simulator.batchsim import BSim, request_line
from tests.simulator.simhelpers import FakeClock

LINES = [request_line(f"job-{n}", f"Question {n}") for n in range(3)]


def _sim(**config: object) -> BSim:
    settings: dict[str, object] = {"batch_validating_s": 2.0, "batch_line_s": 1.0, "batch_finalizing_s": 2.0}
    return BSim(SimConfig(**{**settings, **config}), FakeClock())  # type: ignore[arg-type]


def test_every_batch_status_and_file_reply_validates() -> None:
    """File object, content, delete, list and the batch in all eight statuses match their schemas."""
    seen: set[str] = set()
    sim = _sim(batch_window_s=6.0)
    completed = sim.run(LINES)
    expiring = sim.run([*LINES, request_line("job-x", "More"), request_line("job-y", "More")])
    cancelled = sim.run(LINES)
    failed = sim.create_batch(sim.upload(b"{not json\n").json()["id"])
    seen.add(failed["status"])
    sim.clock.advance(2.5)
    sim.client.post(f"/batches/{cancelled['id']}/cancel")
    for _ in range(20):
        for batch in sim.client.get("/batches", params={"limit": 10}).json()["data"]:
            seen.add(batch["status"])
        sim.clock.advance(0.5)
    sim.client.get(f"/batches/{failed['id']}")
    finished = sim.batch(completed["id"])
    assert finished["status"] == "completed" and sim.batch(expiring["id"])["status"] == "expired"
    assert seen == {
        "validating",
        "in_progress",
        "finalizing",
        "completed",
        "failed",
        "expired",
        "cancelling",
        "cancelled",
    }
    sim.client.get(f"/files/{finished['output_file_id']}")
    sim.client.delete(f"/files/{finished['output_file_id']}")
    sim.client.get("/files/file-missing")
    sim.client.post("/batches", json={"input_file_id": "file-missing", "endpoint": "/v1/responses"})
    sim.close()
    assert not sim.transport.violations, "\n".join(sim.transport.violations)
    assert sim.transport.checked >= 30
