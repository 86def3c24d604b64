"""Near-duplicate detection across splits (leaky-split audits).

Two detectors find copies of one image on both sides of a split: perceptual hashes
(:mod:`~wbcrepro.data.leakage.hashing`: exact, flipped, rotated by 90 degrees, resized copies) and
pretrained CNN embeddings (:mod:`~wbcrepro.data.leakage.embedding`: also copies augmented by small
rotations, shear, zoom and shifts). :mod:`~wbcrepro.data.leakage.matching` compares them,
:mod:`~wbcrepro.data.leakage.audits` runs the audits on the Kaggle and BCCD sets and writes their
record, :mod:`~wbcrepro.data.leakage.folds` audits a k-fold cross-validation fold by fold, and
:mod:`~wbcrepro.data.leakage.groups` joins near-copies into one group before a split; both
detectors cache their results (:mod:`~wbcrepro.data.leakage.cache`).
``python -m wbcrepro.data.leakage DATA_ROOT`` prints both audits with both detectors.
"""

from __future__ import annotations

from wbcrepro.data.leakage.audits import (
    audit_split,
    bccd_vs_kaggle,
    kaggle_audit,
    kaggle_frame,
    run_audit,
    write_audit,
)
from wbcrepro.data.leakage.embedding import (
    DEFAULT_EMBED_SIZE,
    DEFAULT_MIN_SIMILARITY,
    compute_embeddings,
    embed_batch,
)
from wbcrepro.data.leakage.hashing import (
    DEFAULT_HASH,
    DEFAULT_MAX_DISTANCE,
    compute_hashes,
    hash_image,
)
from wbcrepro.data.leakage.matching import METHODS, match_table, nearest, nearest_cosine

__all__ = [
    "DEFAULT_EMBED_SIZE",
    "DEFAULT_HASH",
    "DEFAULT_MAX_DISTANCE",
    "DEFAULT_MIN_SIMILARITY",
    "METHODS",
    "audit_split",
    "bccd_vs_kaggle",
    "compute_embeddings",
    "compute_hashes",
    "embed_batch",
    "hash_image",
    "kaggle_audit",
    "kaggle_frame",
    "match_table",
    "nearest",
    "nearest_cosine",
    "run_audit",
    "write_audit",
]
