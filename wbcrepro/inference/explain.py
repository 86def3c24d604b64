"""Grad-CAM of a run's selected model on a few test images per class: one PNG and its record.

Where the model looks is computed on the training side, like training itself: the notebook's
explicit step ``explain.gradcam_panel(folder, per_class=gradcam_per_class)`` writes
``gradcam.png`` and ``gradcam.json`` into the run folder (names from
:mod:`wbcrepro.report.figures`), and the page only shows the PNG
(:func:`wbcrepro.report.show_gradcam`). torch and ``pytorch_grad_cam`` (PyPI ``grad-cam``) are
imported inside the functions that need them, so the notebook's import line and a run with
``gradcam_per_class = 0`` stay cheap.

The target layer is the last convolutional block, whose feature map Grad-CAM weighs by the
gradient of the predicted class: torchvision's ``features[-1]`` (1x1 head convolution, BatchNorm,
SiLU) and, for EfficientNet-PyTorch and EfficientNet-Lite0, ``_bn1`` (the head convolution after
BatchNorm; their shared ``_swish`` module also runs on the stem, so a hook there would fire
twice). Its map is ``img_size / 32`` pixels wide: coarse at small inputs, and the record says so.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from wbcrepro.fileio import atomic_write, read_json_or_none, write_json
from wbcrepro.report.figures import GRADCAM_PNG, compact_png, read_predictions
from wbcrepro.runfolder import RunFolderError, predictions_file

if TYPE_CHECKING:
    import torch
    from torch import nn

PANEL_DPI = 100
BATCH = 8
KEYS = ("model_sha256", "per_class", "seed", "png")
"""What makes an existing panel current: the same weights, images per class, seed and file."""


def target_layer(model: nn.Module, arch: str, impl: str) -> tuple[str, nn.Module]:
    """The last convolutional block of ``model`` (see the module's docstring) and its name."""
    from wbcrepro.model.networks import implementation_of

    if implementation_of(arch, impl) == "torchvision":
        name = f"features.{len(model.features) - 1}"
    else:
        name = "_bn1"
    return name, model.get_submodule(name)


def choose_images(
    table: pd.DataFrame, class_names: list[str], per_class: int, seed: int
) -> pd.DataFrame:
    """Per class, in class order: correctly classified test images (a seeded sample, by path
    order) first, then the most confident mistake; ``per_class`` in all where the class has them.
    Only images whose file is there."""
    rng = np.random.default_rng(seed)
    picked = []
    for name in class_names:
        rows = table[(table["label"] == name) & table["exists"].astype(bool)]
        correct = rows["correct"].astype(bool)
        right = rows[correct].sort_values("path")
        wrong = rows[~correct].sort_values(["confidence", "path"], ascending=[False, True])
        n_wrong = min(1, len(wrong))
        n_right = min(per_class - n_wrong, len(right))
        n_wrong = min(per_class - n_right, len(wrong))
        chosen = np.sort(rng.choice(len(right), size=n_right, replace=False))
        picked += [right.iloc[chosen], wrong.head(n_wrong)]
    return pd.concat(picked) if picked else table.head(0)


def compute_cams(
    model: nn.Module, layer: nn.Module, batch: torch.Tensor
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Grad-CAM of each image's predicted class: (cams ``N x H x W`` in [0, 1], softmax
    probabilities ``N x classes``, the layer's feature-map size)."""
    import torch
    from pytorch_grad_cam import GradCAM

    cams, probs, fmap = [], [], (0, 0)
    with GradCAM(model=model, target_layers=[layer]) as cam:
        for chunk in torch.split(batch, BATCH):
            cams.append(cam(input_tensor=chunk, targets=None))  # None: the predicted class
            probs.append(torch.softmax(cam.outputs.detach(), dim=1).cpu().numpy())
            fmap = tuple(cam.activations_and_grads.activations[0].shape[-2:])
    return np.concatenate(cams), np.concatenate(probs), fmap


def _current(
    json_path: Path, out_png: Path, key: dict[str, Any], ignore_sha: bool = False
) -> dict[str, Any] | None:
    record = read_json_or_none(json_path)
    keys = [k for k in KEYS if not (ignore_sha and k == "model_sha256")]
    if out_png.is_file() and record and all(record.get(k) == key[k] for k in keys):
        return record
    return None


def _draw(tiles: list[dict[str, Any]], class_names: list[str], per_class: int, title: str):
    import matplotlib.pyplot as plt

    rows = [name for name in class_names if any(t["label"] == name for t in tiles)]
    fig, axes = plt.subplots(
        max(1, len(rows)),
        2 * per_class,
        figsize=(2.2 * per_class + 0.4, 1.25 * max(1, len(rows)) + 0.5),
        dpi=PANEL_DPI,
        squeeze=False,
    )
    for ax in axes.ravel():
        ax.set_axis_off()
    for r, name in enumerate(rows):
        for c, tile in enumerate(t for t in tiles if t["label"] == name):
            image_ax, overlay_ax = axes[r, 2 * c], axes[r, 2 * c + 1]
            image_ax.imshow(tile["image"])
            image_ax.set_title(f"true {tile['label']}", fontsize=6)
            overlay_ax.imshow(tile["overlay"])
            right = tile["predicted"] == tile["label"]
            overlay_ax.set_title(
                f"pred {tile['predicted']} {tile['confidence']:.0%}",
                fontsize=6,
                color="tab:green" if right else "tab:red",
            )
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def _tiles(
    chosen: pd.DataFrame,
    batch: torch.Tensor,
    cams: np.ndarray,
    probs: np.ndarray,
    names: list[str],
    stats: tuple[tuple[float, ...], tuple[float, ...]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The panel's tiles (the input as the model saw it, un-normalised, and its overlay) and the
    record's rows: the model's prediction now beside the one ``predictions_test.csv`` recorded,
    and the CAM's spread (a constant map would say nothing)."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    mean, std = (np.array(s, dtype=np.float32) for s in stats)
    tiles, images = [], []
    for i, row in enumerate(chosen.itertuples()):
        rgb = np.clip(batch[i].permute(1, 2, 0).numpy() * std + mean, 0.0, 1.0)
        pred = int(probs[i].argmax())
        tiles.append(
            {
                "label": row.label,
                "predicted": names[pred],
                "confidence": float(probs[i, pred]),
                "image": rgb,
                "overlay": show_cam_on_image(rgb, cams[i], use_rgb=True),
            }
        )
        images.append(
            {
                "path": row.path,
                "label": row.label,
                "predicted": names[pred],
                "confidence": round(float(probs[i, pred]), 6),
                "recorded_predicted": row.predicted,
                "cam_min": round(float(cams[i].min()), 6),
                "cam_max": round(float(cams[i].max()), 6),
                "cam_std": round(float(cams[i].std()), 6),
            }
        )
    return tiles, images


def gradcam_panel(
    run_folder: str | Path,
    out_png: str | Path | None = None,
    per_class: int = 3,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    """Write the Grad-CAM panel of ``run_folder``'s selected model (``best.pt``, else
    ``checkpoint.pt``) to ``out_png`` (default ``<run_folder>/gradcam.png``) and its record to
    the same name with ``.json``; returns the record.

    ``per_class = 0``: nothing is computed or imported (returns ``{"requested": False}``). A
    panel already written for the same model file (SHA-256), ``per_class`` and ``seed`` is kept
    and its record returned. Where the weights are not there (a clone: checkpoints are not
    committed), the committed panel is kept when it names the epoch the run selected, else the
    error says to retrain. Prints one line saying which it was."""
    if per_class <= 0:
        print("Grad-CAM not requested (gradcam_per_class = 0).")
        return {"requested": False}
    import torch

    from wbcrepro.data.transforms import input_stats
    from wbcrepro.inference.loading import load_model
    from wbcrepro.inference.run_model import keep_committed, weights_sha256
    from wbcrepro.model.networks import implementation_of

    folder = Path(run_folder)
    out_png = Path(out_png) if out_png is not None else folder / GRADCAM_PNG
    json_path = out_png.with_suffix(".json")  # gradcam.png -> gradcam.json, as the page reads
    sha = weights_sha256(folder)
    key = {"model_sha256": sha, "per_class": per_class, "seed": seed, "png": out_png.name}
    if sha is None:  # a clone: records without weights
        record = _current(json_path, out_png, key, ignore_sha=True)
        keep_committed(folder, "Grad-CAM panel", record, matches=record is not None)
        return record
    if (record := _current(json_path, out_png, key)) is not None:
        print(f"Grad-CAM panel {out_png} is current for the run's weights; nothing computed.")
        return record
    loaded = load_model(folder, device)
    run = loaded.run
    cfg, names = loaded.cfg, list(loaded.class_names)
    table = read_predictions(folder, cfg.to_flat(), "test")
    chosen = choose_images(table, names, per_class, seed)
    if chosen.empty:
        raise RunFolderError(
            f"no test image for Grad-CAM: {folder / predictions_file('test')} is missing, empty "
            "or names no image file that is there"
        )
    # The run's own preprocessing (decode downscale, then the evaluation transform): the
    # explained input is the one the recorded prediction came from.
    batch = torch.stack([loaded.preprocess(f) for f in chosen["file"]])
    layer_name, layer = target_layer(loaded.model, cfg.arch, cfg.impl)
    cams, probs, fmap = compute_cams(loaded.model, layer, loaded.model_input(batch))
    tiles, images = _tiles(chosen, batch, cams, probs, names, input_stats(cfg.arch))
    synthetic = bool(((run.results or {}).get("dataset") or {}).get("synthetic"))
    title = (
        f"{'SYNTHETIC data. ' if synthetic else ''}{run.run_id}: Grad-CAM of the predicted class "
        f"on {layer_name} ({fmap[0]}x{fmap[1]} map), {run.model_file.name}"
    )
    fig = _draw(tiles, names, per_class, title)
    png = compact_png(fig, PANEL_DPI)
    atomic_write(out_png, lambda tmp: Path(tmp).write_bytes(png))
    record = {
        **key,
        "requested": True,
        "package": f"grad-cam {version('grad-cam')}",
        "method": "Grad-CAM of the model's predicted class",
        "target_layer": layer_name,
        "feature_map": list(fmap),
        "img_size": cfg.img_size,
        "decode_shorter_side": loaded.decode_side,
        "arch": cfg.arch,
        "implementation": implementation_of(cfg.arch, cfg.impl),
        "model_file": run.model_file.name,
        "epoch": run.epoch,
        "n_images": len(images),
        "images": images,
    }
    write_json(json_path, record)
    print(f"Grad-CAM panel of {len(images)} test images written to {out_png} ({layer_name}).")
    return record
