"""Imports point one way: wire -> simulation -> streamer core -> I/O shell (server, cli), and
wire -> clients; the server and the clients never import each other.

Parses (never imports) every ``.py`` under wire/, simulation/, streamer/ and clients/ and
checks:

* wire imports only the standard library and orjson, and nothing else of the project;
* simulation imports only numpy, the standard library and wire, and nothing that does async
  or network I/O;
* the streamer core (session, hub, schedule, config, batch, reference, http, the package) imports
  neither asyncio nor websockets, directly or through another project module;
* nothing in simulation or the streamer core imports streamer.server or streamer.cli;
* streamer imports nothing from clients, and clients nothing from streamer or simulation;
* only the ``streamer`` command (tick_streamer), which puts the two under one name, imports
  both, and nothing imports it.

A failure names the file, the line and the import (and the chain of project modules for an
indirect one). The checker itself is tested on made-up sources at the end of this file.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("wire", "simulation", "streamer", "clients", "tick_streamer")

CORE = ("streamer", "streamer.session", "streamer.hub", "streamer.schedule", "streamer.config",
        "streamer.batch", "streamer.reference", "streamer.http", "streamer.bus")
SHELL = ("streamer.server", "streamer.connection", "streamer.cli", "streamer.__main__",
         "streamer.publisher", "streamer.gateway", "streamer.buslink")
ASYNC_OR_NETWORK = ("asyncio", "websockets", "socket", "selectors", "ssl", "http", "urllib",
                    "uvloop", "aiohttp")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    path: str  # its file, relative to the project
    line: int
    name: str  # what it imports, absolute (relative imports resolved)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.name}"


@dataclass(frozen=True)
class Source:
    module: str
    path: str
    text: str
    is_package: bool


def read_project(root: Path = ROOT) -> list[Source]:
    sources = []
    for package in PACKAGES:
        for file in sorted((root / package).rglob("*.py")):
            parts = file.relative_to(root).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            sources.append(Source(".".join(parts), str(file.relative_to(root)),
                                  file.read_text(encoding="utf-8"), is_package))
    return sources


def imports_of(source: Source) -> Iterator[Import]:
    """Every import in a file, anywhere in it (functions and ``if`` blocks included)."""
    tree = ast.parse(source.text, filename=source.path)
    package = source.module.split(".") if source.is_package else source.module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(source.module, source.path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield Import(source.module, source.path, node.lineno, name)
            for alias in node.names:  # "from streamer import server" imports streamer.server
                if alias.name != "*":
                    yield Import(source.module, source.path, node.lineno, f"{name}.{alias.name}")


def within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


class Project:
    def __init__(self, sources: list[Source]) -> None:
        self.sources = {s.module: s for s in sources}
        self.imports = {s.module: list(imports_of(s)) for s in sources}

    def modules_under(self, package: str) -> list[str]:
        return [m for m in self.sources if within(m, [package])]

    def project_module(self, name: str) -> str | None:
        """The project module an imported name lives in (longest matching prefix)."""
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in self.sources:
                return candidate
        return None

    def reachable(self, start: str) -> dict[str, list[str]]:
        """Project modules that ``start`` imports, directly or not, with the chain to each."""
        chains: dict[str, list[str]] = {}
        todo: list[str] = []

        def reach(module: str, chain: list[str]) -> None:
            if module in chains:
                return
            chains[module] = chain
            todo.append(module)
            parts = module.split(".")  # importing a.b.c runs a/__init__ and a/b/__init__ too
            for end in range(1, len(parts)):
                parent = ".".join(parts[:end])
                if parent in self.sources:
                    reach(parent, [*chain, parent])

        reach(start, [start])
        while todo:
            module = todo.pop()
            for imp in self.imports[module]:
                target = self.project_module(imp.name)
                if target is not None:
                    reach(target, [*chains[module], target])
        return chains

    def forbidden(self, starts: Iterable[str], prefixes: Iterable[str],
                  transitive: bool = True) -> list[str]:
        """Imports of a ``prefixes`` module by a start module (or anything it reaches)."""
        prefixes = tuple(prefixes)
        found: set[str] = set()
        for start in starts:
            chains = self.reachable(start) if transitive else {start: [start]}
            for module, chain in chains.items():
                for imp in self.imports[module]:
                    if within(imp.name, prefixes):
                        via = "" if module == start else f" (via {' -> '.join(chain)})"
                        found.add(f"{imp}{via}")
        return sorted(found)


def outside(project: Project, package: str, allowed: Iterable[str]) -> list[str]:
    """Imports by ``package`` of anything but the standard library, itself and ``allowed``."""
    allowed = {"__future__", package, *allowed, *sys.stdlib_module_names}
    return sorted(str(imp) for module in project.modules_under(package)
                  for imp in project.imports[module]
                  if imp.name.split(".")[0] not in allowed)


@pytest.fixture(scope="module")
def project() -> Project:
    return Project(read_project())


def report(violations: list[str]) -> str:
    return "layering violated:\n  " + "\n  ".join(violations)


# --- the project --------------------------------------------------------------------------------


def test_every_package_and_core_module_is_found(project):
    missing = [m for m in (*PACKAGES, *CORE) if m not in project.sources]
    assert not missing, f"not found (renamed? update this test): {missing}"


def test_wire_imports_only_the_standard_library_and_orjson(project):
    violations = outside(project, "wire", ["orjson"])
    assert not violations, report(violations)


def test_simulation_imports_only_numpy_wire_and_the_standard_library(project):
    violations = outside(project, "simulation", ["numpy", "wire"])
    assert not violations, report(violations)


def test_simulation_does_no_async_or_network_io(project):
    violations = project.forbidden(project.modules_under("simulation"), ASYNC_OR_NETWORK)
    assert not violations, report(violations)


def test_the_streamer_core_imports_neither_asyncio_nor_websockets(project):
    violations = project.forbidden(CORE, ("asyncio", "websockets"))
    assert not violations, report(violations)


def test_nothing_below_the_io_shell_imports_the_server_or_the_cli(project):
    violations = project.forbidden([*project.modules_under("simulation"), *CORE], SHELL)
    assert not violations, report(violations)


def test_simulation_imports_nothing_from_streamer_or_clients(project):
    violations = project.forbidden(project.modules_under("simulation"), ("streamer", "clients"))
    assert not violations, report(violations)


def test_streamer_imports_nothing_from_clients(project):
    violations = project.forbidden(project.modules_under("streamer"), ("clients",))
    assert not violations, report(violations)


def test_nothing_imports_the_command_that_sits_above_both_sides(project):
    others = [m for m in project.sources if not within(m, ["tick_streamer"])]
    violations = project.forbidden(others, ("tick_streamer",), transitive=False)
    assert not violations, report(violations)


def test_clients_import_nothing_from_the_server_or_the_simulation(project):
    violations = project.forbidden(project.modules_under("clients"), ("streamer", "simulation"))
    assert not violations, report(violations)


# --- the checker can fail -----------------------------------------------------------------------


def fake(**modules: str) -> Project:
    """A made-up project: ``fake(**{"streamer.hub": "import asyncio"})``."""
    sources = []
    for name, text in modules.items():
        is_package = any(other.startswith(name + ".") for other in modules)
        path = name.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        sources.append(Source(name, path, text, is_package))
    return Project(sources)


def test_the_checker_reports_file_line_and_import():
    project = fake(**{"streamer": "", "streamer.hub": "x = 1\nimport asyncio\n"})
    assert project.forbidden(["streamer.hub"], ("asyncio",)) == [
        "streamer/hub.py:2: streamer.hub imports asyncio"]


def test_the_checker_sees_from_package_import_module():
    project = fake(**{"streamer": "", "streamer.session": "from streamer import server\n",
                      "streamer.server": ""})
    assert project.forbidden(["streamer.session"], SHELL) == [
        "streamer/session.py:1: streamer.session imports streamer.server"]


def test_the_checker_resolves_relative_imports():
    project = fake(**{"streamer": "", "streamer.hub": "from .cli import main\n",
                      "streamer.cli": ""})
    assert project.forbidden(["streamer.hub"], SHELL) == [
        "streamer/hub.py:1: streamer.hub imports streamer.cli",
        "streamer/hub.py:1: streamer.hub imports streamer.cli.main"]


def test_the_checker_sees_imports_inside_functions():
    project = fake(**{"simulation": "", "simulation.gbm": "def f():\n    import websockets\n"})
    assert project.forbidden(["simulation.gbm"], ASYNC_OR_NETWORK) == [
        "simulation/gbm.py:2: simulation.gbm imports websockets"]


def test_the_checker_follows_project_imports_to_an_indirect_violation():
    project = fake(**{"streamer": "", "streamer.hub": "from streamer import util\n",
                      "streamer.util": "import websockets.asyncio.server\n"})
    assert project.forbidden(["streamer.hub"], ("websockets",)) == [
        "streamer/util.py:1: streamer.util imports websockets.asyncio.server "
        "(via streamer.hub -> streamer.util)"]


def test_the_checker_counts_a_package_init_as_imported_with_its_module():
    project = fake(**{"streamer": "import asyncio\n", "streamer.hub": ""})
    assert project.forbidden(["streamer.hub"], ("asyncio",)) == [
        "streamer/__init__.py:1: streamer imports asyncio (via streamer.hub -> streamer)"]


def test_the_checker_flags_a_third_party_import_in_simulation():
    project = fake(**{"simulation": "", "simulation.gbm": "import numpy\nimport scipy.stats\n"})
    assert outside(project, "simulation", ["numpy"]) == [
        "simulation/gbm.py:2: simulation.gbm imports scipy.stats"]


def test_the_checker_follows_what_a_parent_package_imports():
    project = fake(**{"streamer": "from streamer import util\n", "streamer.hub": "",
                      "streamer.util": "import asyncio\n"})
    assert project.forbidden(["streamer.hub"], ("asyncio",)) == [
        "streamer/util.py:1: streamer.util imports asyncio "
        "(via streamer.hub -> streamer -> streamer.util)"]
