"""Class predictions for image files and folders, for ``wbcrepro predict``.

The model, its preprocessing and the batched probabilities come from
:mod:`wbcrepro.inference.loading`, the answer from :mod:`wbcrepro.inference.decision`: the same
path as ``wbcrepro evaluate``, cross-domain evaluation and Grad-CAM, so a file gets the answer
the run's own evaluation gave it.

Real folders hold files that are not images although they are named like one (PBC ships a macOS
``.DS_Store`` renamed ``neutrophil/.DS_169665.jpg``), and truncated downloads. One such file must
not cost the user the other thousands of predictions, nor vanish without a word: unreadable files
are skipped and returned with their error, for the caller to list (and to fail the exit status).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from wbcrepro.data.images import IMAGE_SUFFIXES
from wbcrepro.fileio import atomic_write
from wbcrepro.inference.confidence import batch_warning, unsure_flags
from wbcrepro.inference.decision import (
    decide,
    identity_map,
    map_to_space,
    merge_probabilities,
)
from wbcrepro.inference.decision import label_space as resolve_label_space
from wbcrepro.inference.loading import LoadedModel, class_probabilities

SKIPPED_COLUMNS = ["path", "error"]


class NoImagesError(ValueError):
    """The inputs name no image file (a usage error: nothing to predict)."""


NEUTROPHILS = ("segmented_neutrophil", "band_neutrophil")
MERGED_NEUTROPHIL = "merged_neutrophil"
"""Column of a six-class model's band + segmented probability: what a lab that does not tell
the two apart calls a neutrophil. Not prefixed ``p_``: the ``p_<class>`` columns stay the
model's own distribution (they sum to 1)."""


PROBABILITY_DECIMALS = 6
"""Every probability in the CSV is rounded once, to this many decimals, as float64."""


def shown_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """The probabilities as the CSV shows them: float64, rounded once.

    The answer is decided on the model's own probabilities (as evaluation decides it); every
    number of a row derives from these (``confidence`` is the shown probability of the answer,
    or the rounded sum of the shown ones in a merged label space;
    ``merged_neutrophil`` the rounded sum of the two shown neutrophil columns). Rounding float32
    and float64 copies of one probability separately made ``confidence`` and its ``p_<class>``
    column differ in the sixth decimal on some machines."""
    return np.round(np.asarray(probabilities, dtype=np.float64), PROBABILITY_DECIMALS)


def parse_extensions(text: str | None) -> tuple[str, ...]:
    """``".jpg,PNG"`` -> ``(".jpg", ".png")``; ``None`` -> every image type the package reads."""
    if text is None:
        return IMAGE_SUFFIXES
    items = [item.strip().lower() for item in text.split(",") if item.strip()]
    if not items:
        raise NoImagesError(f"--extensions {text!r} names no file suffix")
    return tuple(dict.fromkeys(item if item.startswith(".") else f".{item}" for item in items))


def collect_images(inputs: Sequence[str | Path], extensions: Sequence[str]) -> list[Path]:
    """The files to predict: named files as they are, folders searched recursively for
    ``extensions`` (case-insensitive), in order, each file once.

    A named path that does not exist raises naming it; no file at all raises
    :class:`NoImagesError`.
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found.extend(
                sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in extensions)
            )
        elif item.is_file():
            found.append(item)
        else:
            raise FileNotFoundError(f"no such image or folder: {item}")
    if not found:
        raise NoImagesError(
            f"no images ({', '.join(extensions)}) in {', '.join(map(str, inputs))}; "
            "choose the file types with --extensions"
        )
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Predictions:
    table: pd.DataFrame
    """``path, predicted, confidence, unsure, p_<class>...``: one row per image read.
    ``p_<class>`` are the model's own class probabilities; ``predicted`` and ``confidence`` are
    the answer of :func:`wbcrepro.inference.decision.decide` in the requested label space (the
    model's own by default) and its summed probability; ``unsure`` is true where the model's
    own top probability is below its validation-chosen threshold
    (:mod:`wbcrepro.inference.confidence`; empty for a model that records none)."""
    skipped: pd.DataFrame
    """``path, error``: every file that could not be read as an image."""
    warning: str | None = None
    """One warning for the whole batch when far more answers are unsure than on validation."""


def predict_images(
    loaded: LoadedModel,
    paths: Sequence[str | Path],
    batch_size: int = 32,
    num_workers: int = 0,
    progress: bool = False,
    label_space: str | None = None,
) -> Predictions:
    """Predict every readable file of ``paths`` (in their order); unreadable ones are skipped.

    ``label_space`` (``five-class`` or a registered dataset such as ``zheng2018``) answers in
    that label space by the one decision rule, exactly as cross-domain evaluation scores it."""
    paths = [Path(p) for p in paths]
    names = loaded.class_names
    mapping = (
        map_to_space(names, loaded.cfg.dataset, resolve_label_space(label_space))
        if label_space
        else identity_map(names)
    )
    result = class_probabilities(
        loaded, paths, batch_size, num_workers, skip_unreadable=True, progress=progress
    )
    probs = result.probabilities
    _, answers = decide(probs, names, mapping)  # the answer evaluation gives the same file
    shown = shown_probabilities(probs)
    merged = merge_probabilities(shown, names, mapping).round(PROBABILITY_DECIMALS)
    rows = np.arange(len(answers))
    table = pd.DataFrame(
        {
            "path": [str(paths[i]) for i in result.indices],
            "predicted": [mapping.columns[i] for i in answers],
            "confidence": merged[rows, answers],
        }
    )
    flags = unsure_flags(probs, loaded.unsure)
    table["unsure"] = flags if flags is not None else pd.Series([pd.NA] * len(table), dtype=object)
    for i, name in enumerate(names):
        table[f"p_{name}"] = shown[:, i]
    if set(NEUTROPHILS) <= set(names):  # the five-class neutrophil, for other labs' labels
        merged_neutrophil = sum(shown[:, names.index(n)] for n in NEUTROPHILS)
        table[MERGED_NEUTROPHIL] = np.round(merged_neutrophil, PROBABILITY_DECIMALS)
    skipped = [(str(paths[i]), error) for i, error in result.skipped]
    return Predictions(
        table,
        pd.DataFrame(skipped, columns=SKIPPED_COLUMNS),
        batch_warning(flags, loaded.unsure),
    )


def skipped_csv_path(csv_path: str | Path) -> Path:
    """``out/preds.csv`` -> ``out/preds.skipped.csv`` (the unreadable files of that prediction)."""
    csv_path = Path(csv_path)
    return csv_path.with_name(f"{csv_path.stem}.skipped.csv")


def write_predictions(result: Predictions, csv_path: str | Path) -> Path:
    """Write the predictions CSV and, always, its ``.skipped.csv`` sibling (header only when
    nothing was skipped, so a stale list from an earlier call never survives); returns the
    sibling's path."""
    atomic_write(csv_path, lambda tmp: result.table.to_csv(tmp, index=False))
    skipped_path = skipped_csv_path(csv_path)
    atomic_write(skipped_path, lambda tmp: result.skipped.to_csv(tmp, index=False))
    return skipped_path
