"""`batchrunner estimate`: a job file's tokens and cost per model and lane, read from the file alone."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from batchrunner.cli import main
from batchrunner.estimate import DEFAULT_OUTPUT_TOKENS
from batchrunner.lanes import PRICE_SHARE, Lane
from batchrunner.pricing import DEFAULT_MODEL_PRICES

REPO = Path(__file__).resolve().parents[2]
# Every job below sends 400 characters of message and its assistant 40 of instructions: 110 tokens at 4 a token.
MESSAGE = "m" * 400
INSTRUCTIONS = "i" * 40
INPUT_TOKENS = 110
ASSISTANTS = f"""
asst_plain:
  model: gpt-4o-mini
  instructions: {INSTRUCTIONS}
asst_tools:
  model: gpt-4o
  instructions: {INSTRUCTIONS}
  tools:
    - type: function
      function: {{name: calculate, parameters: {{type: object, properties: {{}}}}}}
asst_flex:
  model: gpt-5-mini
  instructions: {INSTRUCTIONS}
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory with no batchrunner settings in the environment, and an assistants file."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("BATCHRUNNER_") or key == "OPENAI_API_KEY":
            monkeypatch.delenv(key)
    (tmp_path / "assistants.yaml").write_text(ASSISTANTS)
    return tmp_path


def _job(custom_id: str, assistant_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "assistant_id": assistant_id,
        "thread": {"messages": [{"role": "user", "content": MESSAGE}]},
        **fields,
    }


def _write(workdir: Path, jobs: list[dict[str, Any]], name: str = "jobs.jsonl") -> Path:
    path = workdir / name
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs))
    return path


def _estimate(path: Path, *options: str) -> Result:
    return CliRunner().invoke(main, ["estimate", str(path), *options])


def _json_estimate(path: Path, *options: str) -> dict[str, Any]:
    result = _estimate(path, "--format", "json", *options)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.output)
    return document


def _rows(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["model"]: row for row in document["rows"]}


def _cost(model: str, input_tokens: int, output_tokens: int, lane: Lane) -> float:
    """USD from the published price table, computed here rather than by batchrunner.pricing."""
    price = DEFAULT_MODEL_PRICES[model]
    return (input_tokens * price.input + output_tokens * price.output) * PRICE_SHARE[lane] / 1_000_000


MIXED = [
    _job("plain-1", "asst_plain", params={"max_completion_tokens": 500}),
    _job("plain-2", "asst_plain"),
    _job("tools-1", "asst_tools", params={"max_completion_tokens": 300}),
    _job("flex-1", "asst_flex", params={"max_completion_tokens": 1000}),
]


def test_rows_per_model_price_tokens_in_every_lane(workdir: Path) -> None:
    """Each model's row sums its jobs' tokens (cap, else the default output) and prices them per lane."""
    rows = _rows(_json_estimate(_write(workdir, MIXED)))
    plain = rows["gpt-4o-mini"]
    assert (plain["jobs"], plain["input_tokens"], plain["output_tokens"]) == (
        2,
        2 * INPUT_TOKENS,
        500 + DEFAULT_OUTPUT_TOKENS,
    )
    for lane in (Lane.STANDARD, Lane.BACKGROUND_2H, Lane.BACKGROUND_8H, Lane.BATCH):
        expected = _cost("gpt-4o-mini", 2 * INPUT_TOKENS, 500 + DEFAULT_OUTPUT_TOKENS, lane)
        assert plain[lane.value] == pytest.approx(expected)
    flex = rows["gpt-5-mini"]
    assert flex["flex"] == pytest.approx(_cost("gpt-5-mini", INPUT_TOKENS, 1000, Lane.FLEX))


def test_a_lane_a_job_cannot_use_is_na_and_explained(workdir: Path) -> None:
    """Batch is n/a for a row with a tool job, flex for a model without flex; the notes say why; TOTAL is n/a."""
    path = _write(workdir, MIXED)
    rows = _rows(_json_estimate(path))
    assert rows["gpt-4o"]["batch"] is None and rows["gpt-4o"]["flex"] is None
    assert rows["gpt-4o-mini"]["flex"] is None and rows["gpt-4o-mini"]["batch"] is not None
    assert rows["gpt-5-mini"]["flex"] is not None
    table = _estimate(path)
    assert table.exit_code == 0, table.output
    tools_row = next(line for line in table.output.splitlines() if line.startswith("gpt-4o "))
    assert tools_row.split()[-3:-1] == ["n/a", "n/a"]  # flex, batch
    total_row = next(line for line in table.output.splitlines() if line.startswith("TOTAL"))
    assert total_row.split()[-3:-1] == ["n/a", "n/a"]
    assert "n/a in batch: jobs that offer function tools" in table.output
    assert "gpt-4o 1 of 1" in table.output
    assert "one round only" in table.output


