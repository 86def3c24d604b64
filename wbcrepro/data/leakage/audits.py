"""Leaky-split audits: how many test images have a near-copy on the training side.

Method. Published accuracies on public WBC sets are often inflated because copies of one cell land
on both sides of a split. An audit takes the images of one split (queries) and of another
(references), finds each query's nearest reference with a detector of
:mod:`wbcrepro.data.leakage.matching` (``"hash"``: dHash under the 8 dihedral variants, Hamming
distance <= ``max_distance``; ``"embedding"``: EfficientNet-Lite0 block-10 embedding, cosine
similarity >= ``min_similarity``) and counts the queries with a hit. Both detectors find only a
lower bound of the true leakage (the hash misses rotated/sheared/zoomed copies, the embedding misses
some plainly resized ones), so a low count does not prove a split clean.

On the Kaggle "Blood Cell Images" set (:func:`kaggle_audit`) the published TEST (augmented copies
of the TEST_SIMPLE smears) and TRAIN are source-disjoint, which turns it into a calibration set:
TEST vs TRAIN hits are false positives, TEST vs TEST_SIMPLE hits measure recall, and a random
re-split shows what a split that ignores sources leaks. :func:`bccd_vs_kaggle` counts Kaggle
images that are resized copies of a whole BCCD smear. Data is read through the dataset registry
(``kaggle-bloodcells``, ``kaggle-bloodcells-simple``, ``bccd``).

The audit record (:func:`run_audit`, ``wbcrepro data leakage --out FILE.json``), one JSON object;
every path in it is relative to the data root:

* ``kaggle``: what :func:`kaggle_audit` returns. For one method a flat dict: the detector settings
  (``method``, and ``hash``, ``max_distance`` or ``model``, ``size``, ``min_similarity``),
  ``seed``, ``n_images`` (``{"TEST", "TEST_SIMPLE", "TRAIN"}`` -> count), ``published_split`` and
  ``random_resplit`` (each ``n_split``, ``n_against``, ``n_leaked``, ``fraction_leaked``,
  ``n_leaked_same_label``, ``per_class`` {label: {``n``, ``leaked``}}, ``examples`` [{``path``,
  ``match``, ``distance`` | ``similarity``, ``label``, ``match_label``}]),
  ``detector_recall_test_vs_test_simple`` (``recall``, ``n_test``, ``n_detected``,
  ``n_detected_same_label``), ``detector_false_positive_rate_test_vs_train``,
  ``threshold_sweep`` [{``max_distance`` | ``min_similarity``, ``recall``,
  ``false_positive_rate``}], ``best_score_to_test_simple`` and ``best_score_to_train_null``
  ({``p1``, ``p5``, ``p25``, ``p50``, ``p75``, ``p95``, ``p99``}). For ``both``:
  ``{"method": "both", "hash": {...}, "embedding": {...}, "side_by_side": [{``method``,
  ``setting``, ``published_split_leaked``, ``random_resplit_leaked``,
  ``recall_test_vs_test_simple``, ``false_positive_rate_test_vs_train``}]}``.
* ``bccd_vs_kaggle``: what :func:`bccd_vs_kaggle` returns: the detector settings, ``n_bccd``,
  ``n_kaggle``, ``matched``, ``fraction``, ``distinct_bccd_smears``, ``per_split``
  ({``TEST``, ``TEST_SIMPLE``, ``TRAIN``} -> {``n``, ``matched``, ``fraction``,
  ``distinct_bccd_smears``}), ``examples`` [{``kaggle``, ``bccd``, ``distance`` |
  ``similarity``}]; for ``both``: ``{"method": "both", "hash": {...}, "embedding": {...}}``.
* ``methods``: the detectors run, e.g. ``["hash"]``.
* ``data_root``: dataset name -> its folder under the data root (never an absolute path).
* ``environment``: :func:`wbcrepro.environment.collect_environment` (no device).
* ``training_code_hash`` and ``code_hash`` (the same value):
  :func:`wbcrepro.codehash.training_code_hash` of the code that computed it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from wbcrepro.data.datasets import DatasetError, get_dataset
from wbcrepro.data.datasets.bccd import smear_files
from wbcrepro.data.leakage.embedding import DEFAULT_EMBED_SIZE
from wbcrepro.data.leakage.embedding import DEFAULT_MIN_SIMILARITY as MIN_SIM
from wbcrepro.data.leakage.hashing import DEFAULT_HASH, DEFAULT_MAX_DISTANCE
from wbcrepro.data.leakage.matching import METHODS, check_method, detector_settings, match_table
from wbcrepro.data.leakage.summary import quantiles, side_by_side, summary, threshold_sweep

KAGGLE_SIZE = (320, 240)
"""BCCD smears (640x480) are resized to the Kaggle image size before hashing."""
KAGGLE_PARTS = {"train": "TRAIN", "test": "TEST"}
AUDIT_DATASETS = ("kaggle-bloodcells", "kaggle-bloodcells-simple", "bccd")
METHOD_CHOICES = (*METHODS, "both")


def _relative(path: str | Path, root: Path | None) -> str:
    return Path(path).relative_to(root).as_posix() if root is not None else str(path)


def audit_split(
    manifest: pd.DataFrame,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    against: str = "train",
    split: str = "test",
    hash_name: str = DEFAULT_HASH,
    n_examples: int = 5,
    progress: bool = False,
    method: str = "hash",
    min_similarity: float = MIN_SIM,
    size: int = DEFAULT_EMBED_SIZE,
    relative_to: Path | None = None,
) -> dict:
    """How many ``split`` images have a near-copy among the ``against`` images of ``manifest``.

    ``manifest`` has columns path, label, split. Returns a JSON-serialisable dict: counts and
    fraction, how many of the copies carry the same label, per-class counts and a few example
    pairs (closest first), so a reader can look at the evidence; example paths are written
    relative to ``relative_to`` when given.
    """
    check_method(method)
    for column in ("path", "label", "split"):
        if column not in manifest.columns:
            raise KeyError(f"manifest has no {column!r} column")
    query = manifest[manifest["split"] == split].reset_index(drop=True)
    ref = manifest[manifest["split"] == against].reset_index(drop=True)
    settings = dict(method=method, min_similarity=min_similarity, size=size)
    hit, score, idx = match_table(
        query["path"].astype(str).tolist(),
        ref["path"].astype(str).tolist(),
        max_distance,
        hash_name,
        progress,
        **settings,
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
            "path": _relative(query.at[i, "path"], relative_to),
            "match": _relative(ref.at[int(idx[i]), "path"], relative_to),
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
        **detector_settings(method, hash_name, max_distance, min_similarity, size),
        "n_split": int(n),
        "n_against": len(ref),
        "n_leaked": int(hit.sum()),
        "fraction_leaked": float(hit.mean()) if n else 0.0,
        "n_leaked_same_label": int(same.sum()),
        "per_class": per_class,
        "examples": examples,
    }


def kaggle_frame(root: Path) -> pd.DataFrame:
    """path, label, split (``TRAIN`` / ``TEST`` / ``TEST_SIMPLE``) of the Kaggle set, read by
    the registry's loaders, in path order (so that a seeded re-split is the same every time)."""
    root = Path(root)
    main = get_dataset("kaggle-bloodcells").read(root).manifest
    simple = get_dataset("kaggle-bloodcells-simple").read(root).manifest
    frame = pd.concat(
        [main.assign(split=main["split"].map(KAGGLE_PARTS)), simple.assign(split="TEST_SIMPLE")],
        ignore_index=True,
    )[["path", "label", "split"]]
    order = sorted(range(len(frame)), key=lambda i: Path(frame.at[i, "path"]).parts)
    return frame.iloc[order].reset_index(drop=True)


