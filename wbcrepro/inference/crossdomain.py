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

That rule is :func:`wbcrepro.inference.decision.decide`, the one ``wbcrepro predict
--label-space`` uses; the model and its preprocessing come from
:func:`wbcrepro.inference.loading.load_model`, as for prediction, ``wbcrepro evaluate`` and
Grad-CAM, so an image scores here what it is predicted there. Records written before that shared
path (no ``preprocessing`` key) read images at full size, skipping the run's decode downscale:
the same input wherever the target's images are no larger than the decode size (Zheng 2018:
at most 120 px), a slightly different one where they are (BCCD crops: 131 to 367 px).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

# tqdm.auto (imported by the data pipeline below) warns in kernels without ipywidgets; this module
# runs in the cross-domain page's kernel, and the warning must not show on the page.
warnings.filterwarnings("ignore", message="IProgress not found")

from PIL import Image  # noqa: E402

from wbcrepro.codehash import training_code_hash  # noqa: E402
from wbcrepro.config import TrainConfig  # noqa: E402
from wbcrepro.data.datasets import get_dataset  # noqa: E402
from wbcrepro.environment import collect_environment  # noqa: E402
from wbcrepro.fileio import atomic_write, read_json_or_none, write_json  # noqa: E402
from wbcrepro.inference.decision import (  # noqa: E402, F401  (re-exported: the page's names)
    ClassMapping,
    build_class_map,
    decide,
    merge_probabilities,
    spec_or_none,
)
from wbcrepro.inference.loading import class_probabilities, load_model  # noqa: E402
from wbcrepro.inference.run_model import (  # noqa: E402
    best_seed_folder,
    file_sha256,
    keep_committed,
    weights_sha256,
)
from wbcrepro.inference.shipped import describe_transform  # noqa: E402
from wbcrepro.metrics import bootstrap_macro_f1, classification_report, wilson_interval  # noqa: E402
from wbcrepro.paths import cache_root  # noqa: E402
from wbcrepro.paths import data_root as resolve_data_root  # noqa: E402

RECORD_KIND = "cross_domain_evaluation"


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


PREPROCESSING_NOTE = (
    "wbcrepro.inference.loading: the preprocessing of the run's own evaluation, shared with "
    "wbcrepro predict, wbcrepro evaluate and Grad-CAM (decode to RGB, downscale the shorter side "
    "to decode_shorter_side where it is larger, then eval_transform)"
)
"""How images are read since the shared path; a record without ``preprocessing`` read them at
full size (no downscale), which differs only for images larger than the decode size."""


def _shorter_sides(paths: list[str]) -> dict[str, int]:
    """Min, median and max shorter side of the target's images (header reads only): whether the
    decode downscale touches them at all."""
    sides = []
    for path in paths:
        with Image.open(path) as image:
            sides.append(min(image.size))
    if not sides:
        return {}
    return {"min": min(sides), "median": int(np.median(sides)), "max": max(sides)}


def evaluate_cross_domain(
    source: str | Path | None,
    target_dataset: str,
    out_json: str | Path,
    data_root: str | Path | None = None,
    class_map: Mapping[str, str | None] | None = None,
    batch_size: int = 64,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate a model on all images of ``target_dataset``; write the record to ``out_json``
    and the per-image predictions beside it; return the record. ``source`` is anything
    :func:`~wbcrepro.inference.loading.load_model` takes: a run folder (its selected model), a
    checkpoint, a shipped file, or None (the package's shipped model)."""
    loaded = load_model(source)
    names = loaded.class_names
    target_spec = get_dataset(target_dataset)
    load_cfg = TrainConfig.from_flat(
        {"dataset": target_dataset, "data_root": str(data_root or ""), "num_classes": 0}
    )
    loaded_target = target_spec.load(load_cfg)
    mapping = build_class_map(
        names, loaded_target.classes, spec_or_none(loaded.cfg.dataset), target_spec, class_map
    )
    manifest = loaded_target.manifest
    scored = manifest[manifest["label"].isin(mapping.included)].reset_index(drop=True)
    left_out = Counter(manifest.loc[~manifest["label"].isin(mapping.included), "label"])

    paths = scored["path"].tolist()
    result = class_probabilities(
        loaded, paths, batch_size=batch_size, progress=progress, desc=target_dataset
    )
    merged, y_pred = decide(result.probabilities, names, mapping)
    columns = list(mapping.columns)
    y_true = np.array([columns.index(label) for label in scored["label"]], dtype=int)
    root = resolve_data_root(load_cfg.data_root)

    predictions = pd.DataFrame(
        {
            "path": [_portable(p, root) for p in paths],
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
            **loaded.provenance,
            "class_names": list(names),
            "arch": loaded.cfg.arch,
            "img_size": loaded.cfg.img_size,
        },
        "target": {
            "dataset": target_dataset,
            "synthetic": target_spec.synthetic,
            "class_names": list(loaded_target.classes),
            "images": len(manifest),
            "image_shorter_side": _shorter_sides(paths),
            "excluded_by_loader": dict(Counter(loaded_target.excluded["reason"])),
            "notes": list(loaded_target.notes),
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
        "metrics": score(y_true, y_pred, mapping, seed=loaded.cfg.seed),
        "predictions_csv": csv_path.name,
        "preprocessing": {"decode_shorter_side": loaded.decode_side, "path": PREPROCESSING_NOTE},
        "eval_transform": describe_transform(loaded.transform),
        "environment": collect_environment(loaded.device),
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


def source_path(runs_root: str | Path, source: str) -> Path:
    """A notebook's ``source_run``: a model file (``.pt``) as given, else ``runs_root/<id>``."""
    return Path(source) if source.endswith((".pt", ".pth")) else Path(runs_root) / source


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
    ``run_folder`` may name an arm: its best seed on validation is used (never the test split);
    or a model file (the shipped ``wbcrepro/assets/pbc6.pt``), evaluated exactly as
    ``wbcrepro predict`` runs it.
    Where the run's weights are not there (a clone), a record that is current apart from the
    unverifiable sha256 is kept when it names this run and its selected epoch
    (:func:`~wbcrepro.inference.run_model.keep_committed`); anything else says to retrain."""
    record = read_json_or_none(out_json)
    usable = not force and predictions_csv_path(out_json).is_file()
    if Path(run_folder).is_file():  # a model file (the shipped one): what `predict` uses
        sha = file_sha256(Path(run_folder))
        if usable and is_current(record, sha, target_dataset, class_map):
            return record
        return evaluate_cross_domain(
            run_folder, target_dataset, out_json, data_root, class_map, **kwargs
        )
    run_folder = best_seed_folder(run_folder)
    sha = weights_sha256(run_folder)
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
