"""``wbcrepro data list | download | check | leakage``: the data commands and their parser.

They touch only data (the registry, loaders, downloads, leakage audits), so they live beside it;
:mod:`wbcrepro.cli` adds them to the top-level parser.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from wbcrepro.config import ConfigError, TrainConfig


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """``["epochs=2", "arch=efficientnet_b0"]`` -> ``{"epochs": "2", ...}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"expected key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _cmd_data_list(args: argparse.Namespace) -> int:
    from wbcrepro.data.inspection import list_datasets
    from wbcrepro.paths import data_root

    root = data_root(args.root)
    table = list_datasets(root)
    print(f"data root: {root}")
    print(table.drop(columns=["size"]).to_string(index=False))
    return 0


def _cmd_data_download(args: argparse.Namespace) -> int:
    from wbcrepro.data.datasets import get_dataset
    from wbcrepro.data.download import download_dataset
    from wbcrepro.paths import data_root

    root = data_root(args.root)
    for path in download_dataset(get_dataset(args.name), root):
        print(f"ready: {path}")
    return 0


def _cmd_data_check(args: argparse.Namespace) -> int:
    from wbcrepro.data.inspection import check_dataset, format_check

    params = {"dataset": args.name, "num_classes": 0, **parse_overrides(args.overrides)}
    if args.root:
        params["data_root"] = args.root
    report = check_dataset(TrainConfig.from_flat(params), decode=not args.quick, progress=True)
    print(format_check(report))
    return 1 if report["problems"] else 0


def _cmd_data_leakage(args: argparse.Namespace) -> int:
    from wbcrepro.data.leakage.audits import write_audit
    from wbcrepro.paths import data_root

    if args.dataset or args.folds:
        return _fold_leakage(args, data_root(args.root))
    record = write_audit(data_root(args.root), Path(args.out), args.method, progress=True)
    kaggle = record["kaggle"]
    for method in record["methods"]:
        part = kaggle[method] if kaggle["method"] == "both" else kaggle
        print(
            f"{method}: Kaggle test images with a near-copy in train: published split "
            f"{part['published_split']['fraction_leaked']:.1%}, random re-split "
            f"{part['random_resplit']['fraction_leaked']:.1%}"
        )
    print(f"wrote {args.out}")
    return 0


def _fold_leakage(args: argparse.Namespace, root: Path) -> int:
    from wbcrepro.data.leakage.folds import fold_audit
    from wbcrepro.fileio import write_json

    if not (args.dataset and args.folds):
        raise ValueError("--dataset and --folds go together (the cross-validation to audit)")
    if args.method == "both":
        raise ValueError("a fold audit takes one --method: hash or embedding")
    record = fold_audit(
        root,
        args.dataset,
        args.folds,
        args.method,
        progress=True,
        group_near_copies=args.group_near_copies,
    )
    write_json(Path(args.out), record)
    for fold in record["folds"]:
        print(f"fold {fold['fold']}: {fold['n_leaked']} of {fold['n_split']} test images leaked")
    print(f"{record['n_leaked']} of {record['n_images']} in all; wrote {args.out}")
    return 0


def add_data_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data`` and its subcommands to the top-level parser's ``subparsers``."""
    data = subparsers.add_parser(
        "data",
        help="list, download, check and audit datasets",
        description="Datasets live under the data root: --root, else $WBCREPRO_DATA, else ./data.",
    )
    data_sub = data.add_subparsers(dest="data_command", required=True)
    dl = data_sub.add_parser("list", help="every dataset, and whether it is present")
    dl.add_argument("--root", help="data root")
    dl.set_defaults(func=_cmd_data_list)
    dd = data_sub.add_parser("download", help="fetch a dataset from its public URL")
    dd.add_argument("name")
    dd.add_argument("--root", help="data root (must be writable)")
    dd.set_defaults(func=_cmd_data_download)
    dc = data_sub.add_parser(
        "check",
        help="counts, image sizes and problems of a dataset",
        description="Exit status 1 when unreadable images are found.",
    )
    dc.add_argument("name")
    dc.add_argument(
        "overrides", nargs="*", metavar="key=value", help="loader settings such as crop_margin=16"
    )
    dc.add_argument("--root", help="data root")
    dc.add_argument("--quick", action="store_true", help="read image headers only")
    dc.set_defaults(func=_cmd_data_check)
    dk = data_sub.add_parser(
        "leakage",
        help="near-copies across the Kaggle splits and between Kaggle and BCCD, or across the "
        "folds of one dataset's cross-validation (one JSON)",
        description="Run the leakage audits (wbcrepro.data.leakage.audits) on kaggle-bloodcells, "
        "kaggle-bloodcells-simple and bccd, and write one JSON record (paths in it are relative "
        "to the data root). Results are cached: a second run takes seconds. The embedding "
        "detector takes about half an hour on 2 CPU cores the first time.",
    )
    dk.add_argument("--root", help="data root")
    dk.add_argument("--out", required=True, help="the JSON file to write")
    dk.add_argument(
        "--method",
        default="hash",
        choices=["hash", "embedding", "both"],
        help="detector(s): perceptual hash (default), CNN embedding, or both",
    )
    dk.add_argument(
        "--dataset",
        metavar="NAME",
        help="with --folds: audit that dataset's k-fold cross-validation instead (each test "
        "fold against the other folds, as a run with n_folds=K builds them)",
    )
    dk.add_argument("--folds", type=int, default=0, metavar="K", help="folds (with --dataset)")
    dk.add_argument(
        "--group-near-copies",
        action="store_true",
        help="with --folds: the folds of a run with group_near_copies=true",
    )
    dk.set_defaults(func=_cmd_data_leakage)
