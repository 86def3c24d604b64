"""What ``wbcrepro data list`` and ``wbcrepro data check`` show: what is there, what is wrong."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from wbcrepro.config import TrainConfig
from wbcrepro.data.datasets import REGISTRY, get_dataset
from wbcrepro.data.images import ImageReadError, read_image
from wbcrepro.paths import data_root


def list_datasets(root: Path | None = None) -> pd.DataFrame:
    """One row per registered dataset: classes, licence, whether it is under the data root."""
    root = root or data_root()
    rows = []
    for name, spec in sorted(REGISTRY.items()):
        rows.append(
            {
                "name": name,
                "classes": ", ".join(spec.classes) if spec.classes else "(from the data)",
                "size": spec.description,
                "licence": spec.licence if len(spec.licence) <= 40 else spec.licence[:37] + "...",
                "present": "generated"
                if spec.synthetic
                else ("yes" if spec.present(root) else "no"),
                "download": "yes" if spec.downloads else "by hand",
            }
        )
    return pd.DataFrame(rows)


def check_dataset(cfg: TrainConfig, decode: bool = True, progress: bool = False) -> dict[str, Any]:
    """Counts per class and split, image sizes, exclusions and unreadable files of one dataset.

    With ``decode`` every image is fully decoded (finds truncated files); without it only the
    headers are read (fast).
    """
    spec = get_dataset(cfg.dataset)
    loaded = spec.load(cfg)
    manifest = loaded.manifest
    split = manifest["split"] if "split" in manifest.columns else pd.Series("all", manifest.index)
    counts = pd.crosstab(manifest["label"].rename("class"), split.rename("split"))
    counts = counts.reindex(list(loaded.classes), fill_value=0)
    sizes: Counter[tuple[int, int]] = Counter()
    problems: list[dict[str, str]] = []
    for path in tqdm(manifest["path"], desc=f"check {spec.name}", disable=not progress):
        try:
            if decode:
                sizes[read_image(path).size] += 1
            else:
                with Image.open(path) as img:
                    sizes[img.size] += 1
        except (ImageReadError, OSError) as err:
            problems.append({"path": str(path), "problem": str(err)})
    return {
        "dataset": spec.name,
        "root": str(data_root(cfg.data_root)),
        "images": len(manifest),
        "groups": int(manifest["group"].nunique()),
        "classes": list(loaded.classes),
        "counts": counts,
        "image_sizes": dict(sizes.most_common(5)),
        "distinct_sizes": len(sizes),
        "width_range": [
            min((w for w, _ in sizes), default=0),
            max((w for w, _ in sizes), default=0),
        ],
        "height_range": [
            min((h for _, h in sizes), default=0),
            max((h for _, h in sizes), default=0),
        ],
        "excluded": loaded.excluded,
        "problems": problems,
        "notes": list(loaded.notes),
    }


def format_check(report: dict[str, Any]) -> str:
    """The check report as text for the terminal."""
    lines = [
        f"dataset {report['dataset']} under {report['root']}: {report['images']} images, "
        f"{report['groups']} groups (sources), {len(report['classes'])} classes",
        "",
        report["counts"].to_string(),
        "",
        f"image sizes: {report['distinct_sizes']} distinct, width {report['width_range'][0]}-"
        f"{report['width_range'][1]}, height {report['height_range'][0]}-"
        f"{report['height_range'][1]}; most common: "
        + ", ".join(f"{w}x{h} ({n})" for (w, h), n in report["image_sizes"].items()),
    ]
    excluded = report["excluded"]
    if len(excluded):
        lines += ["", f"excluded by the loader: {len(excluded)}"]
        reasons = excluded["reason"].str.replace(r":.*", "", regex=True).value_counts()
        lines += [f"  {n:5d}  {reason}" for reason, n in reasons.items()]
    lines += ["", f"unreadable images: {len(report['problems'])}"]
    lines += [f"  {p['path']}: {p['problem']}" for p in report["problems"][:20]]
    lines += [f"note: {note}" for note in report["notes"]]
    return "\n".join(lines)
