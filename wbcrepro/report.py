"""Everything the book's notebooks show: headers, tables, plots, verdicts and glued numbers.

The notebooks in ``notebooks/`` stay thin: each cell calls one function of this module, so the
logic is tested here (``tests/test_notebooks.py``) and every notebook shows the same thing in the
same way. Results are read from run folders (:mod:`wbcrepro.runs`); the paper's side comes from
:mod:`wbcrepro.paper`. Nothing here types a number of ours: every figure is computed from a run.

Functions that return a :class:`~matplotlib.figure.Figure` close it first, so a notebook shows it
once (as the cell's value), never twice.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown
from matplotlib.ticker import MaxNLocator

# tqdm.auto (imported by the data pipeline) warns in kernels without ipywidgets; progress bars are
# off in notebooks anyway, and the warning must not be a notebook's first output.
warnings.filterwarnings("ignore", message="IProgress not found")

from wbcrepro import paper  # noqa: E402
from wbcrepro.config import TrainConfig  # noqa: E402
from wbcrepro.metrics import wilson_interval  # noqa: E402
from wbcrepro.runs import METRICS, PARAMS, RESULTS, RunFolderError, fit, read_json  # noqa: E402

SYNTHETIC_BANNER = (
    "> **SYNTHETIC DATA.** The images are procedurally drawn by `wbcrepro.synthetic`, not real "
    "blood cells: these numbers test the pipeline and say nothing about the paper's claims."
)
STATUS_REPRODUCED = "reproduced"
STATUS_PARTLY = "partly reproduced"
STATUS_NOT = "not reproduced"
STATUS_INCONCLUSIVE = "inconclusive"
STATUS_UNTESTABLE = "not testable here"
STATUS_SYNTHETIC = "tested on synthetic data only"
STATUS_NOT_RUN = "not run"

sns.set_theme(context="notebook", style="whitegrid")


# =================================================================================================
# run records
# =================================================================================================
@dataclass
class RunRecord:
    """One run folder as the notebooks read it (``status`` is ``missing`` when there is none)."""

    run_id: str
    folder: Path
    status: str
    results: dict[str, Any] = field(default_factory=dict)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    trained_now: bool = False

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
        info = self.results.get("dataset", {})
        if "synthetic" in info:
            return bool(info["synthetic"])
        return _dataset_is_synthetic(self.params.get("dataset", ""))

    @property
    def class_names(self) -> list[str]:
        return list(self.results.get("dataset", {}).get("class_names", []))

    @property
    def hardware(self) -> str:
        hw = self.results.get("environment", {}).get("hardware", {})
        return hw.get("summary") or "?"

    def report(self, split: str = "test") -> dict[str, Any] | None:
        """The final metrics of ``split`` (``None`` when the run has none)."""
        return self.results.get("final", {}).get(split)

    def metric(self, key: str, split: str = "test") -> float:
        rep = self.report(split)
        value = rep.get(key) if rep else None
        return float(value) if value is not None else float("nan")

    def interval(self, key: str, split: str = "test") -> tuple[float, float]:
        rep = self.report(split)
        ci = rep.get(f"{key}_ci95") if rep else None
        if not ci:
            return (float("nan"), float("nan"))
        return (_float(ci[0]), _float(ci[1]))


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _dataset_is_synthetic(name: str) -> bool:
    from wbcrepro.datasets import REGISTRY

    spec = REGISTRY.get(name)
    return bool(spec and spec.synthetic)


def split_ids(text: str | Sequence[str]) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (a list is returned as is, blanks dropped)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return [item.strip() for item in items if item and item.strip()]


def run_folder(runs_root: str | Path, run_id: str) -> Path:
    """``runs_root/run_id`` (relative paths are taken from the working directory, the repo root)."""
    return Path(runs_root) / run_id


def load_run(runs_root: str | Path, run_id: str) -> RunRecord:
    """Read ``runs_root/run_id``; a missing folder gives a record with status ``missing``."""
    folder = run_folder(runs_root, run_id)
    if not (folder / RESULTS).is_file():
        return RunRecord(run_id, folder, "missing")
    results = read_json(folder / RESULTS)
    history = pd.read_csv(folder / METRICS) if (folder / METRICS).is_file() else pd.DataFrame()
    return RunRecord(run_id, folder, results.get("status", "unknown"), results, history)


def load_runs(runs_root: str | Path, run_ids: str | Sequence[str]) -> list[RunRecord]:
    """Records of the comma-separated ``run_ids`` in ``runs_root`` (missing ones included)."""
    return [load_run(runs_root, run_id) for run_id in split_ids(run_ids)]


def config_from_parameters(namespace: Mapping[str, Any]) -> TrainConfig:
    """The :class:`TrainConfig` of a notebook's parameters (its ``globals()``): the keys that are
    config fields are taken, everything else (``profile``, ``run_id``, modules...) is ignored."""
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig.from_flat({k: v for k, v in namespace.items() if k in names})


def load_or_fit(cfg: TrainConfig, runs_root: str | Path, run_id: str) -> RunRecord:
    """The run ``runs_root/run_id``: loaded when its results.json says complete with the same
    parameters, else trained (or resumed from its checkpoint) with :func:`wbcrepro.runs.fit`.

    A complete run with other parameters is an error: the folder belongs to another experiment.
    """
    folder = run_folder(runs_root, run_id)
    if (folder / RESULTS).is_file():
        saved = read_json(folder / RESULTS)
        if saved.get("status") == "complete":
            mine = cfg.to_flat()
            old = saved.get("params") or read_json(folder / PARAMS)
            differ = sorted(k for k in mine if old.get(k, mine[k]) != mine[k])
            if differ:
                details = ", ".join(f"{k}: {old.get(k)!r} -> {mine[k]!r}" for k in differ)
                raise RunFolderError(
                    f"{folder} holds a complete run with other parameters ({details}); "
                    "delete the folder or choose another run_id"
                )
            return load_run(runs_root, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    fit(cfg, folder, resume=True, progress=False)
    record = load_run(runs_root, run_id)
    record.trained_now = True
    return record


# =================================================================================================
# headers
# =================================================================================================
def _md_escape(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, index: bool = False) -> str:
    """A DataFrame as a GitHub/MyST markdown table (cells may hold markdown links)."""
    frame = frame.reset_index() if index else frame
    head = "| " + " | ".join(_md_escape(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(_md_escape(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([head, rule, *rows])


def header(
    profile: str,
    data: str,
    model: str,
    resolution: str | int,
    epochs: str | int,
    hardware: str,
    synthetic: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Markdown:
    """The first output of every notebook: what produced what follows, in a small table.

    Synthetic data is flagged twice: a banner above the table and ``SYNTHETIC`` in the data row.
    """
    data_cell = f"**SYNTHETIC** ({data})" if synthetic else data
    rows = {
        "profile": profile,
        "data": data_cell,
        "model": model,
        "resolution": f"{resolution} px" if isinstance(resolution, int) else resolution,
        "epochs": epochs,
        "hardware": hardware,
        **(extra or {}),
    }
    table = markdown_table(pd.DataFrame({"": list(rows), " ": list(rows.values())}))
    return Markdown((SYNTHETIC_BANNER + "\n\n" if synthetic else "") + table)


def _model_text(params: Mapping[str, Any]) -> str:
    transfer = params.get("transfer", "?")
    weights = params.get("weights", "?")
    from wbcrepro.models import implementation_of

    arch = params.get("arch", "?")
    impl = implementation_of(arch, params.get("impl", "torchvision"))
    return f"{arch} ({impl}), weights {weights}, {transfer}"


def _current_hardware(device: str = "auto") -> str:
    from wbcrepro.engine import pick_device
    from wbcrepro.environment import hardware

    try:
        return hardware(pick_device(device))["summary"]
    except RuntimeError:
        return hardware(None)["summary"]


def _dataset_text(name: str) -> str:
    from wbcrepro.datasets import REGISTRY

    spec = REGISTRY.get(name)
    return f"{name}: {spec.description}" if spec and spec.description else name


def header_for_config(cfg: TrainConfig, profile: str, run_id: str = "") -> Markdown:
    """Header of an experiment notebook, from its config and the machine it runs on."""
    return header(
        profile,
        _dataset_text(cfg.dataset),
        _model_text(cfg.to_flat()),
        cfg.img_size,
        cfg.epochs,
        _current_hardware(cfg.device),
        synthetic=_dataset_is_synthetic(cfg.dataset),
        extra={"run": f"`{run_id}`"} if run_id else None,
    )


def header_for_data(dataset: str, img_size: int, profile: str) -> Markdown:
    """Header of a data notebook: no model, no epochs."""
    return header(
        profile,
        _dataset_text(dataset),
        "none (data only)",
        img_size,
        "none (no training)",
        _current_hardware(),
        synthetic=_dataset_is_synthetic(dataset),
    )


def _distinct(values: Iterable[Any]) -> str:
    seen: list[str] = []
    for value in values:
        if str(value) not in seen:
            seen.append(str(value))
    return ", ".join(seen) if seen else "none (no run found)"


def header_for_runs(
    records: Sequence[RunRecord], profile: str, extra: Mapping[str, Any] | None = None
) -> Markdown:
    """Header of a notebook that reads runs (ablation, Table 1, claims): their distinct settings."""
    found = [r for r in records if r.status != "missing"]
    synthetic = any(r.synthetic for r in found)
    mixed = synthetic and not all(r.synthetic for r in found)
    data = _distinct(
        f"{r.dataset} (SYNTHETIC)" if mixed and r.synthetic else r.dataset for r in found
    )
    return header(
        profile,
        data,
        _distinct(_model_text(r.params) for r in found),
        _distinct(r.params.get("img_size", "?") for r in found) + " px",
        _distinct(r.params.get("epochs", "?") for r in found),
        _distinct(r.hardware for r in found),
        synthetic=synthetic,
        extra={
            **(extra or {}),
            "runs": ", ".join(f"`{r.run_id}` ({r.status})" for r in records) or "none",
        },
    )


# =================================================================================================
# glue
# =================================================================================================
def _plain(value: Any) -> Any:
    """numpy scalars -> Python (glue stores the text/plain repr, which must parse as a number)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def glue_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Glue every ``key: value`` (not displayed) for ``{glue:text}`` roles; returns them."""
    from myst_nb import glue

    out = {key: _plain(value) for key, value in values.items()}
    for key, value in out.items():
        glue(key, value, display=False)
    return out


# =================================================================================================
# data overview
# =================================================================================================
@dataclass
class Overview:
    """A dataset as its loader reads it (before any split of ours)."""

    spec: Any
    cfg: TrainConfig
    manifest: pd.DataFrame
    classes: tuple[str, ...]
    excluded: pd.DataFrame
    notes: tuple[str, ...]


def load_overview(
    dataset: str,
    data_root: str = "",
    img_size: int = 224,
    synthetic_per_class: int = 100,
    synthetic_size: int = 128,
    data_path: str = "",
) -> Overview:
    """Load ``dataset`` from the data root (``""``: $WBCREPRO_DATA, else ./data); ``data_path``
    is the tree or CSV file of ``dataset='folder'`` / ``'csv'``."""
    from wbcrepro.datasets import get_dataset

    cfg = TrainConfig.from_flat(
        {
            "dataset": dataset,
            "data_root": data_root,
            "img_size": img_size,
            "synthetic_per_class": synthetic_per_class,
            "synthetic_size": synthetic_size,
            "data_path": data_path,
        }
    )
    spec = get_dataset(dataset)
    loaded = spec.load(cfg)
    return Overview(
        spec, cfg, loaded.manifest, tuple(loaded.classes), loaded.excluded, tuple(loaded.notes)
    )


def dataset_card(ov: Overview) -> Markdown:
    """Description, citation, licence, source and published split of the dataset (registry)."""
    spec = ov.spec
    rows = {
        "name": f"`{spec.name}`" + (" (**SYNTHETIC**)" if spec.synthetic else ""),
        "description": spec.description or "none given",
        "classes": ", ".join(ov.classes),
        "maps to the paper's classes": "; ".join(
            f"{k} -> {', '.join(v)}" for k, v in spec.to_paper.items()
        )
        or "(from the data)",
        "citation": spec.citation,
        "licence": spec.licence,
        "source": spec.source,
        "published split": spec.official_split or "none",
        "loader notes": "; ".join(ov.notes) or "none",
    }
    text = markdown_table(pd.DataFrame({"": list(rows), " ": list(rows.values())}))
    return Markdown((SYNTHETIC_BANNER + "\n\n" if spec.synthetic else "") + text)


def _split_column(manifest: pd.DataFrame) -> pd.Series:
    if "split" in manifest.columns and manifest["split"].notna().any():
        return manifest["split"].fillna("none").astype(str)
    return pd.Series("all (no published split)", index=manifest.index)


def class_balance(ov: Overview) -> pd.DataFrame:
    """Images per class (rows) and published split (columns), with totals and shares."""
    counts = pd.crosstab(ov.manifest["label"].rename("class"), _split_column(ov.manifest))
    counts = counts.reindex(list(ov.classes), fill_value=0)
    counts.columns.name = None
    if counts.shape[1] > 1:
        counts["total"] = counts.sum(axis=1)
    total = counts.iloc[:, -1]
    counts["share"] = (total / max(1, total.sum())).round(3)
    return counts


def plot_class_balance(ov: Overview):
    """Bar plot of images per class (coloured by published split where there is one)."""
    frame = pd.DataFrame({"class": ov.manifest["label"], "split": _split_column(ov.manifest)})
    fig, ax = plt.subplots(figsize=(7, 3.2))
    several = frame["split"].nunique() > 1
    sns.countplot(
        data=frame, y="class", hue="split" if several else None, order=list(ov.classes), ax=ax
    )
    if several:
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    ax.set_xlabel("images")
    ax.set_ylabel("")
    ax.set_title(
        f"{ov.spec.name}: images per class" + (" (SYNTHETIC)" if ov.spec.synthetic else "")
    )
    fig.tight_layout()
    plt.close(fig)
    return fig


def sample_grid(ov: Overview, per_class: int = 4, seed: int = 0):
    """A few images per class as the network sees them: Resize -> CenterCrop at ``img_size``."""
    from torchvision.transforms import v2

    from wbcrepro.data import read_image

    size = ov.cfg.img_size
    view = v2.Compose([v2.Resize(ov.cfg.resolved_pre_crop_size), v2.CenterCrop(size)])
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(
        len(ov.classes),
        per_class,
        figsize=(1.6 * per_class, 1.6 * len(ov.classes)),
        squeeze=False,
    )
    for row, name in enumerate(ov.classes):
        paths = ov.manifest.loc[ov.manifest["label"] == name, "path"].tolist()
        chosen = rng.choice(len(paths), size=min(per_class, len(paths)), replace=False)
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if col < len(chosen):
                ax.imshow(view(read_image(paths[int(chosen[col])])))
            if col == 0:
                ax.set_ylabel(name.replace("_", "\n"), fontsize=8)
    title = f"{ov.spec.name}: {per_class} per class at {size} px"
    fig.suptitle(title + (" (SYNTHETIC)" if ov.spec.synthetic else ""), fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def image_sizes(ov: Overview) -> pd.DataFrame:
    """Image sizes (width x height, from the file headers): count per size, most common first."""
    from PIL import Image

    sizes = []
    for path in ov.manifest["path"]:
        with Image.open(path) as img:
            sizes.append(img.size)
    frame = pd.DataFrame(sizes, columns=["width", "height"])
    table = frame.value_counts().rename("images").reset_index()
    table["share"] = (table["images"] / max(1, len(frame))).round(3)
    return table.head(10)


def exclusions(ov: Overview) -> pd.DataFrame:
    """What the loader left out, counted by reason (the text before the first colon)."""
    excluded = ov.excluded
    if excluded is None or not len(excluded):
        return pd.DataFrame({"reason": ["(nothing excluded)"], "items": [0]})
    reasons = excluded["reason"].astype(str).str.replace(r":.*", "", regex=True)
    return reasons.value_counts().rename_axis("reason").rename("items").reset_index()


def glue_overview(ov: Overview) -> dict[str, Any]:
    """Glue ``n_images``, ``n_classes``, ``n_groups``, ``n_excluded`` of the data overview."""
    return glue_values(
        {
            "n_images": len(ov.manifest),
            "n_classes": len(ov.classes),
            "n_groups": int(ov.manifest["group"].nunique()),
            "n_excluded": 0 if ov.excluded is None else len(ov.excluded),
        }
    )


def leakage_summary(ov: Overview, leakage: bool | str) -> Markdown:
    """The Kaggle leakage audit (published split vs a random re-split), when asked for.

    ``leakage`` may come as a string from the command line (``-p leakage false``)."""
    if isinstance(leakage, str):
        leakage = leakage.strip().lower() in ("1", "true", "yes", "on")
    if not leakage:
        return Markdown("Leakage audit not requested for this dataset (`leakage = False`).")
    if ov.spec.name != "kaggle-bloodcells":
        return Markdown(
            f"The leakage audit is implemented for `kaggle-bloodcells` only; `{ov.spec.name}` "
            "is split by source (group-aware) instead."
        )
    from wbcrepro.leakage import kaggle_audit
    from wbcrepro.paths import data_root

    audit = kaggle_audit(data_root(ov.cfg.data_root))
    rows = []
    for key, title in (
        ("published_split", "published TRAIN / TEST"),
        ("random_resplit", "random 80/20 re-split of TRAIN + TEST"),
    ):
        part = audit[key]
        rows.append(
            {
                "split": title,
                "test images": part["n_split"],
                "with a near-copy in train": part["n_leaked"],
                "share": f"{part['fraction_leaked']:.1%}",
                "same label": part["n_leaked_same_label"],
            }
        )
    recall = audit["detector_recall_test_vs_test_simple"]
    note = (
        f"Perceptual hash `{audit['hash']}`, Hamming distance <= {audit['max_distance']} of 64 "
        f"bits, 8 rotations/flips. Detector recall on known copies (TEST vs TEST_SIMPLE): "
        f"{recall['recall']:.1%} of {recall['n_test']}; the augmented copies in TRAIN/TEST are "
        "largely invisible to the hash, so these counts are lower bounds."
    )
    return Markdown(markdown_table(pd.DataFrame(rows)) + "\n\n" + note)


# =================================================================================================
# one experiment
# =================================================================================================
def run_status(rec: RunRecord) -> Markdown:
    """One line: where the run is, whether it was trained now or loaded, how long it took."""
    how = "trained now" if rec.trained_now else "loaded from its results.json"
    seconds = rec.results.get("train_seconds")
    took = f", {seconds / 60:.1f} min of training" if seconds else ""
    return Markdown(
        f"Run `{rec.run_id}` in `{rec.folder}`: **{rec.status}** ({how}; "
        f"{rec.results.get('epochs_completed', len(rec.history))} epochs{took})."
    )


def plot_curves(rec: RunRecord):
    """Loss and accuracy per epoch (train and validation), the lr switch marked."""
    return plot_curves_overlay([rec], vary="")


def _confusion(rec: RunRecord, split: str) -> pd.DataFrame:
    rep = rec.report(split) or {}
    names = rep.get("class_names", rec.class_names)
    matrix = rep.get("confusion_matrix") or [[0] * len(names)] * len(names)
    return pd.DataFrame(matrix, index=names, columns=names)


def plot_confusion(rec: RunRecord, split: str = "test"):
    """Confusion-matrix heatmap (counts; rows = true class, columns = predicted)."""
    matrix = _confusion(rec, split)
    n = len(matrix)
    fig, ax = plt.subplots(figsize=(1.0 * n + 2.5, 0.8 * n + 1.8))
    sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax, square=True)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(
        f"{rec.run_id}: {split} confusion matrix" + (" (SYNTHETIC)" if rec.synthetic else "")
    )
    fig.tight_layout()
    plt.close(fig)
    return fig


def per_class_table(rec: RunRecord, split: str = "test") -> pd.DataFrame:
    """Precision, recall, F1 and support per class of ``split``."""
    rep = rec.report(split) or {}
    rows = [{"class": name, **values} for name, values in rep.get("per_class", {}).items()]
    table = pd.DataFrame(rows, columns=["class", "precision", "recall", "f1", "support"])
    return table.set_index("class").round(3)


def _pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2%}"


def _with_ci(value: float, ci: tuple[float, float], fmt: str = ".2%") -> str:
    """``value [low, high]`` (percent by default; ``fmt=".3f"`` for F1)."""
    if value is None or math.isnan(value):
        return "n/a"
    if any(c is None or math.isnan(c) for c in ci):
        return format(value, fmt)
    return f"{value:{fmt}} [{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def _f1_with_ci(rec: RunRecord, split: str = "test") -> str:
    return _with_ci(rec.metric("macro_f1", split), rec.interval("macro_f1", split), ".3f")


def metrics_table(rec: RunRecord) -> pd.DataFrame:
    """Final validation and test metrics with their 95% intervals."""
    rows = []
    for split in ("val", "test"):
        if rec.report(split) is None:
            continue
        rows.append(
            {
                "split": split,
                "images": int(rec.report(split).get("n", 0)),
                "accuracy [95% Wilson CI]": _with_ci(
                    rec.metric("accuracy", split), rec.interval("accuracy", split)
                ),
                "balanced accuracy": _pct(rec.metric("balanced_accuracy", split)),
                "macro-F1 [95% bootstrap CI]": _f1_with_ci(rec, split),
            }
        )
    return pd.DataFrame(rows).set_index("split") if rows else pd.DataFrame()


def glue_run(rec: RunRecord) -> dict[str, Any]:
    """Glue the run's headline numbers (test and val) for the notebook's prose."""
    acc_lo, acc_hi = rec.interval("accuracy")
    f1_lo, f1_hi = rec.interval("macro_f1")
    test = rec.report("test") or {}
    return glue_values(
        {
            "test_accuracy": rec.metric("accuracy"),
            "test_accuracy_lo": acc_lo,
            "test_accuracy_hi": acc_hi,
            "test_balanced_accuracy": rec.metric("balanced_accuracy"),
            "test_macro_f1": rec.metric("macro_f1"),
            "test_macro_f1_lo": f1_lo,
            "test_macro_f1_hi": f1_hi,
            "test_n": int(test.get("n", 0)),
            "val_accuracy": rec.metric("accuracy", "val"),
            "epochs_completed": int(rec.results.get("epochs_completed", len(rec.history))),
            "train_minutes": float(rec.results.get("train_seconds") or 0.0) / 60,
            "paper_accuracy": paper.PAPER_RESULT["accuracy"],
            "paper_gap_points": 100 * (paper.PAPER_RESULT["accuracy"] - rec.metric("accuracy")),
        }
    )


def describe_split(rec: RunRecord) -> str:
    """How the run's data was split, with the achieved image counts."""
    from wbcrepro.datasets import REGISTRY

    params = rec.params
    counts = rec.results.get("dataset", {}).get("counts", {})
    sizes = "/".join(str(sum(counts.get(s, {}).values())) for s in ("train", "val", "test"))
    spec = REGISTRY.get(rec.dataset)
    if params.get("n_folds"):
        how = f"stratified group {params['n_folds']}-fold, fold {params.get('fold', 0)} as test"
    elif spec is not None and spec.official_split and not spec.official_split.startswith("none"):
        how = f"published ({spec.official_split}); val carved from train"
    else:
        how = f"stratified group split (split_seed {params.get('split_seed', 0)})"
    return f"{how}; train/val/test {sizes} images"


