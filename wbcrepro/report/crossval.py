"""Cross-validation arms read as ordinary records: one pooled record per training seed.

A profile runs a k-fold cross-validation as k arms, one per fold (``lisc-main-f0`` ...
``lisc-main-f4``, each with ``seeds``). Pages name the whole cross-validation by joining the
fold arms with ``+`` (``lisc-main-f0+lisc-main-f1+...``), and :func:`pooled_records` turns it
into one :class:`~wbcrepro.report.records.RunRecord` per seed whose test report is the k test
folds pooled (:mod:`wbcrepro.analysis.crossval`): Table 1, the ablation pages and the claims
then read it like any seed of an arm. What does not pool is said so in the record: validation
differs per fold (no ``val`` report), the selected epoch is given per fold, and the baselines
are the per-fold test accuracies weighted by their images. A seed counts as learned only when
every fold's run learned (each run's own gate).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wbcrepro.analysis.crossval import pooled_report, weighted_mean
from wbcrepro.report import records
from wbcrepro.report.figures import read_predictions
from wbcrepro.report.records import CROSSVAL_JOIN as JOIN
from wbcrepro.report.records import RunRecord, arm_run_ids, load_run


def crossval_name(fold_arms: list[str]) -> str:
    """``lisc-main-f0+...+lisc-main-f4`` -> ``lisc-main-cv`` (the fold suffix dropped)."""
    first = fold_arms[0]
    stem = first.rsplit("-f", 1)[0] if "-f" in first else first
    return f"{stem}-cv"


def pooled_records(runs_root: str | Path, spec: str) -> list[RunRecord]:
    """One pooled record per seed that every fold arm of ``spec`` has (by seed order); a seed
    with a fold run missing or incomplete gives a record that is not complete, naming it."""
    fold_arms = [part.strip() for part in spec.split(JOIN) if part.strip()]
    by_arm = [[load_run(runs_root, r) for r in arm_run_ids(runs_root, a)] for a in fold_arms]
    seeds = sorted(
        {rec.params.get("seed") for recs in by_arm for rec in recs if rec.params},
        key=lambda s: (s is None, s),
    )
    name = crossval_name(fold_arms)
    out = []
    for seed in seeds:
        runs = [next((r for r in recs if r.params.get("seed") == seed), None) for recs in by_arm]
        run_id = f"{name}-s{seed}"
        folder = Path(runs_root) / run_id
        missing = [a for a, r in zip(fold_arms, runs, strict=True) if r is None or not r.complete]
        if missing:
            note = f"not every fold is complete: {', '.join(missing)} (seed {seed})"
            out.append(RunRecord(run_id, folder, "incomplete", {"error": note}))
            continue
        out.append(RunRecord(run_id, folder, "complete", _pooled_results(runs, fold_arms)))
    return out


def _pooled_results(runs: list[RunRecord], fold_arms: list[str]) -> dict[str, Any]:
    first = runs[0]
    n_folds = int(first.params.get("n_folds") or len(runs))
    tables = {
        int(r.params.get("fold", i)): read_predictions(r.folder, r.params)
        for i, r in enumerate(runs)
    }
    seed = int(first.params.get("seed") or 0)
    report = pooled_report(tables, first.class_names, n_folds, seed, " + ".join(fold_arms))
    sizes = [int((r.report() or {}).get("n") or 0) for r in runs]
    majority = weighted_mean(
        [(r.baseline_accuracy("majority"), n) for r, n in zip(runs, sizes, strict=True)]
    )
    probe = weighted_mean(
        [(r.baseline_accuracy("linear_probe"), n) for r, n in zip(runs, sizes, strict=True)]
    )
    not_learned = [r.run_id for r in runs if not (r.results.get("gate") or {}).get("learned")]
    dataset = dict(first.results.get("dataset") or {})
    counts = dict(dataset.get("counts") or {})
    counts["test"] = {c: v["support"] for c, v in report["per_class"].items()}
    dataset["counts"] = counts
    kept = {k: first.results.get(k) for k in ("environment", "model", "eval_geometry")}
    return {
        **{k: v for k, v in kept.items() if v is not None},
        "status": "complete",
        "params": {**first.params, "fold": "all"},
        "training_code_hash": first.results.get("training_code_hash"),
        "dataset": dataset,
        "epochs_completed": first.results.get("epochs_completed"),
        "train_seconds": sum(float(r.results.get("train_seconds") or 0) for r in runs),
        "selection": {
            "metric": (first.results.get("selection") or {}).get("metric"),
            "selected_epoch": None,
            "per_fold": [(r.results.get("selection") or {}).get("selected_epoch") for r in runs],
        },
        "final": {"test": report},
        "baselines": {
            "majority": {"accuracy": majority},
            "linear_probe": {"test": {"accuracy": probe}},
        },
        "gate": {
            "learned": not not_learned,
            "reasons": [f"fold run {r} did not learn" for r in not_learned],
        },
        "crossval": {"fold_arms": fold_arms, "runs": [r.run_id for r in runs], "n_folds": n_folds},
    }


records.POOLED_LOADER = pooled_records  # load_runs reads "a-f0+a-f1+..." through this module
