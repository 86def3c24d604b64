"""Tests for the embedded synthetic dataset (wbcrepro.data.synthetic).

Besides layout, caching and determinism, the class features are checked on the pixels with simple
colour thresholds, so that a drawing regression that makes two classes look alike is caught.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.data.synthetic import (
    SYNTHETIC_NAME,
    SYNTHETIC_VERSION,
    draw_cell,
    generate_synthetic,
    image_rng,
)

# ---------------------------------------------------------------------------------------------
# Layout, metadata, caching, determinism
# ---------------------------------------------------------------------------------------------


def _png_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_layout_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    df = generate_synthetic(out, per_class=2, size=64, seed=3)

    assert list(df.columns) == ["path", "label", "group"]
    assert len(df) == 2 * len(PAPER_CLASSES)
    assert df["label"].value_counts().to_dict() == {c: 2 for c in PAPER_CLASSES}
    assert df["group"].is_unique
    assert all(g.startswith(f"{SYNTHETIC_NAME}-") for g in df["group"])
    for path, label in zip(df["path"], df["label"], strict=True):
        p = Path(path)
        assert p.is_absolute() and p.is_file()
        assert p.parent == (out / label).resolve()
        assert p.name in {f"{label}_0000.png", f"{label}_0001.png"}
        with Image.open(p) as im:
            assert im.mode == "RGB" and im.size == (64, 64)
    # Exactly the class folders plus the metadata file; no temporary directory left behind.
    assert sorted(x.name for x in out.iterdir()) == sorted([*PAPER_CLASSES, "synthetic.json"])
    assert [x.name for x in tmp_path.iterdir()] == ["syn"]


def test_metadata_json(tmp_path: Path) -> None:
    generate_synthetic(tmp_path / "syn", per_class=1, size=48, seed=11)
    meta = json.loads((tmp_path / "syn" / "synthetic.json").read_text())
    assert meta == {
        "name": "synthetic",
        "per_class": 1,
        "size": 48,
        "seed": 11,
        "classes": list(PAPER_CLASSES),
        "generator_version": SYNTHETIC_VERSION,
        "note": "synthetic images drawn by wbcrepro.data.synthetic; not real blood cells",
    }


def test_deterministic_and_seed_sensitive(tmp_path: Path) -> None:
    generate_synthetic(tmp_path / "a", per_class=2, size=64, seed=5)
    generate_synthetic(tmp_path / "b", per_class=2, size=64, seed=5)
    generate_synthetic(tmp_path / "c", per_class=2, size=64, seed=6)
    a = _png_bytes(tmp_path / "a")
    b = _png_bytes(tmp_path / "b")
    c = _png_bytes(tmp_path / "c")
    assert len(a) == 12
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a)


def test_image_rng_makes_each_image_reproducible() -> None:
    x = np.asarray(draw_cell("monocyte", image_rng(1, 4, 7), 64))
    y = np.asarray(draw_cell("monocyte", image_rng(1, 4, 7), 64))
    z = np.asarray(draw_cell("monocyte", image_rng(1, 4, 8), 64))
    assert x.shape == (64, 64, 3) and x.dtype == np.uint8
    assert np.array_equal(x, y)
    assert not np.array_equal(x, z)


def test_per_class_prefix_is_stable(tmp_path: Path) -> None:
    # Per-image seeding: growing the dataset keeps the images it already had.
    generate_synthetic(tmp_path / "small", per_class=1, size=48, seed=2)
    generate_synthetic(tmp_path / "big", per_class=2, size=48, seed=2)
    small = _png_bytes(tmp_path / "small")
    big = _png_bytes(tmp_path / "big")
    assert all(big[k] == v for k, v in small.items())


def test_cache_is_reused_and_parameter_change_regenerates(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    df1 = generate_synthetic(out, per_class=1, size=48, seed=0)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    inodes = {p: p.stat().st_ino for p in out.rglob("*.png")}

    df2 = generate_synthetic(out, per_class=1, size=48, seed=0)
    assert df2.equals(df1)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps
    assert {p: p.stat().st_ino for p in out.rglob("*.png")} == inodes

    df3 = generate_synthetic(out, per_class=2, size=48, seed=0)
    assert len(df3) == 2 * len(PAPER_CLASSES)
    assert all(Path(p).is_file() for p in df3["path"])
    assert json.loads((out / "synthetic.json").read_text())["per_class"] == 2
    df4 = generate_synthetic(out, per_class=2, size=56, seed=0)
    with Image.open(df4["path"].iloc[0]) as im:
        assert im.size == (56, 56)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["syn"]


def test_cache_with_missing_file_raises_naming_it(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    generate_synthetic(out, per_class=1, size=48, seed=0)
    victim = out / "basophil" / "basophil_0000.png"
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=r"basophil_0000\.png"):
        generate_synthetic(out, per_class=1, size=48, seed=0)


def test_refuses_to_overwrite_foreign_directory(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("do not delete")
    with pytest.raises(FileExistsError, match=r"synthetic\.json"):
        generate_synthetic(out, per_class=1, size=48)
    assert (out / "precious.txt").read_text() == "do not delete"


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"per_class": 0}, "per_class"),
        ({"per_class": -3}, "per_class"),
        ({"per_class": 2.5}, "per_class"),
        ({"size": 31}, "size"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_parameters(tmp_path: Path, kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        generate_synthetic(tmp_path / "syn", **kwargs)
    assert not (tmp_path / "syn").exists()


def test_unknown_class_names_it_and_lists_valid() -> None:
    with pytest.raises(ValueError) as err:
        draw_cell("neutrophil", np.random.default_rng(0))
    msg = str(err.value)
    assert "'neutrophil'" in msg
    assert all(c in msg for c in PAPER_CLASSES)


# ---------------------------------------------------------------------------------------------
# Morphology measured on pixels
# ---------------------------------------------------------------------------------------------

N_PER_CLASS = 10
SIZE = 80


@pytest.fixture(scope="module")
def samples() -> dict[str, list[np.ndarray]]:
    return {
        c: [
            np.asarray(draw_cell(c, image_rng(2024, ci, i), SIZE), dtype=np.int32)
            for i in range(N_PER_CLASS)
        ]
        for ci, c in enumerate(PAPER_CLASSES)
    }


def _orange_red(a: np.ndarray) -> np.ndarray:
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    # Orange has green clearly above blue; the pink RBCs have green ~ blue.
    return (r - b > 90) & (g - b > 15)


def _very_dark_purple(a: np.ndarray) -> np.ndarray:
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return (r + g + b < 180) & (b > r)


def _dark_nucleus(a: np.ndarray) -> np.ndarray:
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return (r < 150) & (g < 110) & (b - g > 40)


def _bluish_cell(a: np.ndarray) -> np.ndarray:
    # WBC cytoplasm and nuclei are bluer than red; background and RBCs are redder than blue.
    return a[..., 2] - a[..., 0] > 10


def _erode(mask: np.ndarray) -> np.ndarray:
    """3x3 binary erosion: cuts the thin strands that join lobes."""
    p = np.pad(mask, 1, constant_values=False)
    h, w = mask.shape
    out = np.ones_like(mask)
    for dy in range(3):
        for dx in range(3):
            out &= p[dy : dy + h, dx : dx + w]
    return out


def _component_sizes(mask: np.ndarray) -> list[int]:
    """Sizes of 8-connected components (tiny BFS, no scipy needed)."""
    seen = np.zeros_like(mask)
    h, w = mask.shape
    sizes = []
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        queue, n = deque([(y0, x0)]), 0
        while queue:
            y, x = queue.popleft()
            n += 1
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not seen[yy, xx]:
                        seen[yy, xx] = True
                        queue.append((yy, xx))
        sizes.append(n)
    return sizes


def _lobes(a: np.ndarray) -> int:
    return sum(s >= 4 for s in _component_sizes(_erode(_dark_nucleus(a))))


def _mean(samples: dict[str, list[np.ndarray]], cls: str, feature) -> float:
    return float(np.mean([feature(a).mean() for a in samples[cls]]))


def test_component_helpers() -> None:
    m = np.zeros((10, 10), dtype=bool)
    m[0:3, 0:3] = True
    m[6:9, 6:10] = True
    m[0, 9] = True
    assert sorted(_component_sizes(m)) == [1, 9, 12]
    assert _erode(m).sum() == 1 + 2


def test_eosinophils_have_most_orange_red(samples: dict[str, list[np.ndarray]]) -> None:
    eos = _mean(samples, "eosinophil", _orange_red)
    others = max(_mean(samples, c, _orange_red) for c in PAPER_CLASSES if c != "eosinophil")
    assert eos > 0.04
    assert eos > 3 * others
    # And every single eosinophil shows its granules.
    assert min(_orange_red(a).mean() for a in samples["eosinophil"]) > 0.02


def test_basophils_have_most_very_dark_purple(samples: dict[str, list[np.ndarray]]) -> None:
    baso = _mean(samples, "basophil", _very_dark_purple)
    others = max(_mean(samples, c, _very_dark_purple) for c in PAPER_CLASSES if c != "basophil")
    assert baso > 0.005
    assert baso > 2 * others


def test_lymphocyte_nucleus_smaller_than_monocyte(samples: dict[str, list[np.ndarray]]) -> None:
    lympho_nucleus = np.median([_dark_nucleus(a).mean() for a in samples["lymphocyte"]])
    mono_cell = np.median([_bluish_cell(a).mean() for a in samples["monocyte"]])
    lympho_cell = np.median([_bluish_cell(a).mean() for a in samples["lymphocyte"]])
    assert lympho_nucleus < 0.5 * mono_cell
    # The lymphocyte is small and mostly nucleus; the monocyte is the largest cell.
    assert lympho_nucleus > 0.4 * lympho_cell
    assert mono_cell == max(
        np.median([_bluish_cell(a).mean() for a in samples[c]]) for c in PAPER_CLASSES
    )


def test_segmented_has_more_lobes_than_band(samples: dict[str, list[np.ndarray]]) -> None:
    seg = [_lobes(a) for a in samples["segmented_neutrophil"]]
    band = [_lobes(a) for a in samples["band_neutrophil"]]
    seg_multi = np.mean([n >= 3 for n in seg])
    band_multi = np.mean([n >= 3 for n in band])
    assert seg_multi >= 0.6, seg
    assert band_multi <= 0.2, band
    assert np.mean([n == 1 for n in band]) >= 0.7, band
