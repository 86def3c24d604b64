"""``wbcrepro data list | download | check`` run in-process through ``wbcrepro.cli.main``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wbcrepro.cli import main
from wbcrepro.data.datasets import REGISTRY, get_dataset

ZHENG_CODES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 1}


def _zheng(root: Path) -> Path:
    base = root / "segmentation_WBC"
    folder = base / "Dataset 1"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for number in ZHENG_CODES:
        pixels = rng.integers(0, 256, (120, 120, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{number:03d}.bmp")
        Image.new("L", (120, 120), 0).save(folder / f"{number:03d}.png")
    lines = ["image ID,class label", *(f"{n},{c}" for n, c in ZHENG_CODES.items())]
    (base / "Class Labels of Dataset 1.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return folder


def _present_column(out: str) -> dict[str, str]:
    """name -> the 'present' cell of each row of the ``data list`` table."""
    present = {}
    for line in out.splitlines():
        tokens = line.split()
        if not tokens or tokens[0] not in REGISTRY:
            continue
        present[tokens[0]] = tokens[-3] if tokens[-2:] == ["by", "hand"] else tokens[-2]
    return present


def test_data_list_names_every_dataset_and_presence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _zheng(tmp_path)
    (tmp_path / "wbc-classification" / "images").mkdir(parents=True)
    assert main(["data", "list", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"data root: {tmp_path}" in out
    present = _present_column(out)
    assert set(present) == set(REGISTRY)
    assert present["zheng2018"] == "yes"
    assert present["kaggle-bloodcells"] == "yes"
    assert present["kaggle-bloodcells-simple"] == "yes"
    assert present["bccd"] == "no"
    assert present["bccd-cropped"] == "no"
    assert present["lisc"] == "no"
    assert present["synthetic"] == "generated"


@pytest.mark.parametrize("name", ["zheng2018-d2", "bccd"])
def test_data_list_partial_upstream_is_not_present(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _zheng(tmp_path)  # Dataset 1 only, as in the shared data
    (tmp_path / "BCCD_Dataset" / "BCCD" / "Annotations").mkdir(parents=True)
    (tmp_path / "BCCD_Dataset" / "BCCD" / "JPEGImages").mkdir()
    assert main(["data", "list", "--root", str(tmp_path)]) == 0
    present = _present_column(capsys.readouterr().out)
    assert present[name] == "no"


def test_data_list_empty_root_says_no(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list", "--root", str(tmp_path)]) == 0
    present = _present_column(capsys.readouterr().out)
    for name, value in present.items():
        spec = get_dataset(name)
        if spec.synthetic:
            assert value == "generated", name
        elif spec.folder:
            assert value == "no", name


def test_data_check_zheng_prints_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _zheng(tmp_path)
    assert main(["data", "check", "zheng2018", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"dataset zheng2018 under {tmp_path}: 6 images, 6 groups (sources), 5 classes" in out
    counts = {
        line.split()[0]: line.split()[-1]
        for line in out.splitlines()
        if line.split() and line.split()[0] in {"neutrophil", "lymphocyte", "basophil"}
    }
    assert counts == {"neutrophil": "2", "lymphocyte": "1", "basophil": "1"}
    assert "width 120-120, height 120-120" in out
    assert "segmentation mask" in out
    assert "unreadable images: 0" in out


def test_data_check_corrupt_image_exits_1_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _zheng(tmp_path)
    bad = folder / "003.bmp"
    bad.write_bytes(bad.read_bytes()[:2000])  # a truncated BMP: header fine, pixels cut
    assert main(["data", "check", "zheng2018", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "unreadable images: 1" in out
    assert str(bad) in out


def test_data_download_without_url_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "download", "lisc", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "wbcrepro data: error:" in err
    assert get_dataset("lisc").source in err
    assert str(tmp_path / get_dataset("lisc").folder) in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["check", "download"])
def test_data_unknown_dataset_exits_2_listing_names(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", command, "no-such-set", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no-such-set" in err
    for name in ("bccd", "kaggle-bloodcells", "zheng2018", "bccd-cropped"):
        assert name in err


def test_data_check_missing_dataset_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "check", "zheng2018", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "segmentation_WBC") in err
    assert "wbcrepro data download zheng2018" in err
