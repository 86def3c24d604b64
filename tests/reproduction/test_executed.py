"""Run folders committed under book/runs carry no absolute path of the machine that made them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from wbcrepro.reproduction.executed import make_run_folder_portable


def test_exclusion_tables_get_portable_paths_and_keep_other_entries(tmp_path: Path) -> None:
    data, cache, folder = tmp_path / "data", tmp_path / "cache", tmp_path / "run"
    folder.mkdir()
    pd.DataFrame(
        {
            "item": [str(data / "PBC" / "erythroblast" / "ERB_1.jpg"), "BloodImage_00010"],
            "reason": ["not one of the paper's 6 classes", "label names several cells"],
        }
    ).to_csv(folder / "excluded.csv", index=False)
    pd.DataFrame({"path": [str(cache / "crops" / "a.png")], "error": ["truncated"]}).to_csv(
        folder / "skipped.csv", index=False
    )
    assert make_run_folder_portable(folder, data, cache) == ["excluded.csv", "skipped.csv"]
    excluded = pd.read_csv(folder / "excluded.csv")
    assert list(excluded["item"]) == ["$DATA/PBC/erythroblast/ERB_1.jpg", "BloodImage_00010"]
    assert list(excluded["reason"]) == [
        "not one of the paper's 6 classes",
        "label names several cells",
    ]
    assert list(pd.read_csv(folder / "skipped.csv")["path"]) == ["$CACHE/crops/a.png"]
    assert str(tmp_path) not in (folder / "excluded.csv").read_text()
    assert make_run_folder_portable(folder, data, cache) == []  # already portable: untouched
