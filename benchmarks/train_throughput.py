"""Training throughput and peak memory: our training loop vs a plain torchvision-reference loop.

What is compared
----------------
Both loops train the same network (``wbcrepro.model.networks.build_model`` with the same config,
fresh random initialisation from the same seed) on the same training images (the synthetic
dataset's train split, read from the same PNG files), with the same batch size, the same
DataLoader settings (``num_workers``, shuffling from a generator with a fixed seed) and
Adam(lr=0.005) plus CrossEntropyLoss.

* **ours**: the package path. ``TrainConfig.from_flat`` -> ``load_split_data`` ->
  ``make_table(..., build_train_transform(cfg), cfg)`` (every image decoded *once* into a uint8
  tensor cache, then the paper's augmentation with torchvision transforms v2 on tensors) ->
  ``make_loader`` -> ``train_one_epoch`` with the model in ``channels_last`` (fp32 on CPU,
  ``autocast_dtype`` of the config on CUDA, i.e. bf16 there), ``progress=False``.
* **plain**: a minimal loop in the style of torchvision's ``references/classification/train.py``.
  An ImageFolder-style dataset opens every image from disk in ``__getitem__`` (PIL open + convert
  RGB, torchvision's ``default_loader``), the paper's augmentation written with the classic PIL
  transforms (v1): RandomResizedCrop(pre, scale=(0.8, 1)), RandomRotation(45),
  RandomHorizontalFlip, RandomVerticalFlip, CenterCrop(img), ColorJitter(brightness=1), ToTensor,
  Normalize; fp32, contiguous memory format; the standard step (zero_grad, forward, loss,
  backward, step, ``loss.item()`` per step like the reference's metric logger).

Why: the package claims its decode-once cache, tensor (v2) transforms and channels_last make
training faster than the textbook loop. This script measures that claim in one run.

How it measures
---------------
Each loop runs in its own child process (this script re-invoked with ``--only ours|plain``), so
each child's peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is that loop's alone; on
CUDA ``torch.cuda.max_memory_allocated`` is reported too. The loader is wrapped so that it yields
exactly ``warmup + steps`` batches and records a timestamp each time the loop asks for the next
batch: the time between two requests is one full step (data wait + forward/backward/step). The
first ``warmup`` steps are discarded; images/s = ``steps * batch_size`` / time of the timed steps.
The time spent waiting for each batch is recorded as well ("data ms/step"), which splits a step
into input pipeline vs compute. Setup (model construction, the decode cache) is not timed. The
children alternate (plain, ours, plain, ours, ... for ``--repeats``) and the medians are
reported, so that background load hurts both loops alike.

Run it
------
::

    WBCREPRO_CACHE=/tmp/wbccache-bench .venv/bin/python benchmarks/train_throughput.py
    .venv/bin/python benchmarks/train_throughput.py --arch efficientnet_b0 --img-size 224 \\
        --num-workers 2 --repeats 3 --json /tmp/throughput.json

The synthetic images are drawn once under ``$WBCREPRO_CACHE`` (by the parent, before any child
starts). No weights are downloaded (``weights=none``, ``transfer=scratch``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from wbcrepro.config import TrainConfig
from wbcrepro.data.loading import SplitData, encode_labels, load_split_data, make_loader, make_table
from wbcrepro.data.transforms import build_train_transform, input_stats
from wbcrepro.model.networks import build_model, to_device
from wbcrepro.training.engine import autocast_dtype, pick_device, seed_everything, train_one_epoch
from wbcrepro.training.fit import make_optimizer

LOOPS = ("plain", "ours")
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 80GB HBM3": 989.0,
    "H100 PCIe": 756.0,
    "H100": 756.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
    "V100": 125.0,
    "T4": 65.0,
}
"""Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets (fp16 for V100 and
T4, which have no bf16), matched against the CUDA device name in this order."""
TRAIN_FRACTION_ESTIMATE = 0.7
"""About 5/7 of a synthetic dataset lands in the train split with the default fractions."""


# --------------------------------------------------------------------------------------------
# configuration shared by parent and children
# --------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Training throughput of wbcrepro's loop vs a plain torchvision-style loop.",
    )
    parser.add_argument("--arch", default="efficientnet_b0")
    parser.add_argument(
        "--impl", default="torchvision", choices=("torchvision", "efficientnet_pytorch")
    )
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=3, help="batches run but not timed")
    parser.add_argument("--steps", type=int, default=20, help="batches timed after warm-up")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each loop")
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)"
    )
    parser.add_argument("--synthetic-size", type=int, default=160)
    parser.add_argument(
        "--synthetic-per-class",
        type=int,
        default=0,
        help="images per class (0: just enough for warmup + steps batches)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--deterministic",
        choices=("true", "false"),
        default="true",
        help="our config's deterministic flag (the package default is true; the plain loop, like "
        "the torchvision reference's default, never enables deterministic algorithms)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=0.0,
        help="the device's dense bf16 peak in TFLOP/s for the MFU estimate (default: looked up "
        "from the CUDA device name, see PEAK_BF16_TFLOPS; none on a CPU)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results dict here")
    parser.add_argument("--only", choices=LOOPS, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("img_size", "batch_size", "steps", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0 or args.num_workers < 0 or args.threads < 0:
        parser.error("--warmup, --num-workers and --threads must be >= 0")
    return args


def needed_images(args: argparse.Namespace) -> int:
    return (args.warmup + args.steps) * args.batch_size


def make_config(args: argparse.Namespace, per_class: int) -> TrainConfig:
    return TrainConfig.from_flat(
        {
            "dataset": "synthetic",
            "synthetic_per_class": per_class,
            "synthetic_size": args.synthetic_size,
            "arch": args.arch,
            "impl": args.impl,
            "weights": "none",
            "transfer": "scratch",
            "img_size": args.img_size,
            "batch_size": args.batch_size,
            "num_workers": args.num_workers,
            "device": args.device,
            "seed": args.seed,
            "deterministic": args.deterministic,
        }
    )


def prepare_data(args: argparse.Namespace) -> tuple[TrainConfig, SplitData]:
    """A config whose train split holds at least ``warmup + steps`` batches, its data drawn."""
    need = needed_images(args)
    num_classes = make_config(args, 1).num_classes
    per_class = args.synthetic_per_class or math.ceil(need / TRAIN_FRACTION_ESTIMATE / num_classes)
    for _ in range(10):
        cfg = make_config(args, per_class)
        data = load_split_data(cfg)
        have = len(data.rows("train"))
        if have >= need or args.synthetic_per_class:
            break
        per_class = math.ceil(per_class * need / have) + 1
    if have < need:
        raise SystemExit(
            f"the train split has {have} images but warmup + steps need {need}; "
            "raise --synthetic-per-class or lower --steps/--warmup/--batch-size"
        )
    return cfg, data


# --------------------------------------------------------------------------------------------
# measurement
# --------------------------------------------------------------------------------------------
class TimedBatches:
    """Yields the first ``count`` batches of ``loader`` and timestamps every request for one.

    ``marks[i]`` is when the loop asked for batch ``i`` (so ``marks[i + 1] - marks[i]`` is the
    whole of step ``i``); the last mark is taken when the loop asks for a batch after the last
    one, i.e. when the last step has finished. ``waits[i]`` is how long fetching batch ``i`` took.
    """

    def __init__(self, loader: DataLoader, count: int) -> None:
        self.loader = loader
        self.count = count
        self.marks: list[float] = []
        self.waits: list[float] = []

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Any]:
        self.marks, self.waits = [], []
        batches = iter(self.loader)
        for _ in range(self.count):
            start = time.perf_counter()
            self.marks.append(start)
            batch = next(batches)
            self.waits.append(time.perf_counter() - start)
            yield batch
        self.marks.append(time.perf_counter())
        del batches  # shuts down worker processes, outside the timed window


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def summarise(timed: TimedBatches, warmup: int, batch_size: int) -> dict[str, Any]:
    if len(timed.marks) != timed.count + 1:
        raise RuntimeError(f"the loop consumed {len(timed.marks) - 1} of {timed.count} batches")
    steps = [b - a for a, b in zip(timed.marks[:-1], timed.marks[1:], strict=True)][warmup:]
    waits = timed.waits[warmup:]
    seconds = sum(steps)
    return {
        "timed_steps": len(steps),
        "images": len(steps) * batch_size,
        "seconds": seconds,
        "images_per_s": len(steps) * batch_size / seconds,
        "step_ms": 1000 * seconds / len(steps),
        "data_ms": 1000 * sum(waits) / len(waits),
        "step_ms_all": [1000 * s for s in steps],
    }


# --------------------------------------------------------------------------------------------
# the plain loop (torchvision references/classification style)
# --------------------------------------------------------------------------------------------
class PlainImageFiles(Dataset):
    """ImageFolder-style dataset: (path, target) samples, every image read from disk per access."""

    def __init__(self, paths: Sequence[str], targets: Sequence[int], transform: Any) -> None:
        from torchvision.datasets.folder import default_loader

        self.samples = list(zip(map(str, paths), map(int, targets), strict=True))
        self.loader = default_loader  # PIL: Image.open(path).convert("RGB")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, target = self.samples[index]
        return self.transform(self.loader(path)), target


def plain_train_transform(cfg: TrainConfig) -> Any:
    """The paper's augmentation with the classic (v1, PIL) torchvision transforms."""
    from torchvision import transforms as T

    mean, std = input_stats(cfg.arch)
    return T.Compose(
        [
            T.RandomResizedCrop(cfg.resolved_pre_crop_size, scale=(cfg.rrc_scale_min, 1.0)),
            T.RandomRotation(cfg.rotation_degrees),
            T.RandomHorizontalFlip(cfg.hflip_p),
            T.RandomVerticalFlip(cfg.vflip_p),
            T.CenterCrop(cfg.img_size),
            T.ColorJitter(brightness=cfg.brightness),
            T.ToTensor(),
            T.Normalize(mean, std),
        ]
    )


