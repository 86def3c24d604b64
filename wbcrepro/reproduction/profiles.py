"""Reproduction profiles: which notebooks to run, with which parameters, for which book.

A profile is a YAML file ``profiles/<name>.yaml`` under the repository root. It lists runs in the
order they execute, so one file fully describes a reproduction: ``wbcrepro reproduce --profile
<name>`` runs it and builds its book. Pages read the run folders of other runs; which ones follows
from each notebook's parameters (:mod:`wbcrepro.reproduction.roles`, plus an entry's ``reads:``),
and a page listed before a run it reads executes after it all the same. Validation happens here,
before any notebook starts, so that a typo in a profile costs seconds rather than an hour of
training followed by a crash.

Format (every key except ``runs`` is optional)::

    name: smoke                 # must equal the file name when given
    title: "Smoke test"
    description: "..."
    synthetic: true             # the book says so on every page when true
    jobs: 2                     # runs side by side (default: 1, or one per GPU; --jobs wins)
    cluster: {gpus_per_run: 1}  # a run's resources as a job (reproduction.cluster)
    defaults: {epochs: 1}       # flat params merged into runs of the notebooks in defaults_for
    defaults_for: [experiment.ipynb]   # (this is the default) notebooks that receive `defaults`
    anchors:                    # read by nothing: a place to define YAML anchors for runs' params
      levers: &levers {val_every: 2}
    runs:
      - id: main-synthetic      # unique; names the executed notebook and the run folder
        notebook: experiment.ipynb     # a file in notebooks/
        section: results        # landing | data | results | ablations | table1 | claims
                                # (default results; landing: at most one run, the book's root)
        title: "Main run"       # the book's page title in the navigation (default: the id)
        params: {dataset: synthetic}   # flat scalars; they win over `defaults`
                                # ({<<: *levers, dataset: synthetic} merges an anchor in)
        seeds: [0, 1, 2]        # optional: one run per training seed, ids main-synthetic-s0 ...
                                # and a page of the seeds together, main-synthetic-arm
        reads: [main-synthetic] # optional: runs or arms (an arm: its seed runs) this run reads,
                                # besides those its notebook's parameters name (roles.ROLES)

``defaults_for`` because papermill injects every parameter it is given, even undeclared ones:
training defaults such as ``epochs`` would silently appear in a data overview notebook.

Every id a run reads (``reads:`` or derived, such as an ablation's ``run_ids``) must name a run
or arm of the profile, or loading fails naming the profile, the run and the id.

Every run additionally receives ``profile``, ``run_id`` and ``runs_root`` (the folder, relative to
the repository root, that holds all run folders of the profile); those names are reserved.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wbcrepro.reproduction.cluster import ClusterSettings, parse_cluster
from wbcrepro.reproduction.notebook_params import (
    NotebookParameterError,
    check_parameters,
    declared_defaults,
)
from wbcrepro.reproduction.roles import ARM_NOTEBOOK, ARM_SUFFIX, RoleError, resolve_reads

REPO_ENV = "WBCREPRO_REPO"
"""Environment variable naming the repository root (tests point it at a temporary folder)."""

SECTIONS = ("landing", "data", "results", "ablations", "table1", "claims")
"""Book sections a run may be placed in (see :mod:`wbcrepro.reproduction.book`). A run in
``landing`` (at most one per profile) is the book's root page: the findings, first."""

RESERVED_PARAMS = ("profile", "run_id", "runs_root")
PROFILE_KEYS = (
    "name", "title", "description", "synthetic", "jobs", "cluster", "defaults", "defaults_for",
    "anchors", "runs",
)  # fmt: skip
RUN_KEYS = ("id", "notebook", "section", "title", "params", "seeds", "reads")
DEFAULT_DEFAULTS_FOR = ("experiment.ipynb",)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

Scalar = str | int | float | bool


class ProfileError(ValueError):
    """A profile file cannot be used; the message names the file and the offending key."""


