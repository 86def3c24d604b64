"""Offline tests of the LISC, PBC, Raabin-WBC, BloodMNIST and own-data loaders.

Each test builds a tiny copy of the dataset in its upstream layout (real BMP / JPEG / PNG / npz
files written here) under ``tmp_path`` and loads it through the registry, as a run would.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.config import TrainConfig
from wbcrepro.data.datasets import DatasetError, Loaded, get_dataset
from wbcrepro.paths import CACHE_ENV


def _image(path: Path, seed: int = 0, size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def _cfg(root: Path, name: str, **extra: object) -> TrainConfig:
    return TrainConfig.from_flat(
        {"dataset": name, "data_root": str(root), "num_classes": 0, **extra}
    )


def _load(root: Path, name: str, **extra: object) -> Loaded:
    return get_dataset(name).load(_cfg(root, name, **extra))


def _reasons(loaded: Loaded) -> Counter:
    return Counter(loaded.excluded["reason"])


def _check_rows(loaded: Loaded) -> None:
    m = loaded.manifest
    assert set(m["label"]) == set(loaded.classes)
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in m["path"])
    if "split" in m.columns:
        assert set(m["split"]) <= {"train", "val", "test"}
        assert (m.groupby("group")["split"].nunique() == 1).all()


# --- LISC --------------------------------------------------------------------------------------

LISC_FOLDERS = {"Baso": 3, "eosi": 2, "lymp": 2, "mono": 2, "neut": 3}


def _lisc(root: Path, folders: dict[str, int] = LISC_FOLDERS) -> Path:
    base = root / "LISC Database"
    for i, (name, n) in enumerate(folders.items()):
        for k in range(1, n + 1):
            _image(base / "Main Dataset" / name / f"{k}.bmp", seed=i * 10 + k)
        _image(base / "Main Dataset" / name / "areaforexpert1" / "1_expert.bmp")
        _image(base / "Ground Truth segmentation" / "areaforexpert2" / name / "1.bmp")
    _image(base / "Main Dataset" / "mixt" / "1.bmp")
    (base / "Main Dataset" / "Thumbs.db").write_bytes(b"\0")
    return base


def test_lisc_classes_groups_and_masks_excluded(tmp_path: Path) -> None:
    _lisc(tmp_path)
    loaded = _load(tmp_path, "lisc")
    _check_rows(loaded)
    assert loaded.classes == ("basophil", "eosinophil", "lymphocyte", "monocyte", "neutrophil")
    counts = loaded.manifest["label"].value_counts().to_dict()
    assert counts == {
        "basophil": 3,
        "eosinophil": 2,
        "lymphocyte": 2,
        "monocyte": 2,
        "neutrophil": 3,
    }
    assert all(p.endswith(".bmp") for p in loaded.manifest["path"])
    # stems restart per class folder: groups are per image, qualified by the class
    assert loaded.manifest["group"].is_unique
    assert "basophil/1" in set(loaded.manifest["group"])
    reasons = _reasons(loaded)
    assert reasons["segmentation mask"] == 10  # 5 in areaforexpert1 + 5 in Ground Truth
    assert sum(v for k, v in reasons.items() if k.startswith("mixed")) == 1
    assert reasons["not an image file"] == 1
    assert not any("expert" in p or "Ground Truth" in p for p in loaded.manifest["path"])
    spec = get_dataset("lisc")
    assert spec.to_paper["neutrophil"] == ("segmented_neutrophil", "band_neutrophil")
    assert "10.1016/j.compmedimag.2011.01.003" in spec.citation


def test_lisc_crops_upstream_layout_with_its_baoso_folder(tmp_path: Path) -> None:
    folders = {"Baoso": 3, "eosi": 2, "lymp": 2, "mono": 2, "neut": 2}
    for i, (name, n) in enumerate(folders.items()):
        for k in range(n):  # numbered from 0 in each folder, as upstream
            _image(tmp_path / "LISC_crops" / name / f"{k}.png", seed=i * 10 + k)
    loaded = _load(tmp_path, "lisc-crops")
    _check_rows(loaded)
    assert Counter(loaded.manifest["label"])["basophil"] == 3
    assert loaded.manifest["group"].is_unique and "basophil/0" in set(loaded.manifest["group"])
    assert get_dataset("lisc-crops").classes == get_dataset("lisc").classes
    (tmp_path / "other").mkdir()
    for path in (tmp_path / "LISC_crops" / "mono").iterdir():
        path.rename(tmp_path / "other" / path.name)
    with pytest.raises(DatasetError, match=r"monocyte.*\.png images"):
        _load(tmp_path, "lisc-crops")


def test_lisc_tolerates_folder_name_variants(tmp_path: Path) -> None:
    variants = {"Basophil": 1, "EOSINOPHIL": 1, "Lymphocyte": 1, "monocyte": 1, "Neutrophil": 1}
    _lisc(tmp_path, variants)
    loaded = _load(tmp_path, "lisc")
    assert len(loaded.manifest) == 5
    assert set(loaded.manifest["label"]) == set(loaded.classes)


def test_lisc_missing_class_names_it(tmp_path: Path) -> None:
    _lisc(tmp_path, {"Baso": 1, "eosi": 1, "lymp": 1, "neut": 1})
    with pytest.raises(DatasetError, match="monocyte"):
        _load(tmp_path, "lisc")


def test_missing_dataset_folder_says_where(tmp_path: Path) -> None:
    for name, folder in (
        ("lisc", "LISC Database"),
        ("pbc", "PBC_dataset_normal_DIB"),
        ("raabin", "Raabin-WBC"),
        ("bloodmnist", "bloodmnist"),
    ):
        with pytest.raises(DatasetError, match="expected") as err:
            _load(tmp_path, name)
        assert str(tmp_path / folder) in str(err.value)


# --- PBC ---------------------------------------------------------------------------------------

PBC_FILES = {
    "basophil": ["BA_100.jpg", "BA_101.jpg"],
    "eosinophil": ["EO_200.jpg"],
    "erythroblast": ["ERB_300.jpg", "ERB_301.jpg"],
    "ig": ["MY_400.jpg", "MMY_401.jpg", "PMY_402.jpg", "IG_403.jpg"],
    "lymphocyte": ["LY_500.jpg", "LY_501.jpg"],
    "monocyte": ["MO_600.jpg"],
    "neutrophil": ["SNE_700.jpg", "SNE_701.jpg", "BNE_702.jpg", "NEUTROPHIL_703.jpg"],
    "platelet": ["PLATELET_800.jpg"],
}


def _pbc(root: Path, files: dict[str, list[str]] = PBC_FILES, nested: bool = False) -> Path:
    base = root / "PBC_dataset_normal_DIB"
    if nested:
        base = base / "PBC_dataset_normal_DIB"
    for i, (folder, names) in enumerate(files.items()):
        for k, name in enumerate(names):
            _image(base / folder / name, seed=i * 10 + k)
    return base


def test_pbc8_reads_the_eight_folders(tmp_path: Path) -> None:
    _pbc(tmp_path)
    loaded = _load(tmp_path, "pbc8")
    _check_rows(loaded)
    assert loaded.classes == (
        "basophil",
        "eosinophil",
        "erythroblast",
        "ig",
        "lymphocyte",
        "monocyte",
        "neutrophil",
        "platelet",
    )
    counts = loaded.manifest["label"].value_counts().to_dict()
    assert counts == {k: len(v) for k, v in PBC_FILES.items()}
    assert loaded.excluded.empty
    assert "BA_100" in set(loaded.manifest["group"])
    spec = get_dataset("pbc8")
    assert spec.to_paper["ig"] == () and spec.to_paper["platelet"] == ()
    assert spec.licence == "CC BY 4.0" and "snkd93bnjr" in spec.source


def test_pbc_six_classes_from_prefixes(tmp_path: Path) -> None:
    _pbc(tmp_path)
    loaded = _load(tmp_path, "pbc")
    _check_rows(loaded)
    assert loaded.classes == PAPER_CLASSES
    counts = loaded.manifest["label"].value_counts().to_dict()
    assert counts == {
        "segmented_neutrophil": 2,
        "band_neutrophil": 1,
        "eosinophil": 1,
        "basophil": 2,
        "monocyte": 1,
        "lymphocyte": 2,
    }
    m = loaded.manifest.set_index("group")
    assert m.loc["BNE_702", "label"] == "band_neutrophil"
    ex = loaded.excluded
    generic = ex[ex["reason"].str.contains("subtype prefix")]
    assert [Path(p).name for p in generic["item"]] == ["NEUTROPHIL_703.jpg"]
    other = ex[ex["reason"].str.contains("not one of the paper")]
    assert len(other) == 2 + 4 + 1  # erythroblast, ig, platelet
    assert len(loaded.manifest) + len(ex) == sum(len(v) for v in PBC_FILES.values())


def test_pbc_nested_and_case_insensitive(tmp_path: Path) -> None:
    files = {k.upper() if k == "monocyte" else k: v for k, v in PBC_FILES.items()}
    _pbc(tmp_path, files, nested=True)
    loaded = _load(tmp_path, "pbc8")
    assert len(loaded.manifest) == sum(len(v) for v in PBC_FILES.values())


def test_pbc_empty_class_folder_names_it(tmp_path: Path) -> None:
    base = _pbc(tmp_path, {k: v for k, v in PBC_FILES.items() if k != "platelet"})
    (base / "platelet").mkdir()
    with pytest.raises(DatasetError, match="platelet"):
        _load(tmp_path, "pbc8")


# --- Raabin-WBC --------------------------------------------------------------------------------

RAABIN = ("Basophil", "Eosinophil", "Lymphocyte", "Monocyte", "Neutrophil")


def _raabin(root: Path, testb: tuple[str, ...] = RAABIN[1:]) -> Path:
    base = root / "Raabin-WBC"
    for part, classes, n in (("Train", RAABIN, 2), ("TestA", RAABIN, 1), ("TestB", testb, 1)):
        for c in classes:
            for k in range(n):
                _image(base / part / c / f"{part}_{c}_{k}.jpg", seed=k)
    return base


def test_raabin_published_split(tmp_path: Path) -> None:
    _raabin(tmp_path)
    loaded = _load(tmp_path, "raabin")
    _check_rows(loaded)
    m = loaded.manifest
    assert loaded.classes == ("basophil", "eosinophil", "lymphocyte", "monocyte", "neutrophil")
    assert m["split"].value_counts().to_dict() == {"train": 10, "test": 5}
    assert not any("TestB" in p for p in m["path"])
    sizes = m.groupby(["split", "label"]).size()
    assert set(sizes["train"]) == {2} and set(sizes["test"]) == {1} and len(sizes) == 10
    assert "Train_Basophil_0" in set(m["group"])


def test_raabin_testb_is_external_without_split(tmp_path: Path) -> None:
    _raabin(tmp_path)
    loaded = _load(tmp_path, "raabin-testb")
    _check_rows(loaded)
    assert "split" not in loaded.manifest.columns
    assert len(loaded.manifest) == 4
    assert loaded.classes == ("eosinophil", "lymphocyte", "monocyte", "neutrophil")
    assert any("basophil" in n for n in loaded.notes)
    assert get_dataset("raabin-testb").classes == get_dataset("raabin").classes


def test_raabin_missing_part_and_empty_class(tmp_path: Path) -> None:
    base = _raabin(tmp_path)
    for path in (base / "TestA").rglob("*.jpg"):
        path.unlink()
    with pytest.raises(DatasetError, match="TestA"):
        _load(tmp_path, "raabin")
    (base / "TestA").rename(base / "elsewhere")
    with pytest.raises(DatasetError, match="TestA/ not found"):
        _load(tmp_path, "raabin")


# --- BloodMNIST --------------------------------------------------------------------------------


def _npz(path: Path, counts: dict[str, int], side: int = 28) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in counts.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 8).reshape(n, 1).astype(np.uint8)
    np.savez(path, **arrays)


def _chmod_tree(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        if writable:
            path.chmod(mode | stat.S_IWUSR)
        else:
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_bloodmnist_exports_to_cache_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    _npz(data / "bloodmnist" / "bloodmnist.npz", {"train": 16, "val": 8, "test": 8})
    before = sorted(str(p) for p in data.rglob("*"))
    _chmod_tree(data, writable=False)
    try:
        loaded = _load(data, "bloodmnist")
        again = _load(data, "bloodmnist")
    finally:
        _chmod_tree(data, writable=True)
    assert sorted(str(p) for p in data.rglob("*")) == before  # nothing written into the data
    _check_rows(loaded)
    m = loaded.manifest
    assert loaded.classes[2:4] == ("erythroblast", "ig") and len(loaded.classes) == 8
    assert m["split"].value_counts().to_dict() == {"train": 16, "val": 8, "test": 8}
    assert m["group"].is_unique and "val-3" in set(m["group"])
    export = cache / "bloodmnist" / "bloodmnist"
    assert all(Path(p).is_relative_to(export) for p in m["path"])
    first = m.iloc[3]
    assert first["path"] == str(export / "train" / "ig" / "3.png")
    pixels = np.asarray(Image.open(first["path"]))
    with np.load(data / "bloodmnist" / "bloodmnist.npz") as arrays:
        assert (pixels == arrays["train_images"][3]).all()
    mtimes = {p: os.stat(p).st_mtime_ns for p in m["path"]}
    assert again.manifest.equals(m)
    assert {p: os.stat(p).st_mtime_ns for p in m["path"]} == mtimes  # reused, not rewritten
    assert not [p for p in export.parent.iterdir() if p.name.startswith(".")]  # no temp left
    assert get_dataset("bloodmnist").downloads[0].url.endswith("10519652/files/bloodmnist.npz")


def test_bloodmnist_prefers_largest_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    _npz(tmp_path / "bloodmnist" / "bloodmnist.npz", {"train": 8, "val": 8, "test": 8})
    _npz(tmp_path / "bloodmnist" / "bloodmnist_64.npz", {"train": 8, "val": 8, "test": 8}, 64)
    loaded = _load(tmp_path, "bloodmnist")
    assert Image.open(loaded.manifest["path"].iloc[0]).size == (64, 64)
    assert "bloodmnist_64" in loaded.manifest["path"].iloc[0]
    assert [Path(p).name for p in loaded.excluded["item"]] == ["bloodmnist.npz"]


# --- own data: folder and csv ------------------------------------------------------------------


def test_folder_tree_relative_to_data_root(tmp_path: Path) -> None:
    tree = tmp_path / "mine"
    for name, n in (("Band Neutrophil", 2), ("lymphocyte", 3)):
        for k in range(n):
            _image(tree / name / f"img{k}.png", seed=k)
    (tree / "notes.txt").write_text("x")
    loaded = _load(tmp_path, "folder", data_path="mine")
    _check_rows(loaded)
    assert loaded.classes == ("band_neutrophil", "lymphocyte")
    assert loaded.manifest["label"].value_counts().to_dict() == {
        "band_neutrophil": 2,
        "lymphocyte": 3,
    }
    assert set(loaded.manifest["group"]) == {"img0", "img1", "img2"}
    assert _reasons(loaded)["not in a class folder"] == 1
    assert get_dataset("folder").classes is None


def test_folder_groups_csv_and_empty_class(tmp_path: Path) -> None:
    tree = tmp_path / "mine"
    for name in ("a", "b"):
        for k in range(2):
            _image(tree / name / f"{k}.png", seed=k)
    (tree / "groups.csv").write_text("path,group\na/0.png,p1\na/1.png,p2\nb/0.png,p1\nb/1.png,p3\n")
    loaded = _load(tmp_path, "folder", data_path=str(tree))
    assert sorted(loaded.manifest["group"]) == ["p1", "p1", "p2", "p3"]
    (tree / "groups.csv").unlink()
    (tree / "empty_class").mkdir()
    with pytest.raises(DatasetError, match="empty_class"):
        _load(tmp_path, "folder", data_path=str(tree))


def test_csv_manifest(tmp_path: Path) -> None:
    _image(tmp_path / "own" / "img" / "x1.jpg")
    _image(tmp_path / "own" / "img" / "x2.jpg", seed=1)
    _image(tmp_path / "abs.png", seed=2)
    table = tmp_path / "own" / "labels.csv"
    table.write_text(
        "path,label,group,split\n"
        "img/x1.jpg,Eosinophil,s1,train\n"
        "img/x2.jpg,monocyte,,TEST\n"
        f"{tmp_path / 'abs.png'},eosinophil,s2,val\n"
    )
    loaded = _load(tmp_path, "csv", data_path=str(table))
    _check_rows(loaded)
    m = loaded.manifest
    assert loaded.classes == ("eosinophil", "monocyte")
    assert list(m["split"]) == ["train", "test", "val"]
    assert list(m["group"]) == ["s1", "x2", "s2"]
    assert m["path"].iloc[0] == str(tmp_path / "own" / "img" / "x1.jpg")
    assert get_dataset("csv").classes is None


def test_csv_errors_name_file_line_and_split(tmp_path: Path) -> None:
    _image(tmp_path / "a.png")
    table = tmp_path / "labels.csv"
    table.write_text("path,label\na.png,lymphocyte\nmissing.png,monocyte\n")
    with pytest.raises(DatasetError, match=r"line 3.*missing\.png"):
        _load(tmp_path, "csv", data_path="labels.csv")
    table.write_text("path,label,split\na.png,lymphocyte,holdout\n")
    with pytest.raises(DatasetError, match=r"line 2.*unknown split 'holdout'"):
        _load(tmp_path, "csv", data_path="labels.csv")
    table.write_text("file,label\na.png,lymphocyte\n")
    with pytest.raises(DatasetError, match="path"):
        _load(tmp_path, "csv", data_path="labels.csv")
    with pytest.raises(DatasetError, match=r"nothere\.csv"):
        _load(tmp_path, "csv", data_path="nothere.csv")


# --- what a loader reads from the config -----------------------------------------------------


def test_every_loader_takes_exactly_its_declared_options() -> None:
    """A loader receives the data root and, as keywords, only the config fields it declares."""
    import inspect

    from wbcrepro.data.datasets import REGISTRY

    for name, spec in REGISTRY.items():
        params = list(inspect.signature(spec.loader).parameters.values())
        assert params[0].name == "root", name
        keywords = {p.name for p in params[1:]}
        assert keywords == set(spec.options), (name, keywords, spec.options)
        assert all(p.kind is p.KEYWORD_ONLY for p in params[1:]), name
    assert REGISTRY["bccd"].options == ("crop_margin",)
    assert REGISTRY["kaggle-bloodcells"].options == ()


def test_read_rejects_an_option_the_loader_does_not_take(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"takes no option.*crop_margin"):
        get_dataset("lisc").read(tmp_path, crop_margin=4)


def test_a_spec_option_must_be_a_config_field() -> None:
    from dataclasses import replace

    with pytest.raises(ValueError, match="cropmargin"):
        replace(get_dataset("bccd"), options=("cropmargin",))
