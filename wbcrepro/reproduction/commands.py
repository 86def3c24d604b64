"""The ``reproduce`` and ``book`` commands: their arguments, and what each does with them.

``wbcrepro.cli`` adds them to the main parser (as ``wbcrepro.data.commands`` adds ``data``).
"""

from __future__ import annotations

import argparse
import sys

from wbcrepro.reproduction.cluster import EXECUTORS


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from wbcrepro.reproduction.book import BookError, build_book
    from wbcrepro.reproduction.profiles import load_profile
    from wbcrepro.reproduction.runner import reproduce

    profile = load_profile(args.profile)
    cluster = {key: getattr(args, key) for key in CLUSTER_FLAGS}
    if args.dry_run:
        from wbcrepro.reproduction.dryrun import dry_run_profile

        profile = dry_run_profile(profile)
        cluster["gpus_per_run"] = 0
    if args.plan or args.json:
        from wbcrepro.reproduction.estimate import reference_throughput
        from wbcrepro.reproduction.plan import print_plan

        throughput, fallback = _throughput(args), reference_throughput(profile.repo)
        return print_plan(
            profile, args.only, args.force, args.json, args.plan, throughput, cluster, fallback
        )
    summary = reproduce(
        profile,
        only=args.only,
        force=args.force,
        progress=True,
        jobs=args.jobs,
        execution=args.executor,
        cluster=cluster,
        detach=args.detach,
    )
    if summary.pending:
        print(
            f"wbcrepro reproduce: {len(summary.pending)} run(s) left on SLURM or waiting for them; "
            f"the same command collects them and builds the book",
            file=sys.stderr,
        )
    elif not args.no_book and not args.dry_run:
        # Build even after failures: the book then shows what succeeded (failed runs are left
        # out and named), and the exit status below still reports the failure.
        try:
            build_book(profile)
        except BookError as err:
            print(f"wbcrepro reproduce: book build failed: {err}", file=sys.stderr)
            _log(profile, summary, args, book_built=False)
            return 1
        _log(profile, summary, args, book_built=True)
    else:
        _log(profile, summary, args, book_built=False)
    if not summary.ok:
        failed = ", ".join(o.id for o in summary.failed)
        print(f"wbcrepro reproduce: {len(summary.failed)} run(s) failed: {failed}", file=sys.stderr)
    return summary.exit_code


def _log(profile, summary, args: argparse.Namespace, book_built: bool) -> None:
    """Append the call to the profile's call log (its measured wall time, start to book)."""
    from wbcrepro.reproduction.calls import log_call

    log_call(
        profile, summary, force=args.force, only=args.only, jobs=args.jobs,
        executor=args.executor, book_built=book_built,
    )  # fmt: skip


CLUSTER_FLAGS = (
    "gpus_per_run", "cpus_per_task", "mem_gb", "time_min", "partition", "account",
)  # fmt: skip


def _throughput(args: argparse.Namespace):
    """The measured training speed a plan estimates GPU time from (--throughput-json or
    --img-per-s), or None (estimates from the records)."""
    from wbcrepro.reproduction.estimate import Throughput, read_throughput

    if args.throughput_json and args.img_per_s:
        raise ValueError("give --throughput-json or --img-per-s, not both")
    if args.throughput_json:
        return read_throughput(args.throughput_json)
    if args.img_per_s:
        return Throughput.given(args.img_per_s, args.at_arch, args.at_img_size)
    return None


def _cmd_book(args: argparse.Namespace) -> int:
    from wbcrepro.reproduction.book import BookError, build_book

    try:
        build_book(args.profile, strict=not args.no_strict)
    except BookError as err:
        print(f"wbcrepro book: error: {err}", file=sys.stderr)
        return 1
    return 0


