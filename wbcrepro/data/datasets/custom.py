"""Students' own data: an ImageFolder tree (``folder``) or a manifest file (``csv``).

``data_path`` is absolute, or relative to the data root.

* ``folder``: ``<data_path>/<class>/<image>`` (images may sit in subfolders of a class folder).
  Classes are the normalised class-folder names, sorted. The group of an image is its file stem,
  unless ``<data_path>/groups.csv`` (header ``path,group``; paths relative to the tree root)
  exists: then every image must be listed there. An empty class folder is an error.
* ``csv``: a file with header ``path,label[,group][,split]``; relative paths resolve against the
  CSV's folder; a missing group is the file stem; ``split`` (if the column exists, on every row)
  is ``train``, ``val`` or ``test`` (``valid``/``validation`` are read as ``val``). Classes are the
  sorted unique normalised labels.
"""

from __future__ import annotations

import csv
from pathlib import Path

from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.data.datasets.common import (
    FIVE_CLASS_TO_PAPER,
    excluded_frame,
    manifest_frame,
    normalise_label,
)
from wbcrepro.data.datasets.registry import DatasetError, DatasetSpec, Loaded, register
from wbcrepro.data.images import is_image

SPLIT_VALUES = {"train": "train", "val": "val", "test": "test", "valid": "val", "validation": "val"}
GROUPS_FILE = "groups.csv"
_SYSTEM = ("__MACOSX", ".ipynb_checkpoints")
NAMED_TO_PAPER: dict[str, tuple[str, ...]] = {
    **FIVE_CLASS_TO_PAPER,
    **{c: (c,) for c in PAPER_CLASSES},
}
"""Own classes named like the paper's (or plain 'neutrophil') map onto them; others map to none."""


def resolve_data_path(root: Path, data_path: str, dataset: str) -> Path:
    """``data_path`` (absolute, or relative to the data root) as a path that exists."""
    if not data_path:
        raise DatasetError(f"dataset {dataset!r} needs data_path= (the tree or the CSV file)")
    path = Path(data_path).expanduser()
    if not path.is_absolute():
        path = root / path
    if not path.exists():
        raise DatasetError(f"data_path not found: {path} (data_path={data_path!r})")
    return path


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (line number, row) pairs of a CSV file; raises naming the file."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            rows = []
            for row in reader:
                if not any((v or "").strip() for k, v in row.items() if k is not None):
                    continue  # a blank line
                rows.append(
                    (
                        reader.line_num,
                        {k: (v or "").strip() for k, v in row.items() if k is not None},
                    )
                )
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DatasetError(f"cannot read {path}: {err}") from err
    return header, rows


def _read_groups(tree: Path) -> dict[Path, str] | None:
    table = tree / GROUPS_FILE
    if not table.is_file():
        return None
    header, rows = _read_csv(table)
    if not {"path", "group"} <= set(header):
        raise DatasetError(f"{table}: header must be 'path,group', got {','.join(header)}")
    groups: dict[Path, str] = {}
    for line, row in rows:
        if not row["path"] or not row["group"]:
            raise DatasetError(f"{table} line {line}: empty path or group")
        image = Path(row["path"])
        image = (image if image.is_absolute() else tree / image).resolve()
        if not image.is_file():
            raise DatasetError(f"{table} line {line}: image file not found: {image}")
        groups[image] = row["group"]
    return groups


def load_folder(root: Path, *, data_path: str) -> Loaded:
    tree = resolve_data_path(root, data_path, "folder")
    if not tree.is_dir():
        raise DatasetError(f"data_path for dataset 'folder' must be a folder: {tree}")
    excluded: list[tuple[str, str]] = []
    class_dirs: dict[str, Path] = {}
    for entry in sorted(tree.iterdir()):
        if entry.name.startswith(".") or entry.name in _SYSTEM:
            excluded.append((str(entry), "hidden or system file/folder"))
        elif entry.is_file():
            if entry.name != GROUPS_FILE:
                excluded.append((str(entry), "not in a class folder"))
        else:
            label = normalise_label(entry.name)
            if not label:
                raise DatasetError(f"class folder name gives an empty label: {entry}")
            if label in class_dirs:
                raise DatasetError(
                    f"class folders {class_dirs[label]} and {entry} both normalise to {label!r}"
                )
            class_dirs[label] = entry
    if not class_dirs:
        raise DatasetError(f"no class folder in {tree} (expected <class>/<image> subfolders)")
    groups = _read_groups(tree)
    rows: list[dict] = []
    ungrouped: list[str] = []
    for label in sorted(class_dirs):
        folder = class_dirs[label]
        images = 0
        for path in sorted(folder.rglob("*")):
            if path.is_dir():
                continue
            if any(p.startswith(".") or p in _SYSTEM for p in path.relative_to(folder).parts):
                excluded.append((str(path), "hidden or system file/folder"))
                continue
            if not is_image(path):
                excluded.append((str(path), "not an image file"))
                continue
            images += 1
            group = path.stem
            if groups is not None:
                key = path.resolve()
                if key not in groups:
                    ungrouped.append(str(path))
                    continue
                group = groups[key]
            rows.append({"path": str(path), "label": label, "group": group})
        if images == 0:
            raise DatasetError(f"class folder {folder} has no image (class {label!r})")
    if ungrouped:
        raise DatasetError(
            f"{tree / GROUPS_FILE} gives no group for {len(ungrouped)} image(s), e.g. "
            f"{ungrouped[0]}; list every image there (or delete it to group by file stem)"
        )
    return Loaded(manifest_frame(rows), tuple(sorted(class_dirs)), excluded_frame(excluded))


