"""Leave-one-lab-out data: several labs' sets in five classes, one lab held out whole."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_DATA
from wbcrepro.config import TrainConfig
from wbcrepro.data.datasets import DatasetError, get_dataset
from wbcrepro.data.datasets.labs import five_class, lab_of
from wbcrepro.data.loading import load_split_data


def _cfg(root, **params) -> TrainConfig:
    return TrainConfig.from_flat({"dataset": "labs", "num_classes": 0, "data_root": str(root),
                                  **params})  # fmt: skip


def test_every_set_maps_onto_the_five_classes() -> None:
    assert five_class("pbc", "band_neutrophil") == "neutrophil"
    assert five_class("pbc", "segmented_neutrophil") == "neutrophil"
    assert five_class("zheng2018", "monocyte") == "monocyte"
    assert five_class("pbc8", "ig") is None  # immature granulocytes: not one of the five
    assert lab_of("kaggle-bloodcells") == lab_of("bccd-cropped") != lab_of("pbc")
    assert lab_of("my-lab") == "my-lab"


@pytest.mark.parametrize(
    ("labs", "test_lab", "message"),
    [
        ("pbc,kaggle-bloodcells", "bccd-cropped", "kaggle-bloodcells and the held-out.*one lab"),
        ("pbc,bccd", "zheng2018", "bccd needs loader option.*crop_margin"),
        ("pbc,kaggle-bloodcells", "zheng2018", "kaggle-bloodcells's groups are not its sources"),
        ("", "zheng2018", "needs labs"),
    ],
)
def test_mixes_that_would_leak_or_cannot_load_are_refused(tmp_path, labs, test_lab, message):
    with pytest.raises(DatasetError, match=message):
        get_dataset("labs").load(_cfg(tmp_path, labs=labs, test_lab=test_lab))


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real data not found at {SHARED_DATA}")
def test_zheng_held_out_whole_the_training_labs_capped_and_split() -> None:
    cfg = _cfg(SHARED_DATA, labs="pbc,bccd-cropped,lisc-crops", test_lab="zheng2018",
               lab_images=300)  # fmt: skip
    data = load_split_data(cfg)
    m = data.manifest
    assert data.class_names == ("neutrophil", "eosinophil", "basophil", "monocyte", "lymphocyte")
    test = m[m["split"] == "test"]
    assert len(test) == 300 and set(test["source"]) == {"zheng2018"}
    train = m[m["split"] != "test"]
    assert set(train["source"]) == {"pbc", "bccd-cropped", "lisc-crops"}
    assert (train.groupby("source").size() <= 300).all()
    assert set(train["split"]) == {"train", "val"}
    assert (m.groupby("group")["split"].nunique() == 1).all()
    assert m["group"].str.split(":").str[0].eq(m["source"]).all()
    assert any("held-out lab: zheng2018" in note for note in data.notes)


def test_an_unknown_label_space_is_refused(tmp_path) -> None:
    cfg = _cfg(tmp_path, labs="pbc", test_lab="zheng2018", lab_classes="seven")
    with pytest.raises(DatasetError, match="lab_classes must be 'five' or 'six', got 'seven'"):
        get_dataset("labs").load(cfg)


def test_six_classes_keep_pbc_neutrophils_apart_and_leave_other_labs_out() -> None:
    from wbcrepro.data.datasets.labs import six_class

    assert six_class("pbc", "band_neutrophil") == "band_neutrophil"
    assert six_class("zheng2018", "neutrophil") is None  # band or segmented: not told
    assert six_class("zheng2018", "monocyte") == "monocyte"


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real data not found at {SHARED_DATA}")
def test_without_a_held_out_lab_each_set_is_split_alone_pbc_as_a_pbc_run() -> None:
    cfg = _cfg(SHARED_DATA, labs="pbc,bccd-cropped,zheng2018,lisc-crops", lab_classes="six")
    data = load_split_data(cfg)
    m = data.manifest
    assert data.class_names == ("segmented_neutrophil", "band_neutrophil", "eosinophil",
                                "basophil", "monocyte", "lymphocyte")  # fmt: skip
    assert set(m["source"]) == {"pbc", "bccd-cropped", "zheng2018", "lisc-crops"}
    for source, rows in m.groupby("source"):
        assert set(rows["split"]) == {"train", "val", "test"}, source
    assert not m.loc[m["source"] != "pbc", "label"].str.contains("neutrophil").any()
    reasons = set(data.excluded["reason"])
    assert "zheng2018: class outside the six (or not told apart there)" in reasons
    assert "bccd-cropped: fewer than 10 images of the class in this set" in reasons
    alone = load_split_data(TrainConfig.from_flat({"dataset": "pbc", "num_classes": 0,
                                                   "data_root": str(SHARED_DATA)}))  # fmt: skip
    pbc_test = set(m.loc[(m["source"] == "pbc") & (m["split"] == "test"), "path"])
    assert pbc_test == set(alone.manifest.loc[alone.manifest["split"] == "test", "path"])
    assert any("no held-out lab" in note for note in data.notes)
