"""The one-time migration of recorded training-code hashes (scripts/migrate_code_hash.py), on a
small git repository: an old commit whose fake package ``pkg`` records raw-bytes hashes, and a
new commit that moves modules (or changes logic)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from wbcrepro.codehash import training_code_hash_of

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "migrate_code_hash.py"
OLD_CODEHASH = """import hashlib
from pathlib import Path


def training_code_hash():
    return hashlib.sha256(Path(__file__).with_name("entry.py").read_bytes()).hexdigest()[:16]
"""
OLD_ENTRY = "from pkg.helpers import scale\n\n\ndef fit(x):\n    return scale(x)\n"
NEW_ENTRY = (
    '"""Moved."""\n\nfrom pkg.tools.helpers import scale\n\n\ndef fit(x):\n    return scale(x)\n'
)
OLD_HASH = hashlib.sha256(OLD_ENTRY.encode()).hexdigest()[:16]


def _load_script():
    spec = importlib.util.spec_from_file_location("migrate_code_hash", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


migrate = _load_script()


def git(repo: Path, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    done = subprocess.run(
        [*cmd, "-c", "commit.gpgsign=false", *args], check=True, text=True, capture_output=True
    )
    return done.stdout.strip()


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


RECORDS = {
    "records/run/results.json": json.dumps(
        {"status": "complete", "training_code_hash": OLD_HASH, "final": {"acc": 0.9}}, indent=2
    )
    + "\n",
    "records/arm.run.json": json.dumps(
        {"runs": [{"id": 1, "training_code_hash": OLD_HASH}, {"training_code_hash": OLD_HASH}]},
        indent=2,
    )
    + "\n",
    "records/summary.json": json.dumps({"x": {"training_code_hash": OLD_HASH}}, indent=4),
    "records/plain.json": '{"a":  1, "b" :[1,2],\n "c": "training_code_hash"}\n',
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Old commit (tag ``old``): pkg with entry ``pkg.entry`` and records of its raw hash. Working
    tree and HEAD: helpers moved into ``pkg.tools`` and the entry to ``pkg.training.fit``."""
    root = tmp_path / "repo"
    write(
        root,
        {
            "pkg/__init__.py": '"""Fake."""\n',
            "pkg/codehash.py": OLD_CODEHASH,
            "pkg/entry.py": OLD_ENTRY,
            "pkg/helpers.py": "def scale(x):\n    return x * 2\n",
            **RECORDS,
        },
    )
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "old")
    git(root, "tag", "old")
    (root / "pkg/tools").mkdir()
    git(root, "mv", "pkg/helpers.py", "pkg/tools/helpers.py")
    (root / "pkg/training").mkdir()
    git(root, "mv", "pkg/entry.py", "pkg/training/fit.py")
    write(root, {"pkg/training/fit.py": NEW_ENTRY, "pkg/tools/__init__.py": '"""Tools."""\n'})
    git(root, "add", "-A")
    git(root, "commit", "-qm", "move")
    return root


def run(repo: Path, *extra: str) -> int:
    return migrate.main(
        [
            "--old-commit",
            "old",
            "--old-entry",
            "pkg.entry",
            "--new-entry",
            "pkg.training.fit",
            "--package",
            "pkg",
            "--repo",
            str(repo),
            "--paths",
            "records",
            *extra,
        ]
    )


def snapshot(repo: Path) -> dict[str, bytes]:
    return {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in (repo / "records").rglob("*")
        if p.is_file()
    }


def new_hash(repo: Path) -> str:
    return training_code_hash_of(repo, "pkg", "pkg.training.fit")


