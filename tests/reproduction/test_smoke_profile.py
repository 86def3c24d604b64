"""The `smoke` profile end to end, as the README's test command promises: papermill executes every
notebook of the suite on the synthetic data, the run records land beside them, a second call
redoes nothing, and Jupyter Book 1 builds the book with warnings as errors and the SYNTHETIC
banner on every page.

This is the one test that executes the notebooks: it also checks what each executed page shows
(its header first, no error, every glued number its prose refers to, training in its own step).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from wbcrepro.reproduction.profiles import load_profile
from wbcrepro.reproduction.roles import PAGE, role_of
from wbcrepro.reproduction.runner import reproduce

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("smoke")]  # one worker builds the book

# `smoke_repo` (the profile executed once per session) and `smoke_book` (its book, built once)
# are fixtures of conftest.py, shared with test_browser.py.


def test_every_smoke_run_completes_with_its_records(smoke_repo: Path) -> None:
    runs = smoke_repo / "book" / "runs" / "smoke"
    summary = json.loads((runs / "summary.json").read_text())
    statuses = {r["id"]: r["status"] for r in summary["runs"]}
    assert statuses == {run_id: "complete" for run_id in _run_ids(smoke_repo)}
    results = json.loads((runs / "main-synthetic-s0" / "results.json").read_text())
    assert results["status"] == "complete" and results["dataset"]["synthetic"] is True
    executed = (runs / "main-synthetic-s0.ipynb").read_text()
    assert "SYNTHETIC" in executed


def test_second_call_redoes_nothing(smoke_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WBCREPRO_REPO", str(smoke_repo))
    summary = reproduce("smoke", progress=False)
    assert {o.status for o in summary.outcomes} == {"skipped"}


def test_book_builds_with_the_synthetic_banner(smoke_book: Path) -> None:
    html = smoke_book
    pages = list(html.rglob("main-synthetic-s0.html"))
    assert pages, "the executed main experiment is not in the book"
    assert "SYNTHETIC DATA" in pages[0].read_text()
    # Results first: the findings page is the root, the introduction its first chapter.
    index = (html / "index.html").read_text()
    assert "book/runs/smoke/findings.html" in index
    findings = (html / "book" / "runs" / "smoke" / "findings.html").read_text()
    assert "SYNTHETIC DATA" in findings and "What we found" in findings
    assert (html / "book" / "intro.html").is_file()


GLUE_ROLE = re.compile(r"\{glue:text\}`([^`:]+)(?::[^`]*)?`")


def _run_ids(repo: Path) -> list[str]:
    """Every run of the profile, entries with ``seeds`` expanded to their seed runs."""
    return load_profile("smoke", repo=repo).run_ids


def _outputs(nb) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _text(output) -> str:
    if output.output_type == "stream":
        return output.text
    return "".join(str(v) for v in output.get("data", {}).values())


def test_every_executed_page_is_labelled_complete_and_error_free(smoke_repo: Path) -> None:
    runs = smoke_repo / "book" / "runs" / "smoke"
    for run_id in _run_ids(smoke_repo):
        nb = nbformat.read(runs / f"{run_id}.ipynb", as_version=4)
        outputs = _outputs(nb)
        assert not [o for o in outputs if o.output_type == "error"], run_id
        markdown = [o for o in outputs if "text/markdown" in o.get("data", {})]
        assert markdown, f"{run_id}: no markdown output, so no synthetic label"
        assert "SYNTHETIC DATA" in _text(markdown[0]), run_id  # labelled before anything else
        # results first: every page's provenance is folded at its end, not its first screen
        assert not any("| profile | smoke |" in _text(m) for m in markdown[:-1]), run_id
        last = _text(markdown[-1])
        assert "<details><summary>Provenance" in last, run_id
        assert "| profile | smoke |" in last or "Profile `smoke`" in last, run_id
        glued = {
            o["metadata"]["scrapbook"]["name"]
            for o in outputs
            if o.get("metadata", {}).get("scrapbook")
        }
        referred = {
            key
            for c in nb.cells
            if c.cell_type == "markdown"
            for key in GLUE_ROLE.findall(c.source)
        }
        assert referred <= glued, f"{run_id}: prose refers to unglued {referred - glued}"


def test_experiment_pages_train_in_their_own_step(smoke_repo: Path) -> None:
    nb = nbformat.read(smoke_repo / "book/runs/smoke/main-synthetic-s0.ipynb", as_version=4)
    text = "\n".join(_text(o) for o in _outputs(nb))
    assert "Training run main-synthetic-s0 in book/runs/smoke/main-synthetic-s0 now" in text
    assert "(recorded when it trained)" in text and "Python 3." in text


def test_the_data_page_trains_nothing_and_says_how_to_get_the_leakage_audit(
    smoke_repo: Path,
) -> None:
    nb = nbformat.read(smoke_repo / "book/runs/smoke/data-synthetic.ipynb", as_version=4)
    text = "\n".join(_text(o) for o in _outputs(nb))
    assert "no model was trained" in text
    assert "wbcrepro data leakage --out" in text


def test_the_learning_curve_page_reads_both_points_on_validation(smoke_repo: Path) -> None:
    nb = nbformat.read(smoke_repo / "book/runs/smoke/learning-curve.ipynb", as_version=4)
    glued = {
        o["metadata"]["scrapbook"]["name"]: _text(o)
        for o in _outputs(nb)
        if o.get("metadata", {}).get("scrapbook")
    }
    assert re.search(r"\d+ to \d+ images: [+-]\d+\.\d points", glued["curve_images"])
    assert "no curve" not in glued["curve_reference"]
    text = "\n".join(_text(o) for o in _outputs(nb))
    assert "curve-synthetic-small" in text and "main-synthetic-s0" in text


AS_JOBS = ("data-synthetic", "transfer-frozen")
"""A data run and a training run of the smoke profile, re-executed as submitit jobs, and the page
that reads the training run (beside two runs of the inline call)."""
PAGE_OF_JOBS = "ablation-transfer"


def test_smoke_profile_through_submitit_local_jobs_matches_the_inline_call(
    smoke_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--executor local``: a training and a data run each a submitit job (a real subprocess),
    the page reading them here; the records and trained numbers equal the inline call's, and the
    page reads the job's run folder. Two jobs, not the whole profile: every job runs the one
    ``run_one`` the inline call runs, so more of them prove nothing more, and the book built from
    equal records is the smoke book (``test_book_builds_with_the_synthetic_banner``)."""
    import shutil

    root = tmp_path / "repo"
    for folder in ("notebooks", "profiles", "book"):
        shutil.copytree(smoke_repo / folder, root / folder)  # the inline runs and their records
    monkeypatch.setenv("WBCREPRO_REPO", str(root))
    # one job at a time: each gets every core, as the inline call's kernels did (a thread
    # count changes the float sums, so the trained numbers would differ in the last digits)
    only = [*AS_JOBS, PAGE_OF_JOBS]
    summary = reproduce("smoke", only=only, force=True, progress=False, execution="local", jobs=1)
    assert summary.ok, summary.table()
    assert sorted(o.id for o in summary.outcomes) == sorted(only)
    assert {o.status for o in summary.outcomes} == {"complete"}
    ours, inline = root / "book" / "runs" / "smoke", smoke_repo / "book" / "runs" / "smoke"
    for run_id in only:
        record = json.loads((ours / f"{run_id}.run.json").read_text())
        reference = json.loads((inline / f"{run_id}.run.json").read_text())
        assert record["status"] == reference["status"] == "complete", run_id
        assert record["parameters"] == reference["parameters"]
        assert record["reasons"] == ["forced"], run_id  # executed again, after the inline call
        assert record["started"] >= reference["finished"], run_id
        notebook = load_profile("smoke", repo=root).run(run_id).notebook
        as_job = role_of(notebook).kind != PAGE  # training and data runs: jobs; pages: here
        assert (record["call"].get("executor") == "local") == as_job, run_id
        assert as_job == (run_id in AS_JOBS)
    mine, theirs = (
        json.loads((folder / "transfer-frozen" / "results.json").read_text())
        for folder in (ours, inline)
    )
    assert mine["final"]["test"] == theirs["final"]["test"]
    assert json.loads((ours / "transfer-frozen.run.json").read_text()).get("trained")  # by the job
    predictions = "transfer-frozen/predictions_test.csv"
    assert (ours / predictions).read_bytes() == (inline / predictions).read_bytes()
    assert "transfer-frozen" in (ours / f"{PAGE_OF_JOBS}.ipynb").read_text()
