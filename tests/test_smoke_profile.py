"""The `smoke` profile end to end, as the README's test command promises: papermill executes every
notebook of the suite on the synthetic data, the run records land beside them, a second call
redoes nothing, and Jupyter Book 1 builds the book with warnings as errors and the SYNTHETIC
banner on every page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from wbcrepro.book import build_book
from wbcrepro.reproduce import reproduce

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what the suite reads (never the real book/runs), with the smoke profile run."""
    root = tmp_path_factory.mktemp("repo")
    for folder in ("notebooks", "profiles", "book"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("runs"))
    for name in ("_config.yml",):
        if (REPO / name).exists():
            shutil.copy(REPO / name, root / name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WBCREPRO_REPO", str(root))
        summary = reproduce("smoke", progress=False)
    assert summary.ok, summary.table()
    return root


def test_every_smoke_run_completes_with_its_records(smoke_repo: Path) -> None:
    runs = smoke_repo / "book" / "runs" / "smoke"
    summary = json.loads((runs / "summary.json").read_text())
    records = summary["runs"] if isinstance(summary, dict) and "runs" in summary else summary
    statuses = {r["id"]: r["status"] for r in records}
    assert statuses and set(statuses.values()) == {"complete"}, statuses
    results = json.loads((runs / "main-synthetic" / "results.json").read_text())
    assert results["status"] == "complete" and results["dataset"]["synthetic"] is True
    executed = (runs / "main-synthetic.ipynb").read_text()
    assert "SYNTHETIC" in executed


def test_second_call_redoes_nothing(smoke_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WBCREPRO_REPO", str(smoke_repo))
    summary = reproduce("smoke", progress=False)
    assert {o.status for o in summary.outcomes} == {"skipped"}


def test_book_builds_with_the_synthetic_banner(smoke_repo: Path, monkeypatch) -> None:
    monkeypatch.setenv("WBCREPRO_REPO", str(smoke_repo))
    index = build_book("smoke")
    html = index.parent
    pages = list(html.rglob("main-synthetic.html"))
    assert pages, "the executed main experiment is not in the book"
    assert "SYNTHETIC DATA" in pages[0].read_text()
