"""Run folders committed under book/runs carry no absolute path of the machine that made them."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

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


# --- kernels: their own environment, staggered starts, a failed start retried ---------------------
def test_a_kernel_started_with_env_sees_it_and_the_process_environment_is_untouched(
    tmp_path: Path,
) -> None:
    """The GPU of one side-by-side kernel (``CUDA_VISIBLE_DEVICES``) goes to that kernel only."""
    import os

    import nbformat

    from wbcrepro.reproduction.executed import papermill_executor

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cell = nbformat.v4.new_code_cell('import os\nprint("seen", os.environ.get("WBC_TEST_GPU"))')
    nb.cells = [cell]
    source = tmp_path / "env.ipynb"
    nbformat.write(nb, source)
    output = tmp_path / "out.ipynb"
    papermill_executor(source, output, {}, tmp_path, env={"WBC_TEST_GPU": "3"})
    text = nbformat.read(output, as_version=4).cells[0].outputs[0]["text"]
    assert text.strip() == "seen 3"
    assert "WBC_TEST_GPU" not in os.environ


def test_kernel_starts_are_staggered_across_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from wbcrepro.reproduction.executed import stagger_kernel_start

    with ThreadPoolExecutor(3) as pool:
        moments = sorted(pool.map(lambda _: stagger_kernel_start(0.2), range(3)))
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(moments))


def test_a_kernel_that_fails_to_start_is_retried_and_a_failing_cell_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill

    from wbcrepro.reproduction import executed

    calls: list[str] = []

    def port_taken_once(input_path, output_path, **kwargs):
        calls.append(input_path)
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        Path(output_path).write_text("{}")

    monkeypatch.setattr(executed, "make_portable", lambda *a: None)
    monkeypatch.setattr(executed, "KERNEL_STAGGER_S", 0.0)
    monkeypatch.setattr(papermill, "execute_notebook", port_taken_once)
    executed.papermill_executor(tmp_path / "a.ipynb", tmp_path / "out.ipynb", {}, tmp_path)
    assert len(calls) == 2

    class CellError(Exception):
        ename = "ValueError"

    def cell_fails(input_path, output_path, **kwargs):
        calls.append(input_path)
        raise CellError("Kernel died before replying to kernel_info")  # a cell's own message

    calls.clear()
    monkeypatch.setattr(papermill, "execute_notebook", cell_fails)
    with pytest.raises(CellError):
        executed.papermill_executor(tmp_path / "a.ipynb", tmp_path / "out.ipynb", {}, tmp_path)
    assert len(calls) == 1


def test_a_generic_first_heading_becomes_the_runs_title(tmp_path: Path) -> None:
    import nbformat

    from wbcrepro.reproduction.executed import retitle

    path = tmp_path / "run.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Experiment\n\nWhat one run trained.")]
    nbformat.write(nb, path)
    assert retitle(path, "PBC six classes, tuned recipe (seed 0)")
    source = nbformat.read(path, as_version=4).cells[0].source
    assert source == "# PBC six classes, tuned recipe (seed 0)\n\nWhat one run trained."
    nb.cells = [nbformat.v4.new_markdown_cell("# What we found")]
    nbformat.write(nb, path)
    assert not retitle(path, "findings")  # a page's own heading stays
    assert nbformat.read(path, as_version=4).cells[0].source == "# What we found"
