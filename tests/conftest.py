"""Shared fixtures. Fixture modules live in ``batchrunner.testing`` and are loaded as plugins here."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["batchrunner.testing.databases"]


@pytest.fixture(scope="session")
def services_required() -> bool:
    """Under CI (``CI=true``) a test whose service (Postgres, Redis) is down fails instead of skipping."""
    return os.environ.get("CI", "").lower() == "true"
