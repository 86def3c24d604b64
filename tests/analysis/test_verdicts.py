"""wbcrepro.analysis.verdicts on plain values: no run folder, no file, no plot.

The rules under test (the book's Method page): runs that did not learn are no evidence; a verdict
rests on arms of >= 3 seeds that learned; arms differ only when the interval of their mean
per-seed difference excludes zero; "no difference detected" is inconclusive, never reproduced.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from wbcrepro.analysis import paper, verdicts
from wbcrepro.analysis.verdicts import Arm, RunResult
from wbcrepro.metrics import wilson_interval


def result(
    run_id: str,
    accuracy: float,
    n: int = 200,
    synthetic: bool = False,
    complete: bool = True,
    learned: bool | None = True,
    recall: dict[str, float] | None = None,
    **params,
) -> RunResult:
    """A run's plain values: test (and val) accuracy with its Wilson interval, and its gate."""
    correct = round(accuracy * n)
    test = {
        "n": n,
        "accuracy": correct / n,
        "accuracy_ci95": list(wilson_interval(correct, n)),
        "macro_f1": correct / n,
        "macro_f1_ci95": [None, None],
        "per_class": {name: {"recall": r, "support": 50} for name, r in (recall or {}).items()},
    }
    params.setdefault("dataset", "synthetic" if synthetic else "bccd")
    # test predictions with exactly ``correct`` right, the wrong ones shifted by the seed (as two
    # seeds of a recipe miss different images)
    labels = tuple("abcd"[i % 4] for i in range(n))
    start = 7 * int(params.get("seed", 0))
    wrong = {(start + i) % n for i in range(n - correct)}
    predicted = tuple("abcd"[(i + 1) % 4] if i in wrong else y for i, y in enumerate(labels))
    paths = tuple(f"img{i:04d}.jpg" for i in range(n))
    return RunResult(
        run_id,
        params=params,
        final={"test": test, "val": dict(test)},
        complete=complete,
        synthetic=synthetic,
        dataset=params["dataset"],
        learned=learned,
        gate_reasons=() if learned else ("balanced accuracy not above chance",),
        predictions=(paths, labels, predicted),
        selected_epoch=5,
    )


def seeds(prefix: str, accuracies, **params) -> list[RunResult]:
    """One arm: a run per seed (seed i has accuracy ``accuracies[i]``)."""
    return [
        result(f"{prefix}-s{i}", acc, seed=i, **params)
        if not isinstance(acc, tuple)
        else result(f"{prefix}-s{i}", acc[0], seed=i, learned=acc[1], **params)
        for i, acc in enumerate(accuracies)
    ]


def arm(value, runs: list[RunResult]) -> Arm:
    return Arm(value, tuple(runs))


# --- formatting and arms --------------------------------------------------------------------------
def test_with_ci_and_pct():
    assert verdicts.with_ci(0.5, (0.4, 0.6)) == "50.00% [40.00%, 60.00%]"
    assert verdicts.with_ci(0.5, (None, 0.6)) == "50.00%"
    assert verdicts.with_ci(float("nan"), (0.4, 0.6)) == "n/a"
    assert verdicts.pct(None) == "n/a" and verdicts.pct(0.98765) == "98.77%"


def test_arm_uses_only_seeds_that_learned():
    a = arm("finetune", seeds("f", [0.80, 0.90, (0.30, False), 0.85]))
    assert a.values == pytest.approx((0.80, 0.90, 0.85))
    assert a.seeds == (0, 1, 3)
    assert a.mean == pytest.approx(0.85) and a.usable
    low, high = a.interval
    assert low < 0.85 < high
    assert "3 seed(s)" in a.text("transfer") and "range 80.00%-90.00%" in a.text("transfer")
    few = arm("frozen", seeds("z", [0.8, (0.3, False), (0.3, None)]))
    assert not few.usable
    why = few.why_unusable()
    assert "1 of 3 seed(s) learned, 3 needed" in why
    assert "did not learn" in why and "no learning check recorded" in why


def test_arms_group_by_the_varied_key_best_first():
    runs = seeds("a", [0.7, 0.7, 0.7], transfer="scratch") + seeds(
        "b", [0.9, 0.9, 0.9], transfer="finetune"
    )
    assert [a.value for a in verdicts.arms(runs, "transfer")] == ["finetune", "scratch"]


# --- comparison claims (decided by wbcrepro.analysis.decisions) -----------------------------------
FINE = [0.86, 0.88, 0.87]
TRANSFER = paper.get_claim("transfer")


def transfer_status(runs: list[RunResult]) -> tuple[str, str]:
    status, lines = verdicts.comparison_status(TRANSFER, runs)
    return status, "; ".join(lines)


