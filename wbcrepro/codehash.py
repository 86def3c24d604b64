"""Content hashes of the package's code, so that staleness follows what a result depends on.

A training run depends on exactly the modules the training entry module executes: the import
closure of :data:`TRAINING_ENTRY` (data, datasets, models, transforms, engine, batchnorm, ...),
read from the source by :mod:`wbcrepro.importgraph`. A page depends on the whole package. Hashing
them apart means a change to a page, the runner or the export code re-renders pages but never
retrains, while a change to anything training imports makes every training run stale. The
package version string is no use for this: it stays 0.1.0 across every change.

Both hashes are over a *normal form* of the code, not its bytes, because a retrain costs hours of
CPU and a docstring, a comment or a move of a module into a subpackage changes no trained number:

* Each module is parsed with :mod:`ast`; comments and formatting vanish by construction, and line
  numbers are not hashed (``ast.dump(..., annotate_fields=False, include_attributes=False)``).
* No-op statements are dropped: docstrings (module, class, function), attribute docstrings and
  any other constant expression statement, and ``pass``.
* A package-internal import names its target by the target's own normal-form digest, never by
  its dotted path (``from wbcrepro.models import f`` and ``from wbcrepro.model.networks import f``
  are the same statement when the two files have the same normal form; relative imports are
  resolved first). Importing a different module therefore changes the hash; moving one does not.
  A local name bound only to an internal module (``from wbcrepro import models``, ``import
  wbcrepro.models as m``) and dotted uses ``wbcrepro.models.f`` of ``import wbcrepro.models`` are
  renamed to that placeholder, so a renamed module need not keep its old local name.
* Within each run of consecutive import statements the order is not hashed (the runs are sorted):
  an import sorter reorders them whenever a module is renamed, and the package's modules import
  nothing for its side effects in an order that matters.
* The per-module digests of the closure are combined sorted, without paths or module names; a
  module whose normal form is empty (a docstring-only ``__init__``) contributes nothing.

So a changed constant, a changed line of logic, or a module added to or removed from the closure
changes the hash; docstrings, comments, formatting, moves and renames do not. Limits: renaming a
function or class, or a type hint, does change it (they are code), and so does a new package
``__init__`` that re-exports names (keep new ``__init__`` files docstring-only); in an import
cycle (forbidden by the structure test) the back edge is a bare placeholder; ``ast.dump`` may
differ between Python releases, which is fine as the hash is compared within one pinned
environment. A hash recorded under the old raw-bytes definition is carried over by
``scripts/migrate_code_hash.py``, not by retraining.

The hashing machinery itself (modules named :data:`HASHING_MACHINERY`, wherever they sit) is left
out of the training hash, and imports of it become a fixed placeholder: it only computes the value
recorded beside results and never affects a trained number.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import sys
from functools import cache
from pathlib import Path

from wbcrepro.importgraph import (
    absolute_base,
    closure,
    import_graph,
    module_files,
    resolve,
)

PACKAGE_DIR = Path(__file__).resolve().parent
TRAINING_ENTRY = "wbcrepro.training.fit"
"""The module a training run starts from; its import closure is what training executes."""
RESULTS_KEY = "training_code_hash"
"""The key under which a run's results.json records :func:`training_code_hash` of its code."""
HASHING_MACHINERY = frozenset({"codehash", "importgraph"})
"""Last name components of the modules that compute the hash (excluded from it)."""
SCHEME = b"wbcrepro-normal-form-v2\n"
MACHINERY_PLACEHOLDER = "<hashing machinery>"
CYCLE_PLACEHOLDER = "<import cycle>"
_NO_OP = (ast.Pass,)


def _is_machinery(module: str) -> bool:
    return module.rpartition(".")[2] in HASHING_MACHINERY


def _drop_no_ops(tree: ast.AST) -> None:
    """Remove docstrings, other constant expression statements and ``pass`` from every body."""
    for node in ast.walk(tree):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                kept = [
                    s
                    for s in value
                    if not isinstance(s, _NO_OP)
                    and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
                ]
                setattr(node, field, kept)


def _sort_import_runs(tree: ast.AST) -> None:
    """Sort every run of consecutive import statements by its dump (see the module docstring)."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if not isinstance(body, list) or not body or not isinstance(body[0], ast.AST):
                continue
            out: list[ast.stmt] = []
            run: list[ast.stmt] = []
            for stmt in [*body, None]:
                if isinstance(stmt, ast.Import | ast.ImportFrom):
                    run.append(stmt)
                    continue
                out.extend(sorted(run, key=lambda s: ast.dump(s, annotate_fields=False)))
                run = []
                if stmt is not None:
                    out.append(stmt)
            setattr(node, field, out)


def _other_bindings(
    tree: ast.AST, module: str, is_package: bool, files: dict[str, Path]
) -> set[str]:
    """Names the module binds by anything but a package-internal import."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            names.update(node.names)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        elif isinstance(node, ast.Import):
            names.update(
                (a.asname or a.name).partition(".")[0]
                for a in node.names
                if resolve(a.name, files) is None
            )
        elif (
            isinstance(node, ast.ImportFrom)
            and resolve(absolute_base(module, is_package, node), files) is None
        ):
            names.update(a.asname or a.name for a in node.names)
    return names


