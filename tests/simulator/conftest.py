"""Fixtures of the simulator tests: simulators on a fake clock, talked to in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from batchrunner.simulator import SimConfig
from tests.simulator.batchsim import BSim
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


@pytest.fixture
def make_bsim() -> Iterator[Callable[..., BSim]]:
    """Build Files/Batch simulators on a fake clock; every /files and /batches answer must match the spec."""
    built: list[BSim] = []

    def build(**overrides: Any) -> BSim:
        sim = BSim(SimConfig(**overrides), FakeClock())
        built.append(sim)
        return sim

    yield build
    for sim in built:
        sim.close()
    violations = [violation for sim in built for violation in sim.transport.violations]
    assert not violations, "\n".join(violations[:10])


@pytest.fixture
def bsim(make_bsim: Callable[..., BSim]) -> BSim:
    """Batches validate for 5 s, answer a line a second and finalize for 5 s."""
    return make_bsim(batch_validating_s=5.0, batch_line_s=1.0, batch_finalizing_s=5.0)
