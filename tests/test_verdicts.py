"""wbcrepro.verdicts on plain values: no run folder, no file, no plot."""

from __future__ import annotations

import math

import pytest

from wbcrepro import paper, verdicts
from wbcrepro.metrics import wilson_interval
from wbcrepro.verdicts import Arm, RunResult


def result(
    run_id: str,
    correct: int,
    n: int,
    synthetic: bool = False,
    complete: bool = True,
    recall: dict[str, tuple[float, int]] | None = None,
    **params,
) -> RunResult:
    """A run's plain values: test (and val) accuracy ``correct / n`` with its Wilson interval."""
    test = {
        "n": n,
        "accuracy": correct / n,
        "accuracy_ci95": list(wilson_interval(correct, n)),
        "macro_f1": correct / n,
        "macro_f1_ci95": [None, None],
        "per_class": {name: {"recall": r, "support": s} for name, (r, s) in (recall or {}).items()},
    }
    return RunResult(
        run_id,
        params=params,
        final={"test": test, "val": dict(test)},
        complete=complete,
        synthetic=synthetic,
        dataset="synthetic" if synthetic else "bccd",
    )


def arm(value, *accuracies: float, width: float = 0.01) -> Arm:
    return Arm(value, accuracies, tuple((a - width, a + width) for a in accuracies))


# --- formatting -----------------------------------------------------------------------------------
def test_with_ci_and_pct():
    assert verdicts.with_ci(0.5, (0.4, 0.6)) == "50.00% [40.00%, 60.00%]"
    assert verdicts.with_ci(0.5, (None, 0.6)) == "50.00%"
    assert verdicts.with_ci(float("nan"), (0.4, 0.6)) == "n/a"
    assert verdicts.with_ci(0.5, (0.4, 0.6), ".3f") == "0.500 [0.400, 0.600]"
    assert verdicts.pct(None) == "n/a" and verdicts.pct(0.98765) == "98.77%"


# --- arms -----------------------------------------------------------------------------------------
def test_arm_mean_and_envelope_interval():
    a = Arm("finetune", (0.9, 0.8), ((0.85, 0.95), (0.7, 0.88)), ("s0", "s1"))
    assert a.mean == pytest.approx(0.85)
    assert a.interval == (0.7, 0.95)
    assert a.text("transfer") == "transfer=finetune: 85.00% [70.00%, 95.00%]"


def test_arms_group_complete_runs_by_setting_best_first():
    runs = [
        result("a", 70, 100, transfer="scratch"),
        result("b", 90, 100, transfer="finetune", seed=0),
        result("c", 94, 100, transfer="finetune", seed=1),
        result("d", 99, 100, transfer="frozen", complete=False),
    ]
    out = verdicts.arms(runs, "transfer")
    assert [a.value for a in out] == ["finetune", "scratch"]
    assert out[0].runs == ("b", "c") and out[0].values == (0.9, 0.94)
    assert [a.value for a in verdicts.arms(runs, "")] == ["c", "b", "a"]  # no key: one per run


def test_beats_needs_disjoint_intervals():
    assert verdicts.beats(arm("x", 0.9), arm("y", 0.8))
    assert not verdicts.beats(arm("x", 0.9), arm("y", 0.885))
    assert not verdicts.beats(arm("y", 0.8), arm("x", 0.9))


def test_pick():
    arms = [arm(224, 0.9), arm(380, 0.95)]
    assert verdicts.pick(arms, "smallest").value == 224
    assert verdicts.pick(arms, "largest").value == 380
    assert verdicts.pick(arms, "380").value == 380  # values compare as text
    assert verdicts.pick(arms, 512) is None
    assert verdicts.pick([arm("a", 0.9), arm("b", 0.8)], "smallest") is None  # not numeric


@pytest.mark.parametrize(
    ("accuracies", "test", "expected", "status"),
    [
        ({"finetune": 0.99, "scratch": 0.7}, "better", "finetune", "reproduced"),
        ({"finetune": 0.99, "frozen": 0.985}, "better", "finetune", "inconclusive"),
        ({"finetune": 0.7, "scratch": 0.99}, "better", "finetune", "not reproduced"),
        (
            {"finetune": 0.99, "scratch": 0.7, "frozen": 0.985},
            "better",
            "finetune",
            "partly reproduced",
        ),
        ({"224": 0.9, "380": 0.99}, "not_worse", "smallest", "not reproduced"),
        ({"224": 0.985, "380": 0.99}, "not_worse", "smallest", "reproduced"),
        ({"30": 0.985, "51": 0.99}, "equivalent", None, "reproduced"),
        ({"30": 0.7, "51": 0.99}, "equivalent", None, "not reproduced"),
        ({"finetune": 0.99, "scratch": 0.7}, "better", "frozen", "not run"),
        ({"finetune": 0.99}, "better", "finetune", "not run"),
    ],
)
def test_compare(accuracies, test, expected, status):
    arms = sorted((arm(k, v) for k, v in accuracies.items()), key=lambda a: -a.mean)
    got, sentence = verdicts.compare(arms, "key", test, expected)
    assert got == status
    assert sentence.startswith(("fewer than", "no complete run")) == (status == "not run")


def test_compare_rejects_an_unknown_test():
    with pytest.raises(ValueError, match="unknown comparison test 'bigger'"):
        verdicts.compare([arm("a", 0.9), arm("b", 0.8)], "key", "bigger")


