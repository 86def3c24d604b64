"""Test-time adaptation for ``wbcrepro predict --adapt``: BatchNorm statistics of the user's images.

A network with BatchNorm normalises every layer with the mean and variance it saw on its training
images. Another lab's stain, camera and magnification move those statistics, and the network
answers confidently and wrongly. Recomputing only the running statistics on the images to be
classified (AdaBN, Li et al. 2016: no label, no gradient, the weights unchanged) puts the target
images back in the range the later layers were trained on; on this project it moved the PBC
model on Zheng 2018 Dataset 1 from 11.7 % to 60 % through ``predict`` (the cross-lab issue).

It is meant for one batch from one lab and one scanner. The statistics are an average over the
batch, so:

* a small batch gives noisy statistics: below :data:`MIN_ADAPT_IMAGES` readable images the
  adaptation is refused with an error that names the number needed;
* a folder that mixes labs or acquisition styles gets statistics that describe neither, and can
  do worse than no adaptation (measured: one lab's folder mixing two styles went from 85 % to
  26 %). This cannot be detected for sure from unlabelled images: adapt each lab's folder on its
  own.
* a batch of one class (all lymphocytes, say) shifts the statistics by what the class looks like,
  not only by the lab: adapt on a batch with the usual mix of cells.

The model is changed in place (its BatchNorm buffers only); load it again for the original.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from wbcrepro.inference.loading import ImageDataset, ImageInput, LoadedModel, collate_images
from wbcrepro.model.batchnorm import bn_layers, recalibrate_bn

MIN_ADAPT_IMAGES = 32
"""Fewest readable images ``--adapt`` accepts. The statistics are averages over the batch: with
32 images (two training batches of 16) every channel's mean and variance come from thousands of
pixel positions per image, but few cells, so a handful of unusual cells still moves them; below
that the adapted model is more likely to be worse than the unadapted one."""


class AdaptError(ValueError):
    """Adaptation is not possible: too few readable images, or a model without BatchNorm."""


@dataclass(frozen=True)
class Adaptation:
    """What :func:`adapt_batchnorm` did, for the CLI to print and a caller to record."""

    images: int
    """Readable images the statistics were computed over."""
    layers: int
    """BatchNorm layers whose running statistics were replaced."""
    skipped: list[tuple[int, str]]
    """(position, error) of the unreadable images (they took no part)."""


def adapt_batchnorm(
    loaded: LoadedModel,
    images: Sequence[ImageInput],
    batch_size: int = 0,
    num_workers: int = 0,
    min_images: int = MIN_ADAPT_IMAGES,
) -> Adaptation:
    """Replace the running statistics of every BatchNorm layer of ``loaded.model`` by the plain
    average over the readable ``images``, preprocessed exactly as prediction preprocesses them
    (:meth:`LoadedModel.preprocess`), in batches of the run's training batch size (``batch_size``
    0), whose batch statistics the model was trained with.

    Unreadable images are skipped and returned. Fewer than ``min_images`` readable images raise
    :class:`AdaptError` naming the number needed, and the model is left as it was.
    """
    layers = bn_layers(loaded.model)
    if not layers:
        raise AdaptError("--adapt recomputes BatchNorm statistics, and this model has none")
    size = batch_size or loaded.cfg.batch_size
    loader = DataLoader(
        ImageDataset(loaded, images, skip=True),
        batch_size=size,
        num_workers=num_workers,
        collate_fn=collate_images,
    )
    skipped: list[tuple[int, str]] = []

    def batches() -> Iterator[torch.Tensor]:
        """Full batches of readable images (unreadable ones leave no gap), the last one merged
        into the one before when it would hold a single image: BatchNorm in train mode cannot
        take the statistics of one image whose last feature map is 1 x 1."""
        pending: list[torch.Tensor] = []
        held: torch.Tensor | None = None
        for _, batch, bad in loader:
            skipped.extend(bad)
            pending.extend(batch if batch is not None else [])
            while len(pending) >= size:
                if held is not None:
                    yield held
                held, pending = torch.stack(pending[:size]), pending[size:]
        if held is not None and len(pending) == 1:
            held, pending = torch.cat([held, torch.stack(pending)]), []
        if held is not None:
            yield held
        if pending:
            yield torch.stack(pending)

    before = copy.deepcopy([layer.state_dict() for layer in layers])
    seen = recalibrate_bn(
        loaded.model, batches(), loaded.device, loaded.cfg.channels_last, loaded.amp_dtype
    )
    if seen < min_images:
        for layer, state in zip(layers, before, strict=True):
            layer.load_state_dict(state)
        raise AdaptError(
            f"--adapt needs at least {min_images} readable images from one lab and scanner to "
            f"recompute BatchNorm statistics; got {seen}"
            + (f" ({len(skipped)} more could not be read)" if skipped else "")
            + ". Predict without --adapt, or add images of the same batch."
        )
    loaded.model.eval()
    return Adaptation(seen, len(layers), skipped)
