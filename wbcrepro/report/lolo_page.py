"""The leave-one-lab-out page: each lab held out in turn, every recipe beside the others.

A model is only known to work in a new lab once it has been tested on a lab it never saw. The
profile trains, for each held-out lab, one arm per recipe (``dataset=labs``, three seeds); each
run tests the whole held-out lab twice: as trained, and with its BatchNorm statistics
recomputed from the held-out images (AdaBN, ``final.test_adapted_bn``). This module reads those
records into the matrix (held-out lab x recipe x test-time adaptation), the per-seed table, the
targets and the published zero-shot numbers of wbc-benchmark beside them.

Means are over the complete seeds, whether or not a seed's test passed the learning gate: on
another lab a collapse to one class is the result, not a failed run, and the table counts them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from wbcrepro.analysis.arms import pct
from wbcrepro.analysis.seedstats import MIN_SEEDS
from wbcrepro.report.headers import header_for_runs
from wbcrepro.report.records import RunRecord, link, load_runs

ADAPTED = "test_adapted_bn"
"""The results.json ``final`` key of the AdaBN test."""
COLUMNS = (("test", "as trained"), (ADAPTED, "AdaBN"))

WBC_BENCHMARK_CITATION = (
    "Tsutsui, Pang, Wen et al., WBC benchmark (ICASSP 2023), github.com/apple2373/wbc-benchmark; "
    "trained on Raabin-WBC, tested zero-shot"
)
WBC_BENCHMARK = (
    ("ResNet50 (BatchNorm)", "lisc", 0.23),
    ("ResNet50 (BatchNorm)", "bccd", 0.23),
    ("ResNet50 (GroupNorm)", "lisc", 0.73),
    ("ResNet50 (GroupNorm)", "bccd", 0.49),
    ("VGG16 (best on LISC)", "lisc", 0.744),
    ("GroupNorm + mixup (best on BCCD)", "bccd", 0.531),
)
"""Published zero-shot accuracies (the cross-lab issue quotes them): another training lab
(Raabin), other models and LISC/BCCD versions than ours, so a reference, not a comparison."""


@dataclass(frozen=True)
class HeldOut:
    """One held-out lab and the arm of each recipe tested on it."""

    lab: str
    arms: tuple[tuple[str, str], ...]
    """(recipe name, arm id), in the order the page shows them."""


def parse_matrix(text: str, recipes: str) -> list[HeldOut]:
    """``"zheng2018=lolo-base-zheng|lolo-robust-zheng,..."`` with ``recipes="base,robust"``."""
    names = [r.strip() for r in recipes.split(",") if r.strip()]
    out = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        lab, sep, arms = item.partition("=")
        ids = [a.strip() for a in arms.split("|")]
        if not sep or len(ids) != len(names) or not all(ids):
            raise ValueError(
                f"leave-one-lab-out matrix item {item!r}: expected LAB=ARM|ARM with one arm per "
                f"recipe ({', '.join(names)})"
            )
        out.append(HeldOut(lab.strip(), tuple(zip(names, ids, strict=True))))
    return out


def parse_targets(text: str) -> dict[str, float]:
    """``"zheng2018>=0.85,bccd-cropped>=0.70"`` -> {lab: threshold}."""
    out = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        lab, sep, value = item.partition(">=")
        if not sep:
            raise ValueError(f"leave-one-lab-out target {item!r}: expected LAB>=FRACTION")
        out[lab.strip()] = float(value)
    return out


def _complete(records: Sequence[RunRecord], split: str) -> list[RunRecord]:
    return [r for r in records if r.complete and r.report(split)]


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    sd = statistics.stdev(values) if len(values) > 1 else math.nan
    return statistics.fmean(values), sd


def _cell(records: Sequence[RunRecord], split: str, key: str = "accuracy") -> str:
    done = _complete(records, split)
    if not done:
        return "no run"
    mean, sd = _mean_sd([r.metric(key, split) for r in done])
    spread = f" ± {sd * 100:.1f}" if not math.isnan(sd) else ""
    return f"{pct(mean)}{spread} (n={len(done)})"


def majority_share(records: Sequence[RunRecord]) -> tuple[str, float]:
    """The held-out lab's own majority class and its share of the test images (what always
    answering that class scores), from a run's recorded test counts."""
    for rec in records:
        counts = (rec.results.get("dataset", {}).get("counts") or {}).get("test") or {}
        if counts:
            top = max(counts, key=counts.get)
            return top, counts[top] / sum(counts.values())
    return "?", math.nan


@dataclass(frozen=True)
class LoloPage:
    """The held-out labs and their records: ``runs[(lab, recipe)]`` is one record per seed."""

    held_out: tuple[HeldOut, ...]
    runs: dict[tuple[str, str], list[RunRecord]]

    @property
    def records(self) -> list[RunRecord]:
        return [r for recs in self.runs.values() for r in recs]


def load_page(runs_root: str | Path, matrix: str, recipes: str) -> LoloPage:
    """The page's records, from its ``matrix`` and ``recipes`` parameters."""
    held_out = tuple(parse_matrix(matrix, recipes))
    runs = {(h.lab, name): load_runs(runs_root, arm) for h in held_out for name, arm in h.arms}
    return LoloPage(held_out, runs)


