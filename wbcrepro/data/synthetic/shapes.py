"""Drawing primitives of the synthetic smears: colours, outlines, a supersampled canvas, RBCs.

What every cell class is built from (:mod:`wbcrepro.data.synthetic.cells` composes them), kept apart
so that the class drawings read as the features a haematologist names.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

Color = tuple[float, float, float]
Point = tuple[float, float]

# Base MGG colours (RGB). A per-image stain shift is applied on top of the whole picture.
BACKGROUND: Color = (238, 231, 226)
RBC: Color = (222, 150, 150)
RBC_PALLOR: Color = (236, 192, 186)
NEUTRO_CYTO: Color = (226, 200, 214)
NEUTRO_GRANULE: Color = (208, 172, 200)
NEUTRO_NUCLEUS: Color = (92, 45, 128)
EOSIN_CYTO: Color = (230, 190, 175)
EOSIN_GRANULE: Color = (214, 98, 62)
EOSIN_NUCLEUS: Color = (100, 52, 130)
BASO_CYTO: Color = (212, 188, 216)
BASO_NUCLEUS: Color = (120, 80, 150)
BASO_GRANULE: Color = (36, 20, 68)
MONO_CYTO: Color = (184, 184, 208)
MONO_NUCLEUS: Color = (135, 95, 165)
MONO_VACUOLE: Color = (222, 220, 232)
LYMPHO_CYTO: Color = (150, 188, 228)
LYMPHO_NUCLEUS: Color = (74, 40, 116)


def jitter(rng: np.random.Generator, color: Color, amount: float = 8.0) -> tuple[int, int, int]:
    """Small per-cell colour variation: real cells of one class are never exactly the same hue."""
    noise = rng.normal(0.0, amount, 3)
    r, g, b = (min(255, max(0, int(c + d))) for c, d in zip(color, noise, strict=True))
    return r, g, b


def mix(a: Sequence[float], b: Sequence[float], t: float) -> tuple[int, int, int]:
    """Colour a fraction `t` of the way from `a` to `b` (a thin strand blurs into cytoplasm)."""
    r, g, bl = (int((1 - t) * x + t * y) for x, y in zip(a, b, strict=True))
    return r, g, bl


def transform(points: np.ndarray, center: Point, angle: float) -> list[Point]:
    """Rotate local (cell-centred) points by `angle` and move them to `center` in the canvas."""
    c, s = math.cos(angle), math.sin(angle)
    x = points[:, 0] * c - points[:, 1] * s + center[0]
    y = points[:, 0] * s + points[:, 1] * c + center[1]
    return list(zip(x.tolist(), y.tolist(), strict=True))


def blob(
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


def band_outline(centerline: np.ndarray, half_width: float, n_cap: int = 10) -> np.ndarray:
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


class Canvas:
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


def smooth_noise(rng: np.random.Generator, width: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1] (a coarse random grid upsampled bicubically)."""
    coarse = rng.uniform(0, 255, size=(cells, cells)).astype(np.uint8)
    up = Image.fromarray(coarse, mode="L").resize((width, width), Image.BICUBIC)
    return np.asarray(up, dtype=np.float32) / 127.5 - 1.0


def draw_rbcs(
    canvas: Canvas, rng: np.random.Generator, rbc_d: float, wbc: Point, wbc_r: float
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
        outline = blob(rng, r, aspect=aspect, wobble=0.03, n=48)
        canvas.polygon(transform(outline, (x, y), angle), jitter(rng, RBC, 6))
        pallor = blob(rng, r * rng.uniform(0.35, 0.5), aspect=aspect, wobble=0.05, n=32)
        canvas.polygon(transform(pallor, (x, y), angle), jitter(rng, RBC_PALLOR, 5))


def granules(
    canvas: Canvas,
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


def lobe_chain(
    canvas: Canvas,
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
    world = transform(pts, center, angle)
    strand_w = max(1.0, 0.15 * lobe_r)
    for a, b in itertools.pairwise(world):
        canvas.line([a, b], strand_color, strand_w, nucleus=True)
    for (x, y), d in zip(world, dirs, strict=True):
        outline = blob(rng, lobe_r * rng.uniform(0.95, 1.05), rng.uniform(*aspect), 0.06, 40)
        # The blob's long axis is its local x axis: turn it across the chain direction.
        canvas.polygon(transform(outline, (x, y), angle + d + math.pi / 2), color, nucleus=True)


def cell_body(
    canvas: Canvas, rng: np.random.Generator, center: Point, radius: float, color: Color
) -> tuple[int, int, int]:
    """The cytoplasm: an irregular near-round outline filled with the class colour."""
    fill = jitter(rng, color, 6)
    outline = blob(rng, radius, aspect=rng.uniform(0.9, 1.0), wobble=0.05, n=96)
    canvas.polygon(transform(outline, center, rng.uniform(0, 2 * math.pi)), fill)
    return fill
