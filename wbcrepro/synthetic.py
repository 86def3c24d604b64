"""Procedural *synthetic* peripheral-blood-smear crops of the paper's six white-blood-cell classes.

Why this exists: the real datasets used to reproduce the paper need a download (and sometimes a
licence click-through), so the package ships this generator as its embedded default dataset. With
it, every stage of the pipeline (data loading, splitting, training, evaluation, reporting) can run
anywhere, offline and deterministically. It is always called "synthetic" so that results obtained
on it can never be mistaken for results on real blood cells.

Each class is drawn with the morphological features a haematologist uses to recognise it in a
May-Grunwald-Giemsa (MGG) stained smear:

* segmented neutrophil: 3-5 dark purple nuclear lobes joined by thin strands, pale pink/lilac
  cytoplasm with fine faint granules;
* band neutrophil: one unsegmented, uniformly thick C- or S-shaped nucleus, same cytoplasm;
* eosinophil: usually bilobed nucleus, cytoplasm packed with coarse orange-red granules;
* basophil: coarse blue-black granules over the cytoplasm and obscuring the nucleus;
* monocyte: the largest cell, folded/kidney-shaped nucleus with lighter lacy chromatin, abundant
  grey-blue cytoplasm, sometimes vacuoles;
* lymphocyte: small cell, round dense nucleus filling most of it, thin sky-blue cytoplasm rim.

Cell diameters are expressed in red-blood-cell (RBC) diameters, as in haematology atlases. Pink
RBCs with central pallor are scattered around the white cell on a pale background. Stain, size,
shape, position, rotation, RBC layout, blur and noise are randomised per image. Shapes are drawn at
twice the requested resolution and downsampled with LANCZOS so that edges are anti-aliased.

Only numpy and PIL are used, so the generator has no heavy dependency.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from wbcrepro.classes import PAPER_CLASSES

SYNTHETIC_NAME = "synthetic"
# Bump whenever the drawing changes, so that cached trees drawn by an older generator are redrawn.
SYNTHETIC_VERSION = 1
SYNTHETIC_NOTE = "synthetic images drawn by wbcrepro.synthetic; not real blood cells"
METADATA_FILE = "synthetic.json"

Color = tuple[float, float, float]
Point = tuple[float, float]

# Base MGG colours (RGB). A per-image stain shift is applied on top of the whole picture.
_BACKGROUND: Color = (238, 231, 226)
_RBC: Color = (222, 150, 150)
_RBC_PALLOR: Color = (236, 192, 186)
_NEUTRO_CYTO: Color = (226, 200, 214)
_NEUTRO_GRANULE: Color = (208, 172, 200)
_NEUTRO_NUCLEUS: Color = (92, 45, 128)
_EOSIN_CYTO: Color = (230, 190, 175)
_EOSIN_GRANULE: Color = (214, 98, 62)
_EOSIN_NUCLEUS: Color = (100, 52, 130)
_BASO_CYTO: Color = (212, 188, 216)
_BASO_NUCLEUS: Color = (120, 80, 150)
_BASO_GRANULE: Color = (36, 20, 68)
_MONO_CYTO: Color = (184, 184, 208)
_MONO_NUCLEUS: Color = (135, 95, 165)
_MONO_VACUOLE: Color = (222, 220, 232)
_LYMPHO_CYTO: Color = (150, 188, 228)
_LYMPHO_NUCLEUS: Color = (74, 40, 116)


def _jitter(rng: np.random.Generator, color: Color, amount: float = 8.0) -> tuple[int, int, int]:
    """Small per-cell colour variation: real cells of one class are never exactly the same hue."""
    noise = rng.normal(0.0, amount, 3)
    r, g, b = (min(255, max(0, int(c + d))) for c, d in zip(color, noise, strict=True))
    return r, g, b


def _mix(a: Sequence[float], b: Sequence[float], t: float) -> tuple[int, int, int]:
    """Colour a fraction `t` of the way from `a` to `b` (a thin strand blurs into cytoplasm)."""
    r, g, bl = (int((1 - t) * x + t * y) for x, y in zip(a, b, strict=True))
    return r, g, bl


def _transform(points: np.ndarray, center: Point, angle: float) -> list[Point]:
    """Rotate local (cell-centred) points by `angle` and move them to `center` in the canvas."""
    c, s = math.cos(angle), math.sin(angle)
    x = points[:, 0] * c - points[:, 1] * s + center[0]
    y = points[:, 0] * s + points[:, 1] * c + center[1]
    return list(zip(x.tolist(), y.tolist(), strict=True))


def _blob(
    rng: np.random.Generator,
    radius: float,
    aspect: float = 1.0,
    wobble: float = 0.04,
    n: int = 72,
    dent: float = 0.0,
    dent_angle: float = 0.0,
    dent_width: float = 0.6,
) -> np.ndarray:
    """Closed outline of an irregular ellipse, optionally indented on one side.

    Real nuclei and cells are not perfect ellipses; a few low-order harmonics give them an organic
    outline. The Gaussian `dent` produces the kidney/bean indentation of monocyte nuclei.
    """
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    r = np.ones_like(t)
    for k in (2, 3, 4, 5):
        r += rng.normal(0.0, wobble / k) * np.cos(k * t + rng.uniform(0, 2 * math.pi))
    if dent > 0:
        d = np.angle(np.exp(1j * (t - dent_angle)))
        r -= dent * np.exp(-0.5 * (d / dent_width) ** 2)
    x = radius * r * np.cos(t)
    y = radius * aspect * r * np.sin(t)
    return np.stack([x, y], axis=1)


def _band_outline(centerline: np.ndarray, half_width: float, n_cap: int = 10) -> np.ndarray:
    """Outline of a uniformly thick band around `centerline`, with rounded ends.

    Used for the band neutrophil: its nucleus is one sausage of constant width (no constrictions),
    which is exactly what offsetting a smooth curve by a constant distance produces.
    """
    d = np.gradient(centerline, axis=0)
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-9
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
    left = centerline + half_width * normal
    right = centerline - half_width * normal

    def cap(p: np.ndarray, direction: np.ndarray) -> np.ndarray:
        base = math.atan2(direction[1], direction[0])
        a = np.linspace(base + math.pi / 2, base - math.pi / 2, n_cap)
        return np.stack([p[0] + half_width * np.cos(a), p[1] + half_width * np.sin(a)], axis=1)

    end_cap = cap(centerline[-1], d[-1])
    start_cap = cap(centerline[0], -d[0])
    return np.concatenate([left, end_cap[1:-1], right[::-1], start_cap[1:-1]], axis=0)


class _Canvas:
    """A 2x-resolution RGB drawing plus a mask of where nucleus chromatin was painted.

    The mask lets us add chromatin texture only inside nuclei after the shapes are drawn.
    """

    def __init__(self, width: int, background: Color) -> None:
        self.width = width
        self.image = Image.new("RGB", (width, width), tuple(int(c) for c in background))
        self.draw = ImageDraw.Draw(self.image)
        self.nucleus = Image.new("L", (width, width), 0)
        self.nucleus_draw = ImageDraw.Draw(self.nucleus)

    def polygon(
        self, pts: Sequence[Point], fill: tuple[int, int, int], nucleus: bool = False
    ) -> None:
        self.draw.polygon(pts, fill=fill)
        if nucleus:
            self.nucleus_draw.polygon(pts, fill=255)

    def disc(
        self, x: float, y: float, r: float, fill: tuple[int, int, int], nucleus: bool = False
    ) -> None:
        box = (x - r, y - r, x + r, y + r)
        self.draw.ellipse(box, fill=fill)
        if nucleus:
            self.nucleus_draw.ellipse(box, fill=255)

    def line(
        self, pts: Sequence[Point], fill: tuple[int, int, int], width: float, nucleus: bool = False
    ) -> None:
        w = max(1, round(width))
        self.draw.line(pts, fill=fill, width=w, joint="curve")
        if nucleus:
            self.nucleus_draw.line(pts, fill=255, width=w, joint="curve")


def _smooth_noise(rng: np.random.Generator, width: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1] (a coarse random grid upsampled bicubically)."""
    coarse = rng.uniform(0, 255, size=(cells, cells)).astype(np.uint8)
    up = Image.fromarray(coarse, mode="L").resize((width, width), Image.BICUBIC)
    return np.asarray(up, dtype=np.float32) / 127.5 - 1.0


