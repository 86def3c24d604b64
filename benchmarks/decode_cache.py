"""Epoch time of the input pipeline with and without the decode-once cache.

Without the cache every epoch opens and decodes each full-size image (640x480-derived JPEG crops,
320x240 Kaggle JPEGs, BMPs) before the paper's augmentation; with it (``cache_images=true``, the
default) each image is decoded and downscaled once, to 1.15x the RandomResizedCrop size, and kept
in memory for the run. This script times one pass of the training DataLoader (decode +
augmentation + batching, no network) both ways, alternating, on a real dataset.

    WBCREPRO_DATA=../shared/data python benchmarks/decode_cache.py --dataset kaggle-bloodcells \\
        --img-size 128 --limit 2000 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence

from wbcrepro.config import TrainConfig
from wbcrepro.data.loading import load_split_data, make_loader, make_table
from wbcrepro.data.transforms import build_train_transform


def one_epoch_seconds(cfg: TrainConfig, limit: int) -> tuple[float, float, int]:
    """(set-up seconds, epoch seconds, images) of one pass over the train split."""
    data = load_split_data(cfg)
    if limit:
        train = data.rows("train").sample(n=min(limit, len(data.rows("train"))), random_state=0)
        data = type(data)(
            data.name,
            data.class_names,
            data.manifest[
                data.manifest.index.isin(train.index) | (data.manifest["split"] != "train")
            ],
            data.synthetic,
            data.excluded,
            data.notes,
        )
    tic = time.perf_counter()
    table = make_table(data, "train", build_train_transform(cfg), cfg)
    setup = time.perf_counter() - tic
    tic = time.perf_counter()
    images = sum(len(targets) for _, targets in make_loader(table, cfg, train=True))
    return setup, time.perf_counter() - tic, images


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="kaggle-bloodcells")
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=2000, help="train images used (0 = all)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", help="write the measurements here")
    args = parser.parse_args(argv)
    base = {
        "dataset": args.dataset,
        "num_classes": 0,
        "img_size": args.img_size,
        "exclude_classes": "basophil" if args.dataset in ("bccd", "zheng2018") else "",
    }
    runs: dict[str, list[dict]] = {"cache": [], "no_cache": []}
    for _ in range(args.repeats):
        for name, cache in (("no_cache", False), ("cache", True)):
            cfg = TrainConfig.from_flat({**base, "cache_images": cache})
            setup, epoch, images = one_epoch_seconds(cfg, args.limit)
            runs[name].append({"setup_s": setup, "epoch_s": epoch, "images": images})
            print(
                f"{name:9s} set-up {setup:6.1f} s  epoch {epoch:6.1f} s  "
                f"({images / epoch:6.1f} img/s, {images} images)",
                flush=True,
            )
    med = {k: statistics.median(r["epoch_s"] for r in v) for k, v in runs.items()}
    print(
        f"epoch time without cache {med['no_cache']:.1f} s, with cache {med['cache']:.1f} s: "
        f"{med['no_cache'] / med['cache']:.2f}x faster per epoch "
        f"({args.dataset}, {args.img_size} px, input pipeline only)"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "runs": runs, "median_epoch_s": med}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
