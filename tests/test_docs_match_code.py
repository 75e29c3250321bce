"""The README documents every setting and every command the code has."""

from __future__ import annotations

from pathlib import Path

import click

from batchrunner.cli import main
from batchrunner.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_documents_every_setting() -> None:
    """Each Settings field appears in the README under its environment variable name."""
    for name, field in Settings.model_fields.items():
        variable = field.validation_alias or f"BATCHRUNNER_{name.upper()}"
        assert f"`{variable}`" in README, f"{variable} is not documented in README.md"


def _commands(group: click.Group, prefix: str = "batchrunner") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names.extend(_commands(command, f"{prefix} {name}"))
        else:
            names.append(f"{prefix} {name}")
    return names


def test_readme_mentions_every_command() -> None:
    """Each CLI command appears in the README."""
    for command in _commands(main):
        assert command in README, f"`{command}` is not documented in README.md"


def test_procfile_worker_line_is_the_documented_worker_command() -> None:
    """The Procfile's worker process is `dramatiq batchrunner.worker`, as the README says."""
    procfile = (Path(__file__).resolve().parents[1] / "Procfile").read_text()
    worker = next(line for line in procfile.splitlines() if line.startswith("worker:"))
    assert worker.split(":", 1)[1].strip().startswith("dramatiq batchrunner.worker")
    assert "dramatiq batchrunner.worker" in README
