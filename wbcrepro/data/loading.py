"""A run's data: the registered dataset loaded and split, the decode-once cache, DataLoaders.

Image files are read through :mod:`wbcrepro.data.images` (errors naming the file); datasets come
from the registry :mod:`wbcrepro.data.datasets`, which never imports this module.

A dataset is described by a *manifest*: a DataFrame with one row per image and the columns
``path``, ``label`` (a class name), ``group`` (its source) and, once split, ``split``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from wbcrepro.config import TrainConfig
from wbcrepro.data.cellcrop import nucleus_crop
from wbcrepro.data.datasets import Loaded, get_dataset
from wbcrepro.data.images import ImageReadError, decode_resized
from wbcrepro.data.splits import split_manifest, subsample_train

CACHE_UPSCALE = 1.15
"""Cached images keep a shorter side of 1.15x the RandomResizedCrop size: enough for a 0.8-scale
crop to be resampled down, never up, and small enough that an epoch does not decode full images."""


class LabelError(ValueError):
    """A manifest label is not one of the dataset's classes; the message names it."""


def cache_side(cfg: TrainConfig) -> int:
    """Shorter side of cached images for ``cfg``'s input pipeline."""
    return math.ceil(cfg.resolved_pre_crop_size * CACHE_UPSCALE)


class ImageTable(Dataset):
    """Images and integer labels; with ``cache_side`` set, every image is decoded once up front.

    Decoding happens in the constructor, in the main process, so DataLoader workers share the
    decoded, downscaled images (copy-on-write) instead of each decoding full-size JPEG/BMP every
    epoch.
    """

    def __init__(
        self,
        paths: Sequence[str],
        targets: Sequence[int],
        transform: Callable | None = None,
        cache_side: int | None = None,
        progress: bool = False,
        skip_bad_files: bool = False,
        prepare: Callable[[Image.Image], Image.Image] | None = None,
    ) -> None:
        if len(paths) != len(targets):
            raise ValueError(f"{len(paths)} paths but {len(targets)} targets")
        self.paths = list(map(str, paths))
        self.targets = [int(t) for t in targets]
        self.transform = transform
        self.cache_side = cache_side
        self.prepare = prepare
        """A deterministic step on the decoded image before any resize (the nucleus crop)."""
        self.skipped: list[tuple[str, str]] = []
        """(path, error) of every unreadable image left out (only with ``skip_bad_files``)."""
        self._cache: list[Image.Image] | None = None
        if cache_side is None and not skip_bad_files:
            return
        # One pass over the files: decode for the cache and/or find unreadable files up front,
        # so that a bad file never surfaces in the middle of an epoch.
        kept_paths, kept_targets, cache = [], [], []
        for path, target in tqdm(
            list(zip(self.paths, self.targets, strict=True)),
            desc="decode",
            disable=not progress,
            leave=False,
        ):
            try:
                image = decode_resized(path, cache_side, prepare)
            except ImageReadError as err:
                if not skip_bad_files:
                    raise
                self.skipped.append((path, str(err)))
                continue
            kept_paths.append(path)
            kept_targets.append(target)
            cache.append(image)
        self.paths, self.targets = kept_paths, kept_targets
        self._cache = cache if cache_side is not None else None

    def __len__(self) -> int:
        return len(self.paths)

    def with_transform(self, transform: Callable | None) -> ImageTable:
        """The same images (sharing the decoded cache, nothing re-read) under another transform:
        the training images with the evaluation transform, for BatchNorm statistics and the
        linear probe."""
        other = copy.copy(self)
        other.transform = transform
        return other

    def load(self, index: int) -> Image.Image:
        """The untransformed image: from the cache, or freshly read from disk."""
        if self._cache is not None:
            return self._cache[index]
        return decode_resized(self.paths[index], None, self.prepare)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.load(index)
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]


def encode_labels(labels: Sequence[str], class_names: Sequence[str]) -> list[int]:
    """Class names -> indices into ``class_names``; an unknown label raises naming it."""
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise LabelError(
            f"unknown label(s) {', '.join(map(repr, unknown))}; expected one of "
            f"{', '.join(class_names)}"
        )
    return [index[label] for label in labels]


@dataclass(frozen=True)
class SplitData:
    """A dataset loaded and split for one run."""

    name: str
    class_names: tuple[str, ...]
    manifest: pd.DataFrame
    """One row per image: ``path``, ``label``, ``group``, ``split`` (written to the run folder)."""
    synthetic: bool
    excluded: pd.DataFrame | None = None
    """What the loader left out, with reasons (written to the run folder)."""
    notes: tuple[str, ...] = ()
    val_source_disjoint: bool = True
    """Whether validation shares no source with training: its groups are real sources, or the
    publisher gave the validation split. Model selection on validation needs it."""

    def rows(self, split: str) -> pd.DataFrame:
        return self.manifest[self.manifest["split"] == split]

    def class_counts(self) -> pd.DataFrame:
        """Images per class (rows) and split (columns)."""
        return pd.crosstab(self.manifest["label"], self.manifest["split"]).reindex(
            list(self.class_names), fill_value=0
        )


