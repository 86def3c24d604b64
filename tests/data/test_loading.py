"""Tests for reading images, the decode-once cache, labels, folder listing and data paths
(wbcrepro.data.images, wbcrepro.data.loading, wbcrepro.paths). Every image is written here, in a
real on-disk
format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wbcrepro.config import TrainConfig
from wbcrepro.data import images as images_module
from wbcrepro.data.datasets.synthetic import synthetic_dir
from wbcrepro.data.images import ImageReadError, decode_resized, list_images, read_image
from wbcrepro.data.loading import ImageTable, LabelError, cache_side, encode_labels
from wbcrepro.data.transforms import eval_transform
from wbcrepro.paths import CACHE_ENV, DATA_ENV, cache_root, data_root


def _pixels(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient plus a little noise (JPEG-friendly, not constant)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], axis=-1
    )
    rgb = rgb + rng.integers(0, 8, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _write(path: Path, width: int = 64, height: int = 48, mode: str = "RGB", seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(_pixels(width, height, seed), "RGB")
    if mode != "RGB":
        img = img.convert(mode)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF"}
    img.save(path, format=fmt[path.suffix.lower()])
    return path


# ---------------------------------------------------------------------------------------------
# read_image
# ---------------------------------------------------------------------------------------------


def test_read_image_missing_file_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "cell_042.jpg"
    with pytest.raises(ImageReadError, match=r"cell_042\.jpg") as info:
        read_image(missing)
    assert str(missing) in str(info.value)


def test_read_image_directory_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "looks_like.jpg"
    folder.mkdir()
    with pytest.raises(ImageReadError, match=r"looks_like\.jpg"):
        read_image(folder)


def test_read_image_random_bytes_names_path(tmp_path: Path) -> None:
    bogus = tmp_path / "not_an_image.jpg"
    bogus.write_bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    with pytest.raises(ImageReadError) as info:
        read_image(bogus)
    assert str(bogus) in str(info.value)


def test_read_image_empty_file_names_path(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty\.png"):
        read_image(empty)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_read_image_truncated_file_names_path(tmp_path: Path, suffix: str) -> None:
    full = _write(tmp_path / f"full{suffix}", 256, 256)
    data = full.read_bytes()
    cut = tmp_path / f"truncated{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    read_image(full)  # the complete file is fine
    with pytest.raises(ImageReadError) as info:
        read_image(cut)
    assert str(cut) in str(info.value)


def test_image_read_error_is_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_image(tmp_path / "missing.png")


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp", ".tif"])
def test_read_image_formats_as_rgb(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path / f"cell{suffix}", 40, 30)
    img = read_image(path)
    assert isinstance(img, Image.Image)
    assert img.mode == "RGB"
    assert img.size == (40, 30)
    diff = np.abs(np.asarray(img).astype(int) - _pixels(40, 30).astype(int))
    if suffix == ".jpg":
        assert diff.mean() < 10  # lossy, but the same picture
    else:
        assert diff.max() == 0  # lossless formats round-trip exactly


def test_read_image_accepts_str_path(tmp_path: Path) -> None:
    path = _write(tmp_path / "cell.png")
    assert read_image(str(path)).size == (64, 48)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_read_image_other_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    path = _write(tmp_path / f"cell_{mode}.png", 20, 10, mode=mode)
    with Image.open(path) as raw:
        assert raw.mode == mode
    img = read_image(path)
    assert img.mode == "RGB" and img.size == (20, 10)
    if mode == "L":
        arr = np.asarray(img)
        assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()


def test_read_image_returns_independent_loaded_image(tmp_path: Path) -> None:
    """The file is closed after reading: the returned image still works after the file is gone."""
    path = _write(tmp_path / "cell.bmp")
    img = read_image(path)
    path.unlink()
    assert np.asarray(img).shape == (48, 64, 3)


# ---------------------------------------------------------------------------------------------
# decode_resized
# ---------------------------------------------------------------------------------------------


def test_decode_resized_downsizes_shorter_side(tmp_path: Path) -> None:
    path = _write(tmp_path / "wide.png", 300, 200)
    image = decode_resized(path, 100)
    assert image.mode == "RGB"
    assert image.size == (150, 100)


def test_decode_resized_portrait(tmp_path: Path) -> None:
    path = _write(tmp_path / "tall.jpg", 120, 360)
    assert decode_resized(path, 60).size == (60, 180)


@pytest.mark.parametrize("side", [200, 48, 1000])
def test_decode_resized_never_upsizes(tmp_path: Path, side: int) -> None:
    path = _write(tmp_path / "small.png", 64, 48)
    image = decode_resized(path, side)
    assert image.size == (64, 48)
    # unchanged pixels when no resize happens
    assert np.array_equal(np.asarray(image), _pixels(64, 48))


def test_decode_resized_none_keeps_size(tmp_path: Path) -> None:
    path = _write(tmp_path / "big.bmp", 500, 400)
    assert decode_resized(path, None).size == (500, 400)


def test_decode_resized_grayscale_gives_three_channels(tmp_path: Path) -> None:
    path = _write(tmp_path / "gray.png", 80, 80, mode="L")
    image = decode_resized(path, 40)
    assert image.mode == "RGB" and image.size == (40, 40)


def test_cache_side_is_above_random_resized_crop() -> None:
    assert cache_side(TrainConfig()) == 295  # ceil(256 * 1.15)
    assert cache_side(TrainConfig(img_size=64)) >= TrainConfig(img_size=64).resolved_pre_crop_size


# ---------------------------------------------------------------------------------------------
# ImageTable
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def three_images(tmp_path: Path) -> list[Path]:
    return [
        _write(tmp_path / "a.jpg", 400, 300, seed=1),
        _write(tmp_path / "b.png", 320, 320, seed=2),
        _write(tmp_path / "c.bmp", 90, 120, seed=3),
    ]


def _counting_reader(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count every image read: the cache and ImageTable.load both decode through decode_resized."""
    calls: list[str] = []
    real = images_module.read_image

    def counting(path):
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(images_module, "read_image", counting)
    return calls


