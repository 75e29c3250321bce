"""ToolRegistry: registration rules, entry points, settings modules, conflicts and bad sources."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from batchrunner.tools import builtin
from batchrunner.tools.registry import ENTRY_POINT_GROUP, ToolConflictError, ToolRegistry, ToolRegistryError

PLUGIN_DIR = Path(__file__).parent
BUILTIN_NAMES = {"calculate", "current_time", "text_statistics"}

WriteModule = Callable[[str], str]


def echo(arguments: dict[str, Any], /) -> dict[str, Any]:
    return arguments


def other_echo(arguments: dict[str, Any], /) -> dict[str, Any]:
    return dict(arguments)


@pytest.fixture
def plugin_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WriteModule]:
    """Writes a uniquely named module on sys.path and forgets it after the test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(source: str) -> str:
        name = f"tmp_tools_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def test_installed_entry_points_provide_the_builtins() -> None:
    """load() finds the three built-in handlers through the batchrunner.tools entry-point group."""
    registry = ToolRegistry.load()
    assert set(registry.names()) >= BUILTIN_NAMES
    assert registry.get("calculate") is builtin.calculate
    assert registry.get("current_time") is builtin.current_time
    assert registry.get("text_statistics") is builtin.text_statistics
    assert "batchrunner.tools.builtin:calculate" in (registry.source("calculate") or "")


def test_entry_points_can_be_left_out() -> None:
    """load(entry_points=False) registers nothing that was not asked for."""
    assert ToolRegistry.load(entry_points=False).names() == []


@pytest.mark.usefixtures("plugin_on_path")
def test_module_from_settings_adds_its_tools_after_the_entry_points() -> None:
    """A module named in settings registers every handler of its TOOLS dict, beside the built-ins."""
    registry = ToolRegistry.load(modules=["example_tool_plugin"])
    assert set(registry.names()) >= {"shout", "word_count"} | BUILTIN_NAMES
    shout = registry.get("shout")
    assert shout is not None and shout({"text": "hi"}) == "HI"
    assert registry.source("shout") == "module example_tool_plugin (TOOLS['shout'])"


def test_register_get_contains_and_names() -> None:
    """register() makes a handler reachable by get(), `in` and names(); unknown names give None."""
    registry = ToolRegistry()
    registry.register("zeta", echo)
    registry.register("alpha", other_echo)
    assert registry.get("zeta") is echo
    assert "alpha" in registry and "beta" not in registry
    assert registry.get("beta") is None
    assert registry.names() == ["alpha", "zeta"]
    assert len(registry) == 2


def test_registering_the_same_handler_twice_is_harmless() -> None:
    """The same handler under the same name from two sources is not a conflict."""
    registry = ToolRegistry()
    registry.register("echo", echo, source="first")
    registry.register("echo", echo, source="second")
    assert registry.get("echo") is echo
    assert registry.source("echo") == "first"


def test_conflicting_registrations_name_both_sources() -> None:
    """Two different handlers under one name raise ToolConflictError naming both sources."""
    registry = ToolRegistry()
    registry.register("echo", echo, source="source one")
    with pytest.raises(ToolConflictError, match=r"source one.*source two"):
        registry.register("echo", other_echo, source="source two")
    assert registry.get("echo") is echo


def test_module_conflicting_with_an_entry_point_names_both(write_module: WriteModule) -> None:
    """A settings module redefining a built-in's name fails loading, naming the entry point and the module."""
    module = write_module(
        """
        def calculate(arguments, /):
            return "not the real one"

        TOOLS = {"calculate": calculate}
        """
    )
    with pytest.raises(ToolConflictError) as caught:
        ToolRegistry.load(modules=[module])
    message = str(caught.value)
    assert "entry point calculate = batchrunner.tools.builtin:calculate" in message
    assert f"module {module}" in message


def test_two_modules_conflicting_fail(write_module: WriteModule) -> None:
    """Two settings modules defining the same tool name differently fail, whatever their order."""
    first = write_module("TOOLS = {'lookup': lambda arguments: 1}")
    second = write_module("TOOLS = {'lookup': lambda arguments: 2}")
    for order in ([first, second], [second, first]):
        with pytest.raises(ToolConflictError, match="'lookup' is registered twice"):
            ToolRegistry.load(entry_points=False, modules=order)


@pytest.mark.parametrize("name", ["", "has space", "dotted.name", "x" * 65, "naïve", "a\nb"])
def test_invalid_tool_names_are_rejected(name: str) -> None:
    """Names the API would not accept as function names cannot be registered."""
    with pytest.raises(ToolRegistryError, match="not a valid function name"):
        ToolRegistry().register(name, echo)


def test_non_callable_handlers_are_rejected(write_module: WriteModule) -> None:
    """A TOOLS entry that is not callable fails loading with its source named."""
    module = write_module("TOOLS = {'answer': 42}")
    with pytest.raises(ToolRegistryError, match=rf"'answer' from module {module}.*not callable: int"):
        ToolRegistry.load(entry_points=False, modules=[module])


@pytest.mark.parametrize(
    ("module_path", "message"),
    [
        ("", "not a dotted module path"),
        ("not a module", "not a dotted module path"),
        ("../../etc/passwd", "not a dotted module path"),
        ("pkg:attr", "not a dotted module path"),
        ("batchrunner_no_such_module_xyz", "could not be imported: ModuleNotFoundError"),
    ],
)
def test_bad_module_paths_fail_clearly(module_path: str, message: str) -> None:
    """A tool module that cannot be named or found fails loading with a message quoting it."""
    with pytest.raises(ToolRegistryError, match=message) as caught:
        ToolRegistry.load(entry_points=False, modules=[module_path])
    assert repr(module_path) in str(caught.value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("HANDLERS = {}", "has no TOOLS"),
        ("TOOLS = [print]", "must be a dict of name to handler, not list"),
        ("raise RuntimeError('boom at import')", "could not be imported: RuntimeError: boom at import"),
        ("def broken(:\n    pass", "could not be imported: SyntaxError"),
    ],
)
def test_broken_modules_fail_clearly(write_module: WriteModule, source: str, message: str) -> None:
    """A tool module without a usable TOOLS dict, or that fails to import, fails loading with the reason."""
    module = write_module(source)
    with pytest.raises(ToolRegistryError, match=message):
        ToolRegistry.load(entry_points=False, modules=[module])


@pytest.mark.usefixtures("plugin_on_path")
def test_entry_points_register_under_their_own_names() -> None:
    """An entry point's name, not the attribute's, is the tool name."""
    registry = ToolRegistry()
    point = EntryPoint(name="yell", value="example_tool_plugin:shout", group=ENTRY_POINT_GROUP)
    registry.register_entry_points([point])
    assert registry.names() == ["yell"]
    assert "entry point yell = example_tool_plugin:shout" in (registry.source("yell") or "")


def test_entry_point_that_cannot_load_fails_clearly() -> None:
    """An entry point whose target is missing fails loading, naming the entry point."""
    point = EntryPoint(name="ghost", value="batchrunner_no_such_module_xyz:ghost", group=ENTRY_POINT_GROUP)
    with pytest.raises(ToolRegistryError, match="entry point ghost = batchrunner_no_such_module_xyz:ghost"):
        ToolRegistry().register_entry_points([point])
