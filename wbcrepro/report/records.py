"""Run records as the pages read them, and the small formatting helpers every page shares.

A page never trains and never imports training code: it reads what a run left in its folder
(``results.json``, ``metrics.csv``; names from :mod:`wbcrepro.runfolder`) through
:func:`load_run`. A run that is not there reads as a record with status ``missing``, so a page
can say so instead of failing.
"""

from __future__ import annotations

import functools
import glob
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wbcrepro.analysis.verdicts import RunResult, with_ci
from wbcrepro.runfolder import METRICS, RESULTS, read_results

SYNTHETIC_BANNER = (
    "> **SYNTHETIC DATA.** The images are procedurally drawn by `wbcrepro.data.synthetic`, "
    "not real "
    "blood cells: these numbers test the pipeline and say nothing about the paper's claims."
)


def dataset_spec(name: str) -> Any | None:
    """The registry entry of ``name`` (``None`` when unknown).

    Imported on use: the registry's loaders pull in the image pipeline, which a page that only
    reads records should not pay for at import time.
    """
    from wbcrepro.data.datasets import REGISTRY

    return REGISTRY.get(name)


@dataclass
class RunRecord:
    """One run folder as the pages read it (``status`` is ``missing`` when there is none)."""

    run_id: str
    folder: Path
    status: str
    results: dict[str, Any] = field(default_factory=dict)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def params(self) -> dict[str, Any]:
        return self.results.get("params", {})

    @property
    def dataset(self) -> str:
        return self.results.get("dataset", {}).get("name") or self.params.get("dataset", "?")

    @property
    def synthetic(self) -> bool:
        """As the run recorded it; for a run that stopped before recording its data, as the
        registry says of its dataset parameter."""
        info = self.results.get("dataset", {})
        if "synthetic" in info:
            return bool(info["synthetic"])
        spec = dataset_spec(self.params.get("dataset", "")) if self.params else None
        return bool(spec and spec.synthetic)

    @property
    def class_names(self) -> list[str]:
        return list(self.results.get("dataset", {}).get("class_names", []))

    @property
    def environment(self) -> dict[str, Any]:
        """Where and with what the run was trained, as recorded (never today's machine)."""
        return self.results.get("environment", {})

    @property
    def hardware(self) -> str:
        return self.environment.get("hardware", {}).get("summary") or "not recorded"

    def as_result(self) -> RunResult:
        """The plain values :mod:`wbcrepro.analysis.verdicts` decides on."""
        return RunResult(
            run_id=self.run_id,
            params=self.params,
            final=self.results.get("final", {}),
            complete=self.complete,
            synthetic=self.synthetic,
            dataset=self.dataset,
            name=link(self),
            learned=(self.results.get("gate") or {}).get("learned"),
            gate_reasons=tuple((self.results.get("gate") or {}).get("reasons") or ()),
            predictions=self.test_predictions,
            selected_epoch=(self.results.get("selection") or {}).get("selected_epoch"),
        )

    @functools.cached_property
    def test_predictions(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None:
        """(paths, labels, predicted) of the test split as the run wrote them (None when the run
        has no ``predictions_test.csv``): what paired comparisons match image by image. Read
        once per record (``as_result`` is called for every metric a page shows)."""
        path = self.folder / "predictions_test.csv"
        if not self.complete or not path.is_file():
            return None
        table = pd.read_csv(path, usecols=["path", "label", "predicted"], dtype=str)
        return tuple(table["path"]), tuple(table["label"]), tuple(table["predicted"])

    def baseline_accuracy(self, key: str) -> float | None:
        """A recorded baseline's test accuracy: the majority class keeps it at the top, the
        linear probe under ``test`` (it was fitted and evaluated); None when not recorded."""
        base = (self.results.get("baselines") or {}).get(key) or {}
        return base.get("accuracy", (base.get("test") or {}).get("accuracy"))

    def report(self, split: str = "test") -> dict[str, Any] | None:
        """The final metrics of ``split`` (``None`` when the run has none)."""
        return self.results.get("final", {}).get(split)

    def metric(self, key: str, split: str = "test") -> float:
        return self.as_result().metric(key, split)

    def interval(self, key: str, split: str = "test") -> tuple[float, float]:
        return self.as_result().interval(key, split)


def split_ids(text: str | Sequence[str]) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (a list is returned as is, blanks dropped)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return [item.strip() for item in items if item and item.strip()]


def run_folder(runs_root: str | Path, run_id: str) -> Path:
    """``runs_root/run_id`` (relative paths are taken from the working directory, the repo root)."""
    return Path(runs_root) / run_id


def load_run(runs_root: str | Path, run_id: str) -> RunRecord:
    """Read ``runs_root/run_id``; a folder without results.json gives status ``missing``, one that
    does not fit :class:`wbcrepro.runfolder.RunResults` is an error naming the file and key."""
    folder = run_folder(runs_root, run_id)
    if not (folder / RESULTS).is_file():
        return RunRecord(run_id, folder, "missing")
    results = read_results(folder)
    history = pd.read_csv(folder / METRICS) if (folder / METRICS).is_file() else pd.DataFrame()
    return RunRecord(run_id, folder, results.get("status", "unknown"), results, history)


_SEED_SUFFIX = re.compile(r"-s(\d+)$")


def arm_run_ids(runs_root: str | Path, arm_id: str) -> list[str]:
    """The run ids an id stands for: itself when its folder exists, else the seed runs that a
    profile entry with ``seeds`` made of it (``<arm_id>-s<seed>``, by seed), else itself (then
    reported missing)."""
    root = Path(runs_root)
    if (root / arm_id).is_dir() or not root.is_dir():
        return [arm_id]
    seeded = []
    for folder in root.glob(f"{glob.escape(arm_id)}-s*"):
        match = _SEED_SUFFIX.search(folder.name)
        if folder.is_dir() and match and folder.name[: match.start()] == arm_id:
            seeded.append((int(match.group(1)), folder.name))
    return [name for _, name in sorted(seeded)] or [arm_id]


def arm_of(run_id: str) -> str:
    """The arm a seed run belongs to: ``main-pbc-s2`` -> ``main-pbc`` (other ids unchanged)."""
    return _SEED_SUFFIX.sub("", run_id)


def recorded_runs(runs_root: str | Path) -> list[RunRecord]:
    """Every run folder under ``runs_root`` that has a results.json, by name."""
    return [
        load_run(runs_root, p.parent.name) for p in sorted(Path(runs_root).glob(f"*/{RESULTS}"))
    ]


CROSSVAL_JOIN = "+"
"""Fold arms joined by this are one cross-validation (:mod:`wbcrepro.report.crossval`)."""
POOLED_LOADER: Callable[[str | Path, str], list[RunRecord]] | None = None
"""``(runs_root, "a-f0+a-f1+...") -> pooled records``: registered by
:mod:`wbcrepro.report.crossval` (which reads records, so this module cannot import it)."""


def load_runs(runs_root: str | Path, run_ids: str | Sequence[str]) -> list[RunRecord]:
    """Records of the comma-separated ``run_ids`` in ``runs_root`` (missing ones included); an id
    of a profile entry with ``seeds`` stands for all its seed runs (:func:`arm_run_ids`), and fold
    arms joined by ``+`` for their cross-validation pooled per seed
    (:mod:`wbcrepro.report.crossval`)."""
    out: list[RunRecord] = []
    for arm_id in split_ids(run_ids):
        if CROSSVAL_JOIN in arm_id:
            if POOLED_LOADER is None:  # set when wbcrepro.report.crossval is imported
                raise RuntimeError(f"{arm_id}: import wbcrepro.report to read a cross-validation")
            out += POOLED_LOADER(runs_root, arm_id)
        else:
            out += [load_run(runs_root, run_id) for run_id in arm_run_ids(runs_root, arm_id)]
    return out


# --- text ---------------------------------------------------------------------------------------
def _md_escape(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, index: bool = False) -> str:
    """A DataFrame as a GitHub/MyST markdown table (cells may hold markdown links)."""
    frame = frame.reset_index() if index else frame
    head = "| " + " | ".join(_md_escape(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(_md_escape(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([head, rule, *rows])


def key_value_table(rows: Mapping[str, Any]) -> str:
    """A two-column markdown table of ``name: value`` rows (headers, cards)."""
    return markdown_table(pd.DataFrame({"": list(rows), " ": list(rows.values())}))


def f1_with_ci(rec: RunRecord, split: str = "test") -> str:
    return with_ci(rec.metric("macro_f1", split), rec.interval("macro_f1", split), ".3f")


def link(rec: RunRecord | str) -> str:
    """A relative link to the run's executed notebook ``<run_id>.ipynb`` (beside its run folder,
    where the runner writes it); plain code when that notebook is not there, so that the book
    never holds a dangling link."""
    if isinstance(rec, str):
        return f"`{rec}`"
    if (rec.folder.parent / f"{rec.run_id}.ipynb").is_file():
        return f"[{rec.run_id}]({rec.run_id}.ipynb)"
    return f"`{rec.run_id}`"


def model_text(rec: RunRecord) -> str:
    """Architecture (with the implementation the run recorded), weights and transfer mode."""
    params = rec.params
    arch = params.get("arch", "?")
    impl = rec.results.get("model", {}).get("implementation")
    name = f"{arch} ({impl})" if impl else arch
    return f"{name}, weights {params.get('weights', '?')}, {params.get('transfer', '?')}"


def data_text(rec: RunRecord) -> str:
    text = f"{rec.dataset}, {len(rec.class_names)} classes"
    return f"SYNTHETIC: {text}" if rec.synthetic else text


# --- glue ---------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """numpy scalars -> Python (glue stores the text/plain repr, which must parse as a number)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def glue_markdown(key: str, text: str) -> str:
    """Glue ``text`` as markdown for a ``{glue:md}`` role (links and emphasis render, where a
    ``{glue:text}`` role would show the raw markup); returns it."""
    from IPython.display import Markdown
    from myst_nb import glue

    glue(key, Markdown(text), display=False)
    return text


def glue_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Glue every ``key: value`` (not displayed) for ``{glue:text}`` roles; returns them."""
    from myst_nb import glue

    out = {key: _plain(value) for key, value in values.items()}
    for key, value in out.items():
        glue(key, value, display=False)
    return out
