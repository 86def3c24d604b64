"""A shipped model: one small file that classifies white blood cells without a run folder.

A run folder is a working record (optimizer state, history, a split that points into a data root);
a user who only wants predictions needs the weights, the class names and the exact evaluation
transform. :func:`export_model` writes those into ONE file (fp16 weights, which halves the size
at no cost that matters for a classifier, plus a metadata dict that says which run, data and code
produced it); :func:`load_shipped` turns it back into a float32 model in eval mode.

The evaluation transform is recorded step by step from the run's own pipeline
(:func:`wbcrepro.data.transforms.build_eval_transform`) and rebuilt from that record, so the shipped
model preprocesses exactly as the run evaluated, even if the package's defaults change later.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn
from torchvision.transforms import InterpolationMode, v2

import wbcrepro
from wbcrepro.data.transforms import build_eval_transform
from wbcrepro.fileio import atomic_write, read_json_or_none, write_json
from wbcrepro.inference.model_loading import (
    RunModel,
    best_seed_folder,
    keep_committed,
    read_run_model,
    weights_sha256,
)
from wbcrepro.model.networks import build_network, implementation_of
from wbcrepro.training.engine import pick_device

FORMAT = "wbcrepro-shipped-model"
FORMAT_VERSION = 1
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "assets" / "pbc6.pt"
"""The model shipped inside the package (package data; exported by the maintainers)."""
LOCAL_PATH_KEYS = ("data_root", "data_path")
MAX_BYTES = 10_000_000
"""A shipped file must stay small enough for a wheel (10 MB: EfficientNet-Lite0/b0 in fp16)."""


class ShippedModelError(RuntimeError):
    """A shipped-model file is missing, unreadable, of another format, or too large."""


class Predictor(NamedTuple):
    """What prediction needs: the network (eval, float32), class names, transform, metadata."""

    model: nn.Module
    class_names: tuple[str, ...]
    transform: v2.Compose
    metadata: dict[str, Any]


# --- the evaluation transform as data ----------------------------------------------------------
def describe_transform(pipeline: v2.Compose) -> list[dict[str, Any]]:
    """The steps of an evaluation pipeline as plain values (see :func:`rebuild_transform`).

    Only deterministic steps are allowed; anything else raises rather than being half-recorded.
    """
    steps: list[dict[str, Any]] = []
    for step in pipeline.transforms:
        if isinstance(step, v2.Resize):
            steps.append(
                {
                    "op": "Resize",
                    "size": list(step.size),
                    # an InterpolationMode, or its value string in some torchvision releases
                    "interpolation": getattr(step.interpolation, "value", step.interpolation),
                    "max_size": step.max_size,
                    "antialias": bool(step.antialias),
                }
            )
        elif isinstance(step, v2.CenterCrop):
            steps.append({"op": "CenterCrop", "size": list(step.size)})
        elif isinstance(step, v2.ToImage):
            steps.append({"op": "ToImage"})
        elif isinstance(step, v2.ToDtype) and step.dtype == torch.float32:
            steps.append({"op": "ToDtype", "dtype": "float32", "scale": bool(step.scale)})
        elif isinstance(step, v2.Normalize):
            steps.append({"op": "Normalize", "mean": list(step.mean), "std": list(step.std)})
        else:
            raise ShippedModelError(
                f"cannot record the evaluation step {step!r} in a shipped model"
            )
    return steps


def rebuild_transform(steps: list[dict[str, Any]]) -> v2.Compose:
    """The pipeline :func:`describe_transform` recorded."""
    built: list[v2.Transform] = []
    for step in steps:
        op = step.get("op")
        if op == "Resize":
            built.append(
                v2.Resize(
                    step["size"],
                    interpolation=InterpolationMode(step["interpolation"]),
                    max_size=step["max_size"],
                    antialias=step["antialias"],
                )
            )
        elif op == "CenterCrop":
            built.append(v2.CenterCrop(step["size"]))
        elif op == "ToImage":
            built.append(v2.ToImage())
        elif op == "ToDtype":
            built.append(v2.ToDtype(torch.float32, scale=step["scale"]))
        elif op == "Normalize":
            built.append(v2.Normalize(step["mean"], step["std"]))
        else:
            raise ShippedModelError(f"unknown transform step {step!r} in a shipped model")
    return v2.Compose(built)


# --- export -----------------------------------------------------------------------------------
def _test_metrics(results: dict | None) -> dict | None:
    test = ((results or {}).get("final") or {}).get("test")
    return test if isinstance(test, dict) else None


def build_metadata(run: RunModel) -> dict[str, Any]:
    """Everything a user of the shipped file needs to know besides the weights."""
    cfg, results = run.cfg, run.results or {}
    steps = describe_transform(build_eval_transform(cfg))
    normalise = next(s for s in steps if s["op"] == "Normalize")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": cfg.arch,
        "impl": cfg.impl,
        "implementation": implementation_of(cfg.arch, cfg.impl),
        "dropout": cfg.dropout,
        "num_classes": len(run.class_names),
        "class_names": list(run.class_names),
        "img_size": cfg.img_size,
        "pre_crop_size": cfg.resolved_pre_crop_size,
        "normalisation": {"mean": normalise["mean"], "std": normalise["std"]},
        "eval_transform": steps,
        "weights_dtype": "float16 parameters, float32 BatchNorm statistics",
        "source": {
            **run.provenance(),
            # Where the data sat on the exporting machine is no business of a shipped file.
            "params": {k: v for k, v in cfg.to_flat().items() if k not in LOCAL_PATH_KEYS},
        },
        "test_metrics": _test_metrics(results),
        "training_code_hash": results.get("training_code_hash"),
        "exported": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wbcrepro_version": wbcrepro.__version__,
        "torch_version": str(torch.__version__),
    }


def half_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with parameters in fp16 and buffers (BatchNorm statistics) as they are.

    Parameters are 99 % of the bytes and lose nothing that matters in fp16; BatchNorm running
    means and variances can be smaller than fp16's smallest number (they would become zero) and
    are worth keeping exact for a few dozen kB.
    """
    parameters = {name for name, _ in model.named_parameters()}
    return {
        name: (t.half() if name in parameters and t.is_floating_point() else t).cpu().contiguous()
        for name, t in model.state_dict().items()
    }