def _draw_rbcs(
    canvas: _Canvas, rng: np.random.Generator, rbc_d: float, wbc: Point, wbc_r: float
) -> None:
    """Scatter red blood cells: pink discs with a paler centre, some cut by the frame edge.

    RBCs are drawn before the white cell, so those overlapping it disappear under it, as in a smear
    where the leukocyte lies on top of the erythrocytes.
    """
    w = canvas.width
    n = int(rng.integers(3, 10))
    placed: list[tuple[float, float]] = []
    for _ in range(n * 6):
        if len(placed) >= n:
            break
        x, y = rng.uniform(-0.1 * w, 1.1 * w, size=2)
        # Keep most of the white cell visible: RBCs may only slightly tuck under it.
        if math.hypot(x - wbc[0], y - wbc[1]) < wbc_r + 0.15 * rbc_d:
            continue
        # Smears are a monolayer: allow only mild overlap between RBCs.
        if any(math.hypot(x - px, y - py) < 0.8 * rbc_d for px, py in placed):
            continue
        placed.append((x, y))
    for x, y in placed:
        r = 0.5 * rbc_d * rng.uniform(0.88, 1.08)
        aspect = rng.uniform(0.88, 1.0)
        angle = rng.uniform(0, math.pi)
        outline = _blob(rng, r, aspect=aspect, wobble=0.03, n=48)
        canvas.polygon(_transform(outline, (x, y), angle), _jitter(rng, _RBC, 6))
        pallor = _blob(rng, r * rng.uniform(0.35, 0.5), aspect=aspect, wobble=0.05, n=32)
        canvas.polygon(_transform(pallor, (x, y), angle), _jitter(rng, _RBC_PALLOR, 5))


