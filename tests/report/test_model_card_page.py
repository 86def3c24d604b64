"""The model card page reads the shipped model's JSON metadata and cross-domain records only."""

from __future__ import annotations

import pytest

from wbcrepro.fileio import write_json
from wbcrepro.report import model_card_page as card_page

CARD = {
    "arch": "efficientnet_lite0",
    "implementation": "efficientnet_lite_pytorch",
    "class_names": ["segmented_neutrophil", "band_neutrophil"],
    "img_size": 160,
    "eval_transform": [{"op": "Resize", "size": [184, 184]}, {"op": "CenterCrop", "size": 160}],
    "weights_dtype": "float16 parameters, float32 BatchNorm statistics",
    "bytes": 7_016_303,
    "source": {
        "run_id": "main-pbc-s0",
        "epoch": 5,
        "dataset": "pbc",
        "synthetic": False,
        "params": {"train_subset": 1200, "epochs": 5},
    },
    "test_metrics": {
        "n": 100,
        "accuracy": 0.9,
        "accuracy_ci95": [0.83, 0.95],
        "balanced_accuracy": 0.88,
        "macro_f1": 0.87,
        "macro_f1_ci95": [0.8, 0.93],
        "per_class": {
            "segmented_neutrophil": {"precision": 0.9, "recall": 0.8, "support": 50},
            "band_neutrophil": {"precision": 0.85, "recall": 0.9, "support": 50},
        },
    },
}


def crossdomain(target: str, accuracy: float, kind: str = "run folder") -> dict:
    per_class = {
        "neutrophil": {"recall": accuracy, "support": 10},
        "basophil": {"recall": 0.0, "support": 0},
    }
    return {
        "source": {"kind": kind, "run_id": "main-pbc-s1"},
        "target": {"dataset": target},
        "metrics": {"n": 10, "accuracy": accuracy, "accuracy_ci95": [0.1, 0.9], "macro_f1": 0.5,
                    "per_class": per_class},
    }  # fmt: skip


def test_card_reads_the_metadata_json_beside_the_weights(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="export the model first"):
        card_page.load_card(tmp_path / "pbc6.pt")
    write_json(tmp_path / "pbc6.json", CARD)
    card = card_page.load_card(tmp_path / "pbc6.pt")
    table = card_page.card_table(card)
    assert table.loc["test accuracy [95% CI]", ""] == "90.00% [83.00%, 95.00%]"
    assert table.loc["weights", ""].endswith("7.0 MB")
    assert "Resize(size=[184, 184]) -> CenterCrop(size=160)" in table.loc["input", ""]
    assert "nucleus" not in table.loc["input", ""]
    cropped = {**CARD, "source": {**CARD["source"], "params": {"cell_crop": 0.4}}}
    text = card_page.card_table(cropped).loc["input", ""]
    assert "cropped to a square around its nucleus, which spans 40% of the side" in text
    assert "train subset 1200, 5 epochs" in table.loc["trained on", ""]
    recall = card_page.recall_table(card)
    assert (
        list(recall.index) == CARD["class_names"] and recall.loc["band_neutrophil", "recall"] == 0.9
    )
    assert str(recall["support"].dtype) == "Int64"  # a count: 160, never 160.0


def test_crossdomain_table_has_one_column_per_target_and_skips_empty_classes(tmp_path) -> None:
    for run_id, target, acc in (("cd-zheng", "zheng2018", 0.28), ("cd-bccd", "bccd-cropped", 0.14)):
        write_json(tmp_path / run_id / "crossdomain.json", crossdomain(target, acc))
    write_json(tmp_path / "cd-file" / "crossdomain.json", crossdomain("zheng2018", 0.3, "shipped"))
    records = card_page.load_crossdomain(tmp_path, "cd-zheng, cd-bccd, cd-file, cd-missing")
    table = card_page.crossdomain_table(records)
    assert list(table.columns) == ["zheng2018", "bccd-cropped", "zheng2018 (this file)"]
    assert table.loc["recall neutrophil", "zheng2018"] == 0.28
    assert "recall basophil" not in table.index  # no support: nothing measured
    assert card_page.crossdomain_table([]).empty


def test_unsure_rule_is_stated_from_the_file_or_said_to_be_missing() -> None:
    rule = {
        "threshold": 0.5123,
        "rule": "unsure when the top probability is below the 10% quantile",
        "validation_images": 769,
        "validation_unsure_share": 0.15,
        "validation_correct_unsure_share": 0.1,
        "validation_wrong_unsure_share": 0.6,
    }
    text = card_page.unsure_markdown({**CARD, "format_version": 3, "unsure": rule}).data
    assert "**0.512**" in text and "769 validation images" in text
    assert "15.00% of the answers: 10.00% of the correct ones and 60.00% of the wrong ones" in text
    old = card_page.unsure_markdown({**CARD, "format_version": 2}).data
    assert "records no unsure threshold (shipped format 2)" in old


def test_per_lab_table_splits_the_test_predictions_by_source(tmp_path) -> None:
    import pandas as pd

    folder = tmp_path / "main-pbc-s0"
    folder.mkdir()
    paths = [f"$DATA/{lab}/{i}.png" for lab in ("pbc", "zheng") for i in range(4)]
    labels = ["monocyte", "basophil", "monocyte", "basophil"] * 2
    predicted = labels[:4] + ["monocyte"] * 4  # pbc all right, zheng 2 of 4
    pd.DataFrame({"path": paths, "label": labels, "predicted": predicted}).to_csv(
        folder / "predictions_test.csv", index=False
    )
    sources = ["pbc"] * 4 + ["zheng2018"] * 4
    split = pd.DataFrame(
        {
            "path": [*paths, "$DATA/pbc/t.png"],
            "label": [*labels, "monocyte"],
            "split": ["test"] * 8 + ["train"],
            "source": [*sources, "pbc"],
        }
    )
    split.to_csv(folder / "split.csv", index=False)
    table = card_page.per_lab_table(tmp_path, CARD).set_index("lab (its own test split)")
    assert table.loc["pbc", "images"] == 4 and table.loc["zheng2018", "images"] == 4
    assert table.loc["pbc", "accuracy [95% CI]"].startswith("100.00%")
    assert table.loc["zheng2018", "accuracy [95% CI]"].startswith("50.00%")
    assert table.loc["zheng2018", "classes tested"] == "basophil, monocyte"
    split.drop(columns="source").to_csv(folder / "split.csv", index=False)  # a one-lab run
    one = card_page.per_lab_table(tmp_path, CARD)
    assert one["lab (its own test split)"].tolist() == ["pbc"] and one["images"].tolist() == [8]


def test_new_lab_estimate_reads_the_recipes_leave_one_lab_out_arms(tmp_path) -> None:
    from tests.fixtures.recorded_runs import write_run

    for seed in range(3):
        write_run(tmp_path, f"lolo-robust-zheng-s{seed}", params={"seed": seed}, correct=30)
    table = card_page.new_lab_table(tmp_path, "zheng2018=lolo-robust-zheng", "robust")
    assert table.loc[0, "held-out lab"] == "zheng2018"
    assert table.loc[0, "robust, as trained"] == "75.00% ± 0.0 (n=3)"
    assert card_page.new_lab_table(tmp_path, "", "robust").empty