def export_model(run_folder: str | Path, out_path: str | Path = DEFAULT_MODEL) -> dict[str, Any]:
    """Write the run's selected model (``best.pt``, else ``checkpoint.pt``) as one shipped file.

    Returns the metadata stored in it (plus ``bytes``, the file's size). Raises
    :class:`ShippedModelError` when the file would exceed :data:`MAX_BYTES` or a weight does not
    fit fp16; nothing is written then, and an existing file at ``out_path`` is only ever replaced
    whole (atomic rename).
    """
    run = read_run_model(run_folder)
    model = run.build("cpu")
    weights = half_weights(model)
    # Plain JSON values only: the file is read back with torch.load(weights_only=True), which
    # unpickles nothing but tensors and builtin containers (a shipped file runs no code).
    metadata = json.loads(json.dumps(build_metadata(run)))
    overflow = [name for name, t in weights.items() if not torch.isfinite(t).all()]
    if overflow:
        raise ShippedModelError(
            f"{run.model_file}: weights beyond the fp16 range (or not finite) in "
            f"{', '.join(overflow[:5])}; not exported"
        )
    buffer = io.BytesIO()
    torch.save({"metadata": metadata, "state_dict": weights}, buffer)
    size = buffer.getbuffer().nbytes
    if size > MAX_BYTES:
        raise ShippedModelError(
            f"the exported {run.cfg.arch} would be {size / 1e6:.1f} MB, over the "
            f"{MAX_BYTES / 1e6:.0f} MB limit of a shipped model; export a smaller architecture "
            "(efficientnet_lite0 or efficientnet_b0)"
        )
    atomic_write(out_path, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))
    # The metadata again as JSON beside the weights: the book's model card reads it without
    # torch (pages never import training code).
    write_json(metadata_path(out_path), {**metadata, "bytes": size})
    return {**metadata, "bytes": size}


def describe_export(metadata: dict[str, Any], exported_now: bool) -> str:
    """One line for a page or a log: exported now or up to date, from which run and epoch."""
    source = metadata["source"]
    state = "exported now" if exported_now else "up to date"
    return (
        f"{state}: {metadata['arch']} at {metadata['img_size']} px from run "
        f"{source['run_folder']} ({source['model_file']}, epoch {source['epoch']})"
    )