def add_reproduction_commands(sub) -> None:
    """Add ``reproduce`` and ``book`` to the subcommands ``sub``."""
    rep = sub.add_parser(
        "reproduce",
        help="run a profile's notebooks (papermill), then build its book",
        description="Execute the notebooks listed in profiles/<NAME>.yaml, in order (a page "
        "always after the runs it reads), with papermill (kernel python3, repo root as cwd). "
        "Executed notebooks and run folders go to book/runs/<NAME>/; each run's record "
        "<id>.run.json says running/complete/failed. A run whose record is complete for the same "
        "notebook content, parameters and package code is skipped, so after an interruption the "
        "same command redoes only unfinished or changed runs; a page is re-rendered whenever a "
        "run it reads changed, in the same call. A failing run does not stop the others; the "
        "summary names it and the exit status is 1. Then the book is built into _build/<NAME>/ "
        "(see 'wbcrepro book'). With --plan nothing is run: each run is listed as train, render "
        "or skip, with the reasons and the minutes its last record took.",
        epilog="examples: wbcrepro reproduce --profile smoke;  "
        "wbcrepro reproduce --profile cpu --plan;  "
        "wbcrepro reproduce --profile paper --plan --img-per-s 400;  "
        "wbcrepro reproduce --profile paper --executor slurm --partition gpu --detach;  "
        "wbcrepro reproduce --profile cpu --only main-bccd --force --no-book",
    )
    rep.add_argument("--profile", required=True, help="profile name (profiles/NAME.yaml) or file")
    rep.add_argument(
        "--only",
        nargs="+",
        action="extend",
        metavar="ID",
        help="run only these run ids, or arms (all the seed runs of a profile entry with seeds); "
        "the others are untouched",
    )
    rep.add_argument(
        "--force", action="store_true", help="re-execute runs even when they are complete"
    )
    rep.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="training and data notebooks run N side by side, each with cores/N threads and "
        "its own GPU (default: the profile's 'jobs', else one per visible GPU for a GPU "
        "profile, else 1); with --executor slurm, the array's parallelism",
    )
    rep.add_argument("--no-book", action="store_true", help="do not build the book afterwards")
    rep.add_argument(
        "--plan",
        action="store_true",
        help="say what the call would do (train, render or skip each run, why, estimated "
        "minutes) and change nothing; honours --only and --force",
    )
    rep.add_argument(
        "--json",
        action="store_true",
        help="with --plan: the plan as JSON (counts, minutes, device-hours, missing inputs, runs)",
    )
    rep.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="inline",
        help="where training and data runs execute: inline (kernels of this process, the "
        "default), local (submitit jobs on this machine) or slurm (a submitit job array per "
        "wave, one GPU each); pages always run here",
    )
    rep.add_argument(
        "--detach",
        action="store_true",
        help="with --executor slurm: return once the jobs are submitted; the same command "
        "later collects what finished and renders the pages",
    )
    rep.add_argument(
        "--dry-run",
        action="store_true",
        help="execute every notebook of the profile at tiny scale on the CPU (one seed per arm, "
        "1 epoch, small images and subsets, synthetic data where a set is missing) into "
        "book/runs/<NAME>-dryrun/: parameter errors show here, not in a queue",
    )
    job = rep.add_argument_group("job resources (override the profile's cluster: block)")
    job.add_argument("--partition", help="SLURM partition")
    job.add_argument("--account", help="SLURM account")
    job.add_argument("--time-min", type=int, metavar="MIN", help="time limit per run")
    job.add_argument("--cpus-per-task", type=int, metavar="N")
    job.add_argument("--mem-gb", type=int, metavar="GB")
    job.add_argument("--gpus-per-run", type=int, metavar="N", help="0 trains on the CPU")
    est = rep.add_argument_group("--plan estimates from a measured training speed")
    est.add_argument(
        "--throughput-json",
        metavar="PATH",
        help="benchmarks/train_throughput.py --json output from the target device",
    )
    est.add_argument("--img-per-s", type=float, metavar="X", help="training images per second")
    est.add_argument(
        "--at-arch", default="efficientnet_b4", help="the architecture --img-per-s was measured on"
    )
    est.add_argument(
        "--at-img-size", type=int, default=224, help="the input size --img-per-s was measured at"
    )
    rep.set_defaults(func=_cmd_reproduce)

    bk = sub.add_parser(
        "book",
        help="build a profile's Jupyter Book from its executed notebooks",
        description="Build the Jupyter Book (JB1) of a profile from book/*.md and the executed "
        "notebooks in book/runs/<NAME>/ (nothing is executed) into "
        "_build/<NAME>/_build/html/. The TOC is generated into _build/toc-<NAME>.yml (for the "
        "profile 'cpu', the published book, also into _toc.yml). Runs that failed or never ran "
        "are left out and named. Synthetic profiles get a banner on every page. Warnings are "
        "errors unless --no-strict.",
    )
    bk.add_argument("--profile", required=True, help="profile name (profiles/NAME.yaml) or file")
    bk.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    bk.set_defaults(func=_cmd_book)
