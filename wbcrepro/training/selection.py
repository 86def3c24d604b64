"""Which epoch is tested: the best on validation, or the last one when validation cannot decide.

Testing the last epoch throws away what validation is for; testing the best one is only honest
when validation is disjoint from training *by source*. Where it is not (Kaggle: validation is
carved out of TRAIN, whose files are augmented copies of the same smears) the best validation
epoch is the one that memorised those smears best, so the last epoch is tested and the run says
why. The test split is never looked at to choose.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from wbcrepro.config import TrainConfig

HIGHER_IS_BETTER = {
    "macro_f1": True,
    "balanced_accuracy": True,
    "accuracy": True,
    "loss": False,
}
"""Selectable validation metrics (metrics.csv column ``val_<name>``) and their direction."""


def selection_policy(
    cfg: TrainConfig, has_val: bool, val_source_disjoint: bool, dataset: str = ""
) -> tuple[str | None, str]:
    """(metric to select on, or None for the last epoch; the reason when it is None)."""
    if cfg.select_metric == "last":
        return None, "select_metric=last: the last epoch is tested"
    if not has_val:
        return None, "no validation split: the last epoch is tested"
    if not val_source_disjoint:
        return None, (
            f"validation of {dataset or cfg.dataset!r} is not source-disjoint from training "
            "(it is carved from training files that are copies of the same source smears), so "
            "it cannot select a model: the last epoch is tested"
        )
    return cfg.select_metric, ""


@dataclass
class BestEpoch:
    """The best validation value so far; ``update`` says whether an epoch improves on it.

    Ties keep the earlier epoch (an equal score later is no evidence of a better model), and a
    non-finite value never improves.
    """

    metric: str
    epoch: int | None = None
    value: float | None = None

    def improves(self, value: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.value is None:
            return True
        return value > self.value if HIGHER_IS_BETTER[self.metric] else value < self.value

    def update(self, row: Mapping[str, float | None]) -> bool:
        """Consider one metrics.csv row (``epoch``, ``val_<metric>``); True when it is the new
        best (then best.pt must be written)."""
        value = row.get(f"val_{self.metric}")
        if not self.improves(value):
            return False
        self.epoch, self.value = int(row["epoch"]), float(value)
        return True

    @classmethod
    def replay(cls, metric: str, history: Iterable[Mapping[str, float | None]]) -> BestEpoch:
        """The state after the epochs of ``history`` (a resumed run rebuilds it this way, so
        the checkpoint needs no extra field and cannot disagree with metrics.csv)."""
        best = cls(metric)
        for row in history:
            best.update(row)
        return best


def selection_record(
    metric: str | None, reason: str, best: BestEpoch | None, last_epoch: int
) -> dict:
    """results.json ``selection``: metric, selected epoch, its value and the reason."""
    if metric is None:
        return {"metric": None, "selected_epoch": last_epoch, "value": None, "reason": reason}
    if best is None or best.epoch is None:
        return {
            "metric": metric,
            "selected_epoch": last_epoch,
            "value": None,
            "reason": f"no finite validation {metric} in any epoch: the last epoch is tested",
        }
    direction = "highest" if HIGHER_IS_BETTER[metric] else "lowest"
    return {
        "metric": metric,
        "selected_epoch": best.epoch,
        "value": best.value,
        "reason": (
            f"{direction} validation {metric} ({best.value:.4f}) at epoch {best.epoch} of "
            f"{last_epoch} (ties keep the earlier epoch); the test split was evaluated once, "
            "on this epoch's model"
        ),
    }
