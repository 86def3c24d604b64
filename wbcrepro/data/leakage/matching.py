"""Matching: the nearest reference image of each query image, for either detector.

Hash codes are compared by Hamming distance (minimum over the reference's dihedral variants),
embeddings by cosine similarity; both are vectorised in chunks, so a 3,000 x 10,000 comparison
takes about a second with bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from wbcrepro.data.leakage.embedding import (
    DEFAULT_EMBED_LAYER,
    DEFAULT_EMBED_SIZE,
    DEFAULT_MIN_SIMILARITY,
    EMBED_ARCH,
    compute_embeddings,
)
from wbcrepro.data.leakage.hashing import DEFAULT_HASH, DEFAULT_MAX_DISTANCE, compute_hashes

METHODS = ("hash", "embedding")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")


def detector_settings(
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


def _as_variants(reference: np.ndarray) -> np.ndarray:
    reference = np.asarray(reference, dtype=np.uint64)
    return reference[:, None] if reference.ndim == 1 else reference


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(-1)


def distance_blocks(
    query: np.ndarray, reference: np.ndarray, chunk_elems: int = 4_000_000
) -> Iterator[tuple[int, np.ndarray]]:
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
    (the minimum is over all variants). With an empty reference the distance is 65 and the
    index -1.
    """
    query = np.asarray(query, dtype=np.uint64).ravel()
    dist = np.full(len(query), 65, dtype=np.int64)
    index = np.full(len(query), -1, dtype=np.int64)
    if len(query) == 0 or len(reference) == 0:
        return dist, index
    for start, block in distance_blocks(query, reference):
        stop = start + block.shape[0]
        index[start:stop] = block.argmin(axis=1)
        dist[start:stop] = block[np.arange(block.shape[0]), index[start:stop]]
    return dist, index


def nearest_cosine(
    query: np.ndarray, reference: np.ndarray, chunk_rows: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """For each query embedding: the best cosine similarity over ``reference`` and its index.

    Rows are expected L2-normalised (``compute_embeddings`` returns them so), so the cosine is a
    dot product, computed in chunks of ``chunk_rows`` query rows. With an empty reference the
    similarity is -1 and the index -1.
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


def match_table(
    query_paths: Sequence[str],
    ref_paths: Sequence[str],
    max_distance: int = DEFAULT_MAX_DISTANCE,
    hash_name: str = DEFAULT_HASH,
    progress: bool = False,
    ref_resize: tuple[int, int] | None = None,
    method: str = "hash",
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    size: int = DEFAULT_EMBED_SIZE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hit, score, index) per query image: its nearest reference image under ``method``.

    score = Hamming distance (hash) or cosine similarity (embedding); ``ref_resize`` resizes the
    reference images before hashing (the embedding rescales every image anyway).
    """
    check_method(method)
    if method == "embedding":
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