def run_plain(
    cfg: TrainConfig, data: SplitData, device: torch.device, timed_count: int
) -> tuple[TimedBatches, dict[str, Any]]:
    torch.manual_seed(cfg.seed)
    rows = data.rows("train")
    dataset = PlainImageFiles(
        rows["path"].tolist(),
        encode_labels(rows["label"].tolist(), data.class_names),
        plain_train_transform(cfg),
    )
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=True,
        num_workers=cfg.num_workers,
        generator=torch.Generator().manual_seed(cfg.seed),
        pin_memory=torch.cuda.is_available(),
    )
    model = build_model(cfg).to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    timed = TimedBatches(loader, timed_count)
    model.train()
    for images, targets in timed:
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        output = model(images)
        loss = criterion(output, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()  # the reference's MetricLogger.update(loss=loss.item()) syncs every step
    return timed, {"memory_format": "contiguous", "amp": "fp32", "data": "PIL from disk + v1"}


# --------------------------------------------------------------------------------------------
# our loop (the package path)
# --------------------------------------------------------------------------------------------
def run_ours(
    cfg: TrainConfig, data: SplitData, device: torch.device, timed_count: int
) -> tuple[TimedBatches, dict[str, Any]]:
    seed_everything(cfg.seed, cfg.deterministic)
    start = time.perf_counter()
    table = make_table(data, "train", build_train_transform(cfg), cfg)
    cache_s = time.perf_counter() - start
    loader = make_loader(table, cfg, train=True, generator=torch.Generator().manual_seed(cfg.seed))
    model = to_device(build_model(cfg), device, cfg.channels_last)
    optimizer = make_optimizer(cfg, model)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    amp = autocast_dtype(device, cfg.precision)
    timed = TimedBatches(loader, timed_count)
    train_one_epoch(
        model,
        timed,  # type: ignore[arg-type]  # iterated like a DataLoader
        optimizer,
        criterion,
        device,
        channels_last=cfg.channels_last,
        amp_dtype=amp,
        progress=False,
    )
    extra = {
        "memory_format": "channels_last" if cfg.channels_last else "contiguous",
        "amp": str(amp).removeprefix("torch.") if amp is not None else "fp32",
        "data": "decode-once uint8 cache + v2" if cfg.cache_images else "PIL from disk + v2",
        "cache_build_s": cache_s,
    }
    return timed, extra


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    """One loop in this process; returns its measurements."""
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg, data = prepare_data(args)
    device = pick_device(cfg.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    runner = run_ours if args.only == "ours" else run_plain
    rss_before = peak_rss_mib()
    timed, extra = runner(cfg, data, device, args.warmup + args.steps)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    result = summarise(timed, args.warmup, cfg.batch_size)
    result.update(extra)
    result["loop"] = args.only
    result["peak_rss_mib"] = peak_rss_mib()
    result["rss_before_setup_mib"] = rss_before
    if device.type == "cuda":
        result["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


# --------------------------------------------------------------------------------------------
# parent: alternate children, aggregate, print
# --------------------------------------------------------------------------------------------
def child_command(args: argparse.Namespace, loop: str, out: Path) -> list[str]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--only",
        loop,
        "--child-out",
        str(out),
        "--arch",
        args.arch,
        "--impl",
        args.impl,
        "--device",
        args.device,
        "--deterministic",
        args.deterministic,
    ]
    for name in (
        "img_size",
        "batch_size",
        "warmup",
        "steps",
        "num_workers",
        "threads",
        "synthetic_size",
        "synthetic_per_class",
        "seed",
    ):
        cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return cmd


TRAIN_OVER_FORWARD = 3.0
"""A training step's FLOPs as a multiple of the forward pass (the backward pass computes the
gradients of both inputs and weights: twice the forward), the usual MFU convention."""


def training_flops_per_image(cfg: TrainConfig, device: torch.device) -> float:
    """FLOPs of one training step per image: the forward pass counted by
    ``torch.utils.flop_counter`` (convolutions and matmuls) on a batch of the run's size, times
    ``TRAIN_OVER_FORWARD``. The backward pass is not counted by the tool: its formula for a
    grouped convolution's weight gradient ignores the groups (pytorch/pytorch#183405), which on
    EfficientNet's depthwise convolutions overstates a training step about 15-fold."""
    from torch.utils.flop_counter import FlopCounterMode

    model = to_device(build_model(cfg), device, cfg.channels_last).eval()
    images = torch.randn(cfg.batch_size, 3, cfg.img_size, cfg.img_size, device=device)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(images)
    return TRAIN_OVER_FORWARD * counter.get_total_flops() / cfg.batch_size


def device_peak(device: torch.device, given: float) -> tuple[float | None, str]:
    """The peak TFLOP/s for MFU and where it came from (given, the device name, or none)."""
    if given:
        return given, "--peak-tflops"
    if device.type != "cuda":
        return None, "no peak known for this device (give --peak-tflops)"
    name = torch.cuda.get_device_name(device)
    for key, peak in PEAK_BF16_TFLOPS.items():
        if key in name:
            return peak, f"PEAK_BF16_TFLOPS[{key!r}] for {name}"
    return None, f"{name} is not in PEAK_BF16_TFLOPS (give --peak-tflops)"


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.only:
        result = run_child(args)
        text = json.dumps(result, indent=2)
        if args.child_out:
            args.child_out.write_text(text)
        else:
            print(text)
        return 0

    cfg, data = prepare_data(args)  # draw the synthetic images once, before any child
    # Children must use the same per-class count (a fixed count skips the sizing search).
    args.synthetic_per_class = cfg.synthetic_per_class
    threads = args.threads or torch.get_num_threads()
    args.threads = threads
    device = pick_device(cfg.device)
    print(
        f"{cfg.arch} ({cfg.impl}) @ {cfg.img_size} px, batch {cfg.batch_size}, "
        f"{len(data.rows('train'))} train images ({cfg.synthetic_size} px synthetic), "
        f"warmup {args.warmup} + {args.steps} timed steps, {args.repeats} repeat(s), "
        f"num_workers {cfg.num_workers}, device {device}, {threads} thread(s)",
        flush=True,
    )
    runs: dict[str, list[dict[str, Any]]] = {loop: [] for loop in LOOPS}
    with tempfile.TemporaryDirectory(prefix="wbc-throughput-") as tmp:
        for repeat in range(args.repeats):
            for loop in LOOPS:
                out = Path(tmp) / f"{loop}-{repeat}.json"
                start = time.perf_counter()
                subprocess.run(child_command(args, loop, out), check=True)
                result = json.loads(out.read_text())
                runs[loop].append(result)
                print(
                    f"  run {repeat + 1}/{args.repeats} {loop:>5}: "
                    f"{result['images_per_s']:7.2f} img/s, {result['step_ms']:7.1f} ms/step "
                    f"(data {result['data_ms']:6.1f}), peak RSS {result['peak_rss_mib']:7.1f} MiB "
                    f"[child {time.perf_counter() - start:.0f} s]",
                    flush=True,
                )

    summary = {
        loop: {
            key: median_of(loop_runs, key)
            for key in ("images_per_s", "data_ms", "peak_rss_mib")
            + (("cuda_max_allocated_mib",) if "cuda_max_allocated_mib" in loop_runs[0] else ())
        }
        for loop, loop_runs in runs.items()
    }
    for row in summary.values():  # ms/step consistent with the median images/s
        row["step_ms"] = 1000 * cfg.batch_size / row["images_per_s"]
    ratio = summary["ours"]["images_per_s"] / summary["plain"]["images_per_s"]
    # Each repeat ran plain then ours back to back: their ratio sees (nearly) the same load.
    paired = [
        o["images_per_s"] / p["images_per_s"]
        for p, o in zip(runs["plain"], runs["ours"], strict=True)
    ]
    cuda = "cuda_max_allocated_mib" in summary["ours"]

    header = f"{'loop':<6} {'images/s':>9} {'ms/step':>9} {'data ms/step':>13} {'peak RSS MiB':>13}"
    header += f" {'CUDA max MiB':>13}" if cuda else ""
    print()
    print(header)
    print("-" * len(header))
    for loop in LOOPS:
        row = summary[loop]
        line = (
            f"{loop:<6} {row['images_per_s']:>9.2f} {row['step_ms']:>9.1f} "
            f"{row['data_ms']:>13.1f} {row['peak_rss_mib']:>13.1f}"
        )
        line += f" {row['cuda_max_allocated_mib']:>13.1f}" if cuda else ""
        print(line)
    where = f"CPU {threads} threads" if device.type == "cpu" else f"{device.type.upper()}"
    tail = (
        f"({cfg.arch} @{cfg.img_size} px, batch {cfg.batch_size}, {where}"
        f"{f', {cfg.num_workers} workers' if cfg.num_workers else ''}"
        f"{'' if cfg.deterministic else ', ours deterministic=false'})"
    )
    print(f"medians of {args.repeats} run(s) each; 'data' = time waiting for the next batch")
    print(
        "ratio per repeat (plain and ours back to back): "
        + ", ".join(f"{r:.2f}x" for r in paired)
        + f"; median {statistics.median(paired):.2f}x"
    )
    print(f"ratio ours/plain: {ratio:.2f}x {tail}")
    flops = training_flops_per_image(cfg, device)
    peak, peak_source = device_peak(device, args.peak_tflops)
    achieved = flops * summary["ours"]["images_per_s"] / 1e12
    mfu = achieved / peak if peak else None
    print(
        f"ours: {flops / 1e9:.2f} GFLOP per training image (torch.utils.flop_counter), "
        f"{achieved:.3f} TFLOP/s achieved"
        + (
            f", MFU {100 * mfu:.1f}% of {peak:g} TFLOP/s ({peak_source})"
            if mfu
            else f"; MFU: {peak_source}"
        )
    )

    if args.json:
        results = {
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "config": cfg.to_flat(),
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "flops_per_image": flops,
            "achieved_tflops": achieved,
            "peak_tflops": peak,
            "peak_source": peak_source,
            "mfu": mfu,
            "threads": threads,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "runs": runs,
            "median": summary,
            "ratio_ours_plain": ratio,
            "ratio_per_repeat": paired,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
