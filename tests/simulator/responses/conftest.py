"""Fixtures of the Responses tests: simulators on a fake clock whose traffic is checked against the spec."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from batchrunner.simulator import SimConfig
from tests.simulator.responses.rsim import RSim
from tests.simulator.responses.schemas import ResponsesContract, responses_contract
from tests.simulator.simhelpers import FakeClock


@pytest.fixture(scope="session")
def contract() -> ResponsesContract:
    """The Responses part of the OpenAPI document (spec/openai-openapi/ in the repository)."""
    return responses_contract()


@pytest.fixture
def make_rsim(contract: ResponsesContract) -> Iterator[Callable[..., RSim]]:
    """Build simulators: make_rsim(rpm=2, seed=3, ...); every answer they gave must match the spec."""
    built: list[RSim] = []

    def build(**overrides: Any) -> RSim:
        sim = RSim(SimConfig(**overrides), FakeClock(), contract)
        built.append(sim)
        return sim

    yield build
    for sim in built:
        sim.close()
    violations = [violation for sim in built for violation in sim.violations]
    assert not violations, "\n".join(violations[:10])


@pytest.fixture
def rsim(make_rsim: Callable[..., RSim]) -> RSim:
    """A simulator whose runs take exactly 10 s (1 s queued), on a fake clock."""
    return make_rsim(run_duration_min_s=10.0, run_duration_max_s=10.0)