def test_image_table_cache_decodes_once(
    three_images: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting_reader(monkeypatch)
    table = ImageTable([str(p) for p in three_images], [0, 1, 2], cache_side=100)
    assert sorted(calls) == sorted(str(p) for p in three_images)
    for _ in range(3):
        for i in range(len(table)):
            table[i]
    assert len(calls) == 3  # nothing decoded again after construction


def test_image_table_cache_survives_file_removal(three_images: list[Path]) -> None:
    table = ImageTable(three_images, [0, 1, 2], cache_side=64)
    for p in three_images:
        p.unlink()
    image, target = table[2]
    assert target == 2 and image.mode == "RGB"


def test_image_table_without_cache_reads_every_time(
    three_images: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting_reader(monkeypatch)
    table = ImageTable(three_images, [0, 1, 2])
    assert calls == []
    table[0]
    table[0]
    assert len(calls) == 2
    assert isinstance(table.load(1), Image.Image)


def test_image_table_items_are_tensor_int_pairs(three_images: list[Path]) -> None:
    table = ImageTable(three_images, [2, 0, 5], transform=eval_transform(64, 73), cache_side=84)
    assert len(table) == 3
    for i, expected_target in enumerate([2, 0, 5]):
        image, target = table[i]
        assert isinstance(image, torch.Tensor)
        assert image.dtype == torch.float32 and tuple(image.shape) == (3, 64, 64)
        assert type(target) is int and target == expected_target


def test_image_table_cached_images_are_downsized(three_images: list[Path]) -> None:
    table = ImageTable(three_images, [0, 1, 2], cache_side=100)
    sizes = [table.load(i).size for i in range(3)]
    assert sizes == [(133, 100), (100, 100), (90, 120)]  # the small one is kept
    image, target = table[0]  # no transform: the cached image itself
    assert image is table.load(0) and target == 0


def test_image_table_cached_and_uncached_agree(three_images: list[Path]) -> None:
    transform = eval_transform(64, 73)
    direct = ImageTable(three_images, [0, 1, 2], transform=transform, cache_side=None)
    cached = ImageTable(three_images, [0, 1, 2], transform=transform, cache_side=84)
    for i in range(3):
        a, _ = direct[i]
        b, _ = cached[i]
        assert a.shape == b.shape
        assert (a - b).abs().mean() < 0.1  # same image, resampled in two steps vs one


def test_image_table_corrupt_file_raises_at_construction(
    three_images: list[Path], tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt_cell.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 10)
    paths = [*three_images, corrupt]
    with pytest.raises(ImageReadError) as info:
        ImageTable(paths, [0, 1, 2, 3], cache_side=64)
    assert str(corrupt) in str(info.value)
    # without the cache, construction is lazy and only indexing the bad item fails
    lazy = ImageTable(paths, [0, 1, 2, 3])
    lazy[0]
    with pytest.raises(ImageReadError, match=r"corrupt_cell\.jpg"):
        lazy[3]


def test_image_table_length_mismatch_raises(three_images: list[Path]) -> None:
    with pytest.raises(ValueError, match="3 paths but 2 targets"):
        ImageTable(three_images, [0, 1])


# ---------------------------------------------------------------------------------------------
# encode_labels
# ---------------------------------------------------------------------------------------------


def test_encode_labels_maps_to_indices() -> None:
    names = ("neutrophil", "eosinophil", "lymphocyte")
    assert encode_labels(["lymphocyte", "neutrophil", "lymphocyte", "eosinophil"], names) == [
        2,
        0,
        2,
        1,
    ]
    assert encode_labels([], names) == []


def test_encode_labels_unknown_label_named() -> None:
    with pytest.raises(LabelError, match="'platelet'") as info:
        encode_labels(["neutrophil", "platelet"], ("neutrophil", "lymphocyte"))
    assert "lymphocyte" in str(info.value)  # the expected names are listed
    assert isinstance(info.value, ValueError)


def test_encode_labels_is_case_sensitive() -> None:
    with pytest.raises(LabelError, match="Neutrophil"):
        encode_labels(["Neutrophil"], ("neutrophil",))


# ---------------------------------------------------------------------------------------------
# list_images
# ---------------------------------------------------------------------------------------------


def test_list_images_recursive_and_sorted(tmp_path: Path) -> None:
    root = tmp_path / "set"
    made = [
        _write(root / "b_class" / "2.png"),
        _write(root / "a_class" / "deep" / "x.jpg"),
        _write(root / "a_class" / "1.bmp"),
        _write(root / "top.jpeg"),
        _write(root / "c_class" / "UPPER.JPG"),
    ]
    (root / "a_class" / "notes.txt").write_text("not an image")
    (root / "labels.csv").write_text("path,label\n")
    found = list_images(root)
    assert found == sorted(made)
    assert found == sorted(found)
    assert all(isinstance(p, Path) for p in found)


def test_list_images_accepts_str(tmp_path: Path) -> None:
    made = _write(tmp_path / "one.png")
    assert list_images(str(tmp_path)) == [made]


def test_list_images_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent_folder"):
        list_images(tmp_path / "absent_folder")


def test_list_images_empty_folder_raises(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(FileNotFoundError, match="empty"):
        list_images(tmp_path / "empty")


def test_list_images_on_a_file_raises(tmp_path: Path) -> None:
    path = _write(tmp_path / "img.png")
    with pytest.raises(FileNotFoundError):
        list_images(path)


# ---------------------------------------------------------------------------------------------
# paths: data_root and cache_root
# ---------------------------------------------------------------------------------------------


def test_data_root_explicit_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "from_env"))
    assert data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert data_root(str(tmp_path / "explicit")) == tmp_path / "explicit"


def test_data_root_env_second(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "from_env"))
    assert data_root() == tmp_path / "from_env"
    assert data_root(None) == tmp_path / "from_env"
    assert data_root("") == tmp_path / "from_env"  # empty explicit = not given


def test_data_root_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)
    assert data_root() == Path("data")
    monkeypatch.setenv(DATA_ENV, "")  # empty variable = unset
    assert data_root() == Path("data")


def test_data_root_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(DATA_ENV, "~/wbc")
    assert data_root() == tmp_path / "wbc"


def test_env_names() -> None:
    assert DATA_ENV == "WBCREPRO_DATA"
    assert CACHE_ENV == "WBCREPRO_CACHE"


def test_cache_root_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WBCREPRO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "cache"


def test_cache_root_fallbacks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WBCREPRO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "wbcrepro"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "wbcrepro"


def test_synthetic_dir_lives_under_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WBCREPRO_CACHE", str(tmp_path / "cache"))
    assert synthetic_dir(5, 64, 2) == (tmp_path / "cache" / "synthetic" / "per5-size64-seed2")
