"""The package's own import graph, read from the source (every ``import`` wherever it sits).

Two users: the structure test (no import cycle) and :mod:`wbcrepro.codehash`, which hashes exactly
the modules a training run executes (the import closure of the training entry module), so an edit
to a page, the runner or the export code never makes trained runs stale, and an edit to anything
training imports always does. Importing ``a.b.c`` counts as an edge to ``a.b.c`` only (not to the
parents Python initialises on the way), as import linters do.
"""

from __future__ import annotations

import ast
from pathlib import Path


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``package`` under ``root``."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def resolve(name: str, modules: dict[str, Path] | set[str]) -> str | None:
    """The package module ``name`` refers to (itself or its nearest existing parent), if any."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def absolute_base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute dotted name ``from <base> import ...`` refers to in ``module`` (relative
    imports resolved against the module's package)."""
    base = node.module or ""
    if not node.level:
        return base
    anchor = module.split(".")
    anchor = anchor if is_package else anchor[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join([*anchor, base] if base else anchor)


def import_targets(
    module: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]
) -> list[str]:
    """The dotted names one import statement loads, one per imported name (not yet resolved to
    an existing module: see :func:`resolve`)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = absolute_base(module, is_package, node)
    # ``from pkg import sub`` imports the submodule when there is one
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Package-internal modules that ``module`` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        for target in import_targets(module, is_package, node, modules):
            resolved = resolve(target, modules)
            if resolved is not None and resolved != module:
                found.add(resolved)
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    modules = module_files(root, package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def closure(graph: dict[str, set[str]], start: str) -> set[str]:
    """``start`` and every module it imports, directly or not, with the parent packages Python
    initialises on the way (``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in graph:
            continue
        seen.add(name)
        todo.extend(graph[name])
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
    return seen
