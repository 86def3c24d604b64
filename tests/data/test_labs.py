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
        ("pbc", "", "needs labs.*test_lab"),
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