def test_a_move_migrates_every_old_value_and_keeps_every_other_byte(repo: Path, capsys) -> None:
    before, new = snapshot(repo), new_hash(repo)
    assert run(repo) == 0
    out = capsys.readouterr().out
    assert f"old recorded hash (old, old code):  {OLD_HASH}" in out
    assert "training logic between the two trees: unchanged" in out
    assert "files scanned: 4; values to rewrite: 4 in 3 file(s)" in out
    after = snapshot(repo)
    for name, data in before.items():  # only the value bytes differ; indent, order, newline kept
        assert after[name] == data.replace(OLD_HASH.encode(), new.encode()), name
    assert after["records/plain.json"] == before["records/plain.json"]
    assert not after["records/summary.json"].endswith(b"\n")
    runs = json.loads(after["records/arm.run.json"])["runs"]
    assert [r["training_code_hash"] for r in runs] == [new, new]
    # idempotent: a second run finds only new values
    assert run(repo) == 0
    assert "values to rewrite: 0 in 0 file(s); already new: 4" in capsys.readouterr().out
    assert snapshot(repo) == after


def test_dry_run_writes_nothing(repo: Path, capsys) -> None:
    before = snapshot(repo)
    assert run(repo, "--dry-run") == 0
    assert "values to rewrite: 4" in capsys.readouterr().out
    assert snapshot(repo) == before


def test_a_foreign_hash_is_refused_unless_skipped(repo: Path, capsys) -> None:
    write(repo, {"records/leakage.json": json.dumps({"training_code_hash": "feedc0de"}) + "\n"})
    before = snapshot(repo)
    assert run(repo) == 1
    out = capsys.readouterr().out
    assert "records/leakage.json: 'feedc0de'" in out and "REFUSED" in out
    assert snapshot(repo) == before
    assert run(repo, "--skip-other") == 0
    after = snapshot(repo)
    assert after["records/leakage.json"] == before["records/leakage.json"]
    assert new_hash(repo).encode() in after["records/run/results.json"]


def test_a_logic_change_is_refused_without_the_override(repo: Path, capsys) -> None:
    write(repo, {"pkg/tools/helpers.py": "def scale(x):\n    return x * 3\n"})
    before = snapshot(repo)
    assert run(repo) == 1
    out = capsys.readouterr().out
    assert "CHANGED" in out and "--allow-logic-change" in out
    assert snapshot(repo) == before
    assert run(repo, "--allow-logic-change", "scale fixed on purpose") == 0
    assert "allowed anyway: scale fixed on purpose" in capsys.readouterr().out
    assert new_hash(repo).encode() in snapshot(repo)["records/run/results.json"]


def test_rewrite_json_text_touches_only_the_value() -> None:
    text = '{"a": 1,\n\t"training_code_hash" :  "aaaa", "z": ["training_code_hash", "aaaa"]}'
    out = migrate.rewrite_json_text(text, "aaaa", "bbbb")
    assert out == text.replace('"training_code_hash" :  "aaaa"', '"training_code_hash" :  "bbbb"')
    assert migrate.rewrite_json_text('{"b": "aaaa"}\n', "aaaa", "bbbb") == '{"b": "aaaa"}\n'


@pytest.mark.slow
@pytest.mark.parametrize("via_buffer", [True, False], ids=["buffer", "path"])
def test_a_shipped_model_gets_new_metadata_and_the_same_weights(
    repo: Path, capsys, via_buffer: bool
) -> None:
    """Saved through a buffer as export_model does (or to a path): only the metadata changes."""
    torch = pytest.importorskip("torch")
    weights = {"w": torch.randn(4, 3).half(), "bn.running_var": torch.rand(3)}
    metadata = {"format": "x", "training_code_hash": OLD_HASH, "arch": "tiny"}
    path = repo / "records" / "model.pt"
    content = {"metadata": metadata, "state_dict": weights}
    if via_buffer:
        buffer = io.BytesIO()
        torch.save(content, buffer)
        path.write_bytes(buffer.getvalue())
    else:
        torch.save(content, path)
    size = path.stat().st_size
    assert run(repo) == 0
    assert "model.pt: embeds training_code_hash" in capsys.readouterr().out
    back = torch.load(path, weights_only=True)
    assert back["metadata"] == {**metadata, "training_code_hash": new_hash(repo)}
    assert all(torch.equal(back["state_dict"][k], v) for k, v in weights.items())
    assert back["state_dict"]["w"].dtype == torch.float16
    assert path.stat().st_size == size
