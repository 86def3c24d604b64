"""Scale normalisation: every cell cropped around its nucleus, at one nucleus-to-image ratio.

Labs differ in magnification and in how tightly they crop: Zheng 2018's 120 px frames are filled by
the cell, PBC's 360 px frames hold it in about a third of their width. A network trained on one
scale answers by scale on another (the cross-lab issue measured 26% -> 54% on Zheng D1 from
pasting each image onto a canvas twice its size). Scale augmentation only covers the scales it
draws; this brings every image to one scale before the network instead.

In every Romanowsky stain (May-Grünwald-Giemsa, Wright, Giemsa, Leishman) the nucleus is the
darkest region in the red and green channels (it absorbs both; red cells absorb little red, the
background neither). Three-class Otsu thresholds on that darkness split background, red cells and
cytoplasm, and nucleus; the nucleus is the largest dark component and the dark components near it
(a segmented neutrophil's lobes). The crop is a square centred on the nucleus whose side is its
bounding box's longer side divided by ``nucleus_fraction``, padded with the image's border colour
where it leaves the frame. When no plausible nucleus is found (a blank or odd image) the image is
returned unchanged: the crop never fails a run, and :func:`find_nucleus` says why.

The crop is deterministic, so it runs once per image when the image is decoded (and in
``wbcrepro predict``), not every epoch.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

WORK_SIDE = 128
"""Nucleus search runs on a copy downscaled to this longer side (the box is scaled back)."""
MIN_AREA = 0.004
"""A dark component smaller than this share of the image is noise (a platelet, debris)."""
MAX_AREA = 0.85
"""A 'nucleus' covering more than this share of the image is a failed threshold."""
NEAR = 1.5
"""Dark components within this many nucleus diameters of the largest one belong to it (lobes)."""
SPARSE = 3.0
"""When the dark pixels fill less than 1/SPARSE of their bounding box, they are scattered
(red cells caught by the threshold), and only the largest component is the nucleus."""


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of the true pixels of a non-empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _check_fraction(nucleus_fraction: float) -> None:
    if not 0.0 < nucleus_fraction <= 1.0:
        raise ValueError(f"nucleus_fraction must be in (0, 1], got {nucleus_fraction}")


def find_nucleus(image: Image.Image) -> tuple[int, int, int, int] | str:
    """The nucleus's bounding box ``(left, top, right, bottom)`` in ``image``'s pixels, or a
    sentence saying why none was found."""
    from scipy import ndimage
    from skimage.filters import threshold_multiotsu

    scale = min(1.0, WORK_SIDE / max(image.size))
    small = image.convert("RGB")
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        small = small.resize(size, Image.Resampling.BILINEAR)
    rgb = np.asarray(small, dtype=np.float32)
    darkness = 255.0 - rgb[..., 1]
    if float(darkness.max() - darkness.min()) < 10.0:
        return "no contrast"
    try:
        threshold = threshold_multiotsu(darkness, classes=3)[-1]
    except ValueError as err:  # too few grey levels
        return f"no threshold ({err})"
    labels, count = ndimage.label(darkness > threshold)
    if count == 0:
        return "no dark region"
    areas = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(areas >= MIN_AREA * darkness.size) + 1
    if keep.size == 0:
        return "dark regions too small"
    largest = keep[np.argmax(areas[keep - 1])]
    centres = ndimage.center_of_mass(labels > 0, labels, keep)
    centre = np.asarray(centres[list(keep).index(largest)])
    radius = np.sqrt(areas[largest - 1] / np.pi)
    reach = NEAR * 2.0 * radius + radius  # centre to centre: NEAR diameters past its own edge
    members = [
        label
        for label, c in zip(keep, centres, strict=True)
        if np.linalg.norm(np.asarray(c) - centre) <= reach
    ]
    mask = np.isin(labels, members)
    left, top, right, bottom = _box(mask)
    if (right - left) * (bottom - top) > SPARSE * mask.sum():  # scattered bits (red cells)
        mask = labels == largest
    if mask.sum() > MAX_AREA * mask.size:
        return "dark region covers the image"
    return tuple(round(v / scale) for v in _box(mask))  # type: ignore[return-value]


def border_colour(image: Image.Image) -> tuple[int, int, int]:
    """Median colour of the outermost pixels: the background to pad with."""
    rgb = np.asarray(image.convert("RGB"))
    edge = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    return tuple(int(v) for v in np.median(edge, axis=0))  # type: ignore[return-value]


def crop_to_nucleus(image: Image.Image, nucleus_fraction: float) -> Image.Image:
    """A square around the nucleus whose side is the nucleus box's longer side divided by
    ``nucleus_fraction`` (0.4: the nucleus spans 40% of the crop); ``image`` unchanged when no
    nucleus is found."""
    _check_fraction(nucleus_fraction)
    box = find_nucleus(image)
    if isinstance(box, str):
        return image
    left, top, right, bottom = box
    side = max(8, round(max(right - left, bottom - top) / nucleus_fraction))
    cx, cy = (left + right) / 2.0, (top + bottom) / 2.0
    x0, y0 = round(cx - side / 2.0), round(cy - side / 2.0)
    canvas = Image.new("RGB", (side, side), border_colour(image))
    canvas.paste(image.convert("RGB"), (-x0, -y0))
    return canvas


class NucleusCrop:
    """``crop_to_nucleus`` as a picklable callable (DataLoader workers, decode caches)."""

    def __init__(self, nucleus_fraction: float) -> None:
        _check_fraction(nucleus_fraction)
        self.nucleus_fraction = nucleus_fraction

    def __call__(self, image: Image.Image) -> Image.Image:
        return crop_to_nucleus(image, self.nucleus_fraction)

    def __repr__(self) -> str:
        return f"NucleusCrop(nucleus_fraction={self.nucleus_fraction})"


def nucleus_crop(cell_crop: float) -> NucleusCrop | None:
    """The decode step for a run's ``cell_crop`` (None when 0: off); training, evaluation and
    ``predict`` all take it from here."""
    return NucleusCrop(cell_crop) if cell_crop else None
