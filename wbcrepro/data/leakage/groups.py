"""Near-copies joined into one group before a split, so that no cell sits on both sides.

A loader's ``group`` names the source it knows of (a smear, a patient, or just the file). Some
sets hold the same cell twice under different names: in the LISC crops the fold audit
(:mod:`wbcrepro.data.leakage.folds`) found pairs at dHash distance 1-4 under rotations and
flips, always with the same label, that a per-image group split across folds. With
``group_near_copies`` a run joins every such pair (and what they chain to) into one group, using
the audit's own detector (dHash under the 8 dihedral variants, Hamming distance <=
:data:`~wbcrepro.data.leakage.hashing.DEFAULT_MAX_DISTANCE`). Like the audit, it finds a lower
bound: copies that were zoomed or sheared can remain apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from wbcrepro.data.leakage.hashing import DEFAULT_MAX_DISTANCE, compute_hashes
from wbcrepro.data.leakage.matching import distance_blocks


def near_copy_pairs(
    paths: Sequence[str | Path], max_distance: int = DEFAULT_MAX_DISTANCE
) -> list[tuple[int, int]]:
    """Index pairs (i < j) of images whose hashes are within ``max_distance`` under any of the
    8 dihedral variants (an image against itself is not a pair)."""
    codes = compute_hashes(paths, variants=True)
    pairs: list[tuple[int, int]] = []
    for start, block in distance_blocks(codes[:, 0], codes):
        rows, cols = np.nonzero(block <= max_distance)
        pairs += [(start + i, int(j)) for i, j in zip(rows, cols, strict=True) if start + i < j]
    return pairs


def join_near_copies(
    manifest: pd.DataFrame, max_distance: int = DEFAULT_MAX_DISTANCE
) -> tuple[pd.DataFrame, int]:
    """(the manifest with the groups of near-copies joined, how many groups were merged away).

    A joined group is named after its members' groups, sorted and joined with ``+``, so the
    split file says which images were put together."""
    out = manifest.reset_index(drop=True).copy()
    groups = out["group"].astype(str).tolist()
    parent = {g: g for g in groups}

    def root(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    for i, j in near_copy_pairs(out["path"].tolist(), max_distance):
        a, b = root(groups[i]), root(groups[j])
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[str, set[str]] = {}
    for g in groups:
        members.setdefault(root(g), set()).add(g)
    names = {g: "+".join(sorted(members[root(g)])) for g in groups}
    out["group"] = [names[g] for g in groups]
    return out, len(set(groups)) - len(members)
