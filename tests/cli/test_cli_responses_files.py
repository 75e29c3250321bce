"""The command line on the Responses backend: Batch API files run as they are; bad input is refused whole."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from batchrunner.cli import main

REPO = Path(__file__).resolve().parents[2]
BATCH_FILE = REPO / "examples" / "batch-responses.jsonl"
ASSISTANTS = REPO / "examples" / "assistants.yaml"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory with no batchrunner settings in the environment."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("BATCHRUNNER_") or key == "OPENAI_API_KEY":
            monkeypatch.delenv(key)
    monkeypatch.setenv("BATCHRUNNER_WORKER_THREADS", "4")
    return tmp_path


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _count(workdir: Path, table: str) -> int:
    engine = sa.create_engine(f"sqlite:///{workdir / 'batchrunner.db'}")
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)
    finally:
        engine.dispose()


def _job(custom_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "assistant_id": "asst_support",
        "thread": {"messages": [{"role": "user", "content": "Hello"}]},
        **fields,
    }


def test_a_batch_api_file_runs_unchanged(workdir: Path) -> None:
    """An OpenAI Batch API input file (/v1/responses lines) completes, tool round included, with outputs."""
    result = CliRunner().invoke(main, ["run", str(BATCH_FILE), "--simulate", "--no-progress"])
    assert result.exit_code == 0, result.output
    results = CliRunner().invoke(main, ["results", "batch-responses"])
    lines = [json.loads(line) for line in results.output.splitlines()]
    assert [line["custom_id"] for line in lines] == ["req-1", "req-2", "req-3", "req-4"]
    assert all(line["status"] == "succeeded" and line["output"] and line["backend"] == "responses" for line in lines)
    assert all(line["usage"]["total_tokens"] > 0 for line in lines)
    by_id = {line["custom_id"]: line for line in lines}
    assert by_id["req-3"]["api_objects"] == 2 and "126" in by_id["req-3"]["output"]  # the calculate tool ran


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (_job("p", params={"max_prompt_tokens": 500}), ":2: params.max_prompt_tokens:"),
        (
            _job("t", params={"truncation_strategy": {"type": "last_messages", "last_messages": 3}}),
            ":2: params.truncation_strategy",
        ),
        (_job("a", assistant_id="asst_nobody"), ":2: assistant_id:"),
        ({"custom_id": "c", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}, ":2: url:"),
        (
            {
                "custom_id": "s",
                "method": "POST",
                "url": "/v1/responses",
                "body": {"model": "m", "input": "hi", "store": False},
            },
            ":2: body.store:",
        ),
        (
            {
                "custom_id": "u",
                "method": "POST",
                "url": "/v1/responses",
                "body": {"model": "m", "input": "hi", "messages": []},
            },
            ":2: body.messages:",
        ),
    ],
)
def test_a_line_with_no_responses_equivalent_is_refused_with_line_and_field(
    workdir: Path, line: dict[str, Any], expected: str
) -> None:
    """A parameter the Responses API cannot take refuses the whole file, naming line and field; nothing is stored."""
    path = _write(workdir / "jobs.jsonl", [_job("fine"), line])
    result = CliRunner().invoke(main, ["run", str(path), "--simulate", "--assistants", str(ASSISTANTS)])
    assert result.exit_code != 0
    assert f"{path}{expected}" in result.output, result.output
    assert "Nothing was enqueued" in result.output
    assert _count(workdir, "jobs") == 0


def test_the_same_refused_line_is_fine_on_the_assistants_backend(workdir: Path) -> None:
    """max_prompt_tokens is an Assistants parameter: with --backend assistants the file runs."""
    path = _write(workdir / "jobs.jsonl", [_job("p", params={"max_prompt_tokens": 500})])
    result = CliRunner().invoke(main, ["run", str(path), "--simulate", "--no-progress", "--backend", "assistants"])
    assert result.exit_code == 0, result.output
    assert _count(workdir, "jobs") == 1


def test_a_bad_assistants_file_names_the_file_the_assistant_and_the_field(workdir: Path) -> None:
    """An invalid assistants file stops enqueue with file, assistant and field; nothing is stored."""
    (workdir / "assistants.yaml").write_text("asst_support:\n  model: gpt-4o-mini\n  temperature: 3\n")
    path = _write(workdir / "jobs.jsonl", [_job("x")])
    result = CliRunner().invoke(main, ["run", str(path), "--simulate"])
    assert result.exit_code != 0
    assert "assistants.yaml: asst_support: temperature:" in result.output, result.output
    assert _count(workdir, "jobs") == 0


def test_jobs_naming_an_assistant_without_an_assistants_file_say_so(workdir: Path) -> None:
    """With no assistants file beside the job file, each line naming an assistant is refused at assistant_id."""
    path = _write(workdir / "jobs.jsonl", [_job("x")])
    result = CliRunner().invoke(main, ["run", str(path), "--simulate"])
    assert result.exit_code != 0
    assert f"{path}:1: assistant_id:" in result.output, result.output