def test_without_a_deadline_auto_is_the_standard_cost(workdir: Path) -> None:
    """With no deadline every job runs standard, so auto equals the standard column."""
    document = _json_estimate(_write(workdir, MIXED))
    for row in [*document["rows"], document["total"]]:
        assert row["auto"] == pytest.approx(row["standard"])


@pytest.mark.parametrize(
    ("deadline", "lanes"),
    [
        # model: lane auto should pick (3h: 2h window fits, flex fits; 25h: the Batch API lane for tool-less
        # jobs, the 8h window for the model with a tool job, flex where offered)
        ("3h", {"gpt-4o-mini": Lane.BACKGROUND_2H, "gpt-4o": Lane.BACKGROUND_2H, "gpt-5-mini": Lane.FLEX}),
        ("9h", {"gpt-4o-mini": Lane.BACKGROUND_8H, "gpt-4o": Lane.BACKGROUND_8H, "gpt-5-mini": Lane.FLEX}),
        ("25h", {"gpt-4o-mini": Lane.BATCH, "gpt-4o": Lane.BACKGROUND_8H, "gpt-5-mini": Lane.FLEX}),
    ],
)
def test_the_deadline_picks_each_jobs_auto_lane(workdir: Path, deadline: str, lanes: dict[str, Lane]) -> None:
    """--deadline gives auto the cost of the cheapest lane that meets it and the job's needs."""
    rows = _rows(_json_estimate(_write(workdir, MIXED), "--deadline", deadline))
    for model, lane in lanes.items():
        row = rows[model]
        assert row["auto"] == pytest.approx(_cost(model, row["input_tokens"], row["output_tokens"], lane))
        assert row["auto_lanes"] == {lane.value: row["jobs"]}


def test_a_lines_own_earlier_deadline_wins_over_the_commands(workdir: Path) -> None:
    """A job whose line says 3h runs background-2h under --deadline 30h; its neighbour without one the Batch API."""
    jobs = [_job("soon", "asst_plain", deadline="3h"), _job("later", "asst_plain")]
    row = _rows(_json_estimate(_write(workdir, jobs), "--deadline", "30h"))["gpt-4o-mini"]
    expected = _cost("gpt-4o-mini", INPUT_TOKENS, DEFAULT_OUTPUT_TOKENS, Lane.BACKGROUND_2H) + _cost(
        "gpt-4o-mini", INPUT_TOKENS, DEFAULT_OUTPUT_TOKENS, Lane.BATCH
    )
    assert row["auto"] == pytest.approx(expected)
    assert row["auto_lanes"] == {"background-2h": 1, "batch": 1}


def test_a_lines_own_lane_is_the_lane_it_is_estimated_in(workdir: Path) -> None:
    """A line naming its lane (standard) is estimated there whatever the deadline, as enqueue would run it."""
    jobs = [_job("forced", "asst_plain", lane="standard"), _job("auto", "asst_plain")]
    row = _rows(_json_estimate(_write(workdir, jobs), "--deadline", "30h"))["gpt-4o-mini"]
    assert row["auto_lanes"] == {"standard": 1, "batch": 1}


def test_assistants_backend_jobs_have_only_the_standard_lane(workdir: Path) -> None:
    """On the assistants backend every lane but standard is n/a, and auto stays standard whatever the deadline."""
    jobs = [_job("a", "asst_anything", params={"model": "gpt-4o-mini"})]
    document = _json_estimate(_write(workdir, jobs), "--backend", "assistants", "--deadline", "30h")
    row = _rows(document)["gpt-4o-mini"]
    assert [row[lane] for lane in ("background-2h", "background-8h", "flex", "batch")] == [None] * 4
    assert row["auto"] == pytest.approx(_cost("gpt-4o-mini", 100, DEFAULT_OUTPUT_TOKENS, Lane.STANDARD))
    assert any("assistants backend" in note for note in document["notes"])


