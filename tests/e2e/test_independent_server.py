"""A batch against a Responses server nobody here wrote: FakeAI (PyPI ``fakeai``), started as its own process.

FakeAI differs from the official API in ways a real deployment may too, and batchrunner must not care:
it ignores ``background`` and answers every create ``completed`` at once (no ``GET /responses/{id}``
at all), its ids use ``-`` (``resp-…``), its message parts are ``{"type": "text"}``, and its usage has
no token details. It also expects Chat-Completions-style tools and takes no ``input_text`` parts (both
against the official document), so the jobs here are those it can take: no tools, text content.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from batchrunner.cli import main

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
TOOL_ASSISTANTS = {"asst_math", "asst_clock", "asst_analyst"}


def _fakeai_can_answer(line: dict[str, Any]) -> bool:
    body = line.get("body", {})
    items = body.get("input") if isinstance(body.get("input"), list) else []
    parts = any(isinstance(item.get("content"), list) for item in items)
    return line.get("assistant_id") not in TOOL_ASSISTANTS and "tools" not in body and not parts


def _tool_less(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if _fakeai_can_answer(line)]


def test_a_batch_completes_against_an_independent_responses_server(
    fakeai_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Job-file and Batch-API lines all succeed with their output and usage recorded."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BATCHRUNNER_API_BASE_URL", fakeai_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-independent")
    monkeypatch.setenv("BATCHRUNNER_WORKER_THREADS", "4")
    monkeypatch.delenv("BATCHRUNNER_BACKEND", raising=False)
    jobs = _tool_less(REPO / "examples" / "jobs.jsonl") + _tool_less(REPO / "examples" / "batch-responses.jsonl")
    path = tmp_path / "independent.jsonl"
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs))

    result = CliRunner().invoke(
        main, ["run", str(path), "--no-progress", "--assistants", str(REPO / "examples" / "assistants.yaml")]
    )

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in CliRunner().invoke(main, ["results", "independent"]).output.splitlines()]
    assert [line["custom_id"] for line in lines] == [job["custom_id"] for job in jobs]
    for line in lines:
        assert line["status"] == "succeeded" and line["output"], line
        assert line["usage"]["total_tokens"] > 0 and line["api_object_id"], line
