"""Near-duplicate detection (wbcrepro.data.leakage) on drawn images, plus one real-data audit."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageEnhance
from sklearn.model_selection import train_test_split

from tests.conftest import SHARED_DATA
from wbcrepro.data import leakage
from wbcrepro.data.images import ImageReadError
from wbcrepro.data.leakage import embedding, hashing

# Subsample and bounds of the real-data embedding check (full-set embedding recall on TEST vs
# TEST_SIMPLE was measured at ~15 %, with no false positive between TEST and TRAIN). Measured on
# seeded subsamples (recall / false positives / re-split leaks): 300+700 images 0.163 / 0 / 0.29,
# 150+300 images 0.120 / 0 / 0.159, 100+200 images 0.120 / 0 / 0.190; the smallest takes a
# third of the embedding time (0.1-0.2 s an image) and keeps every bound with a margin.
N_TEST, N_TRAIN = 100, 200
MIN_EMBED_RECALL = 0.08
MAX_EMBED_FALSE_POSITIVES = 0.01


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("WBCREPRO_CACHE", str(folder))
    return folder


def blob_image(seed: int) -> Image.Image:
    """A 320x240 RGB image with smooth random structure (like a smear, unlike white noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((320, 240), Image.Resampling.BICUBIC)


def save(image: Image.Image, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)
    return str(path)


def test_copies_are_near_duplicates_and_other_images_are_not(tmp_path: Path) -> None:
    base = blob_image(0)
    ref = [save(base, tmp_path / "ref.jpeg")]
    copies = {
        "flip": base.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "rot90": base.transpose(Image.Transpose.ROTATE_90),
        "rot180_flip": base.transpose(Image.Transpose.TRANSVERSE),
        "brighter": ImageEnhance.Brightness(base).enhance(1.15),
    }
    query = [save(img, tmp_path / f"{name}.jpeg") for name, img in copies.items()]
    others = [save(blob_image(seed), tmp_path / f"other{seed}.jpeg") for seed in range(1, 6)]
    ref_hashes = leakage.compute_hashes(ref, variants=True)
    assert ref_hashes.shape == (1, 8) and ref_hashes.dtype == np.uint64
    dist, idx = leakage.nearest(leakage.compute_hashes(query), ref_hashes)
    found = dict(zip(copies, dist.tolist(), strict=True))
    assert (dist <= leakage.DEFAULT_MAX_DISTANCE).all(), found
    assert (idx == 0).all()
    dist_other, _ = leakage.nearest(leakage.compute_hashes(others), ref_hashes)
    assert (dist_other > leakage.DEFAULT_MAX_DISTANCE).all(), dist_other


def test_nearest_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    query = rng.integers(0, 2**63, size=37, dtype=np.uint64) * np.uint64(2)
    ref = rng.integers(0, 2**63, size=(53, 8), dtype=np.uint64)
    ref[5, 3] = query[2] ^ np.uint64(0b101)  # a planted neighbour at distance 2
    dist, idx = leakage.nearest(query, ref)
    for i, q in enumerate(query.tolist()):
        d = [[bin(q ^ r).count("1") for r in row] for row in ref.tolist()]
        best = min(min(row) for row in d)
        assert dist[i] == best
        assert min(d[idx[i]]) == best
    assert dist[2] == 2 and idx[2] == 5
    flat_dist, _ = leakage.nearest(query, ref[:, 0])
    assert (flat_dist >= dist).all()


def make_manifest(tmp_path: Path, leak: bool) -> pd.DataFrame:
    rows = []
    for i in range(6):
        label = "A" if i % 2 else "B"
        rows.append((save(blob_image(100 + i), tmp_path / f"train{i}.jpeg"), label, "train"))
    for i in range(4):
        rows.append((save(blob_image(200 + i), tmp_path / f"test{i}.jpeg"), "A", "test"))
    if leak:  # a flipped copy of train image 1 (label A) lands in test
        copy = blob_image(101).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        rows.append((save(copy, tmp_path / "leak.jpeg"), "A", "test"))
    return pd.DataFrame(rows, columns=["path", "label", "split"])


def test_audit_split_counts_a_planted_leak(tmp_path: Path) -> None:
    result = leakage.audit_split(make_manifest(tmp_path, leak=True))
    assert result["n_split"] == 5 and result["n_against"] == 6
    assert result["n_leaked"] == 1
    assert result["fraction_leaked"] == pytest.approx(0.2)
    assert result["n_leaked_same_label"] == 1
    assert result["per_class"] == {"A": {"n": 5, "leaked": 1}}
    (example,) = result["examples"]
    assert example["path"].endswith("leak.jpeg") and example["match"].endswith("train1.jpeg")


def test_audit_split_without_leak_is_zero(tmp_path: Path) -> None:
    result = leakage.audit_split(make_manifest(tmp_path, leak=False))
    assert result["n_leaked"] == 0 and result["fraction_leaked"] == 0.0
    assert result["examples"] == []


def test_hash_cache_is_used_the_second_time(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [save(blob_image(s), tmp_path / f"img{s}.jpeg") for s in range(3)]
    calls: list[str] = []
    real = hashing.hash_image

    def counting(path, *args, **kwargs):
        calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(hashing, "hash_image", counting)
    first = leakage.compute_hashes(paths, variants=True)
    assert len(calls) == 3
    assert list((cache / "hashes").iterdir()), "cache written under cache_root()/hashes"
    second = leakage.compute_hashes(paths)
    assert len(calls) == 3, "second call must come from the cache"
    np.testing.assert_array_equal(second, first[:, 0])
    # a changed file (size / mtime) is hashed again
    save(blob_image(99), Path(paths[0]))
    os.utime(paths[0], ns=(1, 1))
    leakage.compute_hashes(paths)
    assert calls[3:] == [paths[0]]


def test_unreadable_image_raises_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpeg"
    bad.write_bytes(b"not a jpeg at all")
    good = save(blob_image(0), tmp_path / "good.jpeg")
    with pytest.raises(ImageReadError, match=r"broken\.jpeg"):
        leakage.compute_hashes([good, str(bad)])
    with pytest.raises(ImageReadError, match=r"missing\.jpeg"):
        leakage.compute_hashes([str(tmp_path / "missing.jpeg")])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


@pytest.mark.slow  # builds EfficientNet-Lite0 and embeds images on the CPU
def test_embedding_copies_are_closer_than_other_images(tmp_path: Path, cache: Path) -> None:
    base = blob_image(0)
    copies = {
        "flip": base.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "rot180": base.transpose(Image.Transpose.ROTATE_180),
        "rot8deg": base.rotate(8, resample=Image.Resampling.BILINEAR),  # black fill corners
        "brighter": ImageEnhance.Brightness(base).enhance(1.15),
    }
    paths = [save(base, tmp_path / "base.jpeg")]
    paths += [save(img, tmp_path / f"{name}.jpeg") for name, img in copies.items()]
    paths += [save(blob_image(seed), tmp_path / f"other{seed}.jpeg") for seed in range(1, 6)]
    emb = leakage.compute_embeddings(paths)
    assert emb.dtype == np.float32 and emb.shape[0] == len(paths) and emb.shape[1] >= 64
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    to_copies = {name: cosine(emb[0], emb[1 + k]) for k, name in enumerate(copies)}
    to_others = [cosine(emb[0], e) for e in emb[1 + len(copies) :]]
    assert min(to_copies.values()) > max(to_others), (to_copies, to_others)
    assert to_copies["flip"] > 0.995 and to_copies["rot180"] > 0.995  # flip-averaged
    sim, idx = leakage.nearest_cosine(emb[1 : 1 + len(copies)], emb[[0, 5, 6, 7, 8, 9]])
    assert (idx == 0).all(), sim
    assert list((cache / "embeddings").iterdir()), "cache under cache_root()/embeddings"


def test_nearest_cosine_matches_brute_force() -> None:
    rng = np.random.default_rng(2)
    query = rng.normal(size=(37, 16)).astype(np.float32)
    ref = rng.normal(size=(53, 16)).astype(np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    ref[7] = query[3]  # a planted exact copy
    sim, idx = leakage.nearest_cosine(query, ref, chunk_rows=5)  # several chunks
    full = query @ ref.T
    np.testing.assert_allclose(sim, full.max(axis=1), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(idx, full.argmax(axis=1))
    assert idx[3] == 7 and sim[3] == pytest.approx(1.0, abs=1e-6)
    empty_sim, empty_idx = leakage.nearest_cosine(query, ref[:0])
    assert (empty_idx == -1).all() and (empty_sim == -1).all()


@pytest.mark.slow  # builds EfficientNet-Lite0 and embeds images on the CPU
def test_embedding_cache_is_used_the_second_time(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [save(blob_image(s), tmp_path / f"img{s}.jpeg") for s in range(3)]
    calls: list[int] = []
    real = embedding.embed_batch

    def counting(images, *args, **kwargs):
        calls.append(len(images))
        return real(images, *args, **kwargs)

    monkeypatch.setattr(embedding, "embed_batch", counting)
    first = leakage.compute_embeddings(paths)
    assert sum(calls) == 3
    (file,) = (cache / "embeddings").iterdir()
    assert str(leakage.DEFAULT_EMBED_SIZE) in file.name
    second = leakage.compute_embeddings(paths[::-1])
    assert sum(calls) == 3, "second call must come from the cache"
    np.testing.assert_array_equal(second, first[::-1])
    save(blob_image(99), Path(paths[0]))  # a changed file is embedded again
    os.utime(paths[0], ns=(1, 1))
    leakage.compute_embeddings(paths)
    assert sum(calls) == 4
    with pytest.raises(ImageReadError, match=r"missing\.jpeg"):
        leakage.compute_embeddings([str(tmp_path / "missing.jpeg")])


@pytest.mark.slow  # builds EfficientNet-Lite0 and embeds images on the CPU
def test_audit_split_with_the_embedding(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, leak=True)
    result = leakage.audit_split(manifest, method="embedding")
    assert result["method"] == "embedding" and result["n_split"] == 5
    assert result["examples"], "the flipped copy is found"
    best = result["examples"][0]
    assert best["path"].endswith("leak.jpeg") and best["match"].endswith("train1.jpeg")
    assert best["similarity"] >= leakage.DEFAULT_MIN_SIMILARITY
    with pytest.raises(ValueError, match="unknown method"):
        leakage.audit_split(manifest, method="clip")


def kaggle_manifest() -> pd.DataFrame:
    images = SHARED_DATA / "wbc-classification" / "images"
    if not images.is_dir():
        pytest.skip(f"Kaggle WBC images not found at {images} (set WBCREPRO_SHARED_DATA)")
    return leakage.kaggle_frame(SHARED_DATA)


@pytest.mark.slow
@pytest.mark.shared_data
def test_kaggle_hash_audit_on_real_data() -> None:
    """The three audits of ``kaggle_audit`` (whose composition, threshold sweep and record the
    upstream-layout test below checks through ``wbcrepro data leakage``), each by ``audit_split``
    with the hash detector on the full set (12,500 images)."""
    manifest = kaggle_manifest()
    published = manifest[manifest["split"].isin(["TRAIN", "TEST"])].reset_index(drop=True)
    published["split"] = published["split"].str.lower()
    found = leakage.audit_split(published)
    # published split is source-disjoint: (close to) no match
    assert found["n_split"] > 2000 and found["fraction_leaked"] <= 0.005
    # a random re-split (kaggle_audit's: stratified 80/20, seed 0) puts copies of one cell on
    # both sides; the hash finds only a lower bound of them, but all of those carry the same label
    train_idx, test_idx = train_test_split(
        np.arange(len(published)), test_size=0.2, random_state=0, stratify=published["label"]
    )
    resplit = published.copy()
    resplit.loc[train_idx, "split"], resplit.loc[test_idx, "split"] = "train", "test"
    mixed = leakage.audit_split(resplit)
    assert mixed["n_split"] > 2000 and mixed["n_leaked"] >= 50
    assert mixed["n_leaked_same_label"] >= 0.95 * mixed["n_leaked"]
    # The hash misses the Keras-augmented copies (rotation, shear, shift, zoom): recall ~0.
    check = manifest[manifest["split"].isin(["TEST", "TEST_SIMPLE"])]
    recall = leakage.audit_split(check, against="TEST_SIMPLE", split="TEST")["fraction_leaked"]
    assert recall <= 0.02


@pytest.mark.slow
@pytest.mark.shared_data
def test_kaggle_embedding_audit_on_real_data() -> None:
    """The embedding detector on a seeded subsample (all 12,500 images take many minutes to embed
    on 2 CPU cores; `wbcrepro data leakage --method both` gives the full-set numbers): it finds
    the augmented copies the hash misses (recall at most 0.02, above)."""
    manifest = kaggle_manifest()
    by_split = {k: manifest[manifest["split"] == k] for k in ("TRAIN", "TEST", "TEST_SIMPLE")}
    test = by_split["TEST"].sample(N_TEST, random_state=0)
    train = by_split["TRAIN"].sample(N_TRAIN, random_state=0)
    check = pd.concat([test, by_split["TEST_SIMPLE"]])
    emb = {"method": "embedding"}
    found = leakage.audit_split(check, against="TEST_SIMPLE", split="TEST", **emb)
    assert found["fraction_leaked"] >= MIN_EMBED_RECALL  # the hash's bound 0.02 plus 0.06
    assert found["n_leaked_same_label"] >= 0.9 * found["n_leaked"]
    pub = pd.concat([test.assign(split="test"), train.assign(split="train")], ignore_index=True)
    published_emb = leakage.audit_split(pub, **emb)  # source-disjoint: false positives only
    assert published_emb["fraction_leaked"] <= MAX_EMBED_FALSE_POSITIVES
    rng = np.random.default_rng(0)
    mixed = pub.assign(split=np.where(rng.random(len(pub)) < 0.2, "test", "train"))
    resplit_emb = leakage.audit_split(mixed, **emb)
    assert resplit_emb["fraction_leaked"] >= published_emb["fraction_leaked"] + 0.1


# --- the audit record: `wbcrepro data leakage` on the upstream layouts -------------------------

KAGGLE_CLASSES = ("EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL")


def _smear(root: Path, number: int, image: Image.Image) -> Path:
    """One BCCD smear as upstream: a 640x480 JPEG and its VOC annotation (one WBC box)."""
    stem = f"BloodImage_{number:05d}"
    voc = root / "BCCD_Dataset" / "BCCD"
    (voc / "Annotations").mkdir(parents=True, exist_ok=True)
    (voc / "Annotations" / f"{stem}.xml").write_text(
        f"<annotation><filename>{stem}.jpg</filename><object><name>WBC</name><bndbox>"
        "<xmin>200</xmin><ymin>150</ymin><xmax>400</xmax><ymax>330</ymax></bndbox></object>"
        "</annotation>\n"
    )
    smear = image.resize((640, 480), Image.Resampling.BICUBIC)
    return Path(save(smear, voc / "JPEGImages" / f"{stem}.jpg"))


def audit_tree(root: Path) -> dict[str, int]:
    """A tiny Kaggle + BCCD data root in the upstream layouts, with known copies planted.

    Kaggle TRAIN: 4 images per class; TEST_SIMPLE: 1 source per class; TEST: each source rotated
    by 180 degrees (an augmented copy) plus one flipped copy of a TRAIN neutrophil (the leak).
    BCCD: 3 smears; smear 0 is the source of TRAIN/EOSINOPHIL/0, smear 1 of the lymphocyte
    TEST_SIMPLE image (and so of its TEST copy); smear 2 of nothing.
    """
    images = root / "wbc-classification" / "images"
    smears = [blob_image(900 + k) for k in range(3)]
    for c, name in enumerate(KAGGLE_CLASSES):
        for k in range(4):
            source = smears[0] if (name, k) == ("EOSINOPHIL", 0) else blob_image(300 + 10 * c + k)
            save(source.resize((320, 240)), images / "TRAIN" / name / f"_{k}_{100 + c}.jpeg")
        simple = smears[1] if name == "LYMPHOCYTE" else blob_image(400 + c)
        save(simple, images / "TEST_SIMPLE" / name / f"_0_{200 + c}.jpeg")
        rotated = simple.transpose(Image.Transpose.ROTATE_180)
        save(rotated, images / "TEST" / name / f"_0_{200 + c}.jpeg")
    leak = blob_image(300 + 10 * KAGGLE_CLASSES.index("NEUTROPHIL"))
    leak = leak.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    save(leak, images / "TEST" / "NEUTROPHIL" / "_1_9.jpeg")
    for number, smear in enumerate(smears):
        _smear(root, number, smear)
    labels = root / "wbc-classification" / "labels.csv"
    labels.write_bytes(b",Image,Category\r\n,0,EOSINOPHIL\r\n,1,LYMPHOCYTE\r\n,2,MONOCYTE\r\n")
    return {"TRAIN": 16, "TEST": 5, "TEST_SIMPLE": 4}


def _strings(obj: object) -> list[str]:
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in (str(k), *_strings(v))]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return [obj] if isinstance(obj, str) else []


def test_data_leakage_cli_writes_one_relative_record(tmp_path: Path) -> None:
    from wbcrepro.cli import main
    from wbcrepro.codehash import training_code_hash
    from wbcrepro.fileio import read_json

    root = tmp_path / "data"
    n_images = audit_tree(root)
    out = tmp_path / "out" / "leakage.json"
    args = ["data", "leakage", "--root", str(root), "--out", str(out), "--method", "hash"]
    assert main(args) == 0
    record = read_json(out)
    assert set(record) == {
        "kaggle",
        "bccd_vs_kaggle",
        "methods",
        "data_root",
        "environment",
        "training_code_hash",
        "code_hash",
    }
    assert record["methods"] == ["hash"]
    assert record["training_code_hash"] == record["code_hash"] == training_code_hash()
    assert record["data_root"] == {
        "kaggle-bloodcells": "wbc-classification/images",
        "kaggle-bloodcells-simple": "wbc-classification/images",
        "bccd": "BCCD_Dataset",
    }
    kaggle = record["kaggle"]
    assert kaggle["method"] == "hash" and kaggle["hash"] == "dhash" and kaggle["max_distance"] == 4
    assert kaggle["n_images"] == n_images
    published = kaggle["published_split"]
    assert (published["n_split"], published["n_against"]) == (5, 16)
    assert published["n_leaked"] == published["n_leaked_same_label"] == 1
    assert published["fraction_leaked"] == pytest.approx(0.2)
    assert published["per_class"]["neutrophil"] == {"n": 2, "leaked": 1}
    (example,) = published["examples"]
    assert example["path"] == "wbc-classification/images/TEST/NEUTROPHIL/_1_9.jpeg"
    assert example["match"] == "wbc-classification/images/TRAIN/NEUTROPHIL/_0_103.jpeg"
    assert kaggle["random_resplit"]["n_split"] + kaggle["random_resplit"]["n_against"] == 21
    assert kaggle["detector_recall_test_vs_test_simple"] == {
        "recall": pytest.approx(0.8),
        "n_test": 5,
        "n_detected": 4,
        "n_detected_same_label": 4,
    }
    assert kaggle["detector_false_positive_rate_test_vs_train"] == pytest.approx(0.2)
    sweep = {row["max_distance"]: row for row in kaggle["threshold_sweep"]}
    assert sweep[4]["recall"] == pytest.approx(0.8)
    bccd = record["bccd_vs_kaggle"]
    assert (bccd["n_bccd"], bccd["n_kaggle"]) == (3, 25)
    assert bccd["matched"] == 3 and bccd["distinct_bccd_smears"] == 2
    assert {k: v["matched"] for k, v in bccd["per_split"].items()} == {
        "TEST": 1,
        "TEST_SIMPLE": 1,
        "TRAIN": 1,
    }
    assert all(e["bccd"].startswith("BCCD_Dataset/BCCD/JPEGImages/") for e in bccd["examples"])
    text = out.read_text()
    assert str(tmp_path) not in text
    absolute = [s for s in _strings(record) if Path(s).is_absolute() or s.startswith("~")]
    assert absolute == []


def test_data_leakage_cli_names_the_missing_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from wbcrepro.cli import main

    root = tmp_path / "data"
    audit_tree(root)
    shutil.rmtree(root / "BCCD_Dataset")
    out = tmp_path / "leakage.json"
    assert main(["data", "leakage", "--root", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bccd: BCCD_Dataset" in err and "kaggle-bloodcells" not in err.split("missing")[1]
    assert not out.exists()
    with pytest.raises(ValueError, match="unknown method 'clip'"):
        leakage.run_audit(root, "clip")
