"""The CLI on embedded defaults: `run --simulate`, `results`, `status`, `report usage`, bad input."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from batchrunner.cli import main
from batchrunner.db.batch_output import FinishedJob
from batchrunner.openai_batch_output import output_line, request_id_of
from batchrunner.testing.openapi_contract import validate_component

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "jobs.jsonl"


def _clean_environment(patch: pytest.MonkeyPatch, directory: Path) -> None:
    patch.chdir(directory)
    for key in list(os.environ):
        if key.startswith("BATCHRUNNER_") or key == "OPENAI_API_KEY":
            patch.delenv(key)
    patch.setenv("BATCHRUNNER_WORKER_THREADS", "4")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory with no batchrunner settings in the environment."""
    _clean_environment(monkeypatch, tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def _finished_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("embedded-run")
    with pytest.MonkeyPatch.context() as patch:
        _clean_environment(patch, directory)
        result = CliRunner().invoke(main, ["run", str(EXAMPLES), "--simulate", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "21 succeeded" in result.output
    return directory


@pytest.fixture
def finished_batch(_finished_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example file run to the end on embedded defaults (once per module), as the working directory."""
    _clean_environment(monkeypatch, _finished_dir)
    return _finished_dir


def _sqlite(workdir: Path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{workdir / 'batchrunner.db'}")


def test_run_then_results_lists_every_job_with_output_and_usage(finished_batch: Path) -> None:
    """`run --simulate` completes the examples; `results` gives one line per job in file order."""
    result = CliRunner().invoke(main, ["results", "jobs"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    expected = [json.loads(line)["custom_id"] for line in EXAMPLES.read_text().splitlines()]
    assert [line["custom_id"] for line in lines] == expected
    for line in lines:
        assert line["status"] == "succeeded" and line["output"], line
        assert line["usage"]["total_tokens"] == line["usage"]["prompt_tokens"] + line["usage"]["completion_tokens"]
        assert line["usage"]["total_tokens"] > 0 and line["error"] is None


def test_results_in_the_batch_apis_shape_hold_each_jobs_final_response(finished_batch: Path) -> None:
    """`results --format openai-batch`: one {id, custom_id, response, error} line per job, its body a spec Response."""
    plain = CliRunner().invoke(main, ["results", "jobs"])
    batch_shape = CliRunner().invoke(main, ["results", "jobs", "--format", "openai-batch"])
    assert batch_shape.exit_code == 0, batch_shape.output
    ours = [json.loads(line) for line in plain.output.splitlines()]
    lines = [json.loads(line) for line in batch_shape.output.splitlines()]
    assert [line["custom_id"] for line in lines] == [line["custom_id"] for line in ours]
    assert len({line["id"] for line in lines}) == len(lines) and all(
        line["id"].startswith("batch_req_") for line in lines
    )
    for line, result in zip(lines, ours, strict=True):
        assert set(line) == {"id", "custom_id", "response", "error"} and line["error"] is None
        body = line["response"]["body"]
        validate_component("Response", body)
        assert (line["response"]["status_code"], body["id"], body["status"]) == (
            200,
            result["api_object_id"],
            "completed",
        )
        text = "".join(part["text"] for item in body["output"] if item["type"] == "message" for part in item["content"])
        assert text == result["output"]  # the job's output is its final response's
        assert body["usage"]["total_tokens"] <= result["usage"]["total_tokens"]  # a tool round's first response too


def test_results_to_file_and_status_json(finished_batch: Path) -> None:
    """`results -o FILE` writes the same lines; `status --json` counts jobs by state."""
    assert CliRunner().invoke(main, ["results", "jobs", "-o", "out.jsonl"]).exit_code == 0
    assert len((finished_batch / "out.jsonl").read_text().splitlines()) == 21
    status = CliRunner().invoke(main, ["status", "jobs", "--json"])
    assert status.exit_code == 0, status.output
    (row,) = json.loads(status.output)
    assert (row["batch"], row["jobs"], row["finished"], row["by_state"]) == ("jobs", 21, 21, {"succeeded": 21})


def test_running_the_same_file_again_creates_no_job_and_no_run(finished_batch: Path) -> None:
    """A second `run` of the same file into the same batch enqueues nothing new and starts no response."""
    with _sqlite(finished_batch).connect() as conn:
        objects_before = conn.scalar(sa.text("SELECT count(*) FROM api_objects"))
    again = CliRunner().invoke(main, ["run", str(EXAMPLES), "--simulate", "--no-progress"])
    assert again.exit_code == 0, again.output
    with _sqlite(finished_batch).connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM jobs")) == 21
        assert conn.scalar(sa.text("SELECT count(*) FROM api_objects WHERE round = 0")) == 21
        assert conn.scalar(sa.text("SELECT count(*) FROM api_objects")) == objects_before
        assert conn.scalar(sa.text("SELECT DISTINCT backend FROM api_objects")) == "responses"


def test_the_same_file_runs_on_the_assistants_backend(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With BATCHRUNNER_BACKEND=assistants the example file completes as Assistants runs, one per job."""
    monkeypatch.setenv("BATCHRUNNER_BACKEND", "assistants")
    result = CliRunner().invoke(main, ["run", str(EXAMPLES), "--simulate", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "21 succeeded" in result.output
    with _sqlite(workdir).connect() as conn:
        rows = conn.execute(sa.text("SELECT backend, kind, count(*) FROM api_objects GROUP BY backend, kind")).all()
    assert [tuple(row) for row in rows] == [("assistants", "run", 21)]


@pytest.mark.parametrize("by", ["batch", "assistant", "model", "day"])
def test_report_usage_totals_equal_sums_over_runs(finished_batch: Path, by: str) -> None:
    """`report usage --by X` adds up to the tokens stored on the runs."""
    result = CliRunner().invoke(main, ["report", "usage", "--by", by, "--format", "csv", "--batch", "jobs"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    with _sqlite(finished_batch).connect() as conn:
        prompt, completion, total = conn.execute(
            sa.text("SELECT sum(prompt_tokens), sum(completion_tokens), sum(total_tokens) FROM api_objects")
        ).one()
    assert sum(int(r["prompt_tokens"]) for r in rows) == prompt
    assert sum(int(r["completion_tokens"]) for r in rows) == completion
    assert sum(int(r["total_tokens"]) for r in rows) == total > 0
    assert all(r["estimated_cost_usd"] for r in rows)


def test_bad_file_enqueues_nothing_and_names_line_and_field(workdir: Path) -> None:
    """A file with invalid lines exits non-zero, names each line and field, and creates no batch or job."""
    result = CliRunner().invoke(main, ["run", str(REPO / "examples" / "bad-jobs.jsonl"), "--simulate"])
    assert result.exit_code != 0
    assert "bad-jobs.jsonl:2: params.temperature" in result.output
    assert "bad-jobs.jsonl:3:" in result.output and "Nothing was enqueued" in result.output
    with _sqlite(workdir).connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM batches")) == 0
        assert conn.scalar(sa.text("SELECT count(*) FROM jobs")) == 0


def test_run_without_key_or_simulator_explains_what_is_missing(workdir: Path) -> None:
    """Without OPENAI_API_KEY and without --simulate, `run` refuses with a clear message."""
    result = CliRunner().invoke(main, ["run", str(EXAMPLES)])
    assert result.exit_code != 0 and "OPENAI_API_KEY" in result.output


def test_health_reports_a_broker_that_does_not_answer(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`health` exits 0 with a reachable database and 1 when the broker does not answer."""
    assert CliRunner().invoke(main, ["health"]).exit_code == 0
    monkeypatch.setenv("BATCHRUNNER_BROKER_URL", "redis://127.0.0.1:1/0")
    result = CliRunner().invoke(main, ["health", "--timeout", "1"])
    assert result.exit_code == 1 and "broker" in result.output


def test_run_with_a_deadline_that_passed_expires_every_job_without_a_request(workdir: Path) -> None:
    """`--deadline` with a time already past: nothing is started, every job ends expired."""
    result = CliRunner().invoke(
        main, ["run", str(EXAMPLES), "--simulate", "--no-progress", "--deadline", "2020-01-01T00:00Z"]
    )
    assert "21 expired" in result.output, result.output
    with _sqlite(workdir).connect() as conn:
        codes = conn.execute(sa.text("SELECT DISTINCT error_code FROM jobs")).scalars().all()
        objects = conn.execute(sa.text("SELECT count(*) FROM api_objects")).scalar()
    assert codes == ["deadline_exceeded"] and objects == 0


def test_a_bad_deadline_option_is_refused_before_anything_runs(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(EXAMPLES), "--simulate", "--deadline", "tomorrow"])
    assert result.exit_code == 2
    assert "--deadline" in result.output and "'tomorrow' is not a duration" in result.output
    assert not (workdir / "batchrunner.db").exists()


def test_a_job_refused_before_any_object_has_no_response_and_its_error_in_the_batch_shape() -> None:
    """A finished job without an API object (its create was refused) gives response null and its error."""
    refused = FinishedJob(3, "odd", "failed", "http_400", "Invalid model", latest=None)
    line = output_line("nightly", refused)
    assert line == {
        "id": request_id_of("nightly", "odd"),
        "custom_id": "odd",
        "response": None,
        "error": {"code": "http_400", "message": "Invalid model"},
    }
    assert request_id_of("nightly", "odd") != request_id_of("nightly", "even")