# --- where things live ----------------------------------------------------------------------------
def find_repo_root(repo: str | os.PathLike | None = None) -> Path:
    """The repository root: the argument, else ``$WBCREPRO_REPO``, else the folder above the
    installed package when it holds ``profiles/`` or ``pyproject.toml`` (an editable install),
    else the current directory.

    Injectable so that tests (and forks with their own profiles) never write into this checkout.
    """
    if repo:
        return Path(repo).expanduser().resolve()
    if os.environ.get(REPO_ENV):
        return Path(os.environ[REPO_ENV]).expanduser().resolve()
    above = Path(__file__).resolve().parents[2]
    if (above / "profiles").is_dir() or (above / "pyproject.toml").is_file():
        return above
    return Path.cwd().resolve()


def profiles_dir(repo: str | os.PathLike | None = None) -> Path:
    return find_repo_root(repo) / "profiles"


def notebooks_dir(repo: str | os.PathLike | None = None) -> Path:
    return find_repo_root(repo) / "notebooks"


def runs_root_rel(profile_name: str) -> str:
    """Run folders and executed notebooks of a profile, relative to the repository root.

    One folder per profile, so that a run of another profile writes beside, never over, them.
    """
    return f"book/runs/{profile_name}"


# --- the data model -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSpec:
    """One notebook execution of a profile."""

    id: str
    notebook: str
    """File name inside ``notebooks/`` (always with the ``.ipynb`` suffix)."""
    section: str = "results"
    title: str = ""
    params: Mapping[str, Scalar] = field(default_factory=dict, hash=False)
    arm: str = ""
    """The profile entry this run came from: its ``id`` before ``seeds`` expanded it into one run
    per seed (``<arm>-s<seed>``); equal to ``id`` for an entry without ``seeds``."""
    reads: tuple[str, ...] = ()
    """The run ids this run reads (arms expanded to their seed runs): the derived ones of its
    notebook's role, then the entry's ``reads:``. ``reproduce`` runs it after them and re-renders
    it when one of them changes."""

    def parameters(self, profile: Profile) -> dict[str, Scalar]:
        """The full flat dict papermill injects: defaults (when this notebook takes them), then
        the run's own params (which win), then profile / run_id / runs_root."""
        merged: dict[str, Scalar] = {}
        if self.notebook in profile.defaults_for:
            merged.update(profile.defaults)
        merged.update(self.params)
        merged.update(profile=profile.name, run_id=self.id, runs_root=runs_root_rel(profile.name))
        return merged

    @property
    def display_title(self) -> str:
        return self.title or self.id


@dataclass(frozen=True)
class Profile:
    """A validated profile file."""

    name: str
    path: Path
    repo: Path
    runs: tuple[RunSpec, ...]
    title: str = ""
    description: str = ""
    synthetic: bool = False
    jobs: int | None = None
    """Training runs executed side by side (None: not set, see ``cluster.default_jobs``)."""
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    defaults: Mapping[str, Scalar] = field(default_factory=dict, hash=False)
    defaults_for: tuple[str, ...] = DEFAULT_DEFAULTS_FOR

    @property
    def runs_root(self) -> Path:
        """Absolute folder holding this profile's executed notebooks and run folders."""
        return self.repo / runs_root_rel(self.name)

    def run(self, run_id: str) -> RunSpec:
        found = [spec for spec in self.runs if spec.id == run_id]
        if not found:
            known = ", ".join(spec.id for spec in self.runs)
            raise ProfileError(f"{self.path}: no run with id {run_id!r}; known ids: {known}")
        return found[0]

    @property
    def run_ids(self) -> list[str]:
        return [spec.id for spec in self.runs]


# --- loading and validation -----------------------------------------------------------------------
def list_profiles(repo: str | os.PathLike | None = None) -> list[str]:
    """Names of the profiles in ``profiles/`` (sorted)."""
    folder = profiles_dir(repo)
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def load_profile(name_or_path: str | os.PathLike, repo: str | os.PathLike | None = None) -> Profile:
    """Read and validate a profile given by name (``profiles/<name>.yaml``) or by file path."""
    root = find_repo_root(repo)
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or os.sep in text or "/" in text:
        path = Path(text).expanduser()
        if not path.is_absolute() and not path.exists():
            path = root / path
        if not path.is_file():
            raise ProfileError(f"profile file not found: {path}")
    else:
        path = root / "profiles" / f"{text}.yaml"
        if not path.is_file():
            known = ", ".join(list_profiles(root)) or "(none)"
            raise ProfileError(f"unknown profile {text!r} (no {path}); known profiles: {known}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: not valid YAML: {err}") from err
    return _parse(raw, path, root)


