"""Cross-domain evaluation: a run's selected model on every image of another dataset.

A test split drawn from the training set says how well a model fits one lab's stain, scanner and
labelling habits; another lab's images say how much of that is white-blood-cell morphology. The
label sets differ, so classes are matched by what they mean, through each dataset's registered
mapping onto the paper's six classes (``DatasetSpec.to_paper``):

* a source class maps onto the target class that covers all of its paper classes (the paper's
  band and segmented neutrophils both map onto a target's ``neutrophil``; their probabilities
  are summed, so the model is not penalised for a distinction the target never made);
* a target class that no source class maps onto cannot be predicted: its images are left out and
  listed with their counts;
* a source class that the target lacks keeps its probability mass: when it wins the argmax the
  prediction is wrong, and how often that happens is reported.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

# tqdm.auto (imported by the data pipeline below) warns in kernels without ipywidgets; this module
# runs in the cross-domain page's kernel, and the warning must not show on the page.
warnings.filterwarnings("ignore", message="IProgress not found")

from wbcrepro.codehash import training_code_hash  # noqa: E402
from wbcrepro.config import TrainConfig  # noqa: E402
from wbcrepro.data.datasets import DatasetSpec, get_dataset  # noqa: E402
from wbcrepro.data.loading import ImageTable, make_loader  # noqa: E402
from wbcrepro.data.transforms import build_eval_transform  # noqa: E402
from wbcrepro.environment import collect_environment  # noqa: E402
from wbcrepro.fileio import atomic_write, read_json_or_none, write_json  # noqa: E402
from wbcrepro.inference.model_loading import (  # noqa: E402
    best_seed_folder,
    keep_committed,
    read_run_model,
    weights_sha256,
)
from wbcrepro.inference.shipped import describe_transform  # noqa: E402
from wbcrepro.paths import cache_root  # noqa: E402
from wbcrepro.paths import data_root as resolve_data_root  # noqa: E402
from wbcrepro.training.engine import autocast_dtype, evaluate, pick_device  # noqa: E402
from wbcrepro.training.metrics import bootstrap_macro_f1, classification_report, wilson_interval  # noqa: E402

RECORD_KIND = "cross_domain_evaluation"


@dataclass(frozen=True)
class ClassMapping:
    """How the source model's classes meet the target's."""

    source_to_target: dict[str, str | None]
    """Every source class -> the target class it counts as, or None (the target lacks it)."""
    columns: tuple[str, ...]
    """The merged classes the argmax runs over: the included target classes (target order),
    then the source classes the target lacks."""
    included: tuple[str, ...]
    """Target classes that at least one source class maps onto (scored)."""
    excluded: tuple[str, ...]
    """Target classes no source class maps onto (their images are left out)."""

    @property
    def absent_from_target(self) -> tuple[str, ...]:
        return self.columns[len(self.included) :]


def _covers(spec: DatasetSpec | None, name: str) -> frozenset[str]:
    """The paper classes ``name`` stands for (its own name where the spec gives none)."""
    paper = spec.to_paper.get(name) if spec is not None else None
    return frozenset(paper or (name,))


def build_class_map(
    source_classes: Sequence[str],
    target_classes: Sequence[str],
    source_spec: DatasetSpec | None = None,
    target_spec: DatasetSpec | None = None,
    explicit: Mapping[str, str | None] | None = None,
) -> ClassMapping:
    """Match classes by meaning (see the module docstring); ``explicit`` overrides single source
    classes (``{source: target or None}``). Unknown names and ambiguous matches raise."""
    explicit = dict(explicit or {})
    unknown = sorted(set(explicit) - set(source_classes))
    bad_targets = sorted({t for t in explicit.values() if t is not None} - set(target_classes))
    if unknown or bad_targets:
        raise ValueError(
            f"class_map names unknown source class(es) {unknown} or target class(es) "
            f"{bad_targets}; source classes: {list(source_classes)}, target classes: "
            f"{list(target_classes)}"
        )
    mapping: dict[str, str | None] = {}
    for source in source_classes:
        if source in explicit:
            mapping[source] = explicit[source]
            continue
        covers = _covers(source_spec, source)
        matches = [t for t in target_classes if covers <= _covers(target_spec, t)]
        if len(matches) > 1:
            raise ValueError(
                f"source class {source!r} matches several target classes {matches}; "
                "pass class_map to choose"
            )
        mapping[source] = matches[0] if matches else None
    included = tuple(t for t in target_classes if t in mapping.values())
    excluded = tuple(t for t in target_classes if t not in included)
    absent = tuple(s for s in source_classes if mapping[s] is None)
    return ClassMapping(mapping, included + absent, included, excluded)


def merge_probabilities(
    probabilities: np.ndarray, source_classes: Sequence[str], mapping: ClassMapping
) -> np.ndarray:
    """Source-class probabilities (n, S) -> merged-class probabilities (n, len(columns)): each
    included target class gets the sum of its source classes, each absent class its own."""
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(source_classes):
        raise ValueError(
            f"probabilities of shape {probabilities.shape} do not fit {len(source_classes)} "
            "source classes"
        )
    merged = np.zeros((len(probabilities), len(mapping.columns)))
    for i, source in enumerate(source_classes):
        column = mapping.source_to_target[source] or source
        merged[:, mapping.columns.index(column)] += probabilities[:, i]
    return merged


def score(y_true: np.ndarray, y_pred: np.ndarray, mapping: ClassMapping, seed: int = 0) -> dict:
    """Metrics over the included target classes; predictions of absent classes count as wrong.

    Macro-F1 averages the included classes only (an absent class has no image to recall), and
    the confusion matrix has a column for every merged class but rows for included ones only.
    """
    columns, k = list(mapping.columns), len(mapping.included)
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": intended here
        warnings.simplefilter("ignore", UserWarning)
        report = classification_report(y_true, y_pred, columns, with_intervals=False)
    labels = list(range(k))
    n, correct = report["n"], report["correct"]
    macro_f1 = (
        float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
        if n
        else float("nan")
    )
    outside = Counter(columns[p] for p in y_pred if p >= k)
    return {
        "n": n,
        "correct": correct,
        "accuracy": report["accuracy"],
        "accuracy_ci95": list(wilson_interval(correct, n)),
        "balanced_accuracy": report["balanced_accuracy"],
        "macro_f1": macro_f1,
        "macro_f1_ci95": list(bootstrap_macro_f1(y_true, y_pred, labels, seed=seed)),
        "per_class": {name: report["per_class"][name] for name in mapping.included},
        "confusion_matrix": report["confusion_matrix"][:k],
        "confusion_rows": list(mapping.included),
        "confusion_columns": columns,
        "predicted_absent_class": {
            "count": sum(outside.values()),
            "fraction": sum(outside.values()) / n if n else float("nan"),
            "by_class": {name: outside.get(name, 0) for name in mapping.absent_from_target},
        },
    }


def _portable(path: str, root: Path) -> str:
    """A record's image path: relative to the data root (or the cache), never machine-bound."""
    for base, prefix in ((root, ""), (cache_root(), "<cache>/")):
        try:
            return prefix + Path(path).resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return Path(path).name


