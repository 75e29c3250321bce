"""The pydantic models cover every field the official schemas define."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import BaseModel

from batchrunner.backend.assistants.models import (
    NON_TERMINAL_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    Message,
    Run,
    RunStatus,
    RunStep,
    Thread,
)
from batchrunner.testing.openapi_contract import OpenApiContract


@pytest.mark.parametrize(
    ("schema_name", "model"),
    [("RunObject", Run), ("RunStepObject", RunStep), ("MessageObject", Message), ("ThreadObject", Thread)],
)
def test_models_declare_every_schema_property(
    openapi_contract: OpenApiContract, schema_name: str, model: type[BaseModel]
) -> None:
    """Each property of the spec's object schema is a declared (typed) field of its model."""
    properties = set(openapi_contract.spec["components"]["schemas"][schema_name]["properties"])
    assert properties - set(model.model_fields) == set()


def test_run_statuses_match_the_spec(openapi_contract: OpenApiContract) -> None:
    """RunStatus and the terminal/non-terminal sets agree with RunObject.status."""
    run_schema = openapi_contract.spec["components"]["schemas"]["RunObject"]
    spec_statuses = set(run_schema["properties"]["status"]["enum"])
    assert set(get_args(RunStatus)) == spec_statuses
    assert spec_statuses - {"requires_action"} == NON_TERMINAL_RUN_STATUSES | TERMINAL_RUN_STATUSES
