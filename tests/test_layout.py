"""The tree shows the architecture, and stays that way.

Every module under ``pipeline/`` is parsed with ``ast`` and every import in it counts, wherever it
stands: at the top, inside a function (a deferred import is still a dependency) or under
``TYPE_CHECKING``. On that graph: no cycle; each room imports only the rooms below it (the rules
the sub-packages' docstrings state); at most 12 modules directly in ``pipeline/``; no module over
600 lines; every sub-package opens with a docstring that says what lives there and what it may
import, and is installed (listed in pyproject.toml).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "pipeline"
MAX_TOP_MODULES = 12
MAX_LINES = 600
SHARED = "shared"  # records, findings, config, artifacts, manifest, run_state
ROOMS = ("profiles", "stages", "engines", "commands")

# What each room may import. The root package (``pipeline``: its version) is open to all.
ALLOWED = {
    SHARED: {SHARED},
    "profiles": {SHARED, "profiles"},
    "stages": {SHARED, "profiles", "stages"},
    "engines": {SHARED, "profiles", "stages", "engines"},
    "commands": {SHARED, "profiles", "stages", "engines", "commands"},
    "cli": {"cli", "commands"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def room(module: str) -> str:
    """The room a module of ``pipeline`` belongs to."""
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    if parts[1] in ROOMS:
        return parts[1]
    if parts[1] in ("cli", "__main__"):
        return "cli"
    return SHARED


def imports_in(module: str, source: str, is_package: bool = False) -> set[str]:
    """The modules of ``pipeline`` that ``module`` (whose text is ``source``) imports, anywhere."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + is_package]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # ``from a.b import c``: the module a.b.c when there is one, else a name of a.b
            targets = [
                f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in MODULES else prefix
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]  # import a.b.c where c is a name
            if target in MODULES and target != module:
                found.add(target)
    return found


GRAPH = {
    module: imports_in(module, path.read_text(encoding="utf-8"), path.name == "__init__.py")
    for module, path in MODULES.items()
}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_deferred_and_type_checking_imports() -> None:
    """The checks below mean something only if every kind of import is seen."""
    text = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from pipeline.records import rejection\n"
        "def f():\n"
        "    from pipeline.stages import convert\n"
        "    import pipeline.engines.tally as t\n"
        "    from .split import SplitPlan\n"
        "    from pipeline.stages.ingest import InputError\n"
    )
    assert imports_in("pipeline.stages.probe", text) == {
        "pipeline.records",
        "pipeline.stages.convert",
        "pipeline.engines.tally",
        "pipeline.stages.split",
        "pipeline.stages.ingest",
    }
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_each_room_imports_only_the_rooms_below_it() -> None:
    wrong = sorted(
        f"{module} ({room(module)}) imports {target} ({room(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if room(target) != "root" and room(target) not in ALLOWED[room(module)]
    )
    assert not wrong, "\n".join(wrong)


def test_at_most_a_dozen_modules_directly_in_pipeline() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, f"{len(top)} modules in pipeline/: {', '.join(top)}"


def test_no_module_over_600_lines() -> None:
    long = {
        str(path.relative_to(REPO)): n
        for path in MODULES.values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


@pytest.mark.parametrize("room_name", ROOMS)
def test_the_rooms_exist(room_name: str) -> None:
    assert (PACKAGE / room_name / "__init__.py").is_file()


SUBPACKAGES = sorted(p.parent for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE)


@pytest.mark.parametrize("folder", SUBPACKAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_each_subpackage_says_what_lives_there_and_what_it_may_import(folder: Path) -> None:
    doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
    assert doc and len(doc.splitlines()) >= 3, f"{folder}/__init__.py needs a docstring"
    assert "import" in doc, f"{folder}/__init__.py: say what the package may import"


def test_every_subpackage_is_installed() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    packages = {module_name(folder / "__init__.py") for folder in [PACKAGE, *SUBPACKAGES]}
    assert packages <= listed, f"not in pyproject.toml's packages: {sorted(packages - listed)}"
