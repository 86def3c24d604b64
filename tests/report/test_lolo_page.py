"""The leave-one-lab-out page reads each held-out lab's arms: the matrix (as trained and with
AdaBN), the targets, per-class recall and every run, from the recorded runs only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.recorded_runs import write_run
from wbcrepro.fileio import read_json, write_json
from wbcrepro.report import lolo_page
from wbcrepro.reproduction.roles import derived_reads

MATRIX = "zheng2018=lolo-base-zheng|lolo-robust-zheng"


def _run(root: Path, recipe: str, seed: int, correct: int, adapted: int | None) -> None:
    folder = write_run(root, f"lolo-{recipe}-zheng-s{seed}", params={"seed": seed}, n_test=40,
                       correct=correct)  # fmt: skip
    results = read_json(folder / "results.json")
    results["dataset"]["counts"]["test"] = {"neutrophil": 24, "lymphocyte": 16}
    if adapted is not None:
        other = write_run(root / "tmp", f"x{recipe}{seed}", n_test=40, correct=adapted)
        results["final"]["test_adapted_bn"] = read_json(other / "results.json")["final"]["test"]
    write_json(folder / "results.json", results)


@pytest.fixture
def lolo(tmp_path: Path) -> Path:
    for seed, (base, robust) in enumerate(((20, 34), (22, 35), (24, 36))):
        _run(tmp_path, "base", seed, base, adapted=base + 4)
        _run(tmp_path, "robust", seed, robust, adapted=robust + 1 if seed < 2 else None)
    return tmp_path


def test_the_matrix_shows_mean_and_spread_per_recipe_and_adaptation(lolo: Path) -> None:
    page = lolo_page.load_page(lolo, MATRIX, "base,robust")
    row = lolo_page.matrix_table(page).iloc[0].to_dict()
    assert row["held-out lab"] == "zheng2018" and row["test images"] == 40
    assert row["always the majority class"] == "60.00% (neutrophil)"
    assert row["base, as trained"] == "55.00% ± 5.0 (n=3)"  # 20, 22, 24 of 40
    assert row["base, AdaBN"] == "65.00% ± 5.0 (n=3)"
    assert row["robust, as trained"] == "87.50% ± 2.5 (n=3)"
    assert row["robust, AdaBN"].endswith("(n=2)")  # seed 2 recorded no adapted test
    f1 = lolo_page.matrix_table(page, "macro_f1").iloc[0]
    assert f1["base, as trained"] != row["base, as trained"] and "(n=3)" in f1["base, as trained"]


def test_targets_need_three_seeds_and_say_met_or_missed(lolo: Path) -> None:
    page = lolo_page.load_page(lolo, MATRIX, "base,robust")
    row = lolo_page.targets_table(page, "zheng2018>=0.85,pbc>=0.9").iloc[0].to_dict()
    assert row["base, as trained"] == "missed: 55.00%"
    assert row["robust, as trained"] == "met: 87.50%"
    assert row["robust, AdaBN"].startswith("inconclusive (2 seeds)")


def test_every_run_is_listed_and_a_missing_arm_says_so(lolo: Path) -> None:
    matrix_text = MATRIX + ",lisc-crops=lolo-base-lisc|lolo-robust-lisc"
    page = lolo_page.load_page(lolo, matrix_text, "base,robust")
    table = lolo_page.seed_table(page)
    assert len(table[table["held-out lab"] == "zheng2018"]) == 6
    missing = table[table["held-out lab"] == "lisc-crops"]
    assert set(missing["accuracy"]) == {"run missing"}
    matrix = lolo_page.matrix_table(page)
    assert matrix.iloc[1]["base, as trained"] == "no run"
    assert matrix.iloc[2]["held-out lab"] == "mean over the held-out labs"
    assert matrix.iloc[2]["base, as trained"] == "incomplete"  # LISC has no run
    two = lolo_page.load_page(
        lolo, MATRIX + ",pbc=lolo-base-zheng|lolo-robust-zheng", "base,robust"
    )
    assert lolo_page.matrix_table(two).iloc[2]["base, as trained"] == "55.00%"
    recall = lolo_page.per_class_recall(page)
    assert recall.iloc[0]["held-out lab"] == "zheng2018"
    assert str(lolo_page.header(page, "cpu", "base,robust").data).count("lolo-") >= 8
    assert set(recall["recipe"]) == {"base", "robust"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("zheng2018=a", "one arm per recipe"),
        ("zheng2018", "expected LAB=ARM|ARM"),
        ("zheng2018=a|", "one arm per recipe"),
    ],
)
def test_a_malformed_matrix_is_an_error_naming_the_item(text, message) -> None:
    with pytest.raises(ValueError, match=message):
        lolo_page.parse_matrix(text, "base,robust")
    with pytest.raises(ValueError, match="expected LAB>=FRACTION"):
        lolo_page.parse_targets("zheng2018=0.85")


def test_the_page_reads_every_arm_of_its_matrix() -> None:
    class Run:
        id, notebook, arm, reads = "lolo", "lolo.ipynb", "lolo", ()

    reads = derived_reads(Run(), {"matrix": MATRIX + ",pbc=lolo-base-pbc|lolo-robust-pbc"}, [])
    assert reads == ["lolo-base-zheng", "lolo-robust-zheng", "lolo-base-pbc", "lolo-robust-pbc"]