def _granules(
    canvas: _Canvas,
    rng: np.random.Generator,
    center: Point,
    radius: float,
    count: int,
    size: tuple[float, float],
    colors: Sequence[Color],
) -> None:
    """Sprinkle round granules uniformly over a disc, each a slightly different shade."""
    rr = radius * np.sqrt(rng.uniform(0, 1, size=count))
    tt = rng.uniform(0, 2 * math.pi, size=count)
    sizes = rng.uniform(size[0], size[1], size=count)
    palette = np.asarray(colors, dtype=np.float64)
    fills = palette[rng.integers(0, len(colors), size=count)] + rng.normal(0, 10, (count, 3))
    fills = np.clip(fills, 0, 255).astype(int).tolist()
    xs = (center[0] + rr * np.cos(tt)).tolist()
    ys = (center[1] + rr * np.sin(tt)).tolist()
    for x, y, s, fill in zip(xs, ys, sizes.tolist(), fills, strict=True):
        canvas.disc(x, y, s, tuple(fill))


def _lobe_chain(
    canvas: _Canvas,
    rng: np.random.Generator,
    center: Point,
    angle: float,
    cell_r: float,
    n_lobes: int,
    lobe_r: float,
    color: tuple[int, int, int],
    strand_color: tuple[int, int, int],
    spacing: float,
    aspect: tuple[float, float],
) -> None:
    """Draw `n_lobes` nuclear lobes along a curved path, joined by thin chromatin strands.

    The lobes are separated by gaps wider than the strands, so the lobulation is obvious (the
    segmented neutrophil / eosinophil hallmark) while the nucleus stays one connected structure.
    """
    # The lobes form a chain (horseshoe- or S-like, as in a mature granulocyte nucleus) with a gap
    # between every pair of lobes that only a thin strand bridges. Each lobe is an oval lying
    # across the chain. Layouts that would make lobes touch or leave the cell are rejected; if
    # none fits, the lobes are made a little smaller.
    pts = np.zeros((n_lobes, 2))
    dirs = np.zeros(n_lobes)
    for attempt in range(60):
        if attempt and attempt % 15 == 0:
            lobe_r *= 0.93
        chord = 2.0 * lobe_r * aspect[1] * spacing
        direction = rng.uniform(0, 2 * math.pi)
        sign = rng.choice([-1.0, 1.0])
        pts = np.zeros((n_lobes, 2))
        dirs = np.full(n_lobes, direction)
        for i in range(1, n_lobes):
            if rng.uniform() < 0.2:
                sign = -sign
            turn = sign * rng.uniform(0.5, 1.1)
            direction += turn
            pts[i] = pts[i - 1] + chord * np.array([math.cos(direction), math.sin(direction)])
            dirs[i - 1] = direction - (turn / 2 if i > 1 else 0.0)
            dirs[i] = direction
        pts -= 0.5 * (pts.min(axis=0) + pts.max(axis=0))
        fits = np.max(np.linalg.norm(pts, axis=1)) + lobe_r <= 0.95 * cell_r
        dist = np.linalg.norm(pts[:, None] - pts[None], axis=2)
        far = np.abs(np.subtract.outer(np.arange(n_lobes), np.arange(n_lobes))) > 1
        if fits and (not far.any() or dist[far].min() >= 2.1 * lobe_r):
            break
    world = _transform(pts, center, angle)
    strand_w = max(1.0, 0.15 * lobe_r)
    for a, b in itertools.pairwise(world):
        canvas.line([a, b], strand_color, strand_w, nucleus=True)
    for (x, y), d in zip(world, dirs, strict=True):
        outline = _blob(rng, lobe_r * rng.uniform(0.95, 1.05), rng.uniform(*aspect), 0.06, 40)
        # The blob's long axis is its local x axis: turn it across the chain direction.
        canvas.polygon(_transform(outline, (x, y), angle + d + math.pi / 2), color, nucleus=True)