def _parse(raw: Any, path: Path, root: Path) -> Profile:
    def fail(message: str) -> ProfileError:
        return ProfileError(f"{path}: {message}")

    if not isinstance(raw, dict):
        raise fail("expected a mapping with at least a 'runs' list")
    unknown = sorted(set(raw) - set(PROFILE_KEYS))
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(PROFILE_KEYS)}")
    if not isinstance(raw.get("anchors", {}), dict):
        raise fail("key 'anchors' must be a mapping (a place for YAML anchors, read by nothing)")

    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise fail(f"key 'name': {name!r} is not a simple name (letters, digits, _ . -)")
    if name != path.stem:
        raise fail(f"key 'name': {name!r} differs from the file name {path.stem!r}")
    for key in ("title", "description"):
        if not isinstance(raw.get(key, ""), str):
            raise fail(f"key {key!r} must be a string")
    synthetic = raw.get("synthetic", False)
    if not isinstance(synthetic, bool):
        raise fail(f"key 'synthetic' must be true or false, got {synthetic!r}")
    jobs = raw.get("jobs")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise fail(f"key 'jobs' must be a whole number >= 1, got {jobs!r}")
    defaults = _flat_params(raw.get("defaults") or {}, "defaults", fail)
    defaults_for = raw.get("defaults_for", list(DEFAULT_DEFAULTS_FOR))
    if not isinstance(defaults_for, list) or not all(isinstance(n, str) for n in defaults_for):
        raise fail("key 'defaults_for' must be a list of notebook file names")
    defaults_for = tuple(_notebook_name(n) for n in defaults_for)

    runs_raw = raw.get("runs")
    if not isinstance(runs_raw, list) or not runs_raw:
        raise fail("key 'runs' must be a non-empty list of runs")
    nb_dir = root / "notebooks"
    runs: list[RunSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(runs_raw):
        where = f"runs[{index}]"
        if not isinstance(item, dict):
            raise fail(f"{where} must be a mapping with id and notebook")
        if isinstance(item.get("id"), str):
            where = f"runs[{index}] (id {item['id']!r})"
        unknown = sorted(set(item) - set(RUN_KEYS))
        if unknown:
            raise fail(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(RUN_KEYS)}"
            )
        for key in ("id", "notebook"):
            if key not in item:
                raise fail(f"{where}: missing key {key!r}")
        run_id = item["id"]
        if not isinstance(run_id, str) or not _SAFE_NAME.match(run_id):
            raise fail(
                f"{where}: key 'id': {run_id!r} is not a simple name (letters, digits, _ . -)"
            )
        if run_id in seen:
            raise fail(f"{where}: key 'id': duplicate id {run_id!r}")
        seen.add(run_id)
        notebook = item["notebook"]
        if not isinstance(notebook, str) or "/" in notebook or "\\" in notebook:
            raise fail(f"{where}: key 'notebook': {notebook!r} must be a file name in {nb_dir}")
        notebook = _notebook_name(notebook)
        if not (nb_dir / notebook).is_file():
            raise fail(f"{where}: key 'notebook': {notebook!r} does not exist in {nb_dir}")
        section = item.get("section", "results")
        if section not in SECTIONS:
            raise fail(f"{where}: key 'section': {section!r} is not one of {', '.join(SECTIONS)}")
        title = item.get("title", "")
        if not isinstance(title, str):
            raise fail(f"{where}: key 'title' must be a string")
        params = _flat_params(item.get("params") or {}, f"{where}: key 'params'", fail)
        reads = item.get("reads", [])
        if not isinstance(reads, list) or not all(isinstance(r, str) and r for r in reads):
            raise fail(f"{where}: key 'reads' must be a list of run or arm ids")
        seeds = _seeds(item.get("seeds"), params, where, fail)
        checked = params if seeds is None else {**params, "seed": seeds[0]}
        _check_notebook_params(nb_dir / notebook, defaults, defaults_for, checked, where, fail)
        if seeds is None:
            runs.append(RunSpec(run_id, notebook, section, title, params, run_id, tuple(reads)))
            continue
        for seed in seeds:
            seeded_id = f"{run_id}-s{seed}"
            if seeded_id in seen:
                raise fail(f"{where}: seed run id {seeded_id!r} is already taken")
            seen.add(seeded_id)
            seeded_title = f"{title or run_id} (seed {seed})"
            seeded = {**params, "seed": seed}
            runs.append(
                RunSpec(seeded_id, notebook, section, seeded_title, seeded, run_id, tuple(reads))
            )
        page_id = f"{run_id}{ARM_SUFFIX}"
        if (nb_dir / ARM_NOTEBOOK).is_file() and page_id not in seen:  # one page for the seeds
            seen.add(page_id)
            runs.append(RunSpec(page_id, ARM_NOTEBOOK, section, title, {"arm": run_id}, page_id))

    try:  # what each run reads: its notebook's parameters over the notebook's own defaults
        runs = resolve_reads(runs, lambda s: {**declared_defaults(nb_dir / s.notebook), **s.params})
    except RoleError as err:
        raise fail(f"profile {name!r}: {err}") from err
    landing = [spec.id for spec in runs if spec.section == "landing"]
    if len(landing) > 1:
        raise fail(
            f"only one run may be in section 'landing' (the book's root page), got "
            f"{', '.join(landing)}"
        )
    return Profile(
        name=name,
        path=path.resolve(),
        repo=root,
        runs=tuple(runs),
        title=raw.get("title", ""),
        description=raw.get("description", ""),
        synthetic=synthetic,
        jobs=jobs,
        cluster=parse_cluster(raw.get("cluster") or {}, fail),
        defaults=defaults,
        defaults_for=defaults_for,
    )


