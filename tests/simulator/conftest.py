"""Fixtures of the simulator tests: simulators on a fake clock, talked to in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from batchrunner.simulator import SimConfig
from tests.simulator.simhelpers import FakeClock, Sim


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Sim]]:
    """Build simulators with a fake clock: make_sim(rpm=2, seed=3, ...)."""
    sims: list[Sim] = []

    def build(**overrides: Any) -> Sim:
        sim = Sim(SimConfig(**overrides), FakeClock())
        sims.append(sim)
        return sim

    yield build
    for sim in sims:
        sim.client.close()


@pytest.fixture
def sim(make_sim: Callable[..., Sim]) -> Sim:
    """A default simulator on a fake clock."""
    return make_sim()