def predictions_csv_path(out_json: str | Path) -> Path:
    """``x/crossdomain.json`` -> ``x/crossdomain.predictions.csv``."""
    out_json = Path(out_json)
    return out_json.with_name(f"{out_json.stem}.predictions.csv")


def _spec_or_none(name: str) -> DatasetSpec | None:
    try:
        return get_dataset(name)
    except KeyError:
        return None


def evaluate_cross_domain(
    run_folder: str | Path,
    target_dataset: str,
    out_json: str | Path,
    data_root: str | Path | None = None,
    class_map: Mapping[str, str | None] | None = None,
    batch_size: int = 64,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate the run's selected model on all images of ``target_dataset``; write the record
    to ``out_json`` and the per-image predictions beside it; return the record."""
    run = read_run_model(run_folder)
    target_spec = get_dataset(target_dataset)
    load_cfg = TrainConfig.from_flat(
        {"dataset": target_dataset, "data_root": str(data_root or ""), "num_classes": 0}
    )
    loaded = target_spec.load(load_cfg)
    mapping = build_class_map(
        run.class_names, loaded.classes, _spec_or_none(run.cfg.dataset), target_spec, class_map
    )
    manifest = loaded.manifest
    scored = manifest[manifest["label"].isin(mapping.included)].reset_index(drop=True)
    left_out = Counter(manifest.loc[~manifest["label"].isin(mapping.included), "label"])

    device = pick_device(run.cfg.device)
    transform = build_eval_transform(run.cfg)
    table = ImageTable(scored["path"].tolist(), [0] * len(scored), transform)
    loader = make_loader(table, run.cfg.replace(batch_size=batch_size, num_workers=0), False)
    result = evaluate(
        run.build(device),
        loader,
        None,
        device,
        False,
        autocast_dtype(device, run.cfg.precision),
        progress=progress,
        desc=f"{target_dataset}",
    )
    merged = merge_probabilities(result["probabilities"], run.class_names, mapping)
    columns = list(mapping.columns)
    y_true = np.array([columns.index(label) for label in scored["label"]], dtype=int)
    y_pred = merged.argmax(1) if len(merged) else np.zeros(0, dtype=int)
    root = resolve_data_root(load_cfg.data_root)

    predictions = pd.DataFrame(
        {
            "path": [_portable(p, root) for p in scored["path"]],
            "label": scored["label"],
            "predicted": [columns[i] for i in y_pred],
            "correct": y_true == y_pred,
        }
    )
    for i, name in enumerate(columns):
        predictions[f"p_{name}"] = merged[:, i].round(6)
    csv_path = predictions_csv_path(out_json)
    atomic_write(csv_path, lambda tmp: predictions.to_csv(tmp, index=False))

    record = {
        "kind": RECORD_KIND,
        "source": {
            **run.provenance(),
            "class_names": list(run.class_names),
            "arch": run.cfg.arch,
            "img_size": run.cfg.img_size,
        },
        "target": {
            "dataset": target_dataset,
            "synthetic": target_spec.synthetic,
            "class_names": list(loaded.classes),
            "images": len(manifest),
            "excluded_by_loader": dict(Counter(loaded.excluded["reason"])),
            "notes": list(loaded.notes),
        },
        "n_images": len(scored),
        "class_map": mapping.source_to_target,
        "class_map_requested": dict(class_map or {}),
        "merged_classes": columns,
        "excluded_classes": [
            {
                "class": name,
                "images": left_out.get(name, 0),
                "reason": "no source class maps onto it",
            }
            for name in mapping.excluded
        ],
        "metrics": score(y_true, y_pred, mapping, seed=run.cfg.seed),
        "predictions_csv": csv_path.name,
        "eval_transform": describe_transform(transform),
        "environment": collect_environment(device),
        "training_code_hash": training_code_hash(),
    }
    write_json(out_json, record)
    return record


def is_current(
    record: Mapping[str, Any] | None,
    model_sha256: str,
    target_dataset: str,
    class_map: Mapping[str, str | None] | None = None,
) -> bool:
    """Whether ``record`` was made from these weights, by this code, for this request."""
    return bool(
        record
        and record.get("kind") == RECORD_KIND
        and record.get("source", {}).get("model_sha256") == model_sha256
        and record.get("training_code_hash") == training_code_hash()
        and record.get("target", {}).get("dataset") == target_dataset
        and record.get("class_map_requested", {}) == dict(class_map or {})
    )


def evaluate_or_load(
    run_folder: str | Path,
    target_dataset: str,
    out_json: str | Path,
    data_root: str | Path | None = None,
    class_map: Mapping[str, str | None] | None = None,
    force: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    """The record at ``out_json`` when it is current (same model file sha256, same code hash,
    same target and class map, predictions CSV present); else evaluate and write it.
    ``run_folder`` may name an arm: its best seed on validation is used (never the test split).
    Where the run's weights are not there (a clone), a record that is current apart from the
    unverifiable sha256 is kept when it names this run and its selected epoch
    (:func:`~wbcrepro.inference.model_loading.keep_committed`); anything else says to retrain."""
    run_folder = best_seed_folder(run_folder)
    record = read_json_or_none(out_json)
    sha = weights_sha256(run_folder)
    usable = not force and predictions_csv_path(out_json).is_file()
    if sha is None:
        made_from = (record or {}).get("source") or {}
        current = is_current(record, made_from.get("model_sha256"), target_dataset, class_map)
        keep_committed(run_folder, "cross-domain evaluation", made_from, usable and current)
        return record
    if usable and is_current(record, sha, target_dataset, class_map):
        return record
    return evaluate_cross_domain(
        run_folder, target_dataset, out_json, data_root, class_map, **kwargs
    )