def _cell_body(
    canvas: _Canvas, rng: np.random.Generator, center: Point, radius: float, color: Color
) -> tuple[int, int, int]:
    """The cytoplasm: an irregular near-round outline filled with the class colour."""
    fill = _jitter(rng, color, 6)
    outline = _blob(rng, radius, aspect=rng.uniform(0.9, 1.0), wobble=0.05, n=96)
    canvas.polygon(_transform(outline, center, rng.uniform(0, 2 * math.pi)), fill)
    return fill


def _segmented_neutrophil(
    c: _Canvas, rng: np.random.Generator, ctr: Point, r: float, a: float
) -> None:
    _cell_body(c, rng, ctr, r, _NEUTRO_CYTO)
    _granules(c, rng, ctr, 0.93 * r, int(r * 3), (0.010 * r, 0.022 * r), [_NEUTRO_GRANULE])
    n_lobes = int(rng.choice([3, 3, 4, 4, 5]))
    lobe_r = r * {3: 0.36, 4: 0.33, 5: 0.3}[n_lobes] * rng.uniform(0.92, 1.08)
    nuc = _jitter(rng, _NEUTRO_NUCLEUS, 6)
    strand = _mix(nuc, _NEUTRO_CYTO, 0.3)
    _lobe_chain(
        c, rng, ctr, a, r, n_lobes, lobe_r, nuc, strand, rng.uniform(1.12, 1.25), (0.6, 0.8)
    )


def _band_neutrophil(c: _Canvas, rng: np.random.Generator, ctr: Point, r: float, a: float) -> None:
    _cell_body(c, rng, ctr, r, _NEUTRO_CYTO)
    _granules(c, rng, ctr, 0.93 * r, int(r * 3), (0.010 * r, 0.022 * r), [_NEUTRO_GRANULE])
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
    outline = _band_outline(line, half_w)
    nuc = _jitter(rng, _NEUTRO_NUCLEUS, 6)
    c.polygon(_transform(outline, ctr, a), nuc, nucleus=True)


def _eosinophil(c: _Canvas, rng: np.random.Generator, ctr: Point, r: float, a: float) -> None:
    _cell_body(c, rng, ctr, r, _EOSIN_CYTO)
    # Coarse, densely packed granules fill the cytoplasm; the nucleus is drawn on top of most of
    # them (it stays visible, as in real smears) and a few more granules overlap its edges.
    shades = [_EOSIN_GRANULE, (226, 120, 70), (200, 84, 60), (232, 140, 88)]
    _granules(c, rng, ctr, 0.95 * r, int(r * 7), (0.045 * r, 0.065 * r), shades)
    n_lobes = 2 if rng.uniform() < 0.8 else 3
    lobe_r = r * (0.36 if n_lobes == 2 else 0.31) * rng.uniform(0.92, 1.08)
    nuc = _jitter(rng, _EOSIN_NUCLEUS, 6)
    strand = _mix(nuc, _EOSIN_CYTO, 0.3)
    _lobe_chain(
        c, rng, ctr, a, r, n_lobes, lobe_r, nuc, strand, rng.uniform(1.2, 1.35), (0.8, 0.95)
    )
    _granules(c, rng, ctr, 0.95 * r, int(r * 0.15), (0.04 * r, 0.055 * r), shades)


