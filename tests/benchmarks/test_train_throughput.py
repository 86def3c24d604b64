"""benchmarks/train_throughput.py runs end to end on the CPU, counts the FLOPs of a training step
and writes a JSON that ``reproduce --plan --throughput-json`` reads (timings are never asserted)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import REPO
from wbcrepro.config import TrainConfig
from wbcrepro.reproduction.estimate import read_throughput


def _load():
    path = REPO / "benchmarks/train_throughput.py"
    spec = importlib.util.spec_from_file_location("train_throughput", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flops_of_a_training_step_grow_with_the_pixels() -> None:
    import torch

    bench = _load()
    small, large = (
        bench.training_flops_per_image(
            TrainConfig.from_flat(
                {"arch": "efficientnet_b0", "weights": "none", "transfer": "scratch",
                 "img_size": size, "batch_size": 2, "num_classes": 6}
            ),
            torch.device("cpu"),
        )
        for size in (32, 64)
    )  # fmt: skip
    assert small > 0 and 3.0 < large / small < 5.0  # four times the pixels
    assert 1.5e9 < large * (224 / 64) ** 2 < 3.0e9  # b0: 0.39 GMAC forward at 224 px, x2, x3
    assert bench.device_peak(torch.device("cpu"), 0.0)[0] is None
    assert bench.device_peak(torch.device("cpu"), 2.5) == (2.5, "--peak-tflops")


@pytest.mark.slow
def test_throughput_json_has_mfu_and_feeds_the_plan(tmp_path) -> None:
    out = tmp_path / "speed.json"
    argv = ["--arch", "efficientnet_b0", "--img-size", "32", "--batch-size", "4", "--steps", "2"]
    argv += ["--warmup", "1", "--repeats", "1", "--device", "cpu", "--peak-tflops", "1.0"]
    argv += ["--synthetic-per-class", "12", "--synthetic-size", "48"]
    assert _load().main([*argv, "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["flops_per_image"] > 0 and record["peak_tflops"] == 1.0
    assert record["mfu"] == pytest.approx(
        record["flops_per_image"] * record["median"]["ours"]["images_per_s"] / 1e12
    )
    speed = read_throughput(out)
    assert (speed.arch, speed.img_size, speed.device) == ("efficientnet_b0", 32, "cpu")