class _Checkout:
    """One tree of the package: module files and their normal-form digests (memoised)."""

    def __init__(self, root: Path, package: str) -> None:
        self.package = package
        self.files = module_files(root, package)
        self._digests: dict[str, str] = {}
        self._empty: set[str] = set()
        self._busy: set[str] = set()

    def placeholder(self, module: str) -> str:
        """What an import of ``module`` (an existing module of the package) is written as."""
        if _is_machinery(module):
            return MACHINERY_PLACEHOLDER
        if module in self._busy:
            return CYCLE_PLACEHOLDER
        return f"<module {self.digest(module)}>"

    def target(self, dotted: str) -> str | None:
        """``dotted`` with its module part replaced by the placeholder (None: not internal)."""
        module = resolve(dotted, self.files)
        if module is None:
            return None
        return self.placeholder(module) + dotted[len(module) :]

    def normal_form(self, module: str) -> ast.Module:
        path = self.files[module]
        tree = ast.parse(path.read_bytes(), filename=str(path))
        _drop_no_ops(tree)
        tree = _Normaliser(self, module, path.name == "__init__.py", tree).visit(tree)
        _sort_import_runs(tree)
        return tree

    def digest(self, module: str) -> str:
        if module not in self._digests:
            self._busy.add(module)
            try:
                tree = self.normal_form(module)
            finally:
                self._busy.discard(module)
            if not tree.body:
                self._empty.add(module)
            dump = ast.dump(tree, annotate_fields=False, include_attributes=False)
            self._digests[module] = hashlib.sha256(dump.encode()).hexdigest()
        return self._digests[module]

    def combined(self, modules: list[str]) -> str:
        """The sorted digests of ``modules`` with a non-empty normal form, hashed together."""
        digests = {m: self.digest(m) for m in modules}
        kept = sorted(d for m, d in digests.items() if m not in self._empty)
        return hashlib.sha256(SCHEME + "\n".join(kept).encode()).hexdigest()[:16]


