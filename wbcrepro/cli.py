"""Command line: ``wbcrepro train | evaluate | predict | export-model | data | reproduce | book``.

Config overrides are flat ``key=value`` pairs, the same keys as a notebook's parameters cell.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from wbcrepro.config import ConfigError, TrainConfig
from wbcrepro.data.commands import add_data_commands, parse_overrides
from wbcrepro.reproduction.commands import add_reproduction_commands


def _cmd_train(args: argparse.Namespace) -> int:
    from wbcrepro.training.fit import fit

    cfg = TrainConfig.from_flat(parse_overrides(args.overrides))
    results = fit(cfg, args.out, resume=args.resume, progress=not args.quiet)
    test = results["final"].get("test") or results["final"].get("val")
    print(f"run folder: {args.out}")
    if test:
        _print_report(test)
    return 0


def _print_report(report: dict) -> None:
    lo, hi = report["accuracy_ci95"]
    flo, fhi = report["macro_f1_ci95"]
    print(
        f"n={report['n']}  accuracy {report['accuracy']:.4f} (95% CI {lo:.4f}-{hi:.4f})  "
        f"balanced accuracy {report['balanced_accuracy']:.4f}  "
        f"macro-F1 {report['macro_f1']:.4f} (95% CI {flo:.4f}-{fhi:.4f})"
    )
    for name, row in report["per_class"].items():
        recall = "n/a" if row["recall"] is None else f"{row['recall']:.3f}"
        print(
            f"  {name:22s} recall {recall:>6s}  precision {row['precision']:.3f}  "
            f"f1 {row['f1']:.3f}  support {row['support']}"
        )


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from wbcrepro.inference.checkpoint_eval import evaluate_checkpoint

    report = evaluate_checkpoint(args.checkpoint, args.split, parse_overrides(args.overrides))
    _print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from wbcrepro.inference.decision import label_space
    from wbcrepro.inference.loading import load_model
    from wbcrepro.inference.predict import (
        collect_images,
        parse_extensions,
        predict_images,
        write_predictions,
    )

    if args.label_space:
        label_space(args.label_space)  # a typo is a usage error before the model loads
    paths = collect_images(args.paths, parse_extensions(args.extensions))
    loaded = load_model(args.checkpoint)
    if args.adapt:
        from wbcrepro.inference.adapt import adapt_batchnorm

        done = adapt_batchnorm(loaded, paths)
        print(
            f"--adapt: BatchNorm statistics of {done.layers} layers recomputed over "
            f"{done.images} image(s)",
            file=sys.stderr,
        )
    result = predict_images(
        loaded,
        paths,
        batch_size=args.batch_size,
        progress=sys.stderr.isatty(),
        label_space=args.label_space,
    )
    for path, error in result.skipped.itertuples(index=False):
        print(f"skipped {path}: {error}", file=sys.stderr)
    if loaded.unsure is None:
        print(
            "note: this model records no unsure threshold: column 'unsure' is empty",
            file=sys.stderr,
        )
    if result.warning:
        print(result.warning, file=sys.stderr)
    if args.csv:
        skipped_csv = write_predictions(result, args.csv)
        print(f"wrote {len(result.table)} predictions to {args.csv}")
        where = f" (listed in {skipped_csv})" if len(result.skipped) else ""
    else:
        print(result.table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        where = ""
    print(
        f"read {len(result.table)} image(s), skipped {len(result.skipped)} unreadable{where}",
        file=sys.stderr,
    )
    return 1 if len(result.skipped) else 0


def _cmd_export_model(args: argparse.Namespace) -> int:
    from wbcrepro.inference.run_model import best_seed_folder
    from wbcrepro.inference.shipped import DEFAULT_MODEL, export_model

    out = Path(args.out) if args.out else DEFAULT_MODEL
    meta = export_model(best_seed_folder(args.run_folder), out)
    source, test = meta["source"], meta["test_metrics"] or {}
    accuracy = f", test accuracy {test['accuracy']:.4f}" if "accuracy" in test else ""
    print(
        f"wrote {out} ({meta['bytes'] / 1e6:.1f} MB): {meta['arch']} at {meta['img_size']} px, "
        f"{meta['num_classes']} classes ({', '.join(meta['class_names'])}), from run "
        f"{source['run_folder']} ({source['model_file']}, epoch {source['epoch']}, dataset "
        f"{source['dataset']}{' SYNTHETIC' if source['synthetic'] else ''}){accuracy}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wbcrepro",
        description="Reproduce 'Analysis of white blood cells with CNNs' (Chegodaev 2021).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train",
        help="train one run into a run folder",
        description="Train one run. Overrides are key=value pairs of the config "
        "(see wbcrepro.config.TrainConfig); the defaults are the paper's recipe.",
        epilog="example: wbcrepro train dataset=synthetic arch=efficientnet_b0 img_size=64 "
        "epochs=2 --out runs/demo",
    )
    train.add_argument("overrides", nargs="*", metavar="key=value")
    train.add_argument("--out", required=True, help="run folder to write")
    train.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=_cmd_train)

    ev = sub.add_parser(
        "evaluate",
        help="evaluate a checkpoint on a dataset split",
        description="Evaluate a run's selected model on a split of its dataset (the split stored "
        "in the run folder when present), through the loader and preprocessing 'wbcrepro "
        "predict' uses. Overrides such as data_root=... or batch_size=... apply on top of the "
        "run's config; the model and its preprocessing (arch, img_size, ...) are fixed.",
    )
    ev.add_argument("checkpoint", help="checkpoint.pt or the run folder holding it")
    ev.add_argument("overrides", nargs="*", metavar="key=value")
    ev.add_argument("--split", default="test", choices=["train", "val", "test"])
    ev.add_argument("--json", help="also write the report to this JSON file")
    ev.set_defaults(func=_cmd_evaluate)

    pr = sub.add_parser(
        "predict",
        help="class and probabilities for images or folders",
        description="Predict the class of each image with the model shipped in the package, or "
        "with --checkpoint. Folders are searched recursively for --extensions. Unreadable files "
        "(not an image, truncated) are skipped and listed on stderr (and, with --csv, in "
        "<csv stem>.skipped.csv beside it). Exit status: 0 all read, 1 some skipped, 2 usage "
        "errors (no images found, a named file missing).",
        epilog="examples: wbcrepro predict cells/ --csv predictions.csv;  "
        "wbcrepro predict --adapt other_lab/ --csv predictions.csv;  "
        "wbcrepro predict 'segmentation_WBC/Dataset 1' --extensions .bmp --checkpoint runs/demo",
    )
    pr.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    pr.add_argument(
        "--csv",
        help="write a CSV (path, predicted, confidence, unsure, p_<class>...); 'unsure' marks "
        "an answer whose top probability is below the threshold the model card states",
    )
    pr.add_argument(
        "--checkpoint",
        metavar="CKPT_OR_RUN_FOLDER",
        help="a run folder (its best.pt, else checkpoint.pt), a checkpoint file or a shipped "
        "model file (default: the model shipped in the package)",
    )
    pr.add_argument(
        "--extensions",
        metavar=".jpg,.png,...",
        help="file suffixes searched in folders (default: every image type; pass .bmp for "
        "Zheng 2018, whose .png files are masks)",
    )
    pr.add_argument(
        "--label-space",
        metavar="NAME",
        help="answer in another label space: five-class or a registered dataset (e.g. "
        "zheng2018, bccd-cropped). 'predicted' is then the class whose summed probability is "
        "highest (band + segmented neutrophil -> neutrophil), as cross-domain evaluation "
        "scores it; the p_<class> columns stay the model's own (default: the model's classes)",
    )
    pr.add_argument(
        "--adapt",
        action="store_true",
        help="first recompute the model's BatchNorm statistics over the given images (AdaBN: "
        "no labels, weights unchanged), for a batch of at least 32 readable images from ONE "
        "lab and scanner whose images the model has not seen. A folder that mixes labs or "
        "acquisition styles gets statistics that fit neither and can do worse than no "
        "--adapt; this cannot be detected from the images for sure, so adapt each lab's "
        "folder on its own. The model card says when it helps",
    )
    pr.add_argument("--batch-size", type=int, default=32)
    pr.set_defaults(func=_cmd_predict)

    ex = sub.add_parser(
        "export-model",
        help="write a run's selected model as one small shipped file",
        description="Export a run folder's selected model (best.pt, else checkpoint.pt) with "
        "fp16 weights (fp32 BatchNorm and head), class names, decode size and evaluation "
        "transform, decision rule, source run and test metrics into one "
        "file of at most 10 MB (the default is the package's shipped model, used by "
        "'wbcrepro predict' without --checkpoint).",
    )
    ex.add_argument(
        "run_folder",
        metavar="RUN_FOLDER",
        help="a run folder, or an arm (RUN_FOLDER-s<seed> folders): its best seed on validation",
    )
    ex.add_argument("--out", help="the file to write (default: wbcrepro/assets/pbc6.pt)")
    ex.set_defaults(func=_cmd_export_model)

    add_data_commands(sub)

    add_reproduction_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ConfigError, FileNotFoundError, KeyError, ValueError, OSError, RuntimeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"wbcrepro {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