def drop_classes(loaded: Loaded, exclude_classes: str) -> Loaded:
    """``loaded`` without the comma-separated ``exclude_classes`` (their images become excluded).

    An unknown class name is an error: a typo must not silently keep a class in.
    """
    names = [n.strip() for n in exclude_classes.split(",") if n.strip()]
    if not names:
        return loaded
    unknown = sorted(set(names) - set(loaded.classes))
    if unknown:
        raise LabelError(
            f"exclude_classes names unknown class(es) {', '.join(unknown)}; "
            f"classes are {', '.join(loaded.classes)}"
        )
    dropped = loaded.manifest["label"].isin(names)
    excluded = pd.concat(
        [
            loaded.excluded,
            pd.DataFrame(
                {
                    "item": loaded.manifest.loc[dropped, "path"],
                    "reason": "class excluded by exclude_classes",
                }
            ),
        ],
        ignore_index=True,
    )
    classes = tuple(c for c in loaded.classes if c not in names)
    return Loaded(
        loaded.manifest[~dropped].reset_index(drop=True),
        classes,
        excluded,
        (*loaded.notes, f"classes left out: {', '.join(names)}"),
    )


def load_split_data(cfg: TrainConfig, manifest: pd.DataFrame | None = None) -> SplitData:
    """The dataset named by ``cfg`` with its split; an existing ``manifest`` (resume) is reused.

    Reusing the manifest written into the run folder makes a resumed run see exactly the split it
    started with, even if the split code or the files on disk have changed since.
    """
    spec = get_dataset(cfg.dataset)
    loaded = drop_classes(spec.load(cfg), cfg.exclude_classes)
    notes = loaded.notes
    to_split = loaded.manifest
    if cfg.group_near_copies:
        from wbcrepro.data.leakage.groups import join_near_copies  # hashing only when asked

        to_split, merged = join_near_copies(loaded.manifest)
        notes = (*notes, f"group_near_copies: {merged} group(s) joined to near-copies")
    if manifest is None:
        manifest = split_manifest(
            to_split,
            cfg.val_fraction,
            cfg.test_fraction,
            cfg.split_seed,
            cfg.n_folds,
            cfg.fold,
        )
        manifest = subsample_train(manifest, cfg.train_subset, cfg.split_seed)
    classes = tuple(loaded.classes)
    encode_labels(manifest["label"].tolist(), classes)  # fail early on unknown labels
    if cfg.num_classes and cfg.num_classes != len(classes):
        raise ValueError(
            f"num_classes={cfg.num_classes} but dataset {cfg.dataset!r} has {len(classes)} "
            f"classes ({', '.join(classes)}); set num_classes={len(classes)} (or 0 = auto)"
        )
    published = loaded.manifest.get("split")
    published_val = published is not None and bool((published == "val").any())
    return SplitData(
        cfg.dataset,
        classes,
        manifest,
        spec.synthetic,
        loaded.excluded,
        notes,
        val_source_disjoint=spec.groups_are_sources or published_val,
    )


def make_table(
    data: SplitData, split: str, transform: Callable, cfg: TrainConfig, progress: bool = False
) -> ImageTable:
    """An :class:`ImageTable` for one split of ``data``."""
    rows = data.rows(split)
    return ImageTable(
        rows["path"].tolist(),
        encode_labels(rows["label"].tolist(), data.class_names),
        transform,
        cache_side(cfg) if cfg.cache_images else None,
        progress=progress,
        skip_bad_files=cfg.skip_bad_files,
        prepare=nucleus_crop(cfg.cell_crop),
    )


def _seed_worker(worker_id: int) -> None:
    """Seed numpy and random in a DataLoader worker from torch's per-worker seed."""
    import random

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(
    table: ImageTable, cfg: TrainConfig, train: bool, generator: torch.Generator | None = None
) -> DataLoader:
    """A DataLoader whose shuffling and worker seeds come from ``generator`` (reproducible);
    evaluation loaders (``train=False``) take ``eval_batch_size`` when it is set.

    On CUDA batches go through pinned memory (the copies to the GPU are then asynchronous). An
    evaluation loader keeps its workers alive between passes (``persistent_workers``; the
    evaluator reuses one loader per split, so the workers start once per run, not per epoch).
    A training loader is built anew each epoch from that epoch's generator, so that a run resumed
    from a checkpoint draws exactly the batches and augmentations it would have drawn.
    """
    return DataLoader(
        table,
        batch_size=cfg.batch_size if train else (cfg.eval_batch_size or cfg.batch_size),
        shuffle=train,
        drop_last=False,
        num_workers=cfg.num_workers,
        worker_init_fn=_seed_worker,
        generator=generator,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=not train and cfg.num_workers > 0,
    )
