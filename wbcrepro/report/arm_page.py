"""One arm on one page: its seeds together, then a typical seed's pictures.

A profile entry with ``seeds`` is an arm: the same setting trained once per seed. The book gives
it one page (``notebooks/arm.ipynb``, generated for every such entry), and its seed pages hang
under it in the table of contents. A reader wants the arm's result, not three near-identical
pages: so the page opens with the mean, the 95% t interval and the range over the seeds that
learned, then one row per seed, then the curves, confusion matrix and Grad-CAM of the median seed
(a typical run, not the luckiest). Fold arms joined by ``+`` are one cross-validation: each seed's
folds are pooled first (:mod:`wbcrepro.report.crossval`), and the page links the fold arms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from wbcrepro.analysis import arms as arms_module
from wbcrepro.report.ablation_page import MEASURES, ablation_table
from wbcrepro.report.figures import gradcam_record, plot_confusion, plot_curves, show_gradcam
from wbcrepro.report.records import CROSSVAL_JOIN, RunRecord, link, load_runs, markdown_table


def arm_records(runs_root: str | Path, arm: str) -> list[RunRecord]:
    """The arm's seed runs (or, for fold arms joined by ``+``, one pooled record per seed)."""
    return load_runs(runs_root, arm)


def arm_summary(records: Sequence[RunRecord]) -> Markdown:
    """Per measure: how many seeds learned, their mean with its 95% t interval, and their range.
    A seed that did not learn (its run's gate) is counted but left out of the mean, as the
    verdicts do."""
    results = [r.as_result() for r in records if r.complete]
    if not results:
        return Markdown("No seed of this arm is complete: there is nothing to summarise.")
    rows = []
    for key, title in MEASURES:
        arm = arms_module.Arm("arm", tuple(results), key)
        values = arm.values
        low, high = arm.interval if len(values) >= 2 else (math.nan, math.nan)
        mean = f"{arm.mean:.2%}" if values else "n/a"
        if values and not math.isnan(low):
            mean += f" [{low:.2%}, {high:.2%}]"
        rows.append(
            {
                "measure": title,
                "seeds learned": f"{len(values)} of {len(arm.runs)}",
                "mean [95% t]": mean,
                "range": f"{min(values):.2%} to {max(values):.2%}" if values else "",
            }
        )
    return Markdown(markdown_table(pd.DataFrame(rows)))


def seed_table(records: Sequence[RunRecord]) -> Markdown:
    """One row per seed: whether it learned, test accuracy and macro-F1 with their intervals,
    each seed linked to its own page."""
    table = ablation_table(records, "seed")
    if table.empty:
        return Markdown("This arm has no run.")
    table.index = [link(rec) for rec in records]
    return Markdown(markdown_table(table.rename_axis("run"), index=True))


def median_seed(records: Sequence[RunRecord]) -> RunRecord | None:
    """The complete seed with the median test accuracy (the lower of the two middle ones for an
    even count), or None when no seed is complete."""
    done = sorted(
        (r for r in records if r.complete and r.metric("accuracy") is not None),
        key=lambda r: (r.metric("accuracy"), r.run_id),
    )
    return done[(len(done) - 1) // 2] if done else None


def median_note(records: Sequence[RunRecord]) -> Markdown:
    """Which seed the pictures below show, and why that one."""
    rec = median_seed(records)
    if rec is None:
        return Markdown("No seed is complete, so there are no pictures to show.")
    done = sum(r.complete for r in records)
    return Markdown(
        f"The pictures below are of {link(rec)}, the seed with the median test accuracy "
        f"({rec.metric('accuracy'):.2%}) of the {done} complete seeds."
    )


def fold_links(arm: str, runs_root: str | Path) -> Markdown | None:
    """For a cross-validation, a line linking each fold arm's page; None for a plain arm."""
    folds = [part.strip() for part in arm.split(CROSSVAL_JOIN) if part.strip()]
    if len(folds) < 2:
        return None
    pages = [
        f"[{fold}]({fold}-arm.ipynb)" if (Path(runs_root) / f"{fold}-arm.ipynb").is_file()
        else f"`{fold}`"
        for fold in folds
    ]  # fmt: skip
    return Markdown(
        f"Each seed pools {len(folds)} test folds, one per fold arm: {', '.join(pages)}."
    )


def median_curves(records: Sequence[RunRecord]):
    """The median seed's loss and accuracy per epoch (a figure), or a line saying why there are
    none: no complete seed, or a cross-validation (its folds train separately; each fold arm's
    page has them)."""
    rec = median_seed(records)
    if rec is None:
        return Markdown("No complete seed: no training curves.")
    if rec.history.empty:
        return Markdown(
            f"{link(rec)} has no per-epoch history here (a cross-validation pools its folds' "
            "test predictions; each fold arm's page has its curves)."
        )
    return plot_curves(rec)


def median_confusion(records: Sequence[RunRecord]):
    """The median seed's row-normalised test confusion matrix, or a line saying why not."""
    rec = median_seed(records)
    if rec is None or not (rec.report("test") or {}).get("confusion_matrix"):
        return Markdown("No complete seed with a test confusion matrix.")
    return plot_confusion(rec)


def median_gradcam(records: Sequence[RunRecord]):
    """The median seed's Grad-CAM panel where the arm computed one, else a line saying so."""
    rec = median_seed(records)
    if rec is None or gradcam_record(rec) is None:
        return Markdown("This arm computed no Grad-CAM (its profile entry does not ask for it).")
    return show_gradcam(rec, requested=1)