def _check_notebook_params(
    notebook: Path,
    defaults: Mapping[str, Scalar],
    defaults_for: tuple[str, ...],
    params: Mapping[str, Scalar],
    where: str,
    fail,
) -> None:
    """Every key this run injects must be one its notebook knows (see :mod:`notebook_params`)."""
    takes_defaults = notebook.name in defaults_for
    merged: dict[str, Scalar] = dict(defaults) if takes_defaults else {}
    merged.update(params)
    origin = {key: "defaults" for key in defaults} if takes_defaults else {}
    origin.update({key: "params" for key in params})
    try:
        check_parameters(notebook, merged, origin, takes_config=takes_defaults)
    except NotebookParameterError as err:
        raise fail(f"{where}: {err}") from err


def _seeds(value: Any, params: Mapping[str, Scalar], where: str, fail) -> list[int] | None:
    """``seeds: [0, 1, 2]`` makes one run per training seed: a verdict needs the spread over
    seeds, and listing three near-identical runs by hand invites them to drift apart."""
    if value is None:
        return None
    if "seed" in params:
        raise fail(f"{where}: give either 'seeds' or params 'seed', not both")
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
        or len(set(value)) != len(value)
    ):
        raise fail(f"{where}: key 'seeds' must be a list of distinct non-negative integers")
    return list(value)


def _notebook_name(name: str) -> str:
    return name if name.endswith(".ipynb") else f"{name}.ipynb"


def _flat_params(value: Any, where: str, fail) -> dict[str, Scalar]:
    """Params must be flat scalars: that is what a papermill parameters cell and
    TrainConfig.from_flat take, and what a run record can compare exactly."""
    if not isinstance(value, dict):
        raise fail(f"{where} must be a mapping of flat scalars, got {type(value).__name__}")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise fail(f"{where}: parameter name {key!r} is not a Python identifier")
        if key in RESERVED_PARAMS:
            raise fail(f"{where}: parameter {key!r} is reserved (set by the runner)")
        if not isinstance(item, str | int | float | bool):
            raise fail(
                f"{where}: parameter {key!r} must be a flat scalar (string, number, true/false), "
                f"got {type(item).__name__} {item!r}"
            )
        out[key] = item
    return out
