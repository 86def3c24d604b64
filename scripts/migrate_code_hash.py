"""One-time migration of recorded training-code hashes from the raw-bytes hash to the normal form.

Every run record stores ``training_code_hash`` and a run retrains when it differs from today's
value. The hash used to be over the raw bytes and paths of the training modules; it is now over a
normal form that ignores docstrings, comments and moves (:mod:`wbcrepro.codehash`). Switching the
definition changes the value even though no training code changed, which would retrain every run
(hours of CPU) for nothing. This script rewrites the recorded values instead, and only when that is
honest:

1. It extracts the old commit's package (``git archive``) and computes the OLD recorded value with
   the OLD hashing code, in a subprocess, exactly as the records were made.
2. It computes the NEW normal-form hash of the old tree (entry ``--old-entry``) and of the current
   tree (entry ``--new-entry``). Equal means the commits in between changed no training logic
   (only moves, docstrings, comments); otherwise it refuses unless ``--allow-logic-change REASON``.
3. In every ``*.json`` under ``--paths`` it replaces each ``training_code_hash`` value (at any
   depth, lists included) that equals the OLD hash by the current one. A value that is neither
   makes it refuse, listing the files and changing nothing, unless ``--skip-other`` (those values
   are then left alone and listed). Files are edited in place by replacing only the value's bytes,
   so key order, indent and the trailing newline stay exactly as they were.
4. A ``*.pt`` shipped model whose metadata embeds the hash is rewritten with torch when re-saving
   is byte-for-byte deterministic (checked first) and the weights reload identical; the file size
   stays the same, so the ``bytes`` beside it in the shipped ``.json`` stays true.

Usage::

    python scripts/migrate_code_hash.py --old-commit 7955008 --old-entry wbcrepro.runs \
        [--paths book/runs/cpu wbcrepro/assets] [--dry-run] [--skip-other] \
        [--allow-logic-change "why"]

Exit status 0 when migrated (or nothing to do), 1 when it refused; nothing is written on refusal or
with ``--dry-run``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# This checkout's hashing code (the new normal form), not whatever wbcrepro is installed.
sys.path.insert(0, str(ROOT))
from wbcrepro.codehash import RESULTS_KEY, TRAINING_ENTRY, training_code_hash_of  # noqa: E402

DEFAULT_PATHS = ("book/runs/cpu", "wbcrepro/assets")


def extract_package(repo: Path, commit: str, package: str, dest: Path) -> None:
    """``git archive <commit> <package> | tar -x -C dest``."""
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", commit, package], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def old_recorded_hash(tree: Path, package: str) -> str:
    """The training-code hash as the old commit's own code computes it (a fresh interpreter with
    only ``tree`` first on the path, so no other copy of the package is imported)."""
    code = f"import {package}.codehash as c; print(c.__file__); print(c.training_code_hash())"
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"the old hashing code failed:\n{done.stderr}")
    module_file, value = done.stdout.split()[-2:]
    if not Path(module_file).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the old hash was computed by {module_file}, not by the old tree")
    return value


def hash_values(obj: Any) -> list[Any]:
    """Every value recorded under :data:`RESULTS_KEY`, at any depth (dicts and lists)."""
    found: list[Any] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == RESULTS_KEY:
                found.append(value)
            else:
                found.extend(hash_values(value))
    elif isinstance(obj, list | tuple):
        for item in obj:
            found.extend(hash_values(item))
    return found


def replaced(obj: Any, old: str, new: str) -> Any:
    """``obj`` with every :data:`RESULTS_KEY` value equal to ``old`` set to ``new``."""
    if isinstance(obj, dict):
        return {
            k: new if k == RESULTS_KEY and v == old else replaced(v, old, new)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [replaced(item, old, new) for item in obj]
    return obj


def rewrite_json_text(text: str, old: str, new: str) -> str:
    """``text`` with only the bytes of each old hash value replaced (everything else identical),
    checked against the parsed result."""
    pattern = re.compile(
        rf"({re.escape(json.dumps(RESULTS_KEY))}\s*:\s*){re.escape(json.dumps(old))}"
    )
    out = pattern.sub(lambda m: m.group(1) + json.dumps(new), text)
    if json.loads(out) != replaced(json.loads(text), old, new):
        raise ValueError("the textual rewrite does not match the parsed record")
    return out


@dataclass
class Scan:
    """What the scan found: files to rewrite (path -> new bytes) and values it may not touch."""

    root: Path
    scanned: int = 0
    rewritten_values: int = 0
    already_new: int = 0
    writes: dict[Path, bytes] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def classify(self, path: Path, values: list[Any], old: str, new: str) -> int:
        """Count ``values``; return how many are the old hash (to be rewritten)."""
        olds = sum(v == old for v in values)
        self.already_new += sum(v == new and v != old for v in values)
        self.other += [f"{self.name(path)}: {v!r}" for v in values if v not in (old, new)]
        return olds

    def name(self, path: Path) -> str:
        return (
            path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)
        )


def scan_json(path: Path, old: str, new: str, scan: Scan) -> None:
    text = path.read_text(encoding="utf-8")
    try:
        values = hash_values(json.loads(text))
    except ValueError:
        scan.notes.append(f"{scan.name(path)}: not valid JSON, skipped")
        return
    olds = scan.classify(path, values, old, new)
    if olds:
        scan.writes[path] = rewrite_json_text(text, old, new).encode("utf-8")
        scan.rewritten_values += olds


def scan_pt(path: Path, old: str, new: str, scan: Scan) -> None:
    """A torch file whose (metadata) content records the hash: rewrite only that string."""
    try:
        import torch
    except ImportError:
        scan.notes.append(f"{scan.name(path)}: torch not importable, not checked")
        return
    original = path.read_bytes()
    try:
        content = torch.load(io.BytesIO(original), map_location="cpu", weights_only=True)
    except Exception as err:  # not a plain torch file: nothing of ours
        scan.notes.append(f"{scan.name(path)}: not loadable with weights_only ({err}), skipped")
        return
    values = hash_values(content)
    if values:
        scan.notes.append(f"{scan.name(path)}: embeds {RESULTS_KEY} in its metadata")
    olds = scan.classify(path, values, old, new)
    if not olds:
        return
    if (
        not isinstance(content, dict)
        or not isinstance(content.get("state_dict"), dict)
        or hash_values({k: v for k, v in content.items() if k != "metadata"})
    ):
        scan.other.append(
            f"{scan.name(path)}: not a metadata + state_dict file; re-export it instead"
        )
        return
    # torch.save names the archive after the file (or "archive" for a buffer): find the way it
    # was written, proven by re-saving the unchanged content byte for byte
    ways = [w for w in (None, path.name) if _saved(torch, content, w) == original]
    if not ways:
        scan.other.append(f"{scan.name(path)}: re-saving is not byte-identical; re-export it")
        return
    updated = {**content, "metadata": replaced(content["metadata"], old, new)}
    data = _saved(torch, updated, ways[0])
    back = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if (
        back.keys() != content.keys()
        or back["metadata"] != updated["metadata"]
        or not _same_tensors(torch, back["state_dict"], content["state_dict"])
        or len(data) != len(original)
    ):
        scan.other.append(
            f"{scan.name(path)}: rewriting the metadata would change more; re-export it"
        )
        return
    scan.writes[path] = data
    scan.rewritten_values += olds


def _saved(torch: Any, content: Any, file_name: str | None) -> bytes:
    """The bytes of ``torch.save(content)`` into a buffer, or into a file named ``file_name``."""
    if file_name is None:
        buffer = io.BytesIO()
        torch.save(content, buffer)
        return buffer.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(content, Path(tmp) / file_name)
        return (Path(tmp) / file_name).read_bytes()


def _same_tensors(torch: Any, a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a
    )


def scan_paths(repo: Path, paths: list[str], old: str, new: str) -> Scan:
    scan = Scan(repo)
    mentions = 0
    for name in paths:
        base = repo / name
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if path.suffix == ".json":
                scan.scanned += 1
                scan_json(path, old, new, scan)
            elif path.suffix == ".pt":
                scan.scanned += 1
                scan_pt(path, old, new, scan)
            elif path.suffix in (".ipynb", ".md", ".html") and old in path.read_text("utf-8"):
                mentions += 1
    if mentions:
        scan.notes.append(
            f"{mentions} rendered file(s) quote the old hash in text; left alone (re-rendering "
            "regenerates them)"
        )
    return scan


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old-commit", required=True)
    parser.add_argument("--old-entry", required=True, help="training entry module at that commit")
    parser.add_argument("--new-entry", default=TRAINING_ENTRY)
    parser.add_argument("--package", default="wbcrepro")
    parser.add_argument("--repo", default=str(ROOT), help="the git checkout (default: this one)")
    parser.add_argument("--paths", nargs="+", default=list(DEFAULT_PATHS))
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--skip-other", action="store_true")
    parser.add_argument("--allow-logic-change", metavar="REASON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    repo = Path(args.repo).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp)
        extract_package(repo, args.old_commit, args.package, tree)
        old = old_recorded_hash(tree, args.package)
        old_normal = training_code_hash_of(tree, args.package, args.old_entry)
    new = training_code_hash_of(repo, args.package, args.new_entry)
    same_logic = old_normal == new
    print(f"old recorded hash ({args.old_commit}, old code):  {old}")
    print(f"normal form of {args.old_commit} ({args.old_entry}): {old_normal}")
    print(f"normal form of the current tree ({args.new_entry}): {new}")
    verdict = "unchanged (moves, docstrings, comments only)" if same_logic else "CHANGED"
    print(f"training logic between the two trees: {verdict}")
    refused = []
    if not same_logic:
        if args.allow_logic_change:
            print(f"allowed anyway: {args.allow_logic_change}")
        else:
            refused.append("the training logic changed; pass --allow-logic-change REASON")
    scan = scan_paths(repo, args.paths, old, new)
    for note in scan.notes:
        print(f"note: {note}")
    if scan.other:
        print(f"{len(scan.other)} value(s) neither the old nor the new hash:")
        for line in scan.other:
            print(f"  {line}")
        if args.skip_other:
            print("  left alone (--skip-other)")
        else:
            refused.append("records carry other hashes; pass --skip-other to leave them alone")
    print(
        f"files scanned: {scan.scanned}; values to rewrite: {scan.rewritten_values} in "
        f"{len(scan.writes)} file(s); already new: {scan.already_new}; other: {len(scan.other)}"
    )
    if refused:
        for reason in refused:
            print(f"REFUSED: {reason}")
        print("nothing written")
        return 1
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    for path, data in scan.writes.items():
        path.write_bytes(data)
    print(f"rewritten: {scan.rewritten_values} value(s) in {len(scan.writes)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