def kaggle_audit(
    root: Path,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    seed: int = 0,
    hash_name: str = DEFAULT_HASH,
    progress: bool = False,
    method: str = "hash",
    min_similarity: float = MIN_SIM,
    size: int = DEFAULT_EMBED_SIZE,
) -> dict:
    """Leakage of the Kaggle set's published split vs a random re-split, plus a detector check.

    (a) published: TEST images with a near-copy in TRAIN (source-disjoint: every hit is a false
    positive of the detector or a genuinely near-identical smear in BCCD);
    (b) random stratified 80/20 re-split of TRAIN+TEST (seeded): re-split test vs re-split train;
    (c) detector recall: TEST images (all augmented copies of TEST_SIMPLE) matched in TEST_SIMPLE.
    Also a threshold sweep (recall on (c), false-positive rate on (a)) and the distributions of
    the best score to TEST_SIMPLE (copies) and to TRAIN (null). ``method``: ``"hash"``,
    ``"embedding"`` or ``"both"`` (keys: module docstring).
    """
    if method == "both":
        kwargs = dict(seed=seed, hash_name=hash_name, progress=progress)
        reports = {
            m: kaggle_audit(
                root, max_distance, method=m, min_similarity=min_similarity, size=size, **kwargs
            )
            for m in METHODS
        }
        return {"method": "both", **reports, "side_by_side": side_by_side(reports)}
    check_method(method)
    from sklearn.model_selection import train_test_split

    root = Path(root)
    settings = dict(
        hash_name=hash_name,
        method=method,
        min_similarity=min_similarity,
        size=size,
        relative_to=root,
    )
    manifest = kaggle_frame(root)
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
    paths = {k: manifest.loc[manifest["split"] == k, "path"].tolist() for k in manifest["split"]}
    match = dict(
        max_distance=max_distance,
        hash_name=hash_name,
        method=method,
        min_similarity=min_similarity,
        size=size,
    )
    _, positive, _ = match_table(paths["TEST"], paths["TEST_SIMPLE"], **match)
    _, null, _ = match_table(paths["TEST"], paths["TRAIN"], **match)
    return {
        **detector_settings(method, hash_name, max_distance, min_similarity, size),
        "seed": int(seed),
        "n_images": {k: int(v) for k, v in manifest["split"].value_counts().sort_index().items()},
        "published_split": summary(a),
        "random_resplit": summary(b),
        "detector_recall_test_vs_test_simple": {
            "recall": c["fraction_leaked"],
            "n_test": c["n_split"],
            "n_detected": c["n_leaked"],
            "n_detected_same_label": c["n_leaked_same_label"],
        },
        "detector_false_positive_rate_test_vs_train": a["fraction_leaked"],
        "threshold_sweep": threshold_sweep(method, positive, null),
        "best_score_to_test_simple": quantiles(positive),
        "best_score_to_train_null": quantiles(null),
    }