def _basophil(c: _Canvas, rng: np.random.Generator, ctr: Point, r: float, a: float) -> None:
    _cell_body(c, rng, ctr, r, _BASO_CYTO)
    nuc = _jitter(rng, _BASO_NUCLEUS, 8)
    outline = _blob(rng, r * rng.uniform(0.5, 0.6), aspect=rng.uniform(0.7, 0.9), wobble=0.2)
    c.polygon(_transform(outline, ctr, a), nuc, nucleus=True)
    # Coarse blue-black granules scattered over cytoplasm and nucleus, hiding its outline.
    shades = [_BASO_GRANULE, (52, 30, 92), (28, 16, 56), (64, 38, 104)]
    _granules(c, rng, ctr, 0.92 * r, int(r * rng.uniform(2.5, 4.0)), (0.05 * r, 0.085 * r), shades)


def _monocyte(c: _Canvas, rng: np.random.Generator, ctr: Point, r: float, a: float) -> None:
    _cell_body(c, rng, ctr, r, _MONO_CYTO)
    nuc = _jitter(rng, _MONO_NUCLEUS, 8)
    nr = r * rng.uniform(0.62, 0.72)
    outline = _blob(
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
    c.polygon(_transform(outline, ctr, a), nuc, nucleus=True)
    if rng.uniform() < 0.5:
        for _ in range(int(rng.integers(1, 5))):
            ang = rng.uniform(0, 2 * math.pi)
            d = r * rng.uniform(0.7, 0.85)
            x, y = ctr[0] + d * math.cos(ang), ctr[1] + d * math.sin(ang)
            c.disc(x, y, r * rng.uniform(0.04, 0.08), _jitter(rng, _MONO_VACUOLE, 4))


def _lymphocyte(c: _Canvas, rng: np.random.Generator, ctr: Point, r: float, a: float) -> None:
    _cell_body(c, rng, ctr, r, _LYMPHO_CYTO)
    nuc = _jitter(rng, _LYMPHO_NUCLEUS, 6)
    nr = r * rng.uniform(0.76, 0.86)
    outline = _blob(rng, nr, aspect=rng.uniform(0.9, 1.0), wobble=0.05, dent=rng.uniform(0, 0.08))
    shift = (r - nr) * rng.uniform(0.0, 0.7)
    off_ang = rng.uniform(0, 2 * math.pi)
    nctr = (ctr[0] + shift * math.cos(off_ang), ctr[1] + shift * math.sin(off_ang))
    c.polygon(_transform(outline, nctr, a), nuc, nucleus=True)


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
    jitter = 0.06 * w
    wbc = (w / 2 + rng.uniform(-jitter, jitter), w / 2 + rng.uniform(-jitter, jitter))
    angle = rng.uniform(0, 2 * math.pi)
    background = _jitter(rng, _BACKGROUND, 3)

    canvas = _Canvas(w, background)
    _draw_rbcs(canvas, rng, rbc_d, wbc, cell_r)
    painter(canvas, rng, wbc, cell_r, angle)

    # Downsample first (LANCZOS anti-aliasing), then do the per-pixel work at the final size.
    img = canvas.image.resize((size, size), Image.LANCZOS)
    nucleus_mask = canvas.nucleus.resize((size, size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32)
    # Chromatin texture (clumped in dense nuclei, lacy in monocytes) and faint cytoplasm mottling.
    fine = _smooth_noise(rng, size, max(4, size // 3))
    coarse = _smooth_noise(rng, size, 6)
    nucleus = np.asarray(nucleus_mask, dtype=np.float32)[..., None] / 255.0
    arr *= 1.0 + (chromatin * fine[..., None]) * nucleus + 0.025 * coarse[..., None]
    arr = _stain(arr, rng)

    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")
    # Slight optical defocus, then sensor noise.
    img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 0.7))))
    out = np.asarray(img, dtype=np.float32)
    out += rng.normal(0.0, rng.uniform(1.0, 3.0), size=out.shape).astype(np.float32)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="RGB")


