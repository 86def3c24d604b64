"""The six classes as drawings: what distinguishes each in an MGG-stained smear, and one crop.

See :mod:`wbcrepro.data.synthetic` for the features drawn per class.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.data.synthetic.shapes import (
    BACKGROUND,
    BASO_CYTO,
    BASO_GRANULE,
    BASO_NUCLEUS,
    EOSIN_CYTO,
    EOSIN_GRANULE,
    EOSIN_NUCLEUS,
    LYMPHO_CYTO,
    LYMPHO_NUCLEUS,
    MONO_CYTO,
    MONO_NUCLEUS,
    MONO_VACUOLE,
    NEUTRO_CYTO,
    NEUTRO_GRANULE,
    NEUTRO_NUCLEUS,
    Canvas,
    Point,
    band_outline,
    blob,
    cell_body,
    draw_rbcs,
    granules,
    jitter,
    lobe_chain,
    mix,
    smooth_noise,
    transform,
)


def _segmented_neutrophil(
    c: Canvas, rng: np.random.Generator, ctr: Point, r: float, a: float
) -> None:
    cell_body(c, rng, ctr, r, NEUTRO_CYTO)
    granules(c, rng, ctr, 0.93 * r, int(r * 3), (0.010 * r, 0.022 * r), [NEUTRO_GRANULE])
    n_lobes = int(rng.choice([3, 3, 4, 4, 5]))
    lobe_r = r * {3: 0.36, 4: 0.33, 5: 0.3}[n_lobes] * rng.uniform(0.92, 1.08)
    nuc = jitter(rng, NEUTRO_NUCLEUS, 6)
    strand = mix(nuc, NEUTRO_CYTO, 0.3)
    lobe_chain(c, rng, ctr, a, r, n_lobes, lobe_r, nuc, strand, rng.uniform(1.12, 1.25), (0.6, 0.8))


def _band_neutrophil(c: Canvas, rng: np.random.Generator, ctr: Point, r: float, a: float) -> None:
    cell_body(c, rng, ctr, r, NEUTRO_CYTO)
    granules(c, rng, ctr, 0.93 * r, int(r * 3), (0.010 * r, 0.022 * r), [NEUTRO_GRANULE])
    half_w = r * rng.uniform(0.17, 0.21)
    t = np.linspace(0.0, 1.0, 40)
    if rng.uniform() < 0.6:
        # C shape: an arc of a circle, opening to one side.
        span = rng.uniform(1.2, 1.6) * math.pi
        rad = r * rng.uniform(0.44, 0.54)
        ang = -span / 2 + span * t
        line = np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)
        line[:, 0] -= rad * 0.15
    else:
        # S shape: two opposite arcs joined smoothly.
        amp = r * rng.uniform(0.30, 0.40)
        length = r * rng.uniform(1.05, 1.25)
        y = (t - 0.5) * length
        x = amp * np.sin(2 * math.pi * (t - 0.5))
        line = np.stack([x, y], axis=1)
    outline = band_outline(line, half_w)
    nuc = jitter(rng, NEUTRO_NUCLEUS, 6)
    c.polygon(transform(outline, ctr, a), nuc, nucleus=True)


def _eosinophil(c: Canvas, rng: np.random.Generator, ctr: Point, r: float, a: float) -> None:
    cell_body(c, rng, ctr, r, EOSIN_CYTO)
    # Coarse, densely packed granules fill the cytoplasm; the nucleus is drawn on top of most of
    # them (it stays visible, as in real smears) and a few more granules overlap its edges.
    shades = [EOSIN_GRANULE, (226, 120, 70), (200, 84, 60), (232, 140, 88)]
    granules(c, rng, ctr, 0.95 * r, int(r * 7), (0.045 * r, 0.065 * r), shades)
    n_lobes = 2 if rng.uniform() < 0.8 else 3
    lobe_r = r * (0.36 if n_lobes == 2 else 0.31) * rng.uniform(0.92, 1.08)
    nuc = jitter(rng, EOSIN_NUCLEUS, 6)
    strand = mix(nuc, EOSIN_CYTO, 0.3)
    lobe_chain(c, rng, ctr, a, r, n_lobes, lobe_r, nuc, strand, rng.uniform(1.2, 1.35), (0.8, 0.95))
    granules(c, rng, ctr, 0.95 * r, int(r * 0.15), (0.04 * r, 0.055 * r), shades)


def _basophil(c: Canvas, rng: np.random.Generator, ctr: Point, r: float, a: float) -> None:
    cell_body(c, rng, ctr, r, BASO_CYTO)
    nuc = jitter(rng, BASO_NUCLEUS, 8)
    outline = blob(rng, r * rng.uniform(0.5, 0.6), aspect=rng.uniform(0.7, 0.9), wobble=0.2)
    c.polygon(transform(outline, ctr, a), nuc, nucleus=True)
    # Coarse blue-black granules scattered over cytoplasm and nucleus, hiding its outline.
    shades = [BASO_GRANULE, (52, 30, 92), (28, 16, 56), (64, 38, 104)]
    granules(c, rng, ctr, 0.92 * r, int(r * rng.uniform(2.5, 4.0)), (0.05 * r, 0.085 * r), shades)


def _monocyte(c: Canvas, rng: np.random.Generator, ctr: Point, r: float, a: float) -> None:
    cell_body(c, rng, ctr, r, MONO_CYTO)
    nuc = jitter(rng, MONO_NUCLEUS, 8)
    nr = r * rng.uniform(0.62, 0.72)
    outline = blob(
        rng,
        nr,
        aspect=rng.uniform(0.7, 0.85),
        wobble=0.12,
        dent=rng.uniform(0.35, 0.55),
        dent_angle=rng.choice([math.pi / 2, -math.pi / 2]) + rng.normal(0, 0.3),
        dent_width=rng.uniform(0.45, 0.7),
        n=96,
    )
    outline[:, 0] += rng.uniform(-0.1, 0.1) * r
    c.polygon(transform(outline, ctr, a), nuc, nucleus=True)
    if rng.uniform() < 0.5:
        for _ in range(int(rng.integers(1, 5))):
            ang = rng.uniform(0, 2 * math.pi)
            d = r * rng.uniform(0.7, 0.85)
            x, y = ctr[0] + d * math.cos(ang), ctr[1] + d * math.sin(ang)
            c.disc(x, y, r * rng.uniform(0.04, 0.08), jitter(rng, MONO_VACUOLE, 4))


def _lymphocyte(c: Canvas, rng: np.random.Generator, ctr: Point, r: float, a: float) -> None:
    cell_body(c, rng, ctr, r, LYMPHO_CYTO)
    nuc = jitter(rng, LYMPHO_NUCLEUS, 6)
    nr = r * rng.uniform(0.76, 0.86)
    outline = blob(rng, nr, aspect=rng.uniform(0.9, 1.0), wobble=0.05, dent=rng.uniform(0, 0.08))
    shift = (r - nr) * rng.uniform(0.0, 0.7)
    off_ang = rng.uniform(0, 2 * math.pi)
    nctr = (ctr[0] + shift * math.cos(off_ang), ctr[1] + shift * math.sin(off_ang))
    c.polygon(transform(outline, nctr, a), nuc, nucleus=True)


# Class -> (cell diameter range in RBC diameters, drawing function, chromatin texture strength).
_CLASS_SPECS: dict[str, tuple[tuple[float, float], Callable[..., None], float]] = {
    "segmented_neutrophil": ((1.4, 1.7), _segmented_neutrophil, 0.10),
    "band_neutrophil": ((1.4, 1.7), _band_neutrophil, 0.10),
    "eosinophil": ((1.5, 1.8), _eosinophil, 0.08),
    "basophil": ((1.3, 1.6), _basophil, 0.10),
    "monocyte": ((1.9, 2.4), _monocyte, 0.22),
    "lymphocyte": ((1.0, 1.3), _lymphocyte, 0.10),
}
assert set(_CLASS_SPECS) == set(PAPER_CLASSES)


def _stain(arr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whole-image stain variation (hue, saturation, intensity), as between smears and labs."""
    grey = arr.mean(axis=2, keepdims=True)
    sat = np.float32(rng.uniform(0.85, 1.15))
    gain = rng.uniform(0.97, 1.03, size=3).astype(np.float32)
    shift = np.float32(rng.uniform(-6, 6))
    arr -= grey
    arr *= sat
    arr += grey
    arr *= gain
    arr += shift
    return arr


