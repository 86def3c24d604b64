"""The git commit a run records, and when its tree counts as dirty."""

from __future__ import annotations

import subprocess
from pathlib import Path

from wbcrepro.environment import git_commit


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_dirty_means_changed_code_not_rewritten_run_outputs(tmp_path: Path) -> None:
    """reproduce rewrites the tracked run records under book/runs as it goes: that must not mark
    the later runs of the same call as trained from a dirty tree; any other change must."""
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "book" / "runs" / "cpu").mkdir(parents=True)
    (repo / "pkg" / "code.py").write_text("x = 1\n")
    (repo / "book" / "runs" / "cpu" / "a.run.json").write_text("{}\n")
    (repo / "book" / "intro.md").write_text("# Intro\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    clean = git_commit(repo / "pkg")  # asked from a subfolder, as the package does
    assert clean["dirty"] is False and len(clean["commit"]) == 40
    (repo / "book" / "runs" / "cpu" / "a.run.json").write_text('{"status": "running"}\n')
    (repo / "book" / "runs" / "cpu" / "new.ipynb").write_text("{}\n")  # untracked: ignored
    assert git_commit(repo / "pkg")["dirty"] is False
    (repo / "book" / "intro.md").write_text("# Intro, edited\n")  # tracked, outside the outputs
    assert git_commit(repo / "pkg")["dirty"] is True
    _git(repo, "checkout", "--", "book/intro.md")
    (repo / "pkg" / "code.py").write_text("x = 2\n")
    assert git_commit(repo / "pkg")["dirty"] is True
    assert git_commit(tmp_path)["dirty"] is None  # not a repository
