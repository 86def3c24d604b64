"""The package's shape: packages by concern whose imports run one way, no import cycle (top-level
or inside functions), at most 12 modules at the top, no module over 400 lines.

A cycle hidden by a late import inside a function still couples two modules both ways; the graph
here counts every ``import`` statement wherever it sits. Importing ``a.b.c`` counts as an edge to
``a.b.c`` only (not to the parents Python initialises on the way), as import linters do: a package
``__init__`` that imports its own submodules to register them is not a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from wbcrepro.importgraph import import_graph, module_files

PACKAGE = "wbcrepro"
ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
MAX_TOP_LEVEL_MODULES = 12
LINE_LIMIT_EXEMPT: set[str] = set()
FORBIDDEN_IMPORTS = {
    # pages only read run folders: no training, no model, no loading of trained models
    "report": {"training", "model", "inference", "reproduction"},
    # a training run never depends on how its model is used, run in a suite or shown
    "training": {"inference", "reproduction", "report"},
    # loading images knows nothing of training, models in use, the suite or the pages
    "data": {"training", "inference", "reproduction", "report"},
    "model": {"training", "inference", "reproduction", "report"},
    # pure numbers about the claims
    "analysis": {"data", "model", "training", "inference", "reproduction", "report"},
}
"""Subpackage -> subpackages it must not import (directly; the rule then holds transitively for
every path that stays inside the rules). The shared top-level modules (config, classes, paths,
fileio, runfolder, metrics, environment, codehash, importgraph) may be imported by all."""


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, sorted for stability)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def dynamic_imports(path: Path) -> list[int]:
    """Lines calling ``importlib.import_module`` or ``__import__`` (edges the graph cannot see)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                lines.append(node.lineno)
    return lines


# --- the checker finds what it should -----------------------------------------------------------


def _fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        file = tmp_path / "fake" / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
    return tmp_path


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    root = _fake_package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from fake.b import thing\n",
            "b.py": "def thing():\n    from fake import a\n    return a\n",
            "sub/__init__.py": "from fake.sub import leaf\n",
            "sub/leaf.py": "from . import helper\n",
            "sub/helper.py": "import fake.a\n",
        },
    )
    graph = import_graph(root, "fake")
    assert graph["fake.b"] == {"fake.a"}
    assert graph["fake.sub"] == {"fake.sub.leaf"}
    assert graph["fake.sub.leaf"] == {"fake.sub.helper"}  # relative import resolved
    assert find_cycle(graph) == ["fake.a", "fake.b", "fake.a"]


def test_a_package_importing_its_submodules_is_no_cycle(tmp_path: Path) -> None:
    root = _fake_package(
        tmp_path,
        {
            "__init__.py": "",
            "reg/__init__.py": "from fake.reg import one\nfrom fake.reg.types import Spec\n",
            "reg/types.py": "class Spec: ...\n",
            "reg/one.py": "from fake.reg.types import Spec\n",
        },
    )
    graph = import_graph(root, "fake")
    assert graph["fake.reg"] == {"fake.reg.one", "fake.reg.types"}
    assert find_cycle(graph) is None
    (root / "fake" / "reg" / "types.py").write_text("from fake.reg import one\n")
    assert find_cycle(import_graph(root, "fake")) == [
        "fake.reg.one",
        "fake.reg.types",
        "fake.reg.one",
    ]


# --- the package ---------------------------------------------------------------------------------


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph(ROOT, PACKAGE)
    assert "wbcrepro.data.loading" in graph and "wbcrepro.data.datasets.bccd" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def layer_violations(
    graph: dict[str, set[str]], package: str, rules: dict[str, set[str]]
) -> list[str]:
    """``a -> b`` for every import of a subpackage that ``rules`` forbids its importer."""

    def layer(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 2 or (len(parts) == 2 and module in packages) else ""

    packages = {m for m in graph if m.count(".") == 1 and any(d.startswith(m + ".") for d in graph)}
    return sorted(
        f"{m} -> {d}"
        for m, deps in graph.items()
        for d in deps
        if layer(d) in rules.get(layer(m), set())
    )


def test_the_layering_checker_finds_an_upward_import(tmp_path: Path) -> None:
    root = _fake_package(
        tmp_path,
        {
            "__init__.py": "",
            "shared.py": "",
            "report/__init__.py": "",
            "report/page.py": "from fake import shared\nfrom fake.training import fit\n",
            "training/__init__.py": "",
            "training/fit.py": "from fake import shared\n",
        },
    )
    graph = import_graph(root, "fake")
    assert layer_violations(graph, "fake", {"report": {"training"}}) == [
        "fake.report.page -> fake.training.fit"
    ]
    assert layer_violations(graph, "fake", {"training": {"report"}}) == []


def test_imports_run_one_way_between_the_packages() -> None:
    graph = import_graph(ROOT, PACKAGE)
    assert {f"{PACKAGE}.{name}" for name in FORBIDDEN_IMPORTS} <= set(graph)
    assert layer_violations(graph, PACKAGE, FORBIDDEN_IMPORTS) == []


@pytest.mark.slow
def test_importing_analysis_loads_no_torch() -> None:
    modules = sorted(m for m in import_graph(ROOT, PACKAGE) if m.startswith(f"{PACKAGE}.analysis"))
    code = f"import sys, {', '.join(modules)}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_few_modules_at_the_top() -> None:
    top = sorted(p.name for p in (ROOT / PACKAGE).glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_datasets_do_not_import_the_training_data_module() -> None:
    graph = import_graph(ROOT, PACKAGE)
    offenders = sorted(
        m
        for m, deps in graph.items()
        if m.startswith(f"{PACKAGE}.data.datasets") and ("wbcrepro.data.loading" in deps)
    )
    assert offenders == []
    assert "wbcrepro.data.datasets" in graph["wbcrepro.data.loading"]


def test_no_dynamic_imports_hide_edges() -> None:
    found = {
        str(path.relative_to(ROOT)): lines
        for path in module_files(ROOT, PACKAGE).values()
        if (lines := dynamic_imports(path))
    }
    assert found == {}


def test_no_module_exceeds_the_line_limit() -> None:
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in module_files(ROOT, PACKAGE).values()
    }
    assert len(sizes) > 20
    too_long = {
        name: n for name, n in sizes.items() if n > MAX_LINES and name not in LINE_LIMIT_EXEMPT
    }
    assert too_long == {}, f"modules over {MAX_LINES} lines: {too_long}"