def test_output_tokens_option_replaces_only_the_default(workdir: Path) -> None:
    """--output-tokens N is assumed for a job with no cap; a job's own cap still counts as written."""
    row = _rows(_json_estimate(_write(workdir, MIXED), "--output-tokens", "1234"))["gpt-4o-mini"]
    assert row["output_tokens"] == 500 + 1234


def test_a_model_without_a_price_is_na_everywhere(workdir: Path) -> None:
    """A job file naming a model the price table lacks gets n/a in every cost cell, TOTAL included."""
    jobs = [_job("odd", "asst_plain", params={"model": "my-finetune"}), _job("plain", "asst_plain")]
    document = _json_estimate(_write(workdir, jobs))
    odd = _rows(document)["my-finetune"]
    assert [odd[column] for column in ("standard", "background-2h", "flex", "batch", "auto")] == [None] * 5
    assert document["total"]["standard"] is None
    assert any("my-finetune" in note and "no price" in note for note in document["notes"])


def test_csv_has_a_total_row_and_writes_na(workdir: Path) -> None:
    """--format csv gives one row per model plus TOTAL, with n/a in the cells of lanes a job cannot use."""
    result = _estimate(_write(workdir, MIXED), "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = {row["model"]: row for row in csv.DictReader(io.StringIO(result.output))}
    assert list(rows) == ["gpt-4o", "gpt-4o-mini", "gpt-5-mini", "TOTAL"]
    assert rows["gpt-4o"]["batch"] == "n/a"
    assert int(rows["TOTAL"]["jobs"]) == len(MIXED)
    assert float(rows["TOTAL"]["standard"]) == pytest.approx(
        sum(float(rows[model]["standard"]) for model in ("gpt-4o", "gpt-4o-mini", "gpt-5-mini"))
    )


def test_old_style_prices_are_used_for_the_estimate(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BATCHRUNNER_MODEL_PRICES as {model: [input, output]} replaces the table and prices the estimate."""
    monkeypatch.setenv("BATCHRUNNER_MODEL_PRICES", json.dumps({"gpt-4o-mini": [1.0, 2.0]}))
    rows = _rows(_json_estimate(_write(workdir, MIXED)))
    plain = rows["gpt-4o-mini"]
    assert plain["standard"] == pytest.approx((plain["input_tokens"] * 1.0 + plain["output_tokens"] * 2.0) / 1e6)
    assert rows["gpt-4o"]["standard"] is None


def test_bad_prices_stop_the_command_with_the_setting_named(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed BATCHRUNNER_MODEL_PRICES fails the command, naming the model and the accepted forms."""
    monkeypatch.setenv("BATCHRUNNER_MODEL_PRICES", json.dumps({"gpt-4o": [2.5]}))
    result = _estimate(_write(workdir, MIXED))
    assert result.exit_code != 0
    assert "model_prices.gpt-4o" in result.output and "[input, cached_input, output]" in result.output


def test_a_bad_line_is_named_with_line_and_field_and_nothing_is_estimated(workdir: Path) -> None:
    """An invalid line fails the command like enqueue: each problem by line and field, exit 1, no table."""
    jobs = [_job("ok", "asst_plain"), _job("hot", "asst_plain", params={"temperature": 3.5}), _job("x", "asst_nobody")]
    result = _estimate(_write(workdir, jobs))
    assert result.exit_code == 1
    assert "jobs.jsonl:2: params.temperature" in result.output
    assert "jobs.jsonl:3: assistant_id" in result.output
    assert "TOTAL" not in result.output and "standard" not in result.output


def test_examples_estimate_without_touching_a_database(workdir: Path) -> None:
    """The example file is estimated from its assistants file alone: 21 jobs, and no database is created."""
    result = _estimate(
        REPO / "examples" / "jobs.jsonl", "--assistants", str(REPO / "examples" / "assistants.yaml"), "--format", "csv"
    )
    assert result.exit_code == 0, result.output
    total = next(row for row in csv.DictReader(io.StringIO(result.output)) if row["model"] == "TOTAL")
    assert int(total["jobs"]) == 21
    assert not (workdir / "batchrunner.db").exists()


def test_help_names_the_default_output_assumption() -> None:
    """The --output-tokens help states the default the estimate really assumes."""
    result = CliRunner().invoke(main, ["estimate", "--help"])
    assert f"default: {DEFAULT_OUTPUT_TOKENS}" in result.output