def load_csv(root: Path, *, data_path: str) -> Loaded:
    table = resolve_data_path(root, data_path, "csv")
    if not table.is_file():
        raise DatasetError(f"data_path for dataset 'csv' must be a CSV file: {table}")
    header, records = _read_csv(table)
    missing = [c for c in ("path", "label") if c not in header]
    if missing:
        raise DatasetError(
            f"{table}: header lacks column(s) {', '.join(missing)} "
            f"(expected path,label[,group][,split]; got {','.join(header)})"
        )
    extra = [c for c in header if c not in ("path", "label", "group", "split")]
    has_split = "split" in header
    base = table.parent
    rows: list[dict] = []
    seen: dict[Path, int] = {}
    for line, record in records:
        where = f"{table} line {line}"
        if not record["path"]:
            raise DatasetError(f"{where}: empty path")
        image = Path(record["path"]).expanduser()
        image = image if image.is_absolute() else base / image
        if not image.is_file():
            raise DatasetError(f"{where}: image file not found: {image}")
        if not is_image(image):
            raise DatasetError(f"{where}: not an image file (by its suffix): {image}")
        key = image.resolve()
        if key in seen:
            raise DatasetError(f"{where}: image {image} is listed twice (also line {seen[key]})")
        seen[key] = line
        label = normalise_label(record["label"])
        if not label:
            raise DatasetError(f"{where}: empty label")
        row = {"path": str(image), "label": label, "group": record.get("group") or image.stem}
        if has_split:
            value = record.get("split", "").lower()
            if value not in SPLIT_VALUES:
                raise DatasetError(
                    f"{where}: unknown split {record.get('split', '')!r} "
                    "(expected train, val or test on every row)"
                )
            row["split"] = SPLIT_VALUES[value]
        rows.append(row)
    if not rows:
        raise DatasetError(f"{table}: no rows")
    notes = (f"columns ignored: {', '.join(extra)}",) if extra else ()
    classes = tuple(sorted({r["label"] for r in rows}))
    return Loaded(manifest_frame(rows), classes, excluded_frame(), notes=notes)


register(
    DatasetSpec(
        name="folder",
        classes=None,
        to_paper=dict(NAMED_TO_PAPER),
        citation="your own data (cite its source)",
        licence="that of your own data",
        source="local: data_path= an ImageFolder tree <class>/<image>",
        folder="",
        loader=load_folder,
        options=("data_path",),
        description="Any ImageFolder tree at data_path (absolute or relative to the data root). "
        "Classes are the normalised subfolder names (sorted); group = file stem, or the group "
        "given in groups.csv (path,group) at the tree root. Map class names onto the paper's "
        "classes (segmented_neutrophil, band_neutrophil, eosinophil, basophil, monocyte, "
        "lymphocyte) by naming the folders so.",
        official_split="none (random group split)",
    )
)

register(
    DatasetSpec(
        name="csv",
        classes=None,
        to_paper=dict(NAMED_TO_PAPER),
        citation="your own data (cite its source)",
        licence="that of your own data",
        source="local: data_path= a CSV file path,label[,group][,split]",
        folder="",
        loader=load_csv,
        options=("data_path",),
        description="A manifest file at data_path with header path,label[,group][,split]; "
        "relative paths resolve against the CSV's folder; classes = the sorted normalised labels; "
        "a missing group is the file stem.",
        official_split="the CSV's split column, where it has one (train/val/test)",
    )
)
