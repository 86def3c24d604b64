"""Image files on disk: which files are images, and reading them with errors that name the file.

The one module both the dataset loaders (``wbcrepro.data.datasets``) and the training input pipeline
(``wbcrepro.data.loading``) read images through, so that neither depends on the other for it and a
bad file fails the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class ImageReadError(OSError):
    """An image file is missing, truncated or not an image; the message names the file."""


def is_image(path: Path) -> bool:
    """Whether ``path`` names an image file by its suffix (case-insensitive)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | Path) -> Image.Image:
    """Open and fully decode an RGB image, turning every failure into an error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"image file not found: {path}")
    try:
        with Image.open(path) as img:
            img.load()  # decodes now: a truncated file fails here, not in a worker later
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"cannot read image {path}: {err}") from err


def decode_resized(
    path: str | Path,
    shorter_side: int | None,
    prepare: Callable[[Image.Image], Image.Image] | None = None,
) -> Image.Image:
    """Read an RGB image, downscaled (antialiased) so that its shorter side is ``shorter_side``.

    ``prepare`` (a deterministic step such as the nucleus crop) runs first, at full resolution.
    The result stays a PIL image: the paper's augmentation (crop, rotation, flips, jitter) runs
    about twice as fast on PIL images as on uint8 tensors on the CPU.
    """
    return prepare_resized(read_image(path), shorter_side, prepare)


def prepare_resized(
    image: Image.Image,
    shorter_side: int | None,
    prepare: Callable[[Image.Image], Image.Image] | None = None,
) -> Image.Image:
    """An RGB image after the deterministic ``prepare`` step (the nucleus crop, before any
    resize: it needs the full resolution), downscaled to ``shorter_side``."""
    image = image if image.mode == "RGB" else image.convert("RGB")
    return resize_shorter_side(prepare(image) if prepare else image, shorter_side)


def resize_shorter_side(image: Image.Image, shorter_side: int | None) -> Image.Image:
    """``image`` downscaled (bilinear) so that its shorter side is ``shorter_side``; unchanged
    when it is already that small or ``shorter_side`` is None."""
    if shorter_side is None or min(image.size) <= shorter_side:
        return image
    width, height = image.size
    scale = shorter_side / min(width, height)
    size = (max(shorter_side, round(width * scale)), max(shorter_side, round(height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted; an empty or missing folder raises."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}")
    found = sorted(p for p in folder.rglob("*") if is_image(p))
    if not found:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    return found
