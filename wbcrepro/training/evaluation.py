"""Evaluating a run's model: BatchNorm statistics first, then each split, then the final reports.

:func:`wbcrepro.training.fit.fit` calls :class:`Evaluator` after every epoch (validation) and
:func:`final_evaluation` once at the end (the selected model on validation and test, and the last
epoch's model on test, so that readers see what selection changed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from wbcrepro.config import TrainConfig
from wbcrepro.data.loading import ImageTable, make_loader
from wbcrepro.metrics import classification_report
from wbcrepro.model.batchnorm import effective_bn_mode, recalibrate_bn
from wbcrepro.runfolder import BEST
from wbcrepro.training.engine import autocast_dtype, evaluate
from wbcrepro.training.run_files import load_checkpoint, save_predictions


@dataclass
class Evaluator:
    """Evaluates the model of a run: ``calibrate`` (BatchNorm statistics, when ``bn_mode`` is
    ``recompute``) before the evaluations of each model state, then ``evaluate`` per split."""

    cfg: TrainConfig
    model: nn.Module
    device: torch.device
    criterion: nn.Module
    train_eval: ImageTable
    """The training images under the evaluation transform."""
    class_names: tuple[str, ...]
    _loaders: dict[int, DataLoader] = field(default_factory=dict, init=False, repr=False)
    """One evaluation loader per table (its workers persist across epochs); a loader holds its
    table, so a table's ``id`` cannot be reused while it is cached."""

    def calibrate(self) -> None:
        if effective_bn_mode(self.cfg) == "recompute":
            self.recompute_bn(self.train_eval)

    def recompute_bn(self, table: ImageTable) -> None:
        """BatchNorm running statistics recomputed over ``table`` (its transform as given)."""
        # A fixed, seeded order: the same images every time, batches that mix classes.
        generator = torch.Generator().manual_seed(self.cfg.seed)
        loader = make_loader(table, self.cfg, train=True, generator=generator)
        recalibrate_bn(
            self.model,
            loader,
            self.device,
            self.cfg.channels_last,
            autocast_dtype(self.device, self.cfg.precision),
            self.cfg.bn_recalibration_batches,
        )

    def evaluate(self, table: ImageTable, desc: str, progress: bool = False) -> dict[str, Any]:
        loader = self._loaders.get(id(table))
        if loader is None:
            loader = self._loaders[id(table)] = make_loader(table, self.cfg, train=False)
        return evaluate(
            self.model,
            loader,
            self.criterion,
            self.device,
            self.cfg.channels_last,
            autocast_dtype(self.device, self.cfg.precision),
            progress=progress,
            desc=desc,
        )

    def report(self, result: dict[str, Any]) -> dict[str, Any]:
        """The full report (with intervals) of one evaluation, its loss included."""
        report = classification_report(
            result["targets"], result["predictions"], self.class_names, seed=self.cfg.seed
        )
        report["loss"] = result["loss"]
        return report


def final_evaluation(
    evaluator: Evaluator,
    folder: Path,
    selected_epoch: int,
    last_epoch: int,
    val_set: ImageTable,
    test_set: ImageTable,
    progress: bool,
) -> dict[str, Any]:
    """final ``val`` and ``test`` of the selected model (its predictions files too), and
    ``test_last_epoch`` of the last epoch's model (the model in memory), so that readers see what
    selection changed. The test split is evaluated once per model, never to choose."""
    final: dict[str, Any] = {}
    if not len(val_set):
        # With a validation split every model state met here (the last epoch's, best.pt's) had
        # its statistics recomputed before its validation, from the same weights and images:
        # recomputing again would give the same numbers, so only a run without one needs it.
        evaluator.calibrate()
    last_test = evaluator.evaluate(test_set, "final test", progress) if len(test_set) else None
    if last_test is not None:
        final["test_last_epoch"] = evaluator.report(last_test)
    test = last_test
    if selected_epoch != last_epoch:
        evaluator.model.load_state_dict(load_checkpoint(folder / BEST)["model"])
        test = evaluator.evaluate(test_set, "final test", progress) if len(test_set) else None
    for split, table in (("val", val_set), ("test", test_set)):
        if not len(table):
            continue
        result = test if split == "test" else evaluator.evaluate(table, "final val", progress)
        final[split] = (
            dict(final["test_last_epoch"])
            if split == "test" and selected_epoch == last_epoch
            else evaluator.report(result)
        )
        save_predictions(
            folder, split, table.paths, result, evaluator.class_names, evaluator.cfg.data_root
        )
    return final


def adapted_test(evaluator: Evaluator, test_set: ImageTable, progress: bool) -> dict[str, Any]:
    """The model in memory (the selected one, after :func:`final_evaluation`) tested with its
    BatchNorm statistics recomputed from the test images themselves: AdaBN, test-time
    adaptation to another lab without labels (the weights stay as trained). Only for a test set
    from one lab and scanner: over a mixture the statistics fit neither part."""
    evaluator.recompute_bn(test_set)
    return evaluator.report(evaluator.evaluate(test_set, "adapted test", progress))
