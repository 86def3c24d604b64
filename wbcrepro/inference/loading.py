"""One loader and one preprocessing path for every use of a trained model.

``wbcrepro predict``, ``wbcrepro evaluate``, the cross-domain evaluation and Grad-CAM once each
rebuilt the model and read images their own way: cross-domain and Grad-CAM decoded images at
full size while the run's own evaluation (and prediction) first downscaled them to the decode
size of the training data path, so one image could get two answers. Everything now goes through
:func:`load_model` and :func:`class_probabilities`:

* :func:`load_model` takes a run folder (its selected model, checked against the run's records),
  a checkpoint file, a shipped file, or nothing (the model shipped in the package), and returns a
  :class:`LoadedModel`: the network in eval mode on its device, in the memory format and
  autocast precision the run evaluated with, its class names, provenance, and
  :meth:`LoadedModel.preprocess`;
* :meth:`LoadedModel.preprocess` is exactly what the run's evaluation did to an image file:
  decode to RGB, downscale the shorter side to the decode size
  (:func:`wbcrepro.data.loading.cache_side`, when the run cached images; smaller images stay as
  they are), then the recorded evaluation transform;
* :func:`class_probabilities` runs batches of images through the model and returns logits and
  softmax probabilities, skipping unreadable files only where the caller asks for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from tqdm.auto import tqdm

from wbcrepro.config import TrainConfig
from wbcrepro.data.cellcrop import nucleus_crop
from wbcrepro.data.images import ImageReadError, decode_resized, prepare_resized
from wbcrepro.data.transforms import build_eval_transform
from wbcrepro.inference import shipped
from wbcrepro.inference.confidence import rule_from_run_folder
from wbcrepro.inference.run_model import RunModel, file_sha256, read_run_model, run_decode_side
from wbcrepro.inference.shipped import ShippedModelError, read_shipped, rebuild_transform
from wbcrepro.model.networks import build_network, to_device
from wbcrepro.runfolder import RunFolderError
from wbcrepro.training.engine import autocast_dtype, pick_device

ImageInput = str | Path | Image.Image
"""An image file, or an image already in memory (any PIL mode; converted to RGB)."""


@dataclass(frozen=True)
class LoadedModel:
    """A trained model ready to classify images exactly as its run's evaluation did."""

    model: nn.Module
    """The float32 network, in eval mode, on its device, in the run's memory format."""
    class_names: tuple[str, ...]
    transform: v2.Compose
    """The run's evaluation transform (recorded step by step in a shipped file)."""
    decode_side: int | None
    """Images are downscaled to this shorter side before the transform (None: full size)."""
    cfg: TrainConfig
    """The source run's config (seed, dataset, precision, device, memory format)."""
    provenance: dict[str, Any]
    """``kind`` (run folder, checkpoint, shipped), ``run_id``, ``run_folder``, ``model_file``
    and ``model_sha256`` (the file loaded), ``epoch`` (selected), ``dataset``, ``synthetic``,
    ``weights_precision``; a shipped file adds ``exported_from`` (the run's model file)."""
    run: RunModel | None = None
    """The run's stored model and records (None for a shipped file)."""
    shipped: dict[str, Any] | None = None
    """A shipped file's metadata (None for a run's model)."""
    unsure: dict[str, Any] | None = None
    """The per-image ``unsure`` rule (:func:`wbcrepro.inference.confidence.unsure_rule`): from
    a shipped file's metadata, or from the run's validation predictions; None where neither
    has one (an older shipped file, a bare checkpoint)."""

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return autocast_dtype(self.device, self.cfg.precision)

    def decode(self, image: ImageInput) -> Image.Image:
        """The image as the run's data path decoded it: RGB, cropped around its nucleus when the
        run normalised scale (``cell_crop``), shorter side downscaled to :attr:`decode_side` (a
        file goes through the training code's own reader)."""
        prepare = nucleus_crop(self.cfg.cell_crop)
        if not isinstance(image, Image.Image):
            return decode_resized(image, self.decode_side, prepare)
        return prepare_resized(image, self.decode_side, prepare)

    def preprocess(self, image: ImageInput) -> torch.Tensor:
        """The exact input tensor (C x H x W, float32, CPU) the run's evaluation saw."""
        return self.transform(self.decode(image))

    def model_input(self, batch: torch.Tensor) -> torch.Tensor:
        """A batch of preprocessed images on the model's device, in its memory format."""
        fmt = torch.channels_last if self.cfg.channels_last else torch.contiguous_format
        return batch.to(self.device, memory_format=fmt)

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        """float32 logits of a batch of preprocessed images, under the run's autocast."""
        inputs = self.model_input(batch)
        if self.amp_dtype is None:
            return self.model(inputs).float()
        with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype):
            return self.model(inputs).float()


