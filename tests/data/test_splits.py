"""Tests for the group-aware stratified splits (wbcrepro.data.splits)."""

from __future__ import annotations

import pandas as pd
import pytest

from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.data.splits import SplitError, check_split, split_manifest


def _manifest(
    groups_per_class: int = 10,
    images_per_group: int = 3,
    classes: tuple[str, ...] = PAPER_CLASSES,
    extra: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Several images per group, every group holding images of one class.

    ``extra`` maps additional class names to a number of images, all in one group of their own.
    """
    rows = []
    for label in classes:
        for g in range(groups_per_class):
            for i in range(images_per_group):
                rows.append(
                    {
                        "path": f"/data/{label}/g{g}_{i}.png",
                        "label": label,
                        "group": f"{label}-g{g}",
                    }
                )
    for label, n in (extra or {}).items():
        for i in range(n):
            rows.append(
                {"path": f"/data/{label}/only_{i}.png", "label": label, "group": f"{label}-0"}
            )
    return pd.DataFrame(rows)


def _mixed_manifest(n_groups: int = 40, images_per_group: int = 6) -> pd.DataFrame:
    """Groups (smears) that each hold images of several classes, like real patients."""
    rows = []
    for g in range(n_groups):
        for i in range(images_per_group):
            label = PAPER_CLASSES[(g + i) % len(PAPER_CLASSES)]
            rows.append({"path": f"/data/s{g}/{i}.jpg", "label": label, "group": f"smear{g}"})
    return pd.DataFrame(rows)


def _groups_by_split(df: pd.DataFrame) -> dict[str, set[str]]:
    return {s: set(df.loc[df["split"] == s, "group"]) for s in ("train", "val", "test")}


# ---------------------------------------------------------------------------------------------
# split_manifest
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_groups_never_span_two_splits(seed: int) -> None:
    df = split_manifest(_manifest(), 0.15, 0.15, seed)
    check_split(df)  # raises on leakage
    by_split = _groups_by_split(df)
    assert not by_split["train"] & by_split["val"]
    assert not by_split["train"] & by_split["test"]
    assert not by_split["val"] & by_split["test"]
    assert df.groupby("group")["split"].nunique().max() == 1


def test_groups_never_span_two_splits_with_mixed_class_groups() -> None:
    df = split_manifest(_mixed_manifest(), 0.15, 0.15, 3)
    assert df.groupby("group")["split"].nunique().max() == 1
    by_split = _groups_by_split(df)
    assert all(by_split[s] for s in ("train", "val", "test"))


def test_every_class_in_every_split() -> None:
    df = split_manifest(_manifest(), 0.15, 0.15, 0)
    for split in ("train", "val", "test"):
        assert set(df.loc[df["split"] == split, "label"]) == set(PAPER_CLASSES), split


def test_approximate_fractions() -> None:
    df = split_manifest(_manifest(groups_per_class=14), 0.15, 0.15, 0)
    fractions = df["split"].value_counts(normalize=True)
    assert set(fractions.index) == {"train", "val", "test"}
    assert fractions["test"] == pytest.approx(0.15, abs=0.06)
    assert fractions["val"] == pytest.approx(0.15, abs=0.06)
    assert fractions["train"] == pytest.approx(0.70, abs=0.08)


def test_larger_test_fraction_gives_larger_test_split() -> None:
    small = split_manifest(_manifest(groups_per_class=12), 0.1, 0.1, 0)
    large = split_manifest(_manifest(groups_per_class=12), 0.1, 0.3, 0)
    assert (large["split"] == "test").sum() > (small["split"] == "test").sum()
    assert (large["split"] == "test").mean() == pytest.approx(0.3, abs=0.08)


def test_reproducible_for_same_seed_and_different_for_another() -> None:
    manifest = _manifest()
    a = split_manifest(manifest, 0.15, 0.15, 5)
    b = split_manifest(manifest, 0.15, 0.15, 5)
    c = split_manifest(manifest, 0.15, 0.15, 6)
    pd.testing.assert_frame_equal(a, b)
    assert not a["split"].equals(c["split"])
    assert _groups_by_split(a)["test"] != _groups_by_split(c)["test"]


def test_keeps_rows_and_columns_and_does_not_mutate_input() -> None:
    manifest = _manifest()
    manifest.index = manifest.index + 100  # a non-default index is reset, not relied upon
    before = manifest.copy()
    df = split_manifest(manifest, 0.15, 0.15, 0)
    pd.testing.assert_frame_equal(manifest, before)
    assert list(df.columns) == ["path", "label", "group", "split"]
    assert df["path"].tolist() == manifest["path"].tolist()
    assert list(df.index) == list(range(len(manifest)))
    assert set(df["split"]) <= {"train", "val", "test"}


def test_zero_val_fraction_gives_no_val_split() -> None:
    df = split_manifest(_manifest(), 0.0, 0.2, 0)
    assert set(df["split"]) == {"train", "test"}
    assert df.groupby("group")["split"].nunique().max() == 1


def test_zero_fractions_keep_everything_in_train() -> None:
    df = split_manifest(_manifest(groups_per_class=2), 0.0, 0.0, 0)
    assert (df["split"] == "train").all()


@pytest.mark.filterwarnings("ignore:The least populated class")
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_class_with_one_image_raises_naming_it(seed: int) -> None:
    manifest = _manifest(extra={"basophil_rare": 1})
    with pytest.raises(SplitError, match="basophil_rare"):
        split_manifest(manifest, 0.15, 0.15, seed)


@pytest.mark.filterwarnings("ignore:The least populated class")
def test_class_with_one_group_raises_naming_it() -> None:
    """Several images, but all from one smear: they cannot be in train and test at once."""
    manifest = _manifest(extra={"rare_cell": 5})
    with pytest.raises(SplitError, match="rare_cell"):
        split_manifest(manifest, 0.15, 0.15, 0)


def test_too_few_groups_raises() -> None:
    manifest = _manifest(groups_per_class=1, classes=("a", "b"))
    with pytest.raises(SplitError):
        split_manifest(manifest, 0.15, 0.15, 0)


# ---------------------------------------------------------------------------------------------
# check_split
# ---------------------------------------------------------------------------------------------


def _checked_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": [f"p{i}" for i in range(6)],
            "label": ["x", "y", "x", "y", "x", "y"],
            "group": ["g1", "g2", "g3", "g4", "g5", "g6"],
            "split": ["train", "train", "val", "val", "test", "test"],
        }
    )


def test_check_split_accepts_clean_split() -> None:
    check_split(_checked_frame())


def test_check_split_names_leaking_group() -> None:
    df = _checked_frame()
    df.loc[len(df)] = {"path": "p6", "label": "x", "group": "g3", "split": "test"}
    with pytest.raises(SplitError, match="g3") as info:
        check_split(df)
    for clean in ("g1", "g2", "g4", "g5", "g6"):
        assert clean not in str(info.value)


def test_check_split_detects_leak_between_train_and_val() -> None:
    df = _checked_frame()
    df.loc[df["path"] == "p2", "group"] = "leaky_smear"
    df.loc[df["path"] == "p0", "group"] = "leaky_smear"
    with pytest.raises(SplitError, match="leaky_smear"):
        check_split(df)


def test_check_split_names_class_missing_from_required_split() -> None:
    df = _checked_frame()
    df.loc[df["path"] == "p5", "split"] = "train"  # no 'y' left in test
    with pytest.raises(SplitError, match=r"split 'test' has no image of class\(es\) y\b"):
        check_split(df)
    check_split(df, required=["val"])  # test not required: fine


def test_check_split_requires_train_always() -> None:
    df = _checked_frame()
    df.loc[df["path"] == "p0", "split"] = "val"  # no 'x' left in train
    with pytest.raises(SplitError, match="'train'"):
        check_split(df, required=[])


def test_subsample_train_is_stratified_seeded_and_keeps_every_row() -> None:
    from wbcrepro.data.splits import subsample_train

    manifest = pd.DataFrame(
        {
            "path": [f"{i}.png" for i in range(300)],
            "label": ["a"] * 200 + ["b"] * 100,
            "group": [str(i) for i in range(300)],
            "split": ["train"] * 240 + ["test"] * 60,
        }
    )
    out = subsample_train(manifest, 60, seed=0)
    assert len(out) == 300  # nothing deleted: left-out training rows are marked 'unused'
    kept = out[out["split"] == "train"]
    assert len(kept) == 60
    assert (out["split"] == "test").sum() == 60
    assert kept["label"].value_counts().to_dict() == {"a": 50, "b": 10}  # train is 200 a : 40 b
    assert out.equals(subsample_train(manifest, 60, seed=0))
    assert not out.equals(subsample_train(manifest, 60, seed=1))
    assert subsample_train(manifest, 0, seed=0).equals(manifest)