@pytest.mark.parametrize(
    ("others", "status"),
    [
        # A clear win across seeds and images: holds.
        ({"scratch": [0.60, 0.62, 0.58]}, "holds"),
        # A clear loss: contradicted.
        ({"scratch": [0.95, 0.96, 0.97]}, "contradicted"),
        # Overlapping seeds on 200 images: the interval is wider than the 3-point margin.
        ({"frozen": [0.85, 0.89, 0.88]}, "inconclusive"),
        # Beats one alternative and equals the other (the seed variance pooled over the two
        # comparisons narrows the frozen one to within the margin): holds in part.
        ({"scratch": [0.60, 0.62, 0.58], "frozen": [0.85, 0.89, 0.88]}, "holds in part"),
    ],
)
def test_transfer_claim_across_seeds_and_images(others, status):
    runs = seeds("f", FINE, transfer="finetune")
    for name, accs in others.items():
        runs += seeds(name, accs, transfer=name)
    got, sentence = transfer_status(runs)
    assert got == status, sentence
    if status == "inconclusive":
        assert "smallest effect this design detects" in sentence


def test_two_degenerate_arms_are_inconclusive():
    runs = seeds("f", [(0.3, False)] * 3, transfer="finetune")
    runs += seeds("s", [(0.3, False)] * 3, transfer="scratch")
    status, sentence = transfer_status(runs)
    assert status == "inconclusive" and "0 of 3 seed(s) learned" in sentence


def test_a_single_seed_arm_is_inconclusive_even_with_a_huge_gap():
    runs = [
        result("f", 0.99, seed=0, transfer="finetune"),
        result("s", 0.2, seed=0, transfer="scratch"),
    ]
    status, sentence = transfer_status(runs)
    assert status == "inconclusive" and "1 of 1 seed(s) learned, 3 needed" in sentence


def test_a_degenerate_alternative_is_not_counted_as_a_win():
    runs = seeds("f", FINE, transfer="finetune")
    runs += seeds("s", [(0.2, False)] * 3, transfer="scratch")
    status, sentence = transfer_status(runs)
    assert status == "inconclusive" and "transfer=scratch: 0 of 3 seed(s) learned" in sentence


def test_no_arm_of_the_claimed_setting_is_not_tested():
    runs = seeds("s", [0.5, 0.5, 0.5], transfer="scratch")
    runs += seeds("z", [0.6, 0.6, 0.6], transfer="frozen")
    status, sentence = transfer_status(runs)
    assert status == "not tested here" and "no transfer=finetune arm" in sentence


# --- ablations ------------------------------------------------------------------------------------
def test_ablation_verdict_over_seeds_names_the_seeds_that_did_not_learn():
    runs = seeds("s", [0.80, 0.90, (0.2, False)])
    line = verdicts.ablation_verdict([*runs, result("x", 0.5, complete=False)], "seed")
    assert line.startswith("Over 2 seeds that learned, test accuracy is 85.00% on average")
    assert "range 80.00% to 90.00%" in line and "1 seed(s) did not learn: s-s2" in line
    assert line.endswith("Not complete: x.")
    synthetic = [result("a", 0.8, synthetic=True, seed=0), result("b", 0.9, synthetic=True, seed=1)]
    assert "SYNTHETIC data" in verdicts.ablation_verdict(synthetic, "seed")


def test_ablation_verdict_gives_differences_and_the_claim_status():
    runs = seeds("f", FINE, transfer="finetune") + seeds("s", [0.6, 0.62, 0.58], transfer="scratch")
    line = verdicts.ablation_verdict(runs, "transfer", "transfer")
    assert "transfer=finetune minus transfer=scratch: +27.0 points" in line
    assert "Claim `transfer`: holds" in line
    synthetic = [dataclasses.replace(r, synthetic=True, dataset="synthetic") for r in runs]
    line = verdicts.ablation_verdict(synthetic, "transfer", "transfer")
    assert "Claim `transfer`: tested on synthetic data only (holds there)" in line


# --- claims ---------------------------------------------------------------------------------------
def test_against_threshold_and_combine():
    assert verdicts.against_threshold(0.995, 0.999, 0.99) == "meets"
    assert verdicts.against_threshold(0.95, 0.98, 0.99) == "below"
    assert verdicts.against_threshold(0.98, 0.995, 0.99) == "undecided"
    assert verdicts.against_threshold(0.98, math.nan, 0.99) == "undecided"
    assert verdicts.combine([]) == "not run"
    assert verdicts.combine(["meets", "below", "undecided"]) == "holds in part"
    assert verdicts.combine(["meets", "undecided"]) == "inconclusive"