# --- load -------------------------------------------------------------------------------------
def load_model(source: str | Path | None = None, device: str = "auto") -> LoadedModel:
    """The model of ``source``: a run folder (its selected model: ``best.pt``, else
    ``checkpoint.pt``, with the weight and head checks of
    :func:`~wbcrepro.inference.run_model.read_run_model`), a checkpoint file, a shipped file, or
    None for the model shipped in the package. Errors name the file they could not use."""
    if source is None:  # looked up now: tests and tools may point the default elsewhere
        return _from_shipped(shipped.DEFAULT_MODEL, device, read_shipped(shipped.DEFAULT_MODEL))
    path = Path(source)
    if not path.exists():
        raise RunFolderError(f"no run folder, checkpoint or shipped model at {path}")
    content = _read_if_shipped(path) if path.is_file() else None
    if content is not None:
        return _from_shipped(path, device, content)
    return _from_run(read_run_model(path), path, device)


def _read_if_shipped(path: Path) -> dict[str, Any] | None:
    """A shipped file's content, or None when ``path`` is not one (the checkpoint reader then
    reports a file that is neither, naming it); a shipped file of an unknown version raises."""
    try:
        return read_shipped(path)
    except ShippedModelError as err:
        if "format version" in str(err):
            raise
        return None


def _from_run(run: RunModel, path: Path, device: str) -> LoadedModel:
    cfg = run.cfg
    model = to_device(run.build("cpu"), pick_device(device), cfg.channels_last)
    provenance = {
        "kind": "run folder" if path.is_dir() else "checkpoint",
        **run.provenance(),
        "weights_precision": "float32",
    }
    return LoadedModel(
        model.eval(),
        run.class_names,
        build_eval_transform(cfg),
        run_decode_side(cfg),
        cfg,
        provenance,
        run=run,
        unsure=rule_from_run_folder(run.folder, run.class_names),
    )


def _from_shipped(path: Path, device: str, content: dict[str, Any]) -> LoadedModel:
    meta = content["metadata"]
    model = build_network(meta["arch"], meta["impl"], meta["num_classes"], meta["dropout"])
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in content["state_dict"].items()}
    )
    source = meta.get("source") or {}
    cfg = TrainConfig.from_flat(source.get("params") or {})
    # Format 1 did not record the decode size: the run's rule, from its recorded config.
    decode_side = meta.get("decode_shorter_side", run_decode_side(cfg))
    provenance = {
        "kind": "shipped",
        **{k: v for k, v in source.items() if k != "params"},
        "model_file": path.name,
        "model_sha256": file_sha256(path),
        "weights_precision": meta.get("weights_precision") or meta.get("weights_dtype"),
        "exported_from": {
            "model_file": source.get("model_file"),
            "model_sha256": source.get("model_sha256"),
        },
    }
    return LoadedModel(
        to_device(model, pick_device(device), cfg.channels_last).eval(),
        tuple(meta["class_names"]),
        rebuild_transform(meta["eval_transform"]),
        decode_side,
        cfg,
        provenance,
        shipped=meta,
        unsure=meta.get("unsure"),
    )


# --- batched probabilities --------------------------------------------------------------------
@dataclass(frozen=True)
class Probabilities:
    """What :func:`class_probabilities` returns, rows in the order of the images read."""

    indices: list[int]
    """Positions (in the given images) of the rows."""
    logits: np.ndarray
    """float32 logits, (n read, classes)."""
    probabilities: np.ndarray
    """Softmax of the logits, (n read, classes)."""
    skipped: list[tuple[int, str]]
    """(position, error) of every unreadable image (only with ``skip_unreadable``)."""


class ImageDataset(Dataset):
    """Images -> (index, tensor or None, error or None): with ``skip``, a bad file is data."""

    def __init__(self, loaded: LoadedModel, images: Sequence[ImageInput], skip: bool) -> None:
        self.loaded, self.images, self.skip = loaded, list(images), skip

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        try:
            return index, self.loaded.preprocess(self.images[index]), None
        except ImageReadError as err:
            if not self.skip:
                raise
            return index, None, str(err)


def collate_images(items):
    """(index, tensor, error) items -> (indices read, their stacked tensors or None, errors)."""
    good = [(index, image) for index, image, error in items if error is None]
    bad = [(index, error) for index, _, error in items if error is not None]
    images = torch.stack([image for _, image in good]) if good else None
    return [index for index, _ in good], images, bad


@torch.inference_mode()
def class_probabilities(
    loaded: LoadedModel,
    images: Sequence[ImageInput],
    batch_size: int = 32,
    num_workers: int = 0,
    skip_unreadable: bool = False,
    progress: bool = False,
    desc: str = "predict",
) -> Probabilities:
    """Logits and class probabilities of ``images`` (files or PIL images), preprocessed by
    :meth:`LoadedModel.preprocess`. An unreadable file raises naming it, unless
    ``skip_unreadable`` (then it is returned in ``skipped``)."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    loader = DataLoader(
        ImageDataset(loaded, images, skip_unreadable),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=collate_images,
    )
    loaded.model.eval()
    kept: list[int] = []
    logits: list[torch.Tensor] = []
    skipped: list[tuple[int, str]] = []
    for indices, batch, bad in tqdm(loader, desc=desc, disable=not progress, leave=False):
        skipped += bad
        if batch is not None:
            logits.append(loaded.logits(batch).cpu())
            kept += indices
    out = torch.cat(logits) if logits else torch.zeros(0, len(loaded.class_names))
    return Probabilities(kept, out.numpy(), out.softmax(1).numpy(), skipped)