def image_rng(seed: int, class_index: int, index: int) -> np.random.Generator:
    """Random generator for one image, independent of every other image.

    Seeding per (seed, class, index) makes each file reproducible on its own, so per_class can be
    changed without altering the images that both sizes share, and generation order is irrelevant.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, class_index, index]))


def _metadata(per_class: int, size: int, seed: int) -> dict:
    return {
        "name": SYNTHETIC_NAME,
        "per_class": per_class,
        "size": size,
        "seed": seed,
        "classes": list(PAPER_CLASSES),
        "generator_version": SYNTHETIC_VERSION,
        "note": SYNTHETIC_NOTE,
    }


def _file_name(class_name: str, index: int) -> str:
    return f"{class_name}_{index:04d}.png"


def _manifest(root: Path, per_class: int) -> pd.DataFrame:
    """Manifest of a complete tree; a missing file is an error rather than a silently short set."""
    rows = []
    for class_name in PAPER_CLASSES:
        for index in range(per_class):
            path = (root / class_name / _file_name(class_name, index)).resolve()
            if not path.is_file():
                raise FileNotFoundError(
                    f"synthetic dataset in {root} is incomplete: missing {path}; "
                    f"delete {root} to regenerate it"
                )
            rows.append(
                {
                    "path": str(path),
                    "label": class_name,
                    "group": f"{SYNTHETIC_NAME}-{class_name}-{index:04d}",
                }
            )
    return pd.DataFrame(rows, columns=["path", "label", "group"])


def _read_metadata(root: Path) -> dict | None:
    try:
        return json.loads((root / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return None


def generate_synthetic(
    out_dir: str | os.PathLike, per_class: int = 100, size: int = 128, seed: int = 0
) -> pd.DataFrame:
    """Write (or reuse) the synthetic ImageFolder tree and return its manifest.

    Layout: ``out_dir/<class>/<class>_<index:04d>.png`` plus ``out_dir/synthetic.json``. The
    manifest has columns ``path`` (absolute), ``label`` (class name) and ``group`` (one id per
    image: every synthetic image is its own independent source, so group-aware splits are trivial).

    If ``synthetic.json`` already records the same parameters and generator version, nothing is
    redrawn. Otherwise the tree is drawn in a sibling temporary directory and renamed into place,
    so an interrupted run never leaves a half-written tree that looks complete.
    """
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ValueError(f"per_class must be an integer >= 1, got {per_class!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 32:
        raise ValueError(f"size must be an integer >= 32, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        # np.random.SeedSequence only accepts non-negative integers.
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    per_class, size, seed = int(per_class), int(size), int(seed)
    root = Path(out_dir)
    wanted = _metadata(per_class, size, seed)

    if _read_metadata(root) == wanted:
        return _manifest(root, per_class)
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()) and _read_metadata(root) is None:
        # Never delete something we did not create.
        raise FileExistsError(
            f"{root} is not empty and has no {METADATA_FILE}; refusing to overwrite it with the "
            "synthetic dataset (choose an empty or new directory)"
        )

    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        for class_index, class_name in enumerate(PAPER_CLASSES):
            class_dir = tmp / class_name
            class_dir.mkdir()
            for index in range(per_class):
                img = draw_cell(class_name, image_rng(seed, class_index, index), size)
                # Fast zlib level: the noisy images barely compress further at higher levels.
                img.save(class_dir / _file_name(class_name, index), format="PNG", compress_level=1)
        # Written last: its presence marks a complete tree.
        (tmp / METADATA_FILE).write_text(json.dumps(wanted, indent=2) + "\n")
        if root.exists():
            # A stale synthetic tree (other parameters / version): move it aside, then swap in.
            old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
            os.replace(root, old / "tree")
            os.replace(tmp, root)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.replace(tmp, root)
            except OSError:
                # Another process finished the same tree first; use it if it matches.
                if _read_metadata(root) != wanted:
                    raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return _manifest(root, per_class)