def metadata_path(model_path: str | Path) -> Path:
    """``pbc6.pt`` -> ``pbc6.json``: the shipped model's metadata, readable without torch."""
    return Path(model_path).with_suffix(".json")


def export_if_changed(
    run_folder: str | Path, out_path: str | Path = DEFAULT_MODEL
) -> tuple[dict[str, Any], bool]:
    """(metadata, exported now?): export ``run_folder``'s selected model (an arm: its best seed on
    validation) unless ``out_path`` already holds exactly those weights (same sha256). Without
    the run's weights (a clone), a shipped file made from this run's selected epoch is kept."""
    folder = best_seed_folder(run_folder)
    sha = weights_sha256(folder)
    existing = read_json_or_none(metadata_path(out_path)) if Path(out_path).is_file() else None
    made_from = (existing or {}).get("source") or {}
    if sha is None:  # a clone: the shipped file stands for the run when it names run and epoch
        keep_committed(folder, "shipped model", made_from, matches=existing is not None)
        return existing, False
    if made_from.get("model_sha256") == sha:
        return existing, False
    return export_model(folder, out_path), True


# --- load -------------------------------------------------------------------------------------
def read_shipped(path: str | Path | None = None) -> dict[str, Any]:
    """The raw content (``metadata`` and fp16 ``state_dict``) of a shipped file, checked."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    if not path.is_file():
        which = "the package's shipped model" if path == DEFAULT_MODEL else "shipped model"
        raise ShippedModelError(
            f"{which} not found: {path}. Create it from a trained run folder with: "
            f"wbcrepro export-model RUN_FOLDER"
            + ("" if path == DEFAULT_MODEL else f" --out {path}")
        )
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ShippedModelError(f"cannot read shipped model {path}: {err}") from err
    metadata = content.get("metadata") if isinstance(content, dict) else None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ShippedModelError(f"{path} is not a wbcrepro shipped model (no '{FORMAT}' metadata)")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ShippedModelError(
            f"{path} has shipped-model format version {metadata.get('format_version')}; this "
            f"wbcrepro reads version {FORMAT_VERSION}"
        )
    return content


def is_shipped_file(path: str | Path) -> bool:
    """Whether ``path`` is a shipped-model file (as opposed to a run checkpoint)."""
    try:
        read_shipped(path)
    except ShippedModelError:
        return False
    return True


def load_shipped(path: str | Path | None = None, device: str = "auto") -> Predictor:
    """(model in eval mode, float32 on ``device``; class names; eval transform; metadata).

    ``path`` defaults to the model shipped in the package (:data:`DEFAULT_MODEL`).
    """
    content = read_shipped(path)
    meta = content["metadata"]
    model = _network(meta, content["state_dict"]).to(pick_device(device))
    transform = rebuild_transform(meta["eval_transform"])
    return Predictor(model, tuple(meta["class_names"]), transform, meta)


def _network(meta: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """The float32 network (eval mode, CPU) described by shipped metadata and weights."""
    model = build_network(meta["arch"], meta["impl"], meta["num_classes"], meta["dropout"])
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}
    )
    return model.eval()


def load_run_predictor(path: str | Path, device: str = "auto") -> Predictor:
    """A :class:`Predictor` from a run folder's selected model (or a checkpoint file)."""
    run = read_run_model(path)
    metadata = {
        "source": {
            "run_id": run.run_id,
            "model_file": str(run.model_file),
            "epoch": run.epoch,
            "params": run.cfg.to_flat(),
        },
        "class_names": list(run.class_names),
        "pre_crop_size": run.cfg.resolved_pre_crop_size,
    }
    return Predictor(
        run.build(pick_device(device)), run.class_names, build_eval_transform(run.cfg), metadata
    )


def load_predictor(source: str | Path | None = None, device: str = "auto") -> Predictor:
    """The model ``wbcrepro predict`` uses: the shipped one (``source`` None or a shipped file),
    else a run folder's selected model or a checkpoint file."""
    if source is None or (Path(source).is_file() and is_shipped_file(source)):
        return load_shipped(source, device)
    return load_run_predictor(source, device)
