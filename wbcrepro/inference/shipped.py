"""A shipped model: one small file that classifies white blood cells without a run folder.

A run folder is a working record (optimizer state, history, a split that points into a data root);
a user who only wants predictions needs the weights, the class names and the exact preprocessing.
:func:`export_model` writes those into ONE file plus a metadata dict that says which run, data and
code produced it, how images are decoded (``decode_shorter_side``) and transformed
(``eval_transform``), and the decision rule; :func:`wbcrepro.inference.loading.load_model` reads
it back (this module only defines and writes the format, and checks a file).

Format 3 (this version) is format 2 plus ``unsure``: the confidence threshold below which
``wbcrepro predict`` flags an answer, chosen on the source run's validation predictions
(:mod:`wbcrepro.inference.confidence`). Format 2 stores the large convolution weights in fp16
and keeps BatchNorm, the classifier head and every small tensor in fp32 (:func:`fp32_names`,
:func:`pack_weights`): 96.6 % of the weights in fp16 keep the file at about 7 MB, and the small
tensors whose fp16 rounding moved near-tied out-of-domain answers cost 0.15 MB. Formats 1 and
2 are still read; format 1 (fp16 parameters, fp32 BatchNorm
statistics) is still read.

The evaluation transform is recorded step by step from the run's own pipeline
(:func:`wbcrepro.data.transforms.build_eval_transform`) and rebuilt from that record, so the shipped
model preprocesses exactly as the run evaluated, even if the package's defaults change later.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.transforms import InterpolationMode, v2

import wbcrepro
from wbcrepro.data.transforms import build_eval_transform
from wbcrepro.fileio import atomic_write, read_json_or_none, write_json
from wbcrepro.inference.confidence import rule_from_run_folder
from wbcrepro.inference.run_model import (
    RunModel,
    best_seed_folder,
    keep_committed,
    read_run_model,
    run_decode_side,
    weights_sha256,
)
from wbcrepro.model.networks import head_prefix, implementation_of

FORMAT = "wbcrepro-shipped-model"
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "assets" / "pbc6.pt"
"""The model shipped inside the package (package data; exported by the maintainers)."""
LOCAL_PATH_KEYS = ("data_root", "data_path")
MAX_BYTES = 10_000_000
"""A shipped file must stay small enough for a wheel (10 MB: EfficientNet-Lite0/b0 in fp16)."""
WEIGHTS_PRECISION = (
    "float16 convolution weights of 4096 or more elements; float32 BatchNorm parameters and "
    "statistics, classifier head and every smaller tensor"
)
DECISION_RULE = (
    "argmax of the softmax over class_names; in another label space (wbcrepro predict "
    "--label-space, cross-domain evaluation) the probabilities of the classes that map onto one "
    "target class are summed first (band + segmented neutrophil -> neutrophil), then argmax"
)


class ShippedModelError(RuntimeError):
    """A shipped-model file is missing, unreadable, of another format, or too large."""


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
        # The run's data path downscaled every image to this shorter side before the transform
        # (its decode-once cache); a prediction must do the same to equal the run's own.
        "decode_shorter_side": run_decode_side(cfg),
        "normalisation": {"mean": normalise["mean"], "std": normalise["std"]},
        "eval_transform": steps,
        "decision_rule": DECISION_RULE,
        "unsure": rule_from_run_folder(run.folder, run.class_names),
        "batchnorm": results.get("batchnorm"),
        "weights_precision": WEIGHTS_PRECISION,
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


SMALL_TENSOR = 4096
"""Tensors with fewer elements than this stay fp32 in a shipped file (see :func:`fp32_names`)."""


def fp32_names(model: nn.Module, arch: str, impl: str) -> set[str]:
    """The state-dict entries a shipped file keeps in fp32: every BatchNorm tensor (statistics
    can underflow fp16; a scale or shift moves a whole channel), the classifier head (its
    rounding goes straight into the logits) and every tensor under :data:`SMALL_TENSOR` elements
    (biases, depthwise kernels, the stem and the early pointwise convolutions, whose rounding
    the rest of the network amplifies). Together 3.4 % of the weights, 0.15 MB more than fp16.

    Measured on a retrain of the cpu book's ``main-pbc-s1`` (EfficientNet-Lite0, 160 px)
    against its fp32 ``best.pt``: format 1 (fp16 parameters) flips 1 of 300 Zheng 2018 and 1 of
    960 PBC test answers (probabilities move by up to 0.02), BatchNorm and head alone in fp32
    still 1 of 300; this rule none of either (up to 0.003)."""
    keep = {f"{head_prefix(arch, impl)}{part}" for part in ("weight", "bias")}
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            keep.update(f"{name}.{key}" for key in module.state_dict())
    keep.update(name for name, t in model.state_dict().items() if t.numel() < SMALL_TENSOR)
    return keep


def pack_weights(model: nn.Module, arch: str, impl: str) -> dict[str, torch.Tensor]:
    """The state dict as a format-2 (and 3) file stores it: fp16 but for :func:`fp32_names`."""
    keep = fp32_names(model, arch, impl)
    return {
        name: (t.half() if t.is_floating_point() and name not in keep else t).cpu().contiguous()
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
    weights = pack_weights(run.build("cpu"), run.cfg.arch, run.cfg.impl)
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
    validation) unless ``out_path`` already holds exactly those weights (same sha256) in the
    current format. Without the run's weights (a clone), a shipped file made from this run's
    selected epoch is kept, in whichever readable format it is."""
    folder = best_seed_folder(run_folder)
    sha = weights_sha256(folder)
    existing = read_json_or_none(metadata_path(out_path)) if Path(out_path).is_file() else None
    made_from = (existing or {}).get("source") or {}
    if sha is None:  # a clone: the shipped file stands for the run when it names run and epoch
        keep_committed(folder, "shipped model", made_from, matches=existing is not None)
        return existing, False
    current_format = (existing or {}).get("format_version") == FORMAT_VERSION
    if made_from.get("model_sha256") == sha and current_format:
        return existing, False
    return export_model(folder, out_path), True


# --- read -------------------------------------------------------------------------------------
def read_shipped(path: str | Path | None = None) -> dict[str, Any]:
    """The raw content (``metadata`` and ``state_dict``) of a shipped file, checked; to use it,
    :func:`wbcrepro.inference.loading.load_model`."""
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
    if metadata.get("format_version") not in READABLE_VERSIONS:
        raise ShippedModelError(
            f"{path} has shipped-model format version {metadata.get('format_version')}; this "
            f"wbcrepro reads versions {', '.join(map(str, READABLE_VERSIONS))}"
        )
    return content