def header(page: LoloPage, profile: str, recipes: str) -> Markdown:
    """The multi-run header: data, model, input size, epochs, hardware, as recorded."""
    labs = ", ".join(h.lab for h in page.held_out)
    return header_for_runs(page.records, profile, {"held-out labs": labs, "recipes": recipes})


def matrix_table(page: LoloPage, key: str = "accuracy") -> pd.DataFrame:
    """One row per held-out lab: its images, its majority share, then ``key`` (accuracy or
    macro_f1; mean ± sd over seeds, percentage points) for every recipe, as trained and with
    AdaBN; a last row gives each column's mean over the held-out labs (the recipes' summary,
    when every lab has a value)."""
    rows, lab_means = [], {}
    held_out, runs = page.held_out, page.runs
    for h in held_out:
        all_records = [r for name, _ in h.arms for r in runs[(h.lab, name)]]
        top, share = majority_share(all_records)
        first = next((r for r in all_records if r.complete and r.report()), None)
        row = {
            "held-out lab": h.lab,
            "test images": first.report()["n"] if first else "?",
            "always the majority class": f"{pct(share)} ({top})",
        }
        for name, _ in h.arms:
            for split, label in COLUMNS:
                column = f"{name}, {label}"
                row[column] = _cell(runs[(h.lab, name)], split, key)
                done = _complete(runs[(h.lab, name)], split)
                mean = _mean_sd([r.metric(key, split) for r in done])[0]
                lab_means.setdefault(column, []).append(mean)
        rows.append(row)
    if len(held_out) > 1:
        summary = {"held-out lab": "mean over the held-out labs", "test images": "",
                   "always the majority class": ""}  # fmt: skip
        for column, means in lab_means.items():
            complete = not any(math.isnan(m) for m in means)
            summary[column] = pct(statistics.fmean(means)) if complete else "incomplete"
        rows.append(summary)
    return pd.DataFrame(rows)


def seed_table(page: LoloPage, split: str = "test") -> pd.DataFrame:
    """Every run on ``split`` (``test``: as trained, with whether it passed the learning gate;
    :data:`ADAPTED`: with AdaBN): accuracy, macro-F1 and balanced accuracy. One table per split,
    so that a table fits the page's column."""
    rows = []
    held_out, runs = page.held_out, page.runs
    for h in held_out:
        for name, _ in h.arms:
            for rec in runs[(h.lab, name)]:
                row = {"held-out lab": h.lab, "recipe": name, "run": link(rec)}
                if not rec.complete:
                    rows.append({**row, "accuracy": f"run {rec.status}"})
                    continue
                for key in ("accuracy", "macro_f1", "balanced_accuracy"):
                    value = rec.metric(key, split) if rec.report(split) else math.nan
                    row[key.replace("_", " ")] = pct(value)
                if split == "test":
                    learned = rec.as_result().learned
                    row["learning gate"] = "learned" if learned else "single-class / chance"
                rows.append(row)
    return pd.DataFrame(rows)


def targets_table(page: LoloPage, targets_text: str) -> pd.DataFrame:
    """Each target against every column: met only with a mean over at least MIN_SEEDS complete
    seeds at or above it. Several columns are shown, so the best of them is chosen on the
    held-out labs: read a met target as an upper estimate for a new lab."""
    rows = []
    held_out, runs, targets = page.held_out, page.runs, parse_targets(targets_text)
    for h in held_out:
        if h.lab not in targets:
            continue
        row = {"held-out lab": h.lab, "target": f">= {pct(targets[h.lab])}"}
        for name, _ in h.arms:
            for split, label in COLUMNS:
                done = _complete(runs[(h.lab, name)], split)
                mean = _mean_sd([r.metric("accuracy", split) for r in done])[0]
                if len(done) < MIN_SEEDS:
                    verdict = f"inconclusive ({len(done)} seeds)"
                else:
                    verdict = "met" if mean >= targets[h.lab] else "missed"
                row[f"{name}, {label}"] = f"{verdict}: {pct(mean)}"
        rows.append(row)
    return pd.DataFrame(rows)


def per_class_recall(page: LoloPage, split: str = "test") -> pd.DataFrame:
    """Mean recall per class over the complete seeds, per held-out lab and recipe."""
    rows = []
    held_out, runs = page.held_out, page.runs
    for h in held_out:
        for name, _ in h.arms:
            done = _complete(runs[(h.lab, name)], split)
            if not done:
                continue
            recalls: dict[str, list[float]] = {}
            for rec in done:
                for cls, stats in (rec.report(split).get("per_class") or {}).items():
                    if stats.get("support"):
                        recalls.setdefault(cls, []).append(stats["recall"])
            row = {"held-out lab": h.lab, "recipe": name}
            row.update({cls: pct(statistics.fmean(v)) for cls, v in recalls.items()})
            rows.append(row)
    return pd.DataFrame(rows).fillna("")


def benchmark_table() -> pd.DataFrame:
    """wbc-benchmark's published zero-shot accuracies (not our runs)."""
    return pd.DataFrame(
        [{"model": m, "tested on": t, "accuracy": pct(a)} for m, t, a in WBC_BENCHMARK]
    )
