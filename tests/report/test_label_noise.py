"""WBCAtt's nucleus shapes against PBC's band/segmented prefixes, and the page built on them.

Fixtures are WBCAtt's published CSV layout (``submission/pbc_attr_v1_<split>.csv``) and a run's
``predictions_test.csv`` as training writes it; where ``../shared/data`` is present, the real
annotations are checked against the counts its README states.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SHARED_DATA
from tests.fixtures.recorded_runs import write_run
from wbcrepro.data import wbcatt
from wbcrepro.report import label_noise_page, load_run

COLUMNS = "img_name,label,cell_size,nucleus_shape,path"


def _write_wbcatt(root: Path, rows: dict[str, list[tuple[str, str]]]) -> Path:
    """WBCAtt CSVs under ``root/wbcatt/submission``; ``rows[split]`` = (file, nucleus_shape)."""
    folder = root / "wbcatt" / "submission"
    folder.mkdir(parents=True)
    for split in ("train", "val", "test"):
        lines = [COLUMNS]
        for name, shape in rows.get(split, []):
            label = "Neutrophil" if name.startswith(("SNE", "BNE")) else "Eosinophil"
            sub = "neutrophil" if label == "Neutrophil" else "eosinophil"
            lines.append(f"{name},{label},big,{shape},PBC_dataset_normal_DIB/{sub}/{name}")
        (folder / f"pbc_attr_v1_{split}.csv").write_text("\n".join(lines) + "\n")
    return root


ROWS = {
    "train": [("SNE_1.jpg", "segmented-bilobed"), ("SNE_2.jpg", "unsegmented-band")],
    "val": [("BNE_3.jpg", "unsegmented-band"), ("BNE_4.jpg", "segmented-multilobed")],
    "test": [("SNE_5.jpg", "irregular"), ("EO_6.jpg", "segmented-bilobed")],
}


def test_morphology_class_reads_each_shape() -> None:
    assert wbcatt.morphology_class("segmented-bilobed") == "segmented_neutrophil"
    assert wbcatt.morphology_class("segmented-multilobed") == "segmented_neutrophil"
    assert wbcatt.morphology_class("unsegmented-band") == "band_neutrophil"
    for shape in ("irregular", "unsegmented-round", "unsegmented-indented"):
        assert wbcatt.morphology_class(shape) == "unclear"


def test_agreement_counts_contradictions_and_leaves_unclear_undecided(tmp_path: Path) -> None:
    table = wbcatt.load_annotations(_write_wbcatt(tmp_path, ROWS))
    assert sorted(table["split"].unique()) == ["test", "train", "val"]
    agreement = wbcatt.neutrophil_agreement(table).set_index("file")
    assert "EO_6.jpg" not in agreement.index  # not a band/segmented image
    assert bool(agreement.loc["SNE_1.jpg", "agree"]) is True
    assert bool(agreement.loc["SNE_2.jpg", "agree"]) is False
    assert bool(agreement.loc["BNE_4.jpg", "agree"]) is False
    assert pd.isna(agreement.loc["SNE_5.jpg", "agree"])
    summary = label_noise_page.disagreement_summary(agreement.reset_index()).set_index("PBC label")
    assert summary.loc["segmented_neutrophil", "WBCAtt contradicts"] == 1
    assert summary.loc["segmented_neutrophil", "shape unclear"] == 1
    assert summary.loc["band_neutrophil", "share"] == pytest.approx(0.5)


def test_missing_annotation_file_is_named(tmp_path: Path) -> None:
    _write_wbcatt(tmp_path, ROWS)
    missing = tmp_path / "wbcatt" / "submission" / "pbc_attr_v1_val.csv"
    missing.unlink()
    with pytest.raises(wbcatt.WbcattError, match=r"pbc_attr_v1_val\.csv"):
        wbcatt.load_annotations(tmp_path)


def test_missing_column_is_named(tmp_path: Path) -> None:
    _write_wbcatt(tmp_path, ROWS)
    path = tmp_path / "wbcatt" / "submission" / "pbc_attr_v1_train.csv"
    path.write_text("img_name,label,path\nSNE_1.jpg,Neutrophil,x/SNE_1.jpg\n")
    with pytest.raises(wbcatt.WbcattError, match="nucleus_shape"):
        wbcatt.load_annotations(tmp_path)


def test_present_only_keeps_images_on_disk(tmp_path: Path) -> None:
    table = wbcatt.load_annotations(_write_wbcatt(tmp_path, ROWS))
    image = tmp_path / "PBC_dataset_normal_DIB" / "neutrophil" / "SNE_1.jpg"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"not read")
    assert list(wbcatt.present_only(table, tmp_path)["file"]) == ["SNE_1.jpg"]


def _run_with_predictions(root: Path, rows: list[tuple[str, str, str]]) -> Path:
    """A complete run whose predictions_test.csv holds ``(file, label, predicted)`` rows."""
    folder = write_run(root, "main-pbc-s0", synthetic=False)
    lines = ["path,label,predicted"] + [
        f"$DATA/PBC_dataset_normal_DIB/x/{name},{label},{pred}" for name, label, pred in rows
    ]
    (folder / "predictions_test.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_run_noise_splits_recall_by_agreement_and_counts_unannotated(tmp_path: Path) -> None:
    agreement = wbcatt.neutrophil_agreement(
        wbcatt.load_annotations(_write_wbcatt(tmp_path / "data", ROWS))
    )
    seg, band = "segmented_neutrophil", "band_neutrophil"
    _run_with_predictions(
        tmp_path / "runs",
        [
            ("SNE_1.jpg", seg, seg),  # agrees, right
            ("SNE_2.jpg", seg, band),  # contradicted, predicted as WBCAtt says
            ("BNE_3.jpg", band, seg),  # agrees, wrong
            ("BNE_4.jpg", band, band),  # contradicted, right by the label
            ("BNE_9.jpg", band, band),  # not in WBCAtt: counted, not dropped
            ("EO_6.jpg", "eosinophil", "eosinophil"),
        ],
    )
    row = label_noise_page.run_noise(load_run(tmp_path / "runs", "main-pbc-s0"), agreement)
    assert row["test images"] == 6 and row["test neutrophils"] == 5
    assert row["not annotated"] == 1 and row["contradicted"] == 2
    assert row["recall where WBCAtt agrees"] == pytest.approx(0.5)
    assert row["recall where it contradicts"] == pytest.approx(0.5)
    assert row["predicted as WBCAtt says, where it contradicts"] == pytest.approx(0.5)
    assert row["ceiling"] == pytest.approx(1 - 2 / 6)
    glued = label_noise_page.glue_label_noise(
        agreement,
        label_noise_page.noise_table([load_run(tmp_path / "runs", "main-pbc-s0")], agreement),
    )
    assert glued["ceiling_mean"] == f"{1 - 2 / 6:.1%}"


def test_run_without_predictions_is_an_error_naming_it(tmp_path: Path) -> None:
    write_run(tmp_path, "main-pbc-s0", synthetic=False)
    agreement = wbcatt.neutrophil_agreement(
        wbcatt.load_annotations(_write_wbcatt(tmp_path / "data", ROWS))
    )
    with pytest.raises(FileNotFoundError, match="main-pbc-s0"):
        label_noise_page.run_noise(load_run(tmp_path, "main-pbc-s0"), agreement)


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real data not found at {SHARED_DATA}")
def test_real_wbcatt_contradicts_the_prefix_as_the_data_readme_says() -> None:
    """README: nucleus_shape disagrees with SNE for 662 of 1,646 images, BNE for 48 of 1,633."""
    agreement = wbcatt.neutrophil_agreement(wbcatt.load_annotations(SHARED_DATA))
    summary = label_noise_page.disagreement_summary(agreement).set_index("PBC label")
    assert summary.loc["segmented_neutrophil", "images"] == 1646
    assert summary.loc["segmented_neutrophil", "WBCAtt contradicts"] == 662
    assert summary.loc["band_neutrophil", "images"] == 1633
    assert summary.loc["band_neutrophil", "WBCAtt contradicts"] == 48
    present = wbcatt.present_only(agreement, SHARED_DATA)
    assert len(present) == 1601  # the SNE/BNE images of the subset here