# --- ablations ------------------------------------------------------------------------------------
def test_ablation_verdict_over_seeds():
    runs = [result("s0", 80, 100, seed=0), result("s1", 90, 100, seed=1)]
    line = verdicts.ablation_verdict([*runs, result("s2", 1, 2, complete=False)], "seed")
    assert line.startswith("Over 2 seeds test accuracy is 85.00% on average")
    assert "std 7.07%" in line and "range 80.00% to 90.00%" in line
    assert line.endswith("Not complete: s2.") and "SYNTHETIC" not in line
    synthetic = [result("s0", 80, 100, synthetic=True), result("s1", 90, 100, synthetic=True)]
    assert "SYNTHETIC data" in verdicts.ablation_verdict(synthetic, "seed")


def test_ablation_verdict_names_the_winner_and_the_claim_status():
    fine = result("a", 990, 1000, transfer="finetune")
    scratch = result("b", 700, 1000, transfer="scratch")
    line = verdicts.ablation_verdict([fine, scratch], "transfer", "transfer")
    assert "transfer=finetune beats transfer=scratch" in line
    assert "Claim `transfer`: reproduced" in line
    close = result("c", 985, 1000, transfer="frozen")
    line = verdicts.ablation_verdict([fine, close], "transfer")
    assert "overlaps every other value's" in line and "Claim" not in line
    assert verdicts.ablation_verdict([fine], "transfer").startswith("Not enough complete runs")


def test_ablation_verdict_on_synthetic_data_never_reproduces():
    fine = result("a", 990, 1000, synthetic=True, transfer="finetune")
    scratch = result("b", 700, 1000, synthetic=True, transfer="scratch")
    line = verdicts.ablation_verdict([fine, scratch], "transfer", "transfer")
    assert "Claim `transfer`: tested on synthetic data only (reproduced there)" in line


# --- claims ---------------------------------------------------------------------------------------
def test_against_threshold_and_combine():
    assert verdicts.against_threshold(0.995, 0.999, 0.99) == "meets"
    assert verdicts.against_threshold(0.95, 0.98, 0.99) == "below"
    assert verdicts.against_threshold(0.98, 0.995, 0.99) == "undecided"
    assert verdicts.against_threshold(0.98, math.nan, 0.99) == "undecided"
    assert verdicts.combine([]) == "not run"
    assert verdicts.combine(["meets", "meets"]) == "reproduced"
    assert verdicts.combine(["below", "below"]) == "not reproduced"
    assert verdicts.combine(["meets", "below", "undecided"]) == "partly reproduced"
    assert verdicts.combine(["meets", "undecided"]) == "inconclusive"


def test_threshold_claims():
    accuracy = paper.get_claim("accuracy")
    assert verdicts.claim_verdict(accuracy, [result("r", 995, 1000)])[0] == "reproduced"
    assert verdicts.claim_verdict(accuracy, [result("r", 900, 1000)])[0] == "not reproduced"
    assert verdicts.claim_verdict(accuracy, [result("r", 98, 100)])[0] == "inconclusive"
    both = [result("r", 995, 1000), result("q", 900, 1000)]
    status, evidence = verdicts.claim_verdict(accuracy, both)
    assert status == "partly reproduced"
    assert "`r` (bccd) test accuracy 99.50%" in evidence and "`q`" in evidence
    all_sets = paper.get_claim("all_sets")
    _, lines = verdicts.threshold_status(all_sets, [result("r", 995, 1000)])
    assert [line.split()[2] for line in lines] == ["val", "test"]


def test_synthetic_runs_never_reproduce_a_claim():
    accuracy = paper.get_claim("accuracy")
    status, _ = verdicts.claim_verdict(accuracy, [result("s", 1000, 1000, synthetic=True)])
    assert status == "tested on synthetic data only (reproduced there)"
    mixed = [result("s", 1000, 1000, synthetic=True), result("r", 900, 1000)]
    status, evidence = verdicts.claim_verdict(accuracy, mixed)
    assert status == "not reproduced" and "synthetic runs ignored: s" in evidence


def test_claims_without_evidence():
    assert verdicts.claim_verdict(paper.get_claim("private_set"), [])[0] == "not testable here"
    accuracy = paper.get_claim("accuracy")
    status, evidence = verdicts.claim_verdict(accuracy, [result("r", 1, 2, complete=False)])
    assert status == "not run" and evidence == "not complete: r"


def test_per_class_claim():
    band = paper.get_claim("band_vs_segmented")
    perfect = {"band_neutrophil": (1.0, 500), "segmented_neutrophil": (1.0, 500)}
    assert verdicts.claim_verdict(band, [result("p", 990, 1000, recall=perfect)])[0] == (
        "reproduced"
    )
    poor = {"band_neutrophil": (0.5, 500), "segmented_neutrophil": (1.0, 500)}
    status, evidence = verdicts.claim_verdict(band, [result("p", 990, 1000, recall=poor)])
    assert status == "partly reproduced" and "recall band_neutrophil 50.00%" in evidence
    status, evidence = verdicts.claim_verdict(band, [result("p", 990, 1000)])
    assert status == "not testable here" and "lacks band_neutrophil" in evidence


def test_comparison_claim_uses_the_claims_key():
    transfer = paper.get_claim("transfer")
    runs = [result("a", 990, 1000, transfer="finetune"), result("b", 700, 1000, transfer="frozen")]
    status, evidence = verdicts.claim_verdict(transfer, runs)
    assert status == "reproduced" and "runs: `a`, `b`" in evidence


def test_wilson_matches_the_metrics_module():
    assert verdicts.wilson(45, 50) == pytest.approx(wilson_interval(45, 50))
    assert all(math.isnan(v) for v in verdicts.wilson(0, 0))
