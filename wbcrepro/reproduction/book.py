"""Build a profile's Jupyter Book (JB1) from its executed notebooks and the pages in ``book/``.

The book is a view of what ``reproduce`` produced: notebooks are never executed here
(``execute_notebooks: off``), so the HTML shows exactly the outputs of the recorded runs. Each
profile gets its own TOC (``_build/toc-<profile>.yml``) and output folder (``_build/<profile>``),
so a smoke build never overwrites the published one. The profile named ``cpu`` is the published
book: its TOC is also written to the root ``_toc.yml`` so that a plain ``jupyter-book build .``
builds it.

Pages come from two places: hand-written markdown in ``book/`` (``intro``, ``data``, ``method``,
``gpu``, ``adapt``; each referenced only when it exists) and the executed notebooks
``book/runs/<profile>/<id>.ipynb``, placed by their run's ``section``. A run whose record says
``failed`` or ``running`` is left out, so the book builds from what succeeded.

Results first: when the profile's run in section ``landing`` (the findings page) has an executed
notebook, that notebook is the book's root page and ``book/intro.md`` becomes the first chapter
(part *Introduction*); otherwise ``intro`` stays the root. The landing run comes last in its
profile file (it reads every other run) but first in the book.

For a synthetic profile the build gets an extra config whose HTML announcement banner says, on
every page, that the numbers come from drawn images, not blood cells.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from wbcrepro.reproduction.profiles import Profile, RunSpec, load_profile, runs_root_rel
from wbcrepro.reproduction.records import read_record, record_path
from wbcrepro.reproduction.roles import ARM_NOTEBOOK, ARM_SUFFIX, PAGE, role_of

SYNTHETIC_BANNER = (
    "SYNTHETIC DATA: every number in this build comes from procedurally drawn images, "
    "not real blood cells"
)
PUBLISHED_PROFILE = "cpu"
PAGE_SUFFIXES = (".md", ".ipynb")
INTRO = "book/intro"
LANDING_SECTION = "landing"
INTRO_CAPTION = "Introduction"

# (caption, hand-written pages before the notebooks, run section whose notebooks follow)
PARTS: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("Data", ("data",), "data"),
    ("Method", ("method",), None),
    ("Results", (), "results"),
    ("Ablations", (), "ablations"),
    ("Table 1", (), "table1"),
    ("Claims ledger", (), "claims"),
    ("Rerun and adapt", ("gpu", "adapt"), None),
)

DEFAULT_CONFIG: dict[str, Any] = {
    "title": "wbcrepro: white blood cells, reproduced",
    "author": "wbcrepro contributors",
    "only_build_toc_files": True,
    "exclude_patterns": [
        "_build",
        ".venv",
        "notebooks",
        ".pytest_cache",
        ".ruff_cache",
        "**.ipynb_checkpoints",
        "runs",
        "data",
        "wbcrepro",
        "wbcrepro.egg-info",
        "tests",
        "benchmarks",
        "README.md",
    ],
    "execute": {"execute_notebooks": "off"},
    "parse": {"myst_enable_extensions": ["dollarmath", "colon_fence"]},
    "html": {"use_repository_button": False},
    # Tables and links that the notebooks print as Markdown render as MyST (tables, .html links).
    "sphinx": {"config": {"nb_render_markdown_format": "myst"}},
}


class BookError(RuntimeError):
    """The book could not be built; the message carries the tail of the builder's output."""


@dataclass(frozen=True)
class LeftOut:
    """A run of the profile that has no page in this build, and why."""

    id: str
    reason: str


def _page_exists(repo: Path, stem: str) -> bool:
    return any((repo / f"{stem}{suffix}").is_file() for suffix in PAGE_SUFFIXES)


def _resolve(profile: Profile | str, repo: str | os.PathLike | None) -> Profile:
    return profile if isinstance(profile, Profile) else load_profile(profile, repo=repo)


