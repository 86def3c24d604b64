"""Offline tests of the BCCD, Kaggle, Zheng 2018 and BCCD-cropped loaders, the split of their
manifests, and ``skip_bad_files`` in a run.

Every fixture is a tiny copy of the upstream on-disk layout (VOC XML, ``labels.csv`` with its
leading empty column and CRLF line ends, Kaggle folder names, Zheng's CSV) with images drawn here
by PIL under ``tmp_path``; no real image is copied.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.conftest import TINY
from wbcrepro.config import TrainConfig
from wbcrepro.data.datasets import DatasetError, Loaded, get_dataset
from wbcrepro.data.loading import LabelError, load_split_data
from wbcrepro.paths import CACHE_ENV

# --- helpers ---------------------------------------------------------------------------------


def _cfg(root: Path, name: str, **extra: object) -> TrainConfig:
    return TrainConfig.from_flat(
        {"dataset": name, "data_root": str(root), "num_classes": 0, **extra}
    )


def _load(root: Path, name: str, **extra: object) -> Loaded:
    return get_dataset(name).load(_cfg(root, name, **extra))


def _reasons(loaded: Loaded) -> dict[str, str]:
    return dict(zip(loaded.excluded["item"], loaded.excluded["reason"], strict=True))


def _pixels(width: int, height: int, seed: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([(x + seed * 7) % 256, (y + seed * 13) % 256, (x + y + seed) % 256], axis=-1)
    return rgb.astype(np.uint8)


def _image(path: Path, width: int = 32, height: int = 24, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_pixels(width, height, seed), "RGB").save(path)
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of this test alone (crop caches of other tests cannot interfere)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


# --- BCCD fixture ----------------------------------------------------------------------------

W, H = 640, 480
CENTRE_BOX = (260, 177, 491, 376)


def _voc(stem: str, objects: list[tuple[str, tuple[int, int, int, int]]]) -> str:
    parts = [
        "<annotation>",
        "\t<folder>JPEGImages</folder>",
        f"\t<filename>{stem}.jpg</filename>",
        f"\t<path>/home/pi/detection_dataset/JPEGImages/{stem}.jpg</path>",
        "\t<source>\n\t\t<database>Unknown</database>\n\t</source>",
        f"\t<size>\n\t\t<width>{W}</width>\n\t\t<height>{H}</height>\n\t\t<depth>3</depth>\n"
        "\t</size>",
        "\t<segmented>0</segmented>",
    ]
    for name, (x0, y0, x1, y1) in objects:
        parts.append(
            f"\t<object>\n\t\t<name>{name}</name>\n\t\t<pose>Unspecified</pose>\n"
            "\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n"
            f"\t\t\t<xmin>{x0}</xmin>\n\t\t\t<ymin>{y0}</ymin>\n\t\t\t<xmax>{x1}</xmax>\n"
            f"\t\t\t<ymax>{y1}</ymax>\n\t\t</bndbox>\n\t</object>"
        )
    parts.append("</annotation>\n")
    return "\n".join(parts)


def _smear(root: Path, number: int, wbc_boxes: list[tuple[int, int, int, int]]) -> str:
    """One BCCD smear: a 640x480 JPEG and its VOC XML (some RBCs, a platelet, the WBC boxes)."""
    stem = f"BloodImage_{number:05d}"
    voc = root / "BCCD_Dataset" / "BCCD"
    _image(voc / "JPEGImages" / f"{stem}.jpg", W, H, seed=number)
    objects = [("RBC", (78, 336, 184, 435)), ("RBC", (555, 356, 640, 455))]
    objects += [("WBC", box) for box in wbc_boxes]
    objects += [("Platelets", (10, 10, 40, 40))]
    (voc / "Annotations").mkdir(parents=True, exist_ok=True)
    (voc / "Annotations" / f"{stem}.xml").write_text(_voc(stem, objects))
    return stem


def _labels_csv(root: Path, rows: dict[int, str]) -> Path:
    """wbc-classification/labels.csv exactly as upstream: ``,Image,Category``, CRLF, quoted."""
    lines = [",Image,Category"]
    for number, category in rows.items():
        cell = f'"{category}"' if "," in category else category
        lines.append(f",{number},{cell}")
    path = root / "wbc-classification" / "labels.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


TOP_LEFT_BOX = (0, 0, 100, 90)
BOTTOM_RIGHT_BOX = (560, 400, 640, 480)


def _bccd(root: Path) -> None:
    """Five good smears (one per class), and one of every kind of smear the loader leaves out."""
    _smear(root, 0, [CENTRE_BOX])  # neutrophil
    _smear(root, 1, [(100, 120, 300, 330)])  # eosinophil
    _smear(root, 2, [TOP_LEFT_BOX])  # lymphocyte, box touches the top-left corner
    _smear(root, 3, [BOTTOM_RIGHT_BOX])  # monocyte, box touches the bottom-right corner
    _smear(root, 4, [(300, 200, 420, 330)])  # basophil
    _smear(root, 5, [CENTRE_BOX])  # empty category
    _smear(root, 6, [CENTRE_BOX])  # two cells named
    # 7: labelled, but no image / annotation
    _smear(root, 8, [])  # no WBC box
    _smear(root, 9, [(50, 50, 200, 200), (400, 250, 560, 420)])  # two WBC boxes
    _smear(root, 10, [CENTRE_BOX])  # annotated, no labels row
    _labels_csv(
        root,
        {
            0: "NEUTROPHIL",
            1: "EOSINOPHIL",
            2: "LYMPHOCYTE",
            3: "MONOCYTE",
            4: "BASOPHIL",
            5: "",
            6: "NEUTROPHIL, EOSINOPHIL",
            7: "NEUTROPHIL",
            8: "NEUTROPHIL",
            9: "EOSINOPHIL",
        },
    )


GOOD = {
    "BloodImage_00000": "neutrophil",
    "BloodImage_00001": "eosinophil",
    "BloodImage_00002": "lymphocyte",
    "BloodImage_00003": "monocyte",
    "BloodImage_00004": "basophil",
}
EXCLUDED = {
    "BloodImage_00005": "empty label in labels.csv",
    "BloodImage_00006": "label names several cells: NEUTROPHIL, EOSINOPHIL",
    "BloodImage_00007": "labelled, but no image/annotation in BCCD_Dataset",
    "BloodImage_00008": "no WBC box",
    "BloodImage_00009": "2 WBC boxes",
    "BloodImage_00010": "no row in labels.csv",
}


def _expected_crop(box: tuple[int, int, int, int], margin: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (max(0, x0 - margin), max(0, y0 - margin), min(W, x1 + margin), min(H, y1 + margin))


# --- BCCD ------------------------------------------------------------------------------------


def test_bccd_manifest_one_crop_per_good_smear(tmp_path: Path, cache: Path) -> None:
    _bccd(tmp_path / "data")
    loaded = _load(tmp_path / "data", "bccd")
    m = loaded.manifest
    assert loaded.classes == ("neutrophil", "eosinophil", "basophil", "monocyte", "lymphocyte")
    assert sorted(m["group"]) == sorted(GOOD)
    assert dict(zip(m["group"], m["label"], strict=True)) == GOOD
    assert m["group"].is_unique
    for path, group in zip(m["path"], m["group"], strict=True):
        assert Path(path).name == f"{group}.png"
        assert Path(path).is_file()
    assert "split" not in m.columns
    assert any("margin 16" in note for note in loaded.notes)


def test_bccd_excluded_smears_with_exact_reasons(tmp_path: Path, cache: Path) -> None:
    _bccd(tmp_path / "data")
    loaded = _load(tmp_path / "data", "bccd")
    assert _reasons(loaded) == EXCLUDED
    assert len(loaded.excluded) == len(EXCLUDED)  # each smear listed once


@pytest.mark.parametrize("margin", [0, 16])
def test_bccd_crop_is_box_plus_margin_clipped(tmp_path: Path, cache: Path, margin: int) -> None:
    root = tmp_path / "data"
    _bccd(root)
    loaded = _load(root, "bccd", crop_margin=margin)
    paths = dict(zip(loaded.manifest["group"], loaded.manifest["path"], strict=True))
    boxes = {
        "BloodImage_00000": CENTRE_BOX,
        "BloodImage_00002": TOP_LEFT_BOX,
        "BloodImage_00003": BOTTOM_RIGHT_BOX,
    }
    for stem, box in boxes.items():
        x0, y0, x1, y1 = _expected_crop(box, margin)
        with Image.open(paths[stem]) as crop:
            assert crop.size == (x1 - x0, y1 - y0), stem
            got = np.asarray(crop.convert("RGB"))
        with Image.open(root / "BCCD_Dataset/BCCD/JPEGImages" / f"{stem}.jpg") as smear:
            want = np.asarray(smear.convert("RGB").crop((x0, y0, x1, y1)))
        np.testing.assert_array_equal(got, want)  # the right pixels, losslessly kept
    # explicit numbers for the clipped corners
    sizes = {s: Image.open(paths[s]).size for s in boxes}
    if margin == 16:
        assert sizes["BloodImage_00000"] == (231 + 32, 199 + 32)
        assert sizes["BloodImage_00002"] == (116, 106)  # clipped at the top-left border
        assert sizes["BloodImage_00003"] == (96, 96)  # clipped at the bottom-right border
    else:
        assert sizes["BloodImage_00000"] == (231, 199)
        assert sizes["BloodImage_00002"] == (100, 90)
        assert sizes["BloodImage_00003"] == (80, 80)


def test_bccd_crops_live_in_the_cache_not_the_data_root(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "data"
    _bccd(root)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    loaded = _load(root, "bccd")
    after = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert before == after
    for path in loaded.manifest["path"]:
        assert Path(path).is_relative_to(cache)
        assert not Path(path).is_relative_to(root)


def test_bccd_unknown_category_raises_naming_it(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "data"
    _bccd(root)
    _labels_csv(root, {0: "NEUTROPHIL", 1: "MEGAKARYOCYTE"})
    with pytest.raises(DatasetError, match="MEGAKARYOCYTE") as info:
        _load(root, "bccd")
    assert "image 1" in str(info.value)


def test_bccd_missing_annotations_raises_naming_path(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "data"
    _bccd(root)
    for xml in (root / "BCCD_Dataset/BCCD/Annotations").iterdir():
        xml.unlink()
    (root / "BCCD_Dataset/BCCD/Annotations").rmdir()
    with pytest.raises(DatasetError) as info:
        _load(root, "bccd")
    assert str(root / "BCCD_Dataset" / "BCCD" / "Annotations") in str(info.value)


def test_bccd_missing_labels_raises_naming_path(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "data"
    _bccd(root)
    (root / "wbc-classification" / "labels.csv").unlink()
    with pytest.raises(DatasetError) as info:
        _load(root, "bccd")
    assert str(root / "wbc-classification" / "labels.csv") in str(info.value)


def test_bccd_missing_dataset_folder_says_how_to_get_it(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(DatasetError, match="wbcrepro data download bccd") as info:
        _load(tmp_path, "bccd")
    assert str(tmp_path / "BCCD_Dataset") in str(info.value)


def test_bccd_crop_cache_reused_and_redone_for_another_margin(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "data"
    _bccd(root)
    first = _load(root, "bccd", crop_margin=16).manifest
    stamps = {p: os.stat(p).st_mtime_ns for p in first["path"]}
    second = _load(root, "bccd", crop_margin=16).manifest
    assert list(second["path"]) == list(first["path"])
    assert {p: os.stat(p).st_mtime_ns for p in second["path"]} == stamps  # not rewritten
    other = _load(root, "bccd", crop_margin=0).manifest
    assert set(other["path"]).isdisjoint(first["path"])
    assert all(Path(p).is_file() for p in other["path"])
    a = dict(zip(first["group"], first["path"], strict=True))["BloodImage_00000"]
    b = dict(zip(other["group"], other["path"], strict=True))["BloodImage_00000"]
    assert Image.open(a).size != Image.open(b).size
    assert {p: os.stat(p).st_mtime_ns for p in first["path"]} == stamps  # margin 16 kept
    marker = json.loads((Path(b).parent / "crops.json").read_text())
    assert marker["margin"] == 0


def test_bccd_crop_cache_redone_when_the_smears_change(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "data"
    _bccd(root)
    first = _load(root, "bccd")
    _labels_csv(
        root,
        {0: "NEUTROPHIL", 1: "EOSINOPHIL", 2: "LYMPHOCYTE", 3: "MONOCYTE", 4: "BASOPHIL",
         9: "EOSINOPHIL", 10: "NEUTROPHIL"},
    )  # fmt: skip
    second = _load(root, "bccd")
    assert len(second.manifest) == len(first.manifest) + 1
    assert all(Path(p).is_file() for p in second.manifest["path"])


def test_bccd_crop_cache_not_reused_for_other_boxes(tmp_path: Path, cache: Path) -> None:
    first_root, second_root = tmp_path / "a", tmp_path / "b"
    _bccd(first_root)
    _bccd(second_root)
    stem = _smear(second_root, 0, [(100, 100, 150, 140)])  # same smear, another WBC box
    _load(first_root, "bccd", crop_margin=0)
    loaded = _load(second_root, "bccd", crop_margin=0)
    path = dict(zip(loaded.manifest["group"], loaded.manifest["path"], strict=True))[stem]
    assert Image.open(path).size == (50, 40)


# --- Kaggle "Blood Cell Images" ----------------------------------------------------------------

KAGGLE_CLASSES = ("EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL")
KAGGLE_COUNTS = {"TRAIN": 6, "TEST": 2, "TEST_SIMPLE": 1}


def _kaggle(root: Path, counts: dict[str, int] = KAGGLE_COUNTS) -> Path:
    images = root / "wbc-classification" / "images"
    for part, n in counts.items():
        for c, name in enumerate(KAGGLE_CLASSES):
            for k in range(n):
                _image(images / part / name / f"_{k}_{1000 + 37 * k + c}.jpeg", 32, 24, k + c)
    return images


def test_kaggle_published_split_and_counts(tmp_path: Path) -> None:
    _kaggle(tmp_path)
    loaded = _load(tmp_path, "kaggle-bloodcells")
    m = loaded.manifest
    assert loaded.classes == ("neutrophil", "eosinophil", "monocyte", "lymphocyte")
    assert Counter(m["split"]) == {"train": 6 * 4, "test": 2 * 4}
    counts = pd.crosstab(m["label"], m["split"])
    assert (counts["train"] == 6).all() and (counts["test"] == 2).all()
    assert not m["path"].str.contains("TEST_SIMPLE").any()
    assert m["group"].is_unique
    assert all(Path(p).is_file() for p in m["path"])


def test_kaggle_test_simple_excluded_and_val_note(tmp_path: Path) -> None:
    images = _kaggle(tmp_path)
    loaded = _load(tmp_path, "kaggle-bloodcells")
    reasons = _reasons(loaded)
    assert "kaggle-bloodcells-simple" in reasons[str(images / "TEST_SIMPLE")]
    assert any("validation" in n and "TRAIN" in n for n in loaded.notes)


def test_kaggle_simple_loads_test_simple_without_split(tmp_path: Path) -> None:
    _kaggle(tmp_path)
    loaded = _load(tmp_path, "kaggle-bloodcells-simple")
    m = loaded.manifest
    assert "split" not in m.columns
    assert len(m) == 4
    assert m["path"].str.contains("TEST_SIMPLE").all()
    assert sorted(m["label"]) == sorted(loaded.classes)


def test_kaggle_stray_file_reported_as_excluded(tmp_path: Path) -> None:
    images = _kaggle(tmp_path)
    stray = images / "TRAIN" / "MONOCYTE" / "Thumbs.db"
    stray.write_bytes(b"\0\1")
    other = images / "TEST" / "BASOPHIL"
    _image(other / "_0_1.jpeg")
    loaded = _load(tmp_path, "kaggle-bloodcells")
    reasons = _reasons(loaded)
    assert reasons[str(stray)] == "not an image file"
    assert reasons[str(other)] == "folder is not one of the dataset's classes"
    assert len(loaded.manifest) == 32
    assert str(stray) not in set(loaded.manifest["path"])


def test_kaggle_missing_test_folder_raises_naming_it(tmp_path: Path) -> None:
    _kaggle(tmp_path, {"TRAIN": 2, "TEST_SIMPLE": 1})
    with pytest.raises(DatasetError) as info:
        _load(tmp_path, "kaggle-bloodcells")
    assert str(tmp_path / "wbc-classification" / "images" / "TEST") in str(info.value)


# --- Zheng 2018 --------------------------------------------------------------------------------

ZHENG_CODES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 1, 7: 2}


def _zheng(root: Path, part: int = 1, codes: dict[int, int] = ZHENG_CODES) -> Path:
    """segmentation_WBC/Dataset N/NNN.bmp + NNN.png masks + 'Class Labels of Dataset N.csv'."""
    base = root / "segmentation_WBC"
    folder = base / f"Dataset {part}"
    for number in codes:
        _image(folder / f"{number:03d}.bmp", 24, 24, seed=number)
        Image.new("L", (24, 24), 128).save(folder / f"{number:03d}.png")
    lines = ["image ID,class label", *(f"{n},{c}" for n, c in codes.items())]
    (base / f"Class Labels of Dataset {part}.csv").write_bytes(
        ("\r\n".join(lines) + "\r\n").encode()
    )
    return folder


def test_zheng_label_mapping(tmp_path: Path) -> None:
    folder = _zheng(tmp_path)
    loaded = _load(tmp_path, "zheng2018")
    labels = dict(zip(loaded.manifest["path"], loaded.manifest["label"], strict=True))
    assert labels == {
        str(folder / "001.bmp"): "neutrophil",
        str(folder / "002.bmp"): "lymphocyte",
        str(folder / "003.bmp"): "monocyte",
        str(folder / "004.bmp"): "eosinophil",
        str(folder / "005.bmp"): "basophil",
        str(folder / "006.bmp"): "neutrophil",
        str(folder / "007.bmp"): "lymphocyte",
    }
    assert sorted(loaded.manifest["group"]) == [f"zheng1-{n:03d}" for n in range(1, 8)]
    assert any("not checked by experts" in n for n in loaded.notes)


def test_zheng_masks_and_unlabelled_images_excluded(tmp_path: Path) -> None:
    folder = _zheng(tmp_path)
    extra = _image(folder / "008.bmp", 24, 24, seed=8)
    loaded = _load(tmp_path, "zheng2018")
    reasons = _reasons(loaded)
    masks = {str(folder / f"{n:03d}.png") for n in range(1, 8)}
    assert {k for k, v in reasons.items() if v == "segmentation mask"} == masks
    assert reasons[str(extra)] == "image without a class label"
    assert len(reasons) == len(masks) + 1
    assert not loaded.manifest["path"].str.endswith(".png").any()
    assert str(extra) not in set(loaded.manifest["path"])


def test_zheng_label_row_without_image_raises_naming_number_and_line(tmp_path: Path) -> None:
    folder = _zheng(tmp_path)
    (folder / "004.bmp").unlink()
    with pytest.raises(DatasetError) as info:
        _load(tmp_path, "zheng2018")
    message = str(info.value)
    assert "image 004" in message
    assert "line 5" in message  # header is line 1, image 4 is on line 5
    assert "Class Labels of Dataset 1.csv" in message


def test_zheng_unknown_code_raises(tmp_path: Path) -> None:
    _zheng(tmp_path, codes={**ZHENG_CODES, 3: 7})
    with pytest.raises(DatasetError, match=r"line 4: unknown class label 7"):
        _load(tmp_path, "zheng2018")


def test_zheng_dataset2_from_its_own_files(tmp_path: Path) -> None:
    folder = _zheng(tmp_path, part=2, codes={10: 5, 11: 4, 12: 3, 13: 2, 14: 1})
    loaded = _load(tmp_path, "zheng2018-d2")
    assert sorted(loaded.manifest["group"]) == [f"zheng2-{n:03d}" for n in range(10, 15)]
    assert loaded.manifest["path"].map(lambda p: Path(p).parent == folder).all()
    assert (
        dict(zip(loaded.manifest["group"], loaded.manifest["label"], strict=True))["zheng2-010"]
        == "basophil"
    )
    with pytest.raises(DatasetError, match="Dataset 1"):
        _load(tmp_path, "zheng2018")  # only Dataset 2 is there


# --- BCCD cropped (apple2373) ------------------------------------------------------------------

CROPPED_FOLDERS = {"Neutrophil": 3, "EOSINOPHIL": 2, "basophil": 2, "Monocyte": 2, "Lymphocyte": 2}


def _cropped(root: Path, folders: dict[str, int] = CROPPED_FOLDERS, per_smear: int = 2) -> Path:
    """BCCD_cropped/<Class>/BloodImage_NNNNN_k.jpg, ``per_smear`` crops of each smear."""
    base = root / "apple2373-BCCD" / "BCCD_cropped"
    number = 0
    for name, smears in folders.items():
        for _ in range(smears):
            for k in range(1, per_smear + 1):
                _image(base / name / f"BloodImage_{number:05d}_{k}.jpg", 20, 20, seed=number + k)
            number += 1
    return base


def test_bccd_cropped_groups_by_smear_and_any_case(tmp_path: Path) -> None:
    base = _cropped(tmp_path)
    loaded = _load(tmp_path, "bccd-cropped")
    m = loaded.manifest
    assert len(m) == 11 * 2
    assert m.groupby("group").size().eq(2).all()
    row = m[m["path"] == str(base / "Neutrophil" / "BloodImage_00000_2.jpg")].iloc[0]
    assert row["group"] == "BloodImage_00000" and row["label"] == "neutrophil"
    assert Counter(m["label"]) == {
        "neutrophil": 6,
        "eosinophil": 4,
        "basophil": 4,
        "monocyte": 4,
        "lymphocyte": 4,
    }


def test_bccd_cropped_unknown_folder_excluded(tmp_path: Path) -> None:
    base = _cropped(tmp_path)
    _image(base / "Platelet" / "BloodImage_00999_1.jpg")
    loaded = _load(tmp_path, "bccd-cropped")
    assert _reasons(loaded) == {
        str(base / "Platelet"): "folder is not one of the dataset's classes"
    }


# --- splitting the loaded manifests ------------------------------------------------------------


def _bccd_many(root: Path, per_class: int = 6) -> None:
    """``per_class`` good smears of each class but basophil, which gets 2 (as upstream)."""
    labels: dict[int, str] = {}
    number = 0
    for name in ("NEUTROPHIL", "EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE"):
        for _ in range(per_class):
            _smear(root, number, [(100 + number, 100, 300, 300)])
            labels[number] = name
            number += 1
    for _ in range(2):
        _smear(root, number, [CENTRE_BOX])
        labels[number] = "BASOPHIL"
        number += 1
    _labels_csv(root, labels)


def test_split_bccd_exclude_basophil(tmp_path: Path, cache: Path) -> None:
    _bccd_many(tmp_path)
    cfg = _cfg(tmp_path, "bccd", exclude_classes="basophil", val_fraction=0.2, test_fraction=0.2)
    data = load_split_data(cfg)
    m = data.manifest
    assert data.class_names == ("neutrophil", "eosinophil", "monocyte", "lymphocyte")
    assert "basophil" not in set(m["label"])
    assert len(m) == 24
    assert (m.groupby("group")["split"].nunique() == 1).all()
    for split in ("train", "val", "test"):
        assert set(m.loc[m["split"] == split, "label"]) == set(data.class_names), split
    dropped = data.excluded[data.excluded["reason"] == "class excluded by exclude_classes"]
    assert sorted(Path(p).stem for p in dropped["item"]) == [
        "BloodImage_00024",
        "BloodImage_00025",
    ]
    assert any("basophil" in n for n in data.notes)


@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
def test_split_bccd_basophil_too_rare_to_split(tmp_path: Path, cache: Path) -> None:
    from wbcrepro.data.splits import SplitError

    _bccd_many(tmp_path)
    with pytest.raises(SplitError):
        load_split_data(_cfg(tmp_path, "bccd", val_fraction=0.2, test_fraction=0.2))


def test_split_exclude_unknown_class_raises_naming_it(tmp_path: Path, cache: Path) -> None:
    _bccd_many(tmp_path)
    with pytest.raises(LabelError, match="basofil"):
        load_split_data(_cfg(tmp_path, "bccd", exclude_classes="basofil"))


def test_split_cropped_never_puts_a_smear_in_two_splits(tmp_path: Path) -> None:
    _cropped(tmp_path, {n: 8 for n in CROPPED_FOLDERS}, per_smear=3)
    for seed in (0, 1, 2):
        cfg = _cfg(tmp_path, "bccd-cropped", val_fraction=0.2, test_fraction=0.2, split_seed=seed)
        m = load_split_data(cfg).manifest
        assert (m.groupby("group")["split"].nunique() == 1).all()
        assert set(m["split"]) == {"train", "val", "test"}


def test_split_kaggle_keeps_published_split_and_carves_val_from_train(tmp_path: Path) -> None:
    _kaggle(tmp_path, {"TRAIN": 10, "TEST": 3, "TEST_SIMPLE": 1})
    cfg = _cfg(tmp_path, "kaggle-bloodcells", val_fraction=0.2, test_fraction=0.3)
    m = load_split_data(cfg).manifest
    published_test = m["path"].str.contains("/TEST/")
    assert (m.loc[published_test, "split"] == "test").all()
    assert set(m.loc[~published_test, "split"]) == {"train", "val"}
    val = m[m["split"] == "val"]
    assert val["path"].str.contains("/TRAIN/").all()
    assert set(val["label"]) == {"neutrophil", "eosinophil", "monocyte", "lymphocyte"}
    assert (m["split"] == "test").sum() == 12  # test_fraction does not touch the published test


# --- skip_bad_files in a run ---------------------------------------------------------------------


def _folder_tree(root: Path) -> Path:
    for label in ("blast", "plasma"):
        for k in range(10):
            _image(root / label / f"{label}_{k:02d}.png", 48, 48, seed=k + (label == "plasma") * 50)
    bad = root / "blast" / "blast_03.png"
    bad.write_bytes(bad.read_bytes()[:60])  # a truncated PNG
    return bad


def _folder_cfg(tree: Path, skip: bool) -> TrainConfig:
    return TrainConfig.from_flat(
        {
            **TINY,
            "epochs": 1,
            "dataset": "folder",
            "data_path": str(tree),
            "num_classes": 0,
            "skip_bad_files": skip,
        }
    )


@pytest.mark.slow
def test_fit_stops_on_a_corrupt_file_naming_it(tmp_path: Path) -> None:
    from wbcrepro.training.fit import fit

    bad = _folder_tree(tmp_path / "tree")
    with pytest.raises(OSError, match=r"blast_03\.png") as info:
        fit(_folder_cfg(tmp_path / "tree", skip=False), tmp_path / "run", progress=False)
    assert str(bad) in str(info.value)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "failed"
    assert "blast_03.png" in results["error"]


@pytest.mark.slow
def test_fit_skips_a_corrupt_file_and_lists_it(tmp_path: Path) -> None:
    from wbcrepro.training.fit import fit

    bad = _folder_tree(tmp_path / "tree")
    results = fit(_folder_cfg(tmp_path / "tree", skip=True), tmp_path / "run", progress=False)
    assert results["status"] == "complete"
    assert results["dataset"]["skipped_unreadable"] == 1
    skipped = pd.read_csv(tmp_path / "run" / "skipped.csv")
    assert list(skipped["path"]) == [str(bad)]
    assert "blast_03.png" in skipped["error"].iloc[0]
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["dataset"]["skipped_unreadable"] == 1
    assert (tmp_path / "run" / "excluded.csv").is_file()