def _data_text(rec: RunRecord) -> str:
    classes = rec.class_names
    text = f"{rec.dataset}, {len(classes)} classes"
    return f"SYNTHETIC: {text}" if rec.synthetic else text


def paper_vs_ours(rec: RunRecord) -> pd.DataFrame:
    """The paper's reported setting and accuracy beside ours, side by side."""
    result = paper.PAPER_RESULT
    params = rec.params
    rows = {
        "data": (
            f"{result['data']}, {result['n_images']:,} images, {result['num_classes']} classes",
            _data_text(rec),
        ),
        "split": (result["split"], describe_split(rec)),
        "model": (result["model"], _model_text(params)),
        "resolution": (f"{result['img_size']} px", f"{params.get('img_size', '?')} px"),
        "epochs": (str(result["epochs"]), str(rec.results.get("epochs_completed", "?"))),
        "hardware": (result["hardware"], rec.hardware),
        "test accuracy": (
            f"{result['accuracy_text']} (no interval reported)",
            _with_ci(rec.metric("accuracy"), rec.interval("accuracy")),
        ),
        "balanced accuracy": ("not reported", _pct(rec.metric("balanced_accuracy"))),
        "macro-F1": ("not reported", _f1_with_ci(rec)),
    }
    return pd.DataFrame(
        rows.values(),
        index=list(rows),
        columns=["paper (Chegodaev 2021, quoted)", f"ours ({rec.run_id})"],
    )