def bccd_vs_kaggle(
    root: Path,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    hash_name: str = DEFAULT_HASH,
    progress: bool = False,
    method: str = "hash",
    min_similarity: float = MIN_SIM,
    size: int = DEFAULT_EMBED_SIZE,
) -> dict:
    """How many Kaggle images are near-copies of a whole BCCD smear (resized to 320x240).

    A high match rate shows that training on one of the two sets and testing on the other leaks.
    ``method``: ``"hash"``, ``"embedding"`` or ``"both"`` (keys: module docstring).
    """
    settings = dict(hash_name=hash_name, progress=progress, min_similarity=min_similarity)
    if method == "both":
        reports = {
            m: bccd_vs_kaggle(root, max_distance, method=m, size=size, **settings) for m in METHODS
        }
        return {"method": "both", **reports}
    check_method(method)
    root = Path(root)
    missing = get_dataset("bccd").missing(root)
    if missing:
        raise DatasetError(f"BCCD not found under the data root: {', '.join(missing)}")
    bccd = smear_files(root)
    manifest = kaggle_frame(root)
    hit, score, idx = match_table(
        manifest["path"].tolist(),
        [str(p) for p in bccd],
        max_distance,
        ref_resize=KAGGLE_SIZE,
        method=method,
        size=size,
        **settings,
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
            "kaggle": _relative(manifest.at[int(i), "path"], root),
            "bccd": _relative(bccd[idx[i]], root),
            ("distance" if method == "hash" else "similarity"): (
                int(score[i]) if method == "hash" else round(float(score[i]), 4)
            ),
        }
        for i in np.nonzero(hit)[0][:3]
    ]
    return {
        **detector_settings(method, hash_name, max_distance, min_similarity, size),
        "n_bccd": len(bccd),
        "n_kaggle": len(manifest),
        "matched": int(hit.sum()),
        "fraction": float(hit.mean()),
        "distinct_bccd_smears": len(set(idx[hit].tolist())),
        "per_split": per_split,
        "examples": examples,
    }


def _require_datasets(root: Path) -> dict[str, str]:
    """dataset -> its folder under ``root``; raises naming every missing path and dataset."""
    missing = {n: get_dataset(n).missing(root) for n in AUDIT_DATASETS}
    missing = {n: paths for n, paths in missing.items() if paths}
    if missing:
        listed = "; ".join(f"{n}: {', '.join(p)}" for n, p in missing.items())
        raise DatasetError(
            f"the leakage audit needs {', '.join(AUDIT_DATASETS)}; missing under the data root "
            f"{root}: {listed} (get them with: wbcrepro data download bccd)"
        )
    return {n: get_dataset(n).folder for n in AUDIT_DATASETS}


def run_audit(root: Path, methods: str = "hash", progress: bool = False) -> dict:
    """Both audits with ``methods`` (``"hash"``, ``"embedding"`` or ``"both"``): the record of
    the module docstring, with every path relative to ``root``."""
    from wbcrepro.codehash import training_code_hash
    from wbcrepro.environment import collect_environment

    if methods not in METHOD_CHOICES:
        raise ValueError(f"unknown method {methods!r}; expected one of {', '.join(METHOD_CHOICES)}")
    root = Path(root)
    folders = _require_datasets(root)
    code = training_code_hash()
    return {
        "kaggle": kaggle_audit(root, progress=progress, method=methods),
        "bccd_vs_kaggle": bccd_vs_kaggle(root, progress=progress, method=methods),
        "methods": list(METHODS) if methods == "both" else [methods],
        "data_root": folders,
        "environment": collect_environment(),
        "training_code_hash": code,
        "code_hash": code,
    }


def write_audit(root: Path, out: Path, methods: str = "hash", progress: bool = False) -> dict:
    """:func:`run_audit`, written atomically to ``out`` as JSON; returns the record.

    Refuses to write a record that names the data root's absolute location: the file is published
    with the book and must not depend on (or reveal) this machine's folders.
    """
    from wbcrepro.fileio import write_json

    record = run_audit(root, methods, progress)
    text = json.dumps(record, default=str)
    local = {str(Path(root).resolve()), str(Path.home())}
    found = sorted(p for p in local if len(p) > 1 and p in text)
    if found:
        raise RuntimeError(f"leakage audit record would contain local path(s) {found}; not written")
    write_json(out, record)
    return record
