"""A profile at tiny scale on the CPU: ``wbcrepro reproduce --profile paper --dry-run``.

A GPU queue is a bad place to find a misspelt parameter, a missing key or a bad path: the job waits
hours, starts, and fails in its first second. The dry run executes **every notebook of the
profile** (every data page, training arm, ablation, table and ledger) with the profile's own
parameters, shrunk so that the whole profile runs on a laptop CPU in minutes:

* one seed per arm (seeds differ in nothing else), ``DRY_EPOCHS`` epochs, input sizes scaled so
  that 224 px becomes ``DRY_IMG_SIZE`` (380 px stays larger than 224 px, so an ablation still
  varies);
* training runs learn the embedded synthetic set (``DRY_SYNTHETIC``: a few images per class, in
  the paper's six classes) instead of their data set: evaluating a real test split (the Kaggle
  set's published TEST alone is 2,487 images) would take minutes per run on a CPU. The data
  pages read the real sets where they are under the data root (their loaders run; a missing set
  is read as synthetic, and ``--plan`` names it);
* ImageNet weights replaced by a randomly initialised file of the same architecture (the real
  file's absence is what ``--plan`` reports; loading and replacing the head is exercised here).

It writes into ``book/runs/<profile>-dryrun/`` (ignored by git), never over the profile's runs.
Its numbers mean nothing and no book is built from them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from wbcrepro.reproduction.profiles import Profile, RunSpec
from wbcrepro.reproduction.roles import TRAINS, role_of

DRY_SUFFIX = "-dryrun"
DRY_EPOCHS = 2
DRY_IMG_SIZE = 64
DRY_SYNTHETIC: dict[str, Any] = {
    "dataset": "synthetic",
    "synthetic_per_class": 10,
    "synthetic_size": 80,
    "data_root": "",
}
DRY_SETTINGS: dict[str, Any] = {
    **DRY_SYNTHETIC,
    "epochs": DRY_EPOCHS,
    "batch_size": 8,
    "num_workers": 0,
    "device": "cpu",
    "val_fraction": 0.2,
    "test_fraction": 0.2,
}


def dry_size(img_size: Any) -> int:
    """224 px -> ``DRY_IMG_SIZE``, other sizes in proportion (at least 32)."""
    return max(32, round(int(img_size) * DRY_IMG_SIZE / 224))


def dry_run_profile(profile: Profile) -> Profile:
    """The profile shrunk for the dry run (see the module doc)."""
    kept = [spec for spec in profile.runs if _first_seed(spec, profile)]
    ids = {spec.id for spec in kept}
    runs = []
    for spec in kept:
        params = dict(spec.params)
        merged = spec.parameters(profile)
        if "dataset" in merged and not _present(str(merged["dataset"]), merged):
            params["dataset"] = "synthetic"
        if "img_size" in merged:
            params["img_size"] = dry_size(merged["img_size"])
        if role_of(spec.notebook).kind == TRAINS:
            params.update(DRY_SETTINGS)
            if merged.get("weights") == "imagenet":
                params["weights"] = str(random_weights(str(merged.get("arch")), merged))
        reads = tuple(r for r in spec.reads if r in ids)
        runs.append(replace(spec, params=params, reads=reads))
    return replace(
        profile,
        name=profile.name + DRY_SUFFIX,
        runs=tuple(runs),
        title=f"{profile.title} (dry run: tiny scale, numbers meaningless)",
        jobs=2 if profile.jobs is None else profile.jobs,
        cluster=replace(profile.cluster, gpus_per_run=0),
    )


def _first_seed(spec: RunSpec, profile: Profile) -> bool:
    if spec.id == spec.arm:
        return True
    first = next(s for s in profile.runs if s.arm == spec.arm)
    return spec.id == first.id


def _present(dataset: str, params: dict[str, Any]) -> bool:
    from wbcrepro.data.datasets import get_dataset
    from wbcrepro.paths import data_root

    spec = get_dataset(dataset)
    return not spec.missing(data_root(str(params.get("data_root", "") or "") or None))


def random_weights(arch: str, params: dict[str, Any]) -> Path:
    """A randomly initialised state dict of ``arch`` in the cache (made once): the dry run's
    stand-in for ImageNet weights, which are often not on a CPU machine without internet."""
    import torch

    from wbcrepro.config import TrainConfig
    from wbcrepro.model.networks import build_model
    from wbcrepro.paths import cache_root

    impl = str(params.get("impl", "torchvision"))
    path = cache_root() / "dryrun" / f"{arch}-{impl}-random.pth"
    if not path.is_file():
        cfg = TrainConfig.from_flat(
            {"arch": arch, "impl": impl, "weights": "none", "transfer": "scratch", "num_classes": 6}
        )
        torch.manual_seed(0)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(build_model(cfg).state_dict(), tmp)
        tmp.replace(path)
    return path