def toc_data(profile: Profile | str, repo: str | os.PathLike | None = None) -> tuple[dict, list]:
    """The TOC as a dict plus the runs left out (no executed notebook, or failed / unfinished)."""
    profile = _resolve(profile, repo)
    root = profile.repo
    left_out: list[LeftOut] = []
    nodes: dict[str, dict[str, Any]] = {}
    for spec in profile.runs:
        stem = f"{runs_root_rel(profile.name)}/{spec.id}"
        record = read_record(record_path(profile, spec.id))
        if not (root / f"{stem}.ipynb").is_file():
            left_out.append(LeftOut(spec.id, "no executed notebook (not run yet)"))
            continue
        if record is not None and record.get("status") != "complete":
            left_out.append(LeftOut(spec.id, f"run record says {record.get('status')!r}"))
            continue
        nodes[spec.id] = {"file": stem, "title": spec.display_title}
    by_section: dict[str, list[dict[str, Any]]] = {}
    for spec in profile.runs:  # children in profile order, under a parent that is in the book
        if spec.id not in nodes:
            continue
        parent = toc_parent(spec, profile.runs)
        siblings = nodes[parent].setdefault("sections", []) if parent in nodes else None
        (by_section.setdefault(spec.section, []) if siblings is None else siblings).append(
            nodes[spec.id]
        )

    landing = by_section.get(LANDING_SECTION, [])  # at most one (profiles.py checks)
    parts = []
    if landing:
        parts.append({"caption": INTRO_CAPTION, "chapters": [{"file": INTRO}]})
    for caption, pages, section in PARTS:
        chapters: list[dict[str, Any]] = [
            {"file": f"book/{p}"} for p in pages if _page_exists(root, f"book/{p}")
        ]
        runs = by_section.get(section, []) if section else []
        if chapters and runs:  # the part's own page introduces its runs: they hang under it
            chapters[0]["sections"] = runs
        else:
            chapters += runs
        if chapters:
            parts.append({"caption": caption, "chapters": chapters})
    root_page = landing[0]["file"] if landing else INTRO
    toc: dict[str, Any] = {"format": "jb-book", "root": root_page}
    if parts:
        toc["parts"] = parts
    return toc, left_out


def toc_parent(run: RunSpec, runs: Sequence[RunSpec]) -> str | None:
    """The run whose page a run's page hangs under in the table of contents, or None (a chapter).

    The sidebar would otherwise list every seed of every arm. A seed run hangs under its arm's
    page (``<arm>-arm``); an arm's page, or a training run without seeds, under the first page of
    its section (in profile order) that presents it as a part of itself (a role that ``groups``:
    an ablation its arms, leave-one-lab-out its labs, a cross-validation its folds). Other pages
    stay chapters: a page that merely cites a run (a model card, Table 1) does not own it.
    """
    if run.arm != run.id:
        page = f"{run.arm}{ARM_SUFFIX}"
        return page if any(other.id == page for other in runs) else None
    if role_of(run.notebook).kind == PAGE and run.notebook != ARM_NOTEBOOK:
        return None
    own = set(run.reads) if run.notebook == ARM_NOTEBOOK else {run.id}
    for other in runs:
        reads = set(other.reads)
        if other.section == run.section and role_of(other.notebook).groups and own < reads:
            return other.id
    return None


