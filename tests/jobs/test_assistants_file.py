"""The assistants file: YAML and JSON, definitions, and errors naming the file, the assistant and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batchrunner.jobs import (
    AssistantDefinition,
    AssistantsFileError,
    JobFileError,
    default_assistants_path,
    load_assistants,
)
from batchrunner.simulator.catalogue import BUILTIN_ASSISTANTS
from tests.jobs.responses_helpers import CALC_NESTED, LOOKUP_FLAT

EXAMPLES = Path(__file__).parents[2] / "examples"

YAML_TEXT = """\
asst_support:
  model: gpt-4o-mini
  instructions: Be concise.
  temperature: 0.2
  metadata: {team: support}
asst_math:
  model: gpt-4o
  tools:
    - type: function
      function: {name: calc, parameters: {type: object, properties: {}}}
    - {type: function, name: lookup, strict: true}
  reasoning_effort: low
  response_format: {type: json_object}
"""


def _write(tmp_path: Path, text: str, name: str = "assistants.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(AssistantsFileError) as raised:
        load_assistants(path)
    return str(raised.value).splitlines()


def test_yaml_file_loads_every_definition(tmp_path: Path) -> None:
    """A YAML file gives one AssistantDefinition per id, with the fields it sets and nothing else."""
    assistants = load_assistants(_write(tmp_path, YAML_TEXT))
    assert list(assistants) == ["asst_support", "asst_math"]
    support = assistants["asst_support"]
    assert (support.model, support.instructions, support.temperature) == ("gpt-4o-mini", "Be concise.", 0.2)
    assert support.run_settings() == {
        "model": "gpt-4o-mini",
        "instructions": "Be concise.",
        "temperature": 0.2,
        "metadata": {"team": "support"},
    }
    math = assistants["asst_math"].run_settings()
    assert math["tools"] == [
        {"type": "function", "function": {"name": "calc", "parameters": {"type": "object", "properties": {}}}},
        {"type": "function", "name": "lookup", "strict": True},
    ]
    assert (math["reasoning_effort"], math["response_format"]) == ("low", {"type": "json_object"})


def test_json_file_loads_like_yaml(tmp_path: Path) -> None:
    """A .json file is read as JSON and gives the same definitions as the equivalent YAML."""
    data = {"asst_a": {"model": "gpt-4o", "tools": [CALC_NESTED, LOOKUP_FLAT], "top_p": 1}}
    from_json = load_assistants(_write(tmp_path, json.dumps(data), "assistants.json"))
    from_yaml = load_assistants(_write(tmp_path, json.dumps(data), "assistants.yaml"))
    assert from_json == from_yaml
    assert from_json["asst_a"].run_settings() == data["asst_a"]


def test_errors_name_file_assistant_and_field(tmp_path: Path) -> None:
    """Every problem of every assistant is listed as '<file>: <id>: <field>: <message>', in file order."""
    path = _write(
        tmp_path,
        "asst_support:\n  model: gpt-4o\n  temperature: 3\n  top_p: -1\nasst_math:\n  instructions: x\n",
    )
    assert _problems(path) == [
        f"{path}: asst_support: temperature: must be <= 2 (got 3)",
        f"{path}: asst_support: top_p: must be >= 0 (got -1)",
        f"{path}: asst_math: model: required",
    ]


def test_error_is_a_job_file_error_with_line_errors(tmp_path: Path) -> None:
    """AssistantsFileError is a JobFileError (the CLI reports it), its errors name '<id>.<field>'."""
    path = _write(tmp_path, "asst_x:\n  model: gpt-4o\n  temperature: 9\n")
    with pytest.raises(JobFileError) as raised:
        load_assistants(path)
    assert isinstance(raised.value, AssistantsFileError)
    (error,) = raised.value.errors
    assert (error.line_no, error.field, error.path) == (0, "asst_x.temperature", str(path))
    (problem,) = raised.value.problems
    assert (problem.assistant_id, problem.field) == ("asst_x", "temperature")


@pytest.mark.parametrize(
    ("definition", "field", "fragment"),
    [
        ({"model": "m", "temprature": 1}, "temprature", "unknown field (did you mean 'temperature'?)"),
        ({"model": "m", "name": "Support"}, "name", "unknown field: not used"),
        ({"model": "m", "tool_resources": {}}, "tool_resources", "no vector stores or containers"),
        ({"model": ""}, "model", "must not be empty"),
        ({"model": 4}, "model", "must be a string (got 4)"),
        ({"model": "m", "tools": [{"type": "file_search"}]}, "tools[0]", "no vector stores or containers"),
        ({"model": "m", "tools": [{"type": "code_interpreter"}]}, "tools[0]", "no vector stores or containers"),
        ({"model": "m", "tools": [{"type": "web_search"}]}, "tools[0]", "must be a function tool"),
        ({"model": "m", "tools": [{"type": "function", "name": "a b"}]}, "tools[0].name", "1 to 64 characters"),
        (
            {"model": "m", "tools": [{"type": "function", "name": "f", "extra": 1}]},
            "tools[0].extra",
            "unknown field",
        ),
        (
            {"model": "m", "tools": [CALC_NESTED, {"type": "function", "name": "calc"}]},
            "tools[1].name",
            "duplicate function name 'calc' (also tools[0])",
        ),
        ({"model": "m", "reasoning_effort": "extreme"}, "reasoning_effort", "must be 'none', 'minimal'"),
        (
            {"model": "m", "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            "response_format.json_schema.schema",
            "text.format needs the schema",
        ),
        ({"model": "m", "response_format": "json"}, "response_format", "must be 'auto' or an object"),
        ({"model": "m", "metadata": {"batchrunner_job": "x"}}, "metadata.batchrunner_job", "reserved"),
        (
            {"model": "m", "metadata": {f"k{i}": "v" for i in range(16)}},
            "metadata",
            "at most 15 pairs",
        ),
        ({"model": "m", "tools": None}, "tools", "must not be null"),
    ],
)
def test_bad_definition_is_reported_at_its_field(
    definition: dict[str, Any], field: str, fragment: str, tmp_path: Path
) -> None:
    """Each kind of bad definition gives one error at the expected field of the assistant."""
    path = _write(tmp_path, json.dumps({"asst_x": definition}), "assistants.json")
    (message,) = _problems(path)
    assert message.startswith(f"{path}: asst_x: {field}: ")
    assert fragment in message


def test_definition_must_be_a_mapping(tmp_path: Path) -> None:
    """An assistant whose definition is not a mapping is an error at the assistant itself."""
    path = _write(tmp_path, "asst_x: gpt-4o\n")
    assert _problems(path) == [f'{path}: asst_x: must be an object (got "gpt-4o")']


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("- model: gpt-4o\n", "a.yaml", "must be a mapping of assistant id to definition (got a list)"),
        ("just text\n", "a.yaml", "must be a mapping of assistant id to definition (got a string)"),
        ("", "a.yaml", "the file defines no assistants"),
        ("{}", "a.json", "the file defines no assistants"),
        ("a: {model: x}\na: {model: y}\n", "a.yaml", "invalid YAML: duplicate key 'a' at line 2, column 1"),
        ("a: [model\n", "a.yaml", "invalid YAML: "),
        ('{"a": {"model": "x"}, "a": {}}', "a.json", "invalid JSON: duplicate key 'a'"),
        ('{"a": ', "a.json", "invalid JSON: Expecting value at line 1, column 7"),
        ("7: {model: x}\n", "a.yaml", "assistant id 7 must be a non-empty string"),
    ],
)
def test_file_level_problems_are_clear(text: str, name: str, message: str, tmp_path: Path) -> None:
    """A file that is not a mapping of ids to definitions says so, naming the file (and the place)."""
    path = _write(tmp_path, text, name)
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}: {message}")


def test_missing_and_unreadable_files_are_clear(tmp_path: Path) -> None:
    """A missing file, a directory or bytes that are not UTF-8 raise AssistantsFileError, not OSError."""
    assert _problems(tmp_path / "absent.yaml") == [f"{tmp_path / 'absent.yaml'}: assistants file not found"]
    (directory,) = _problems(tmp_path)
    assert directory.startswith(f"{tmp_path}: cannot read file: ")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"a: {model: \xff}\n")
    assert _problems(binary) == [f"{binary}: invalid UTF-8 at byte 12"]


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    """Python-object tags are refused (the file is read with a safe loader)."""
    path = _write(tmp_path, "a: !!python/object/apply:os.system ['true']\n")
    (problem,) = _problems(path)
    assert "invalid YAML" in problem


def test_default_path_is_beside_the_job_file() -> None:
    """default_assistants_path gives assistants.yaml in the job file's directory."""
    assert default_assistants_path(Path("runs/2026/jobs.jsonl")) == Path("runs/2026/assistants.yaml")
    assert default_assistants_path("jobs.jsonl") == Path("assistants.yaml")


