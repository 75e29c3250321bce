"""Text no database can store (NUL, unpaired surrogates): refused in job files, replaced when the API or a
tool sends it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from batchrunner.backend.base import Handle, ObjectSnapshot, OutputItemRecord
from batchrunner.backend.responses.adapter import ResponsesBackend
from batchrunner.cli import main
from batchrunner.jobfile.errors import LineErrors
from batchrunner.jobfile.reader import parse_job_line
from batchrunner.jobs import BackendName, JobSpec
from batchrunner.metrics import TEXT_REPLACED
from batchrunner.storable_text import REPLACEMENT
from batchrunner.testing.harness import job, job_states, query_rows, step_harness
from batchrunner.testing.redis_scratch import scratch_redis_db
from batchrunner.tools.registry import ToolRegistry

NUL = "\x00"


def _line(**fields: object) -> str:
    body: dict[str, object] = {
        "custom_id": "a",
        "assistant_id": "asst_support",
        "thread": {"messages": [{"role": "user", "content": "hi"}]},
    }
    body.update(fields)
    return json.dumps(body)


def test_a_job_line_holding_nul_is_refused_naming_each_field() -> None:
    """custom_id, message content and metadata keys are each named; an escaped backslash is fine."""
    line = _line(
        custom_id=f"a{NUL}b",
        thread={"messages": [{"role": "user", "content": f"hi{NUL}"}]},
        params={"metadata": {f"k{NUL}": "v"}},
    )
    with pytest.raises(LineErrors) as raised:
        parse_job_line(line, 7)
    fields = {error.field for error in raised.value.errors}
    assert fields == {"custom_id", "thread.messages[0].content", f"params.metadata.k{NUL}"}
    assert all(error.line_no == 7 and "NUL" in error.message for error in raised.value.errors)
    assert parse_job_line(_line(custom_id="a\\u0000b"), 1).custom_id == "a\\u0000b"


def test_enqueue_on_postgres_refuses_the_file_and_leaves_nothing_behind(postgres_url: str, tmp_path: Path) -> None:
    """The whole file is refused with file, line and field; no batch row, no job is written."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(_line(custom_id="ok") + "\n" + _line(custom_id=f"bad{NUL}") + "\n", encoding="utf-8")
    with scratch_redis_db() as redis_url:
        env = {"BATCHRUNNER_DATABASE_URL": postgres_url, "BATCHRUNNER_BROKER_URL": redis_url}
        result = CliRunner().invoke(main, ["enqueue", str(jobs), "--backend", "assistants"], env=env)
    assert result.exit_code != 0
    assert f"{jobs}:2: custom_id: holds a character" in result.output
    assert "Traceback" not in result.output
    assert query_rows(postgres_url, "SELECT id FROM batches") == []
    assert query_rows(postgres_url, "SELECT id FROM jobs") == []


def _dirty(arguments: dict[str, Any]) -> str:
    return f"a{NUL}b \ud800 {arguments}"


def test_tool_output_with_nul_is_stored_replaced_and_the_job_succeeds(postgres_url: str) -> None:
    """A handler's output holding NUL and a lone surrogate is stored with U+FFFD; the job finishes."""
    registry = ToolRegistry()
    registry.register("calculate", _dirty)
    before = TEXT_REPLACED.labels(where="tool")._value.get()
    with step_harness(postgres_url, tools=registry) as harness:
        harness.enqueue([job("tool", assistant_id="asst_math", text="What is 2 + 2?")])
        harness.drain()
    assert job_states(postgres_url) == {"tool": "succeeded"}
    (invocation,) = query_rows(postgres_url, "SELECT output FROM tool_invocations")
    assert NUL not in invocation.output and invocation.output.startswith(f"a{REPLACEMENT}b {REPLACEMENT} ")
    assert TEXT_REPLACED.labels(where="tool")._value.get() >= before + 2


def _soiled(text: str) -> str:
    return f"{text}{NUL}\ud800"


class SoiledAnswers(ResponsesBackend):
    """Every answer's output text, output items and error hold NUL and a lone surrogate, as a server might send."""

    def look(self, handle: Handle) -> ObjectSnapshot:
        return self._soil(super().look(handle))

    def start(self, job: JobSpec, container_id: str | None, tag: str) -> ObjectSnapshot:
        return self._soil(super().start(job, container_id, tag))

    @staticmethod
    def _soil(snapshot: ObjectSnapshot) -> ObjectSnapshot:
        messages = snapshot.messages and tuple(
            replace(message, text=_soiled(message.text), content=[{"type": "output_text", "text": _soiled("x")}])
            for message in snapshot.messages
        )
        details = snapshot.details and tuple(
            replace(item, item={**item.item, "note": _soiled("n")}) if isinstance(item, OutputItemRecord) else item
            for item in snapshot.details
        )
        return replace(snapshot, messages=messages, details=details, error_message=_soiled("e"))


def test_api_text_with_nul_is_stored_replaced_in_text_and_json_and_the_job_succeeds(postgres_url: str) -> None:
    """Output text, output items (JSON) and error text holding NUL and lone surrogates are stored with U+FFFD."""
    before = {where: TEXT_REPLACED.labels(where=where)._value.get() for where in ("text", "json")}
    with step_harness(postgres_url, responses_backend_factory=SoiledAnswers) as harness:
        harness.enqueue([job("soiled", backend=BackendName.RESPONSES)])
        harness.drain()
    assert job_states(postgres_url) == {"soiled": "succeeded"}
    (row,) = query_rows(postgres_url, "SELECT output_text FROM jobs")
    assert row.output_text.endswith(REPLACEMENT * 2)
    items = query_rows(postgres_url, "SELECT item FROM response_output_items")
    assert items and all(item.item["note"] == "n" + REPLACEMENT * 2 for item in items)
    for where in ("text", "json"):
        assert TEXT_REPLACED.labels(where=where)._value.get() > before[where], where