def test_threshold_claim_rests_on_seed_means_with_conditions():
    accuracy = paper.get_claim("accuracy")
    status, evidence = verdicts.claim_verdict(
        accuracy, seeds("m", [0.86, 0.88, 0.87], arch="lite0")
    )
    assert status == "contradicted"
    assert "mean 87.00%" in evidence and "3 seed(s)" in evidence
    assert "`m` (bccd, 3 seed(s))" in evidence and "m-s0" not in evidence  # the arm, not a seed
    assert "conditions: data bccd, backbone lite0" in evidence
    status, evidence = verdicts.claim_verdict(accuracy, seeds("m", [0.995, 0.996, 0.997]))
    assert status == "holds"
    # One seed, or seeds that did not learn: inconclusive, with the reason.
    status, evidence = verdicts.claim_verdict(accuracy, [result("r", 0.5, seed=0)])
    assert status == "inconclusive" and "3 needed" in evidence
    status, _ = verdicts.claim_verdict(accuracy, seeds("d", [(0.3, False)] * 3))
    assert status == "inconclusive"


def test_synthetic_runs_never_reproduce_a_claim():
    accuracy = paper.get_claim("accuracy")
    synthetic = [result(f"s{i}", 1.0, synthetic=True, seed=i) for i in range(3)]
    status, _ = verdicts.claim_verdict(accuracy, synthetic)
    assert status == "tested on synthetic data only (holds there)"
    status, evidence = verdicts.claim_verdict(accuracy, synthetic + seeds("r", [0.9, 0.91, 0.9]))
    assert status == "contradicted" and "synthetic runs ignored: s0, s1, s2" in evidence


def test_claims_without_evidence():
    assert verdicts.claim_verdict(paper.get_claim("private_set"), [])[0] == "not testable here"
    status, evidence = verdicts.claim_verdict(
        paper.get_claim("accuracy"), [result("r", 0.5, complete=False)]
    )
    assert status == "not run" and evidence == "not complete: r"


def test_per_class_claim():
    band = paper.get_claim("band_vs_segmented")
    perfect = {"band_neutrophil": 1.0, "segmented_neutrophil": 1.0}
    runs = [result(f"p{i}", 0.99, recall=perfect, seed=i) for i in range(3)]
    assert verdicts.claim_verdict(band, runs)[0] == "holds"
    runs = [
        result(f"p{i}", 0.9, recall={"band_neutrophil": b, "segmented_neutrophil": 1.0}, seed=i)
        for i, b in enumerate([0.48, 0.50, 0.52])
    ]
    status, evidence = verdicts.claim_verdict(band, runs)
    assert status == "holds in part" and "recall band_neutrophil mean 50.00%" in evidence
    status, evidence = verdicts.claim_verdict(band, seeds("q", [0.9, 0.9, 0.9]))
    assert status == "not testable here" and "lacks band_neutrophil" in evidence


def test_wilson_matches_the_metrics_module():
    assert verdicts.wilson(45, 50) == pytest.approx(wilson_interval(45, 50))
    assert all(math.isnan(v) for v in verdicts.wilson(0, 0))


def test_comparison_claims_are_judged_per_dataset_never_pooled():
    lr = paper.get_claim("learning_rate")
    # BCCD: the paper's lr clearly worse; PBC: no difference. Seeds 0-2 on both sets: pooling
    # them would pair BCCD seed 0 with PBC seed 0.
    runs = seeds("tb", [0.86, 0.88, 0.87], lr=0.0003, dataset="bccd")
    runs += seeds("pb", [0.55, 0.58, 0.60], lr=0.005, dataset="bccd")
    runs += seeds("tp", [0.90, 0.91, 0.89], lr=0.0003, dataset="pbc")
    runs += seeds("pp", [0.89, 0.92, 0.90], lr=0.005, dataset="pbc")
    status, evidence = verdicts.claim_verdict(lr, runs)
    assert status == "contradicted"
    assert "bccd: lr=0.005 minus lr=0.0003: -29.3 points" in evidence
    assert "pbc: lr=0.005 minus lr=0.0003: +0.3 points" in evidence


def test_a_constant_difference_is_shown_without_an_interval_and_decides_nothing():
    # 68 test images: every seed two images apart, as in the cpu book's colour-only arm
    runs = seeds("p", [54 / 68, 54 / 68, 55 / 68], n=68, augment="paper")
    runs += seeds("c", [56 / 68, 56 / 68, 57 / 68], n=68, augment="color")
    status, lines = verdicts.comparison_status(paper.get_claim("augmentation"), runs)
    assert status == "inconclusive"
    assert "-2.9 points (no interval)" in lines[0]
    assert "nan" not in " ".join(lines)
