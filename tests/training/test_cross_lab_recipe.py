"""The cross-lab recipe: scale normalisation (the nucleus crop), HED stain jitter, and AdaBN at
test time. Each is off by default and does only what it says; the crop is applied wherever an
image enters a model (training, evaluation, ``predict``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from tests.conftest import TINY
from wbcrepro.config import ConfigError, TrainConfig
from wbcrepro.data.cellcrop import NucleusCrop, crop_to_nucleus, find_nucleus
from wbcrepro.data.images import resize_shorter_side
from wbcrepro.data.loading import load_split_data, make_table
from wbcrepro.data.stain import HEDJitter
from wbcrepro.data.transforms import build_eval_transform, build_train_transform
from wbcrepro.inference.loading import LoadedModel
from wbcrepro.runfolder import read_results
from wbcrepro.training.fit import fit

BACKGROUND = (235, 215, 205)
RED_CELL = (215, 150, 150)
NUCLEUS = (90, 40, 130)


def smear(size=(300, 240), nucleus=(200, 90), radius=20, lobes=False) -> Image.Image:
    """A stained-smear-like image: pale background, red cells, one purple nucleus (or two
    lobes) at a known place, with a pale cytoplasm around it."""
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    for x, y in ((40, 40), (60, 190), (260, 200), (120, 170)):
        draw.ellipse((x - 22, y - 22, x + 22, y + 22), fill=RED_CELL)
    cx, cy = nucleus
    draw.ellipse(
        (cx - 2 * radius, cy - 2 * radius, cx + 2 * radius, cy + 2 * radius), fill=(220, 190, 220)
    )
    if lobes:
        for dx in (-radius, radius):
            draw.ellipse(
                (cx + dx - radius // 2, cy - radius // 2, cx + dx + radius // 2, cy + radius // 2),
                fill=NUCLEUS,
            )
    else:
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=NUCLEUS)
    return image


def darkest_point(image: Image.Image) -> np.ndarray:
    green = np.asarray(image)[..., 1].astype(float)
    rows, cols = np.nonzero(green <= green.min() + 5)
    return np.array([cols.mean(), rows.mean()])


def test_the_nucleus_is_found_where_it_is_and_not_in_the_red_cells() -> None:
    left, top, right, bottom = find_nucleus(smear())
    assert abs((left + right) / 2 - 200) <= 3 and abs((top + bottom) / 2 - 90) <= 3
    assert 36 <= right - left <= 44 and 36 <= bottom - top <= 44


def test_the_crop_centres_the_nucleus_at_the_asked_share_of_the_side() -> None:
    for radius, size in ((20, (300, 240)), (10, (150, 120)), (40, (600, 480))):
        scale = radius / 20
        image = smear(size, (round(200 * scale), round(90 * scale)), radius)
        crop = crop_to_nucleus(image, 0.4)
        assert crop.width == crop.height
        assert crop.width == pytest.approx(2 * radius / 0.4, rel=0.1)
        centre = darkest_point(crop)
        assert np.allclose(centre, [crop.width / 2, crop.height / 2], atol=0.06 * crop.width)
    # one scale whatever the magnification: the nucleus spans the same share of every crop
    shares = [
        2 * r / crop_to_nucleus(smear((15 * r, 12 * r), (10 * r, 4 * r), r), 0.4).width
        for r in (10, 20, 40)
    ]
    assert max(shares) - min(shares) < 0.05


def test_a_crop_past_the_frame_is_padded_with_the_border_colour() -> None:
    crop = crop_to_nucleus(smear(nucleus=(270, 40)), 0.3)  # near the corner
    pixels = np.asarray(crop)
    assert tuple(pixels[0, -1]) == BACKGROUND and tuple(pixels[-1, -1]) == BACKGROUND


def test_a_segmented_nucleus_keeps_its_lobes_together() -> None:
    left, _, right, _ = find_nucleus(smear(lobes=True))
    assert right - left >= 55  # both lobes (each 20 px wide, 40 px apart), not one


def test_an_image_without_a_nucleus_is_left_unchanged_and_the_reason_given() -> None:
    blank = Image.new("RGB", (100, 80), BACKGROUND)
    assert find_nucleus(blank) == "no contrast"
    assert crop_to_nucleus(blank, 0.4) is blank


@pytest.mark.parametrize("fraction", [0.0, -0.2, 1.5])
def test_a_nucleus_share_outside_0_1_is_an_error(fraction) -> None:
    with pytest.raises(ValueError, match="nucleus_fraction must be in"):
        NucleusCrop(fraction)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cell_crop": 1.5}, r"cell_crop must be 0 \(off\) or in \(0, 1\], got 1.5"),
        ({"cell_crop": -0.1}, "cell_crop must be"),
        ({"stain_jitter": 1.0}, r"stain_jitter must be in \[0, 1\), got 1.0"),
        ({"stain_jitter": -0.1}, "stain_jitter must be"),
    ],
)
def test_bad_recipe_values_are_errors_naming_the_key(params, message) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_flat({**TINY, **params})


def test_cell_crop_is_applied_once_when_images_are_decoded() -> None:
    plain = TrainConfig.from_flat(TINY)
    cropped = plain.replace(cell_crop=0.5)
    data = load_split_data(plain)
    table = make_table(data, "train", build_eval_transform(plain), plain)
    crop_table = make_table(data, "train", build_eval_transform(cropped), cropped)
    assert table.prepare is None and isinstance(crop_table.prepare, NucleusCrop)
    for index in range(3):
        source = Image.open(table.paths[index]).convert("RGB")
        expected = resize_shorter_side(crop_to_nucleus(source, 0.5), crop_table.cache_side)
        assert np.array_equal(np.asarray(crop_table.load(index)), np.asarray(expected))
        uncropped = resize_shorter_side(source, table.cache_side)
        assert np.array_equal(np.asarray(table.load(index)), np.asarray(uncropped))


def test_predict_decodes_with_the_runs_crop() -> None:
    image = smear()
    cfg = TrainConfig.from_flat({**TINY, "cell_crop": 0.4})
    loaded = LoadedModel(torch.nn.Identity(), ("a",), build_eval_transform(cfg), None, cfg, {})
    assert loaded.decode(image).size == crop_to_nucleus(image, 0.4).size
    plain = LoadedModel(
        torch.nn.Identity(), ("a",), build_eval_transform(cfg), None, cfg.replace(cell_crop=0.0), {}
    )
    assert plain.decode(image).size == image.size


def test_stain_jitter_changes_colours_only_and_follows_the_seed() -> None:
    image = smear()
    assert HEDJitter(0.0)(image) is image
    torch.manual_seed(3)
    first = np.asarray(HEDJitter(0.3)(image))
    torch.manual_seed(3)
    again = np.asarray(HEDJitter(0.3)(image))
    assert first.shape == np.asarray(image).shape and np.array_equal(first, again)
    assert np.abs(first.astype(int) - np.asarray(image).astype(int)).mean() > 2
    with pytest.raises(ValueError, match="stain jitter strength"):
        HEDJitter(1.2)
    cfg = TrainConfig.from_flat({**TINY, "stain_jitter": 0.2})
    assert any(isinstance(s, HEDJitter) for s in build_train_transform(cfg).transforms)
    assert not any(
        isinstance(s, HEDJitter)
        for s in build_train_transform(cfg.replace(stain_jitter=0.0)).transforms
    )


def test_adapted_test_is_reported_beside_the_plain_test_only_when_asked(tmp_path) -> None:
    cfg = TrainConfig.from_flat({**TINY, "epochs": 1, "test_adapt_bn": True})
    fit(cfg, tmp_path / "on", progress=False)
    final = read_results(tmp_path / "on")["final"]
    assert set(final["test_adapted_bn"]) >= {"accuracy", "macro_f1", "per_class"}
    assert final["test_adapted_bn"]["n"] == final["test"]["n"]
    fit(cfg.replace(test_adapt_bn=False), tmp_path / "off", progress=False)
    assert "test_adapted_bn" not in read_results(tmp_path / "off")["final"]
