"""A tool or package a test needs but does not find: skipped on a laptop, a failure under CI.

CI (``CI=true``) installs everything the suite uses, so there a missing piece is a broken set-up that a
skip would hide.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest


def missing(message: str) -> NoReturn:
    """Skip the test, or fail it under CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (under CI=true the suite needs it)")
    pytest.skip(message)


def required_module(name: str, hint: str) -> ModuleType:
    """The module ``name``, imported; ``missing`` it otherwise, with ``hint`` saying what brings it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"{name} is not installed ({hint})")


__all__ = ["missing", "required_module"]