class _Normaliser(ast.NodeTransformer):
    """Rewrites one module's package-internal imports (and the names they bind) location-free."""

    def __init__(self, checkout: _Checkout, module: str, is_package: bool, tree: ast.AST) -> None:
        self.checkout, self.module, self.is_package = checkout, module, is_package
        bound: dict[str, set[str]] = {}  # local name -> placeholders of the modules it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name, module_bound in self._bindings(node):
                    bound.setdefault(name, set()).add(module_bound)
        others = _other_bindings(tree, module, is_package, checkout.files)
        self.renamed = {
            name: next(iter(targets))
            for name, targets in bound.items()
            if len(targets) == 1 and name not in others and "" not in targets
        }
        # dotted uses of ``import pkg.a.b`` are rewritten when ``pkg`` means only the package
        self.chains = checkout.package not in others and checkout.package not in self.renamed

    def _bindings(self, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
        """(local name, placeholder of the module it is bound to, or "" for a non-module) for
        each internal name the import binds."""
        files, found = self.checkout.files, []
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = self.checkout.target(alias.name)
                if target is not None and alias.asname:
                    found.append((alias.asname, target))
            return found
        base = absolute_base(self.module, self.is_package, node)
        if resolve(base, files) is None:
            return found
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            local = alias.asname or alias.name
            found.append((local, self.checkout.placeholder(sub) if sub in files else ""))
        return found

    def visit_Import(self, node: ast.Import) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for alias in node.names:
            target = self.checkout.target(alias.name)
            if target is None:
                out.append(ast.Import(names=[alias]))
            elif alias.asname:
                out.append(ast.Import(names=[ast.alias(target, self._local(alias.asname))]))
            else:
                out.append(ast.Import(names=[ast.alias(target, target if self.chains else None)]))
        return out

    def visit_ImportFrom(self, node: ast.ImportFrom) -> list[ast.stmt] | ast.ImportFrom:
        base = absolute_base(self.module, self.is_package, node)
        base_target = self.checkout.target(base)
        if base_target is None:
            return node
        out: list[ast.stmt] = []
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in self.checkout.files:
                local = self._local(alias.asname or alias.name)
                out.append(ast.Import(names=[ast.alias(self.checkout.placeholder(sub), local)]))
            else:
                out.append(ast.ImportFrom(base_target, [ast.alias(alias.name, alias.asname)], 0))
        return out

    def _local(self, name: str) -> str:
        return self.renamed.get(name, name)

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id in self.renamed:
            return ast.Name(self.renamed[node.id], node.ctx)
        if self.chains and node.id == self.checkout.package and node.id in self.checkout.files:
            return ast.Name(self.checkout.placeholder(node.id), node.ctx)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if self.chains:
            attrs: list[str] = []
            inner: ast.AST = node
            while isinstance(inner, ast.Attribute):
                attrs.insert(0, inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id == self.checkout.package:
                parts = [inner.id, *attrs]
                for i in range(len(parts), 0, -1):
                    if ".".join(parts[:i]) in self.checkout.files:
                        new: ast.expr = ast.Name(
                            self.checkout.placeholder(".".join(parts[:i])), ast.Load()
                        )
                        for attr in parts[i:]:
                            new = ast.Attribute(new, attr, ast.Load())
                        new.ctx = node.ctx
                        return new
        return self.generic_visit(node)


def training_modules_of(root: Path, package: str, entry: str) -> dict[str, Path]:
    """Module name -> file of every module a training run from ``entry`` executes, leaving out
    the hashing machinery (it is never executed on the way to a trained number)."""
    files = module_files(root, package)
    graph = {
        name: {t for t in targets if not _is_machinery(t)}
        for name, targets in import_graph(root, package).items()
        if not _is_machinery(name)
    }
    if entry not in graph:
        raise ValueError(f"no training entry module {entry!r} under {root / package}")
    return {name: files[name] for name in sorted(closure(graph, entry))}


def training_code_hash_of(root: Path, package: str, entry: str) -> str:
    """The training-code hash of the package ``package`` under ``root`` with entry module
    ``entry``: works on any checkout, e.g. an old commit whose entry module had another name."""
    checkout = _Checkout(Path(root), package)
    return checkout.combined(list(training_modules_of(Path(root), package, entry)))


def report_code_hash_of(root: Path, package: str) -> str:
    """The normal-form hash of every module of ``package`` under ``root``."""
    checkout = _Checkout(Path(root), package)
    return checkout.combined(list(checkout.files))


def training_modules() -> dict[str, Path]:
    """Module name -> file of every module a training run executes."""
    return training_modules_of(PACKAGE_DIR.parent, PACKAGE_DIR.name, TRAINING_ENTRY)


def source_key(root: Path, package: str) -> str:
    """A digest of the bytes of every module of ``package`` under ``root`` (with the scheme and
    the Python release, whose ``ast.dump`` the normal form depends on): equal keys, equal
    hashes. Reading the files costs milliseconds; parsing them into the normal form costs
    seconds in every process that trains or renders a page."""
    digest = hashlib.sha256(SCHEME + sys.version.encode() + b"\n")
    for name, path in sorted(module_files(root, package).items()):
        source = path.read_bytes()
        digest.update(f"{name}\n{len(source)}\n".encode())
        digest.update(source)
    return digest.hexdigest()


def _cached_hashes(root: Path, package: str, entry: str) -> dict[str, str]:
    """``{"training": ..., "report": ...}`` of the package, from the cache folder when a process
    has computed them for the same source bytes (:func:`source_key`), else computed and stored
    there. An unreadable or unwritable cache is ignored: the hashes are then computed."""
    from wbcrepro.fileio import write_json
    from wbcrepro.paths import cache_root

    path = cache_root() / "codehash" / f"{source_key(root, package)}.json"
    try:
        found = json.loads(path.read_text())
        if isinstance(found, dict) and {"training", "report"} <= set(found):
            return found
    except (OSError, ValueError):
        pass
    hashes = {
        "training": training_code_hash_of(root, package, entry),
        "report": report_code_hash_of(root, package),
    }
    with contextlib.suppress(OSError):
        write_json(path, hashes)
    return hashes


@cache
def training_code_hash() -> str:
    """Hash of the modules a training run executes: a change here makes trained runs stale."""
    return _cached_hashes(PACKAGE_DIR.parent, PACKAGE_DIR.name, TRAINING_ENTRY)["training"]


@cache
def report_code_hash() -> str:
    """Hash of the whole package: a change anywhere re-renders pages; only a
    :func:`training_code_hash` change retrains. The same normal form as the training hash, so a
    comment, a docstring or a move re-renders nothing either."""
    return _cached_hashes(PACKAGE_DIR.parent, PACKAGE_DIR.name, TRAINING_ENTRY)["report"]
