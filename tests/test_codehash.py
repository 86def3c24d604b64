"""Staleness follows the code a result depends on: training runs hash what training imports."""

from __future__ import annotations

from pathlib import Path

from wbcrepro import codehash


def test_training_hash_covers_what_fit_imports_and_nothing_presentational() -> None:
    modules = set(codehash.training_modules())
    assert {
        "wbcrepro.training.fit",
        "wbcrepro.training.engine",
        "wbcrepro.data.loading",
        "wbcrepro.data.transforms",
    } <= modules
    assert "wbcrepro.data.datasets.pbc" in modules  # loaders run inside fit
    for page_or_tool in (
        "wbcrepro.report",
        "wbcrepro.report.experiment_page",
        "wbcrepro.analysis.verdicts",
        "wbcrepro.reproduction.runner",
        "wbcrepro.inference.shipped",
        "wbcrepro.inference.crossdomain",
        "wbcrepro.training.experiment",
        "wbcrepro.inference.explain",
    ):
        assert page_or_tool not in modules, page_or_tool


def test_digest_changes_with_content_and_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(codehash, "PACKAGE_DIR", tmp_path)
    a = tmp_path / "a.py"
    a.write_text("x = 1\n")
    first = codehash._digest([a])
    a.write_text("x = 2\n")
    assert codehash._digest([a]) != first
    a.write_text("x = 1\n")
    assert codehash._digest([a]) == first
    b = tmp_path / "b.py"
    b.write_text("x = 1\n")
    assert codehash._digest([b]) != first
