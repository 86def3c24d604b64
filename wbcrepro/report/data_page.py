"""The data page: one dataset as its loader reads it, before any split of ours.

No model is trained here. The leakage audit is not run here either (it takes half an hour on two
CPU cores): :mod:`wbcrepro.report.leakage_page` shows the JSON that ``wbcrepro data leakage``
wrote.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown
from PIL import Image, ImageOps

from wbcrepro.config import TrainConfig
from wbcrepro.report.records import SYNTHETIC_BANNER, glue_values, key_value_table

# tqdm.auto (imported by the dataset loaders' image pipeline) warns in kernels without ipywidgets;
# progress bars are off in notebooks anyway, and the warning must not be a page's first output.
warnings.filterwarnings("ignore", message="IProgress not found")


@dataclass
class Overview:
    """A dataset as its loader reads it (before any split of ours)."""

    spec: Any
    cfg: TrainConfig
    manifest: pd.DataFrame
    classes: tuple[str, ...]
    excluded: pd.DataFrame
    notes: tuple[str, ...]

    @property
    def title(self) -> str:
        return self.spec.name + (" (SYNTHETIC)" if self.spec.synthetic else "")


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
    from wbcrepro.data.datasets import get_dataset  # the loaders: imported when a page needs them

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
    return Markdown((SYNTHETIC_BANNER + "\n\n" if spec.synthetic else "") + key_value_table(rows))


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
    ax.set_title(f"{ov.title}: images per class")
    fig.tight_layout()
    plt.close(fig)
    return fig


def eval_view(path: str, img_size: int, pre_crop_size: int) -> Image.Image:
    """The image as the evaluation transform frames it: shorter side resized to
    ``pre_crop_size``, centre crop of ``img_size`` (PIL's ``ImageOps.fit`` with the matching
    border: the same region, without importing the training pipeline)."""
    with Image.open(path) as img:
        rgb = img.convert("RGB")
    bleed = max(0.0, (1 - img_size / pre_crop_size) / 2)
    return ImageOps.fit(rgb, (img_size, img_size), Image.Resampling.BILINEAR, bleed)


def sample_grid(ov: Overview, per_class: int = 4, seed: int = 0):
    """A few images per class as the network sees them: Resize -> CenterCrop at ``img_size``."""
    size, pre = ov.cfg.img_size, ov.cfg.resolved_pre_crop_size
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
                ax.imshow(eval_view(paths[int(chosen[col])], size, pre))
            if col == 0:
                ax.set_ylabel(name.replace("_", "\n"), fontsize=8)
    fig.suptitle(f"{ov.title}: {per_class} per class at {size} px", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def image_sizes(ov: Overview) -> pd.DataFrame:
    """Image sizes (width x height, from the file headers): count per size, most common first."""
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