def write_toc(
    profile: Profile | str,
    path: str | os.PathLike | None = None,
    repo: str | os.PathLike | None = None,
) -> Path:
    """Write the profile's JB1 TOC (default ``_build/toc-<profile>.yml``) and return its path."""
    profile = _resolve(profile, repo)
    toc, _ = toc_data(profile)
    target = Path(path) if path else profile.repo / "_build" / f"toc-{profile.name}.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Generated by wbcrepro.reproduction.book.write_toc from "
        f"profiles/{profile.name}.yaml; do not edit.\n"
        f"# Rebuild with: wbcrepro book --profile {profile.name}\n"
    )
    target.write_text(header + yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    return target


def ensure_root_config(repo: Path) -> Path:
    """The root ``_config.yml``; written with sensible defaults only when missing (never
    overwritten: it is the published book's hand-edited config)."""
    path = repo / "_config.yml"
    if not path.is_file():
        header = "# Jupyter Book 1 configuration (wbcrepro writes this file only when missing).\n"
        path.write_text(header + yaml.safe_dump(DEFAULT_CONFIG, sort_keys=False), encoding="utf-8")
    return path


def write_build_config(profile: Profile) -> Path:
    """``_build/config-<profile>.yml``: the root config, plus the synthetic banner when the profile
    is synthetic, so the warning cannot be forgotten in any synthetic build."""
    root_config = ensure_root_config(profile.repo)
    config = yaml.safe_load(root_config.read_text(encoding="utf-8")) or {}
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    if profile.synthetic:
        config.setdefault("html", {})["announcement"] = SYNTHETIC_BANNER
    # A short title (the sidebar shows it on every page); the profile's own title is on the
    # landing page. Author and year come from the project's metadata and the runs, not a default.
    if profile.name != PUBLISHED_PROFILE:
        config["title"] = f"{config.get('title', 'wbcrepro')} ({profile.name})"
    author, year = project_author(profile.repo), newest_run_year(profile)
    config["author"] = author
    config["copyright"] = f"{year}, {author}" if year else author
    target = profile.repo / "_build" / f"config-{profile.name}.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return target


def project_author(repo: Path) -> str:
    """The authors named in ``pyproject.toml`` (``[project] authors``), else the config's."""
    import tomllib

    try:
        project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        names = [a["name"] for a in project.get("authors", []) if a.get("name")]
    except (OSError, KeyError, ValueError, TypeError):
        names = []
    return ", ".join(names) or str(DEFAULT_CONFIG["author"])


def newest_run_year(profile: Profile) -> str:
    """The year the newest of the profile's runs finished (the book shows those runs), or ""."""
    years = []
    for spec in profile.runs:
        finished = (read_record(record_path(profile, spec.id)) or {}).get("finished")
        if isinstance(finished, str) and finished[:4].isdigit():
            years.append(finished[:4])
    return max(years, default="")


def html_dir(profile_name: str) -> str:
    """Where the profile's HTML lands, relative to the repository root (the Pages workflow,
    ``.github/workflows/book.yml``, publishes the ``cpu`` one from this path)."""
    return f"_build/{profile_name}/_build/html"


def jupyter_book_executable() -> str:
    """The ``jupyter-book`` beside the running interpreter (the venv's), else the one on PATH."""
    candidate = Path(sys.executable).parent / "jupyter-book"
    return str(candidate) if candidate.is_file() else "jupyter-book"


def build_book(
    profile: Profile | str,
    strict: bool = True,
    repo: str | os.PathLike | None = None,
    quiet: bool = False,
) -> Path:
    """Build the profile's book into ``_build/<profile>`` and return its ``index.html``.

    ``strict`` turns Sphinx warnings into errors (``-W --keep-going``): a broken link or a missing
    page should fail the build rather than ship silently.
    """
    profile = _resolve(profile, repo)
    root = profile.repo
    if not _page_exists(root, INTRO):
        raise BookError(f"the book's introduction {root / 'book' / 'intro.md'} does not exist")
    _, left_out = toc_data(profile)
    toc_path = write_toc(profile)
    if profile.name == PUBLISHED_PROFILE:
        write_toc(profile, root / "_toc.yml")
    config_path = write_build_config(profile)
    out_dir = root / "_build" / profile.name
    if not quiet:
        for item in left_out:
            print(f"book {profile.name}: left out {item.id}: {item.reason}", flush=True)

    command = [
        jupyter_book_executable(),
        "build",
        ".",
        "--toc",
        str(toc_path.relative_to(root)),
        "--config",
        str(config_path.relative_to(root)),
        "--path-output",
        str(out_dir.relative_to(root)),
    ]
    if strict:
        command += ["-W", "--keep-going"]
    proc = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    output = (proc.stdout or "") + (proc.stderr or "")
    index = root / html_dir(profile.name) / "index.html"
    if proc.returncode != 0 or not index.is_file():
        tail = "\n".join(output.strip().splitlines()[-40:])
        raise BookError(
            f"jupyter-book build of profile {profile.name!r} failed "
            f"(exit {proc.returncode}); command: {' '.join(command)}\n{tail}"
        )
    if not quiet:
        print(f"book {profile.name}: {index}", flush=True)
    return index