# =================================================================================================
# ablations: several runs side by side
# =================================================================================================
def _value(rec: RunRecord, vary: str) -> Any:
    return rec.params.get(vary, "?") if vary else rec.run_id


def ablation_table(records: Sequence[RunRecord], vary: str) -> pd.DataFrame:
    """One row per run: the varied value, test accuracy and macro-F1 with CIs, per-class recall."""
    rows = []
    for rec in records:
        row: dict[str, Any] = {
            "run": rec.run_id,
            vary or "run": _value(rec, vary),
            "status": rec.status,
        }
        if rec.complete:
            row.update(
                {
                    "data": _data_text(rec),
                    "test images": int((rec.report("test") or {}).get("n", 0)),
                    "accuracy [95% CI]": _with_ci(rec.metric("accuracy"), rec.interval("accuracy")),
                    "macro-F1 [95% CI]": _f1_with_ci(rec),
                    "balanced accuracy": _pct(rec.metric("balanced_accuracy")),
                }
            )
            for name, values in (rec.report("test") or {}).get("per_class", {}).items():
                recall = values.get("recall")
                row[f"recall {name}"] = "n/a" if recall is None else f"{recall:.2f}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()


def plot_ablation(records: Sequence[RunRecord], vary: str):
    """Test accuracy and macro-F1 per run with their 95% intervals as error bars."""
    done = [r for r in records if r.complete]
    labels = [f"{r.run_id}\n{vary}={_value(r, vary)}" for r in done]
    fig, axes = plt.subplots(1, 2, figsize=(max(6, 2.2 * len(done) + 2), 3.6), sharey=True)
    palette = sns.color_palette(n_colors=max(1, len(done)))
    for ax, key, title in (
        (axes[0], "accuracy", "test accuracy (95% Wilson CI)"),
        (axes[1], "macro_f1", "test macro-F1 (95% bootstrap CI)"),
    ):
        values = np.array([r.metric(key) for r in done])
        ci = np.array([r.interval(key) for r in done]).reshape(-1, 2)
        low = np.nan_to_num(values - ci[:, 0], nan=0.0)
        high = np.nan_to_num(ci[:, 1] - values, nan=0.0)
        x = np.arange(len(done))
        ax.bar(x, values, color=palette[: len(done)])
        ax.errorbar(x, values, yerr=[low, high], fmt="none", ecolor="black", capsize=4)
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(title, fontsize=10)
    if any(r.synthetic for r in done):
        fig.suptitle("SYNTHETIC data", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_curves_overlay(records: Sequence[RunRecord], vary: str):
    """Loss and accuracy per epoch of several runs overlaid (train dashed, validation solid)."""
    frames = []
    for rec in records:
        if rec.history.empty:
            continue
        label = rec.run_id if not vary else f"{rec.run_id} ({vary}={_value(rec, vary)})"
        hist = rec.history
        for part, style in (("train", "train"), ("val", "validation")):
            frames.append(
                pd.DataFrame(
                    {
                        "epoch": hist["epoch"],
                        "loss": hist[f"{part}_loss"],
                        "accuracy": hist[f"{part}_accuracy"],
                        "run": label,
                        "set": style,
                    }
                )
            )
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    if frames:
        data = pd.concat(frames, ignore_index=True)
        for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
            sns.lineplot(
                data=data,
                x="epoch",
                y=key,
                hue="run",
                style="set",
                style_order=["train", "validation"],
                dashes={"train": (4, 2), "validation": ""},
                markers={"train": "o", "validation": "s"},
                ax=ax,
                legend=ax is axes[1],
            )
            ax.set_title(key)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlim(0.5, data["epoch"].max() + 0.5)
        for rec in records:
            switch = rec.params.get("lr_switch_epoch")
            if switch and not rec.history.empty and switch <= rec.history["epoch"].max():
                for ax in axes:
                    ax.axvline(switch - 0.5, color="grey", linestyle=":", linewidth=1)
                axes[0].annotate(
                    f"lr -> {rec.params.get('lr_after_switch', 0):.1e}",
                    (switch - 0.5, 1.0),
                    xycoords=("data", "axes fraction"),
                    fontsize=8,
                    va="top",
                )
        axes[1].set_ylim(0, 1.02)
        axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    else:
        for ax in axes:
            ax.text(0.5, 0.5, "no finished epoch", ha="center", transform=ax.transAxes)
    if any(r.synthetic for r in records):
        fig.suptitle("SYNTHETIC data", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def seed_summary(records: Sequence[RunRecord], vary: str = "seed") -> pd.DataFrame | Markdown:
    """Mean, std, min and max over seeds of test accuracy, balanced accuracy and macro-F1."""
    if vary != "seed":
        return Markdown(f"(Not a seed ablation: `{vary}` varies; no mean over seeds.)")
    done = [r for r in records if r.complete]
    rows = {}
    for key, title in (
        ("accuracy", "test accuracy"),
        ("balanced_accuracy", "balanced accuracy"),
        ("macro_f1", "macro-F1"),
    ):
        values = np.array([r.metric(key) for r in done], dtype=float)
        rows[title] = {
            "seeds": len(values),
            "mean": float(np.mean(values)) if len(values) else float("nan"),
            "std": float(np.std(values, ddof=1)) if len(values) > 1 else float("nan"),
            "min": float(np.min(values)) if len(values) else float("nan"),
            "max": float(np.max(values)) if len(values) else float("nan"),
        }
    return pd.DataFrame(rows).T.round(4)


# --- interval comparisons (shared by ablation verdicts and the claims ledger) -------------------
@dataclass(frozen=True)
class Arm:
    """All complete runs with one value of the varied key: mean accuracy and an envelope CI."""

    value: Any
    runs: tuple[RunRecord, ...]

    @property
    def accuracy(self) -> float:
        return float(np.mean([r.metric("accuracy") for r in self.runs]))

    @property
    def interval(self) -> tuple[float, float]:
        """The union of the runs' Wilson intervals (conservative for several seeds)."""
        cis = [r.interval("accuracy") for r in self.runs]
        return (min(c[0] for c in cis), max(c[1] for c in cis))

    def text(self, vary: str) -> str:
        return f"{vary}={self.value}: {_with_ci(self.accuracy, self.interval)}"


def arms(records: Sequence[RunRecord], vary: str) -> list[Arm]:
    """Complete runs grouped by their value of ``vary``, best test accuracy first."""
    groups: dict[str, list[RunRecord]] = {}
    values: dict[str, Any] = {}
    for rec in records:
        if rec.complete and rec.report("test") is not None:
            value = _value(rec, vary)
            groups.setdefault(str(value), []).append(rec)
            values[str(value)] = value
    out = [Arm(values[k], tuple(v)) for k, v in groups.items()]
    return sorted(out, key=lambda a: -a.accuracy)


def beats(a: Arm, b: Arm) -> bool:
    """``a`` is better than ``b``: a's 95% interval lies wholly above b's."""
    return a.interval[0] > b.interval[1]


def _pick(arm_list: list[Arm], expected: Any) -> Arm | None:
    if expected in ("smallest", "largest"):
        try:
            ordered = sorted(arm_list, key=lambda a: float(a.value))
        except (TypeError, ValueError):
            return None
        return ordered[0] if expected == "smallest" else ordered[-1]
    for arm in arm_list:
        if str(arm.value) == str(expected):
            return arm
    return None


def compare(records: Sequence[RunRecord], vary: str, test: str, expected: Any = None):
    """(status, sentence) of a comparison ``test`` (``better``, ``not_worse``, ``equivalent``).

    Two values differ only when their 95% intervals do not overlap, so small test sets give
    ``inconclusive`` rather than a difference that is not there.
    """
    arm_list = arms(records, vary)
    if len(arm_list) < 2:
        return STATUS_NOT_RUN, f"fewer than two values of {vary} with a complete run"
    listing = "; ".join(a.text(vary) for a in arm_list)
    if test == "equivalent":
        pairs = [(a, b) for a in arm_list for b in arm_list if beats(a, b)]
        if pairs:
            a, b = pairs[0]
            return STATUS_NOT, f"{vary}={a.value} beats {vary}={b.value} ({listing})"
        return STATUS_REPRODUCED, f"all 95% intervals overlap ({listing})"
    mine = _pick(arm_list, expected)
    if mine is None:
        return STATUS_NOT_RUN, f"no complete run with {vary}={expected} ({listing})"
    others = [a for a in arm_list if a is not mine]
    if test == "better":
        if all(beats(mine, o) for o in others):
            return STATUS_REPRODUCED, f"{vary}={mine.value} beats every other value ({listing})"
        if any(beats(o, mine) for o in others):
            return STATUS_NOT, f"another value beats {vary}={mine.value} ({listing})"
        if any(beats(mine, o) for o in others):
            return STATUS_PARTLY, f"{vary}={mine.value} beats some values, not all ({listing})"
        return STATUS_INCONCLUSIVE, f"95% intervals overlap ({listing})"
    if test == "not_worse":
        if any(beats(o, mine) for o in others):
            return STATUS_NOT, f"another value beats {vary}={mine.value} ({listing})"
        return STATUS_REPRODUCED, f"no value beats {vary}={mine.value} ({listing})"
    raise ValueError(f"unknown comparison test {test!r}")


def ablation_verdict(records: Sequence[RunRecord], vary: str, claim: str = "") -> str:
    """One line: what the ablation shows (and, for a claim of :mod:`wbcrepro.paper`, its status)."""
    done = [r for r in records if r.complete]
    missing = [r.run_id for r in records if not r.complete]
    tail = f" Not complete: {', '.join(missing)}." if missing else ""
    if len(done) < 2:
        return f"Not enough complete runs to compare ({len(done)} of {len(records)}).{tail}"
    synthetic = (
        " (SYNTHETIC data: says nothing about the paper)" if any(r.synthetic for r in done) else ""
    )
    if vary == "seed":
        acc = np.array([r.metric("accuracy") for r in done])
        return (
            f"Over {len(done)} seeds test accuracy is {acc.mean():.2%} on average (std "
            f"{acc.std(ddof=1):.2%}, range {acc.min():.2%} to {acc.max():.2%}){synthetic}.{tail}"
        )
    arm_list = arms(done, vary)
    best = arm_list[0]
    overlapping = [a for a in arm_list[1:] if not beats(best, a)]
    if len(overlapping) == len(arm_list) - 1:
        line = (
            f"{vary}={best.value} has the highest test accuracy, but its 95% interval overlaps "
            "every other value's: no difference detectable at this test size"
        )
    else:
        worse = ", ".join(str(a.value) for a in arm_list[1:] if beats(best, a))
        line = f"{vary}={best.value} beats {vary}={worse} (non-overlapping 95% intervals)"
    if claim:
        try:
            spec = paper.get_claim(claim)
        except KeyError:
            spec = None
        if spec is not None and spec.test in ("better", "not_worse", "equivalent"):
            status, _ = compare(done, spec.vary or vary, spec.test, spec.expected)
            if synthetic and status != STATUS_NOT_RUN:
                status = f"{STATUS_SYNTHETIC} ({status} there)"
            line += f". Claim `{claim}`: {status}"
    return f"{line}{synthetic}.{tail}"


def glue_ablation(records: Sequence[RunRecord], vary: str, claim: str = "") -> dict[str, Any]:
    """Glue ``verdict``, ``n_runs`` and ``n_complete`` of an ablation."""
    return glue_values(
        {
            "verdict": ablation_verdict(records, vary, claim),
            "n_runs": len(records),
            "n_complete": sum(r.complete for r in records),
        }
    )


# =================================================================================================
# Table 1
# =================================================================================================
def parse_pairs(text: str) -> dict[str, str]:
    """``"kaggle-bloodcells=main-kaggle,bccd=main-bccd"`` -> {dataset: run id}."""
    out: dict[str, str] = {}
    for item in split_ids(text):
        if "=" not in item:
            raise ValueError(f"pair {item!r} is not dataset=run_id")
        dataset, run_id = (part.strip() for part in item.split("=", 1))
        out[dataset] = run_id
    return out


def _link(rec: RunRecord | str) -> str:
    """A relative link to the run's executed notebook ``<run_id>.ipynb`` (beside its run folder,
    where the runner writes it); plain code when that notebook is not there, so that the book
    never holds a dangling link."""
    if isinstance(rec, str):
        return f"`{rec}`"
    if (rec.folder.parent / f"{rec.run_id}.ipynb").is_file():
        return f"[{rec.run_id}]({rec.run_id}.ipynb)"
    return f"`{rec.run_id}`"


def _not_run_reason(row: paper.Table1Row | None, dataset: str | None, rec: RunRecord | None) -> str:
    """Why a Table 1 row has no result of ours beside it."""
    if rec is not None and rec.status != "missing":
        return f"not run: run `{rec.run_id}` is {rec.status}"
    if row is not None and row.reason:
        return f"not run: {row.reason}"
    if rec is not None:
        return f"not run: run `{rec.run_id}` is missing"
    from wbcrepro.datasets import REGISTRY
    from wbcrepro.paths import data_root

    spec = REGISTRY.get(dataset or "")
    if spec is not None and not spec.present(data_root()):
        return f"not run: `{dataset}` is not under the data root"
    return "not run: no run on it in this profile"


def table1(pairs: str | Mapping[str, str], runs_root: str | Path) -> pd.DataFrame:
    """The paper's Table 1, each row beside our run on the same public dataset where we have one.

    Datasets of ``pairs`` that are not in Table 1 are appended as rows of their own.
    """
    mapping = parse_pairs(pairs) if isinstance(pairs, str) else dict(pairs)
    records = {d: load_run(runs_root, r) for d, r in mapping.items()}
    rows = []
    rows_of = [(row, row.dataset) for row in paper.TABLE1]
    rows_of += [(None, d) for d in mapping if d not in {row.dataset for row in paper.TABLE1}]
    for row, dataset in rows_of:
        rec = records.get(dataset) if dataset else None
        out: dict[str, Any] = {
            "study": row.study if row else "(not in Table 1)",
            "data": row.data if row else dataset,
            "n": f"{row.n_images:,}" if row else "",
            "classes": row.num_classes if row else "",
            "method": row.method if row else "",
            "paper accuracy (quoted)": f"{row.accuracy_percent:.2f}%" if row else "",
            "comparability": row.note if row else "our own dataset choice; no paper number",
        }
        if rec is not None and rec.complete:
            out.update(
                {
                    "our run": _link(rec),
                    "our data": _data_text(rec),
                    "split": describe_split(rec),
                    "model": _model_text(rec.params),
                    "size": f"{rec.params.get('img_size', '?')} px",
                    "epochs": str(rec.results.get("epochs_completed", "?")),
                    "hardware": rec.hardware,
                    "our accuracy [95% CI]": _with_ci(
                        rec.metric("accuracy"), rec.interval("accuracy")
                    ),
                    "our macro-F1 [95% CI]": _f1_with_ci(rec),
                }
            )
        else:
            out["our run"] = _not_run_reason(row, dataset, rec)
        rows.append(out)
    columns = [
        "study",
        "data",
        "n",
        "classes",
        "method",
        "paper accuracy (quoted)",
        "our run",
        "our data",
        "split",
        "model",
        "size",
        "epochs",
        "hardware",
        "our accuracy [95% CI]",
        "our macro-F1 [95% CI]",
        "comparability",
    ]
    return pd.DataFrame(rows, columns=columns).astype(object).fillna("")


def table1_markdown(pairs: str | Mapping[str, str], runs_root: str | Path) -> Markdown:
    """:func:`table1` as a markdown table (its run links are clickable)."""
    return Markdown(markdown_table(table1(pairs, runs_root)))


def glue_table1(pairs: str | Mapping[str, str], runs_root: str | Path) -> dict[str, Any]:
    """Glue ``n_rows`` (Table 1 rows plus our extra datasets) and ``n_compared`` (with a run)."""
    table = table1(pairs, runs_root)
    return glue_values(
        {
            "n_rows": len(table),
            "n_paper_rows": len(paper.TABLE1),
            "n_compared": int((~table["our run"].str.startswith("not run")).sum()),
        }
    )


def records_of_pairs(pairs: str, runs_root: str | Path) -> list[RunRecord]:
    """The runs named in ``pairs`` (for the header)."""
    return [load_run(runs_root, r) for r in parse_pairs(pairs).values()]


# =================================================================================================
# claims ledger
# =================================================================================================
def parse_evidence(text: str) -> dict[str, list[str]]:
    """``"transfer=a|b;accuracy=c"`` -> {claim id: [run ids]}."""
    out: dict[str, list[str]] = {}
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        if "=" not in item:
            raise ValueError(f"evidence {item!r} is not claim_id=run_id|run_id")
        claim, runs = (part.strip() for part in item.split("=", 1))
        out[claim] = [r.strip() for r in runs.split("|") if r.strip()]
    return out


def _threshold_status(claim: paper.Claim, records: Sequence[RunRecord]) -> tuple[str, list[str]]:
    verdicts, lines = [], []
    for rec in records:
        for split in claim.splits:
            value = rec.metric(claim.metric, split)
            lo, hi = rec.interval(claim.metric, split)
            if math.isnan(value):
                continue
            if value >= claim.threshold:
                verdict = "meets"
            elif not math.isnan(hi) and hi < claim.threshold:
                verdict = "below"
            else:
                verdict = "undecided"
            verdicts.append(verdict)
            lines.append(
                f"{_link(rec)} ({rec.dataset}) {split} {claim.metric} "
                f"{_with_ci(value, (lo, hi))}: {verdict}"
            )
    return _combine(verdicts), lines


def _per_class_status(claim: paper.Claim, records: Sequence[RunRecord]) -> tuple[str, list[str]]:
    verdicts, lines = [], []
    for rec in records:
        per_class = (rec.report("test") or {}).get("per_class", {})
        if not all(c in per_class for c in claim.classes):
            lines.append(f"{_link(rec)} ({rec.dataset}): lacks {', '.join(claim.classes)}")
            continue
        for name in claim.classes:
            recall, support = per_class[name].get("recall"), per_class[name].get("support", 0)
            if recall is None or not support:
                continue
            lo, hi = wilson_interval(round(recall * support), support)
            verdict = (
                "meets"
                if recall >= claim.threshold
                else "below"
                if hi < claim.threshold
                else "undecided"
            )
            verdicts.append(verdict)
            lines.append(
                f"{_link(rec)} ({rec.dataset}) recall {name} "
                f"{_with_ci(recall, (lo, hi))} of {support}: {verdict}"
            )
    if not verdicts:
        return STATUS_UNTESTABLE, [*lines, f"no evidence run has {', '.join(claim.classes)}"]
    return _combine(verdicts), lines


def _combine(verdicts: Sequence[str]) -> str:
    if not verdicts:
        return STATUS_NOT_RUN
    if all(v == "meets" for v in verdicts):
        return STATUS_REPRODUCED
    if all(v == "below" for v in verdicts):
        return STATUS_NOT
    if "meets" in verdicts and "below" in verdicts:
        return STATUS_PARTLY
    return STATUS_INCONCLUSIVE


def claim_verdict(claim: paper.Claim, records: Sequence[RunRecord]) -> tuple[str, str]:
    """(status, evidence as markdown) of one claim from its evidence runs.

    Synthetic runs never make a claim "reproduced": when only synthetic runs are there the status
    is ``tested on synthetic data only`` (with what they showed); real runs, when present, decide
    alone.
    """
    if claim.test == "untestable":
        return STATUS_UNTESTABLE, claim.reason
    missing = [r.run_id for r in records if not r.complete]
    done = [r for r in records if r.complete]
    real = [r for r in done if not r.synthetic]
    used = real or done
    notes = [f"not complete: {', '.join(missing)}"] if missing else []
    if real and len(real) < len(done):
        notes.append("synthetic runs ignored: " + ", ".join(r.run_id for r in done if r.synthetic))
    if not used:
        return STATUS_NOT_RUN, "; ".join(notes) or "no evidence run in this profile"
    if claim.test == "threshold":
        status, lines = _threshold_status(claim, used)
    elif claim.test == "per_class":
        status, lines = _per_class_status(claim, used)
    else:
        status, sentence = compare(used, claim.vary, claim.test, claim.expected)
        lines = [sentence, "runs: " + ", ".join(_link(r) for r in used)]
    if not real and status not in (STATUS_NOT_RUN, STATUS_UNTESTABLE):
        status = f"{STATUS_SYNTHETIC} ({status} there)"
    return status, "<br>".join(lines + notes)


def claims_ledger(
    evidence: str | Mapping[str, Sequence[str]], runs_root: str | Path
) -> pd.DataFrame:
    """Every claim of :data:`wbcrepro.paper.CLAIMS` with its status and evidence."""
    mapping = parse_evidence(evidence) if isinstance(evidence, str) else dict(evidence)
    rows = []
    for claim in paper.CLAIMS:
        records = [load_run(runs_root, r) for r in mapping.get(claim.id, [])]
        if claim.test != "untestable" and not records:
            status, detail = STATUS_NOT_RUN, "no evidence run named for it in this profile"
        else:
            status, detail = claim_verdict(claim, records)
        rows.append(
            {
                "claim": f"`{claim.id}`",
                "the paper says": claim.text,
                "how we test it": claim.how,
                "status": f"**{status}**",
                "evidence": detail,
            }
        )
    known = {c.id for c in paper.CLAIMS}
    for claim_id in mapping:
        if claim_id not in known:
            rows.append(
                {
                    "claim": f"`{claim_id}`",
                    "the paper says": "(not a claim in wbcrepro.paper)",
                    "how we test it": "",
                    "status": "**unknown claim id**",
                    "evidence": ", ".join(_link(r) for r in mapping[claim_id]),
                }
            )
    return pd.DataFrame(rows)


def ledger_markdown(ledger: pd.DataFrame) -> Markdown:
    """The ledger as a markdown table (run links are clickable)."""
    return Markdown(markdown_table(ledger))


def glue_ledger(ledger: pd.DataFrame) -> dict[str, Any]:
    """Glue the number of claims per status (``n_claims``, ``n_reproduced``, ...)."""
    statuses = ledger["status"].str.strip("*")
    return glue_values(
        {
            "n_claims": len(ledger),
            "n_reproduced": int((statuses == STATUS_REPRODUCED).sum()),
            "n_not_reproduced": int((statuses == STATUS_NOT).sum()),
            "n_partly": int((statuses == STATUS_PARTLY).sum()),
            "n_inconclusive": int((statuses == STATUS_INCONCLUSIVE).sum()),
            "n_untestable": int((statuses == STATUS_UNTESTABLE).sum()),
            "n_synthetic_only": int(statuses.str.startswith(STATUS_SYNTHETIC).sum()),
            "n_not_run": int((statuses == STATUS_NOT_RUN).sum()),
        }
    )


def records_of_evidence(evidence: str, runs_root: str | Path) -> list[RunRecord]:
    """Every distinct run named in ``evidence`` (for the header)."""
    ids: list[str] = []
    for runs in parse_evidence(evidence).values():
        ids += [r for r in runs if r not in ids]
    return [load_run(runs_root, r) for r in ids]
