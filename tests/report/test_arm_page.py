"""One page per arm: the seeds together (mean, t interval, range, one row each), then the median
seed's pictures."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from tests.fixtures.recorded_runs import write_run
from wbcrepro.report import arm_page


@pytest.fixture
def arm_root(tmp_path: Path) -> Path:
    """Three seeds of ``main`` (test accuracy 30, 34 and 20 of 40; the last did not learn)."""
    write_run(tmp_path, "main-s0", params={"seed": 0}, correct=30, notebook=True)
    write_run(tmp_path, "main-s1", params={"seed": 1}, correct=34, notebook=True)
    write_run(tmp_path, "main-s2", params={"seed": 2}, correct=20, learned=False)
    write_run(tmp_path, "main-other-s0", params={"seed": 0}, correct=40)  # another arm
    return tmp_path


def test_the_arm_is_its_seed_runs_in_seed_order(arm_root: Path) -> None:
    runs = arm_page.arm_records(arm_root, "main")
    assert [r.run_id for r in runs] == ["main-s0", "main-s1", "main-s2"]


def test_the_summary_averages_the_seeds_that_learned_and_gives_their_range(arm_root: Path) -> None:
    table = arm_page.arm_summary(arm_page.arm_records(arm_root, "main")).data
    row = next(line for line in table.splitlines() if line.startswith("| test accuracy"))
    # seeds 0 and 1 learned (75% and 85%); seed 2 is counted, not averaged
    assert "| 2 of 3 |" in row and "80.00% [" in row and "| 75.00% to 85.00% |" in row
    assert "macro-F1" in table and "balanced accuracy" in table


def test_each_seed_has_a_row_linked_to_its_page(arm_root: Path) -> None:
    table = arm_page.seed_table(arm_page.arm_records(arm_root, "main")).data
    assert "[main-s0](main-s0.ipynb)" in table and "[main-s1](main-s1.ipynb)" in table
    assert "`main-s2`" in table  # no executed notebook beside it: no dangling link
    assert "no (not above chance)" in table


def test_the_pictures_are_of_the_median_seed(arm_root: Path) -> None:
    runs = arm_page.arm_records(arm_root, "main")
    assert arm_page.median_seed(runs).run_id == "main-s0"  # 50%, 75%, 85%: the middle one
    assert (
        "main-s0" in arm_page.median_note(runs).data and "75.00%" in arm_page.median_note(runs).data
    )
    assert isinstance(arm_page.median_curves(runs), Figure)
    assert isinstance(arm_page.median_confusion(runs), Figure)
    assert "no Grad-CAM" in arm_page.median_gradcam(runs).data


def test_an_arm_without_a_complete_seed_says_so(tmp_path: Path) -> None:
    write_run(tmp_path, "broken-s0", params={"seed": 0}, status="failed")
    runs = arm_page.arm_records(tmp_path, "broken")
    assert arm_page.median_seed(runs) is None
    assert "nothing to summarise" in arm_page.arm_summary(runs).data
    for shown in (arm_page.median_note, arm_page.median_curves, arm_page.median_confusion):
        assert "No" in shown(runs).data
    assert arm_page.fold_links("broken", tmp_path) is None  # not a cross-validation


def test_a_cross_validation_links_its_fold_arms_pages(tmp_path: Path) -> None:
    (tmp_path / "cv-f0-arm.ipynb").write_text("{}")  # fold 1's arm page was rendered
    line = arm_page.fold_links("cv-f0+cv-f1", tmp_path).data
    assert line.startswith("Each seed pools 2 test folds")
    assert "[cv-f0](cv-f0-arm.ipynb)" in line and "`cv-f1`" in line
