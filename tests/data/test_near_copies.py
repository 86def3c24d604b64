"""Near-copies joined into one group before a split, and the leakage audit of k-fold splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.conftest import SHARED_DATA
from wbcrepro.cli import main
from wbcrepro.config import TrainConfig
from wbcrepro.data.leakage.folds import fold_audit
from wbcrepro.data.leakage.groups import join_near_copies, near_copy_pairs
from wbcrepro.data.loading import load_split_data


def _texture(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((64, 64), Image.Resampling.BILINEAR)


@pytest.fixture
def images(tmp_path: Path) -> pd.DataFrame:
    """One cell three times (as taken, turned 90 degrees, mirrored) and two other cells."""
    a = _texture(1)
    files = {
        "a.png": a,
        "a_turned.png": a.transpose(Image.Transpose.ROTATE_90),
        "a_mirrored.png": a.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "b.png": _texture(2),
        "c.png": _texture(3),
    }
    rows = []
    for name, image in files.items():
        image.save(tmp_path / name)
        rows.append({"path": str(tmp_path / name), "label": "x", "group": Path(name).stem})
    return pd.DataFrame(rows)


def test_rotated_and_mirrored_copies_join_one_group_others_stay(images: pd.DataFrame) -> None:
    pairs = near_copy_pairs(images["path"].tolist())
    assert sorted(pairs) == [(0, 1), (0, 2), (1, 2)]  # no image paired with itself
    joined, merged = join_near_copies(images)
    assert merged == 2
    assert joined["group"].tolist()[:3] == ["a+a_mirrored+a_turned"] * 3
    assert joined["group"].tolist()[3:] == ["b", "c"]
    assert images["group"].tolist()[0] == "a"  # the input is left as it was


def test_cli_fold_audit_needs_dataset_and_folds_together(capsys) -> None:
    assert main(["data", "leakage", "--dataset", "lisc-crops", "--out", "x.json"]) == 2
    assert "--dataset and --folds go together" in capsys.readouterr().err


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real data not found at {SHARED_DATA}")
def test_lisc_crops_folds_leak_near_copies_unless_they_are_grouped() -> None:
    plain = fold_audit(SHARED_DATA, "lisc-crops", 5)
    assert plain["n_images"] == 255 and plain["n_leaked"] > 0
    assert all(f["n_leaked_same_label"] == f["n_leaked"] for f in plain["folds"])
    grouped = fold_audit(SHARED_DATA, "lisc-crops", 5, group_near_copies=True)
    assert grouped["n_images"] == 255 and grouped["n_leaked"] == 0
    cfg = TrainConfig.from_flat(
        {"dataset": "lisc-crops", "data_root": str(SHARED_DATA), "num_classes": 0,
         "n_folds": 5, "fold": 0, "group_near_copies": True}
    )  # fmt: skip
    data = load_split_data(cfg)
    assert any(note.startswith("group_near_copies:") for note in data.notes)
    assert data.manifest["group"].str.contains(r"\+").any()