def test_assistant_definition_is_strict() -> None:
    """Strings are not numbers and unknown keys are errors, as in job lines."""
    with pytest.raises(ValueError):
        AssistantDefinition.model_validate({"model": "m", "temperature": "0.2"})
    with pytest.raises(ValueError):
        AssistantDefinition.model_validate({"model": "m", "stream": True})


def test_example_assistants_mirror_the_simulator_catalogue() -> None:
    """examples/assistants.yaml has each catalogue assistant with the same model, instructions and tools."""
    assistants = load_assistants(EXAMPLES / "assistants.yaml")
    assert set(assistants) == {entry["id"] for entry in BUILTIN_ASSISTANTS}
    for entry in BUILTIN_ASSISTANTS:
        settings = assistants[entry["id"]].run_settings()
        assert settings["model"] == entry["model"]
        assert settings["instructions"] == entry["instructions"]
        assert settings.get("tools", []) == entry["tools"]


def test_example_assistants_define_every_assistant_the_example_jobs_name() -> None:
    """Every assistant_id of examples/jobs.jsonl is defined in examples/assistants.yaml."""
    lines = (EXAMPLES / "jobs.jsonl").read_text(encoding="utf-8").splitlines()
    named = {json.loads(text)["assistant_id"] for text in lines if text.strip()}
    assert named <= set(load_assistants(EXAMPLES / "assistants.yaml"))