def draw_cell(class_name: str, rng: np.random.Generator, size: int = 128) -> Image.Image:
    """Draw one synthetic MGG-stained crop of `class_name` as an RGB `size` x `size` image.

    All randomness comes from `rng`, so a given generator state always yields the same picture.
    """
    if class_name not in _CLASS_SPECS:
        raise ValueError(
            f"unknown class_name {class_name!r}; valid names: {', '.join(PAPER_CLASSES)}"
        )
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    (lo, hi), painter, chromatin = _CLASS_SPECS[class_name]
    w = 2 * size
    # Scale so that the largest cell (monocyte, 2.4 RBC) still fits in the frame.
    rbc_d = w * rng.uniform(0.29, 0.32)
    cell_r = 0.5 * rbc_d * rng.uniform(lo, hi)
    offset = 0.06 * w
    wbc = (w / 2 + rng.uniform(-offset, offset), w / 2 + rng.uniform(-offset, offset))
    angle = rng.uniform(0, 2 * math.pi)
    background = jitter(rng, BACKGROUND, 3)

    canvas = Canvas(w, background)
    draw_rbcs(canvas, rng, rbc_d, wbc, cell_r)
    painter(canvas, rng, wbc, cell_r, angle)

    # Downsample first (LANCZOS anti-aliasing), then do the per-pixel work at the final size.
    img = canvas.image.resize((size, size), Image.LANCZOS)
    nucleus_mask = canvas.nucleus.resize((size, size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32)
    # Chromatin texture (clumped in dense nuclei, lacy in monocytes) and faint cytoplasm mottling.
    fine = smooth_noise(rng, size, max(4, size // 3))
    coarse = smooth_noise(rng, size, 6)
    nucleus = np.asarray(nucleus_mask, dtype=np.float32)[..., None] / 255.0
    arr *= 1.0 + (chromatin * fine[..., None]) * nucleus + 0.025 * coarse[..., None]
    arr = _stain(arr, rng)

    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")
    # Slight optical defocus, then sensor noise.
    img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 0.7))))
    out = np.asarray(img, dtype=np.float32)
    out += rng.normal(0.0, rng.uniform(1.0, 3.0), size=out.shape).astype(np.float32)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="RGB")
