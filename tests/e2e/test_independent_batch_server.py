"""The Batch API lane against a Batch API server nobody here wrote: aimock (npm ``@copilotkit/aimock``).

aimock differs from the official API in ways batchrunner must not care about: its ids use ``-``, its
batch objects leave out the fields not yet set (no ``expires_at``, no ``errors``), a batch moves one
status per retrieve (validating, in_progress, completed) with no ``finalizing``, and every line is
answered with the same completed response and zero usage. ``batchrunner run`` runs the jobs here as it
would in production: the job file, the embedded worker, the driver on its own interval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from batchrunner.cli import main
from batchrunner.testing.harness import query_rows

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def _lines(count: int) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"ticket-{n}",
            "assistant_id": "asst_support",
            "thread": {"messages": [{"role": "user", "content": f"Summarise ticket {n}"}]},
            "lane": "batch",
        }
        for n in range(count)
    ]


def test_the_batch_lane_completes_a_batch_against_an_independent_batch_api_server(
    aimock_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every job goes in one input file, one batch is created and followed to its end, and each job's
    record holds its line's response."""
    monkeypatch.chdir(tmp_path)
    database = tmp_path / "batchrunner.db"
    monkeypatch.setenv("BATCHRUNNER_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("BATCHRUNNER_API_BASE_URL", aimock_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-independent")
    monkeypatch.setenv("BATCHRUNNER_BATCH_CHECK_SECONDS", "0.2")
    monkeypatch.delenv("BATCHRUNNER_BACKEND", raising=False)
    jobs = _lines(5)
    path = tmp_path / "overnight.jsonl"
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs))

    result = CliRunner().invoke(
        main, ["run", str(path), "--no-progress", "--assistants", str(REPO / "examples" / "assistants.yaml")]
    )

    assert result.exit_code == 0, result.output
    batches = httpx.get(f"{aimock_url}/batches", params={"limit": 100}).json()["data"]
    assert [(batch["status"], batch["request_counts"]["total"]) for batch in batches] == [("completed", 5)]
    lines = [json.loads(line) for line in CliRunner().invoke(main, ["results", "overnight"]).output.splitlines()]
    assert [line["custom_id"] for line in lines] == [job["custom_id"] for job in jobs]
    for line in lines:
        assert line["status"] == "succeeded" and line["output"] == "Mock batch completion", line
        assert line["api_object_id"], line
    url = f"sqlite:///{database}"
    submissions = query_rows(url, "SELECT phase, api_status, lines, api_batch_id FROM api_batches")
    assert [(s.phase, s.api_status, s.lines, s.api_batch_id) for s in submissions] == [
        ("done", "completed", 5, batches[0]["id"])
    ]
    objects = query_rows(url, "SELECT lane, status FROM api_objects")
    assert sorted(set(objects)) == [("batch", "completed")] and len(objects) == 5
