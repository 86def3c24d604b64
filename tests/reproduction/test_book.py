"""The book: TOC per profile, build configs (synthetic banner), and one real JB1 build (slow)."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.reproduction.test_runner import make_notebook, write_profile
from wbcrepro.cli import main
from wbcrepro.reproduction.book import (
    PUBLISHED_PROFILE,
    SYNTHETIC_BANNER,
    build_book,
    html_dir,
    write_build_config,
    write_toc,
)
from wbcrepro.reproduction.profiles import ProfileError, load_profile

PROFILE = """\
    title: "Tiny"
    synthetic: {synthetic}
    runs:
      - {{id: data-synth, notebook: trivial.ipynb, section: data, title: "Data: synthetic"}}
      - {{id: main, notebook: trivial.ipynb, section: results, title: "Main run"}}
      - {{id: abl, notebook: trivial.ipynb, section: ablations}}
      - {{id: broken, notebook: trivial.ipynb, section: results}}
      - {{id: later, notebook: trivial.ipynb, section: claims}}
    """


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    make_notebook(root / "notebooks" / "trivial.ipynb")
    for page in ("intro", "data", "gpu"):  # method.md and adapt.md deliberately absent
        (root / "book").mkdir(parents=True, exist_ok=True)
        (root / "book" / f"{page}.md").write_text(f"# {page.title()}\n\nText of {page}.\n")
    monkeypatch.setenv("WBCREPRO_REPO", str(root))
    return root


def fake_run(root: Path, profile: str, run_id: str, status: str | None = "complete") -> None:
    """An executed notebook (and, unless None, a run record) as reproduce would leave them."""
    runs = root / "book" / "runs" / profile
    make_notebook(runs / f"{run_id}.ipynb")
    if status:
        (runs / f"{run_id}.run.json").write_text(json.dumps({"id": run_id, "status": status}))


def test_write_toc_lists_pages_and_successful_runs(repo: Path) -> None:
    write_profile(repo, PROFILE.format(synthetic="true"), name="tiny")
    fake_run(repo, "tiny", "data-synth")
    fake_run(repo, "tiny", "main", status=None)  # no record (e.g. copied in): shown
    fake_run(repo, "tiny", "abl")
    fake_run(repo, "tiny", "broken", status="failed")  # left out
    # "later" never ran: left out
    path = write_toc("tiny")
    assert path == repo.resolve() / "_build" / "toc-tiny.yml"
    toc = yaml.safe_load(path.read_text())
    assert toc["format"] == "jb-book" and toc["root"] == "book/intro"
    parts = {p["caption"]: p["chapters"] for p in toc["parts"]}
    assert list(parts) == ["Data", "Results", "Ablations", "Rerun and adapt"]
    assert parts["Data"] == [  # the part's own page introduces its runs: they hang under it
        {
            "file": "book/data",
            "sections": [{"file": "book/runs/tiny/data-synth", "title": "Data: synthetic"}],
        },
    ]
    assert parts["Results"] == [{"file": "book/runs/tiny/main", "title": "Main run"}]
    assert parts["Ablations"] == [{"file": "book/runs/tiny/abl", "title": "abl"}]
    assert parts["Rerun and adapt"] == [{"file": "book/gpu"}]
    # every referenced file exists (with .md or .ipynb)
    files = [c["file"] for chapters in parts.values() for c in chapters]
    files += [s["file"] for c in parts["Data"] for s in c["sections"]]
    for stem in ["book/intro", *files]:
        assert any((repo / f"{stem}{s}").is_file() for s in (".md", ".ipynb")), stem

    (repo / "book" / "method.md").write_text("# Method\n")
    toc = yaml.safe_load(write_toc("tiny", path=repo / "elsewhere.yml").read_text())
    assert [p["caption"] for p in toc["parts"]][:2] == ["Data", "Method"]


LANDING = """\
    runs:
      - {id: main, notebook: trivial.ipynb, section: results}
      - {id: table1, notebook: trivial.ipynb, section: table1}
      - {id: findings, notebook: trivial.ipynb, section: landing, title: "What we found"}
    """


def test_the_landing_run_is_the_root_and_intro_the_first_chapter(repo: Path) -> None:
    """Results first: the findings page is the root even though it runs last; intro follows."""
    write_profile(repo, LANDING, name="land")
    fake_run(repo, "land", "main")
    fake_run(repo, "land", "table1")
    fake_run(repo, "land", "findings", status="failed")
    toc = yaml.safe_load(write_toc("land").read_text())
    assert toc["root"] == "book/intro"  # a failed landing run has no page: intro stays the root
    assert [p["caption"] for p in toc["parts"]] == ["Data", "Results", "Table 1", "Rerun and adapt"]

    fake_run(repo, "land", "findings")
    toc = yaml.safe_load(write_toc("land").read_text())
    assert toc["root"] == "book/runs/land/findings"
    assert toc["parts"][0] == {"caption": "Introduction", "chapters": [{"file": "book/intro"}]}
    captions = [p["caption"] for p in toc["parts"]]
    assert captions == ["Introduction", "Data", "Results", "Table 1", "Rerun and adapt"]
    files = [c["file"] for p in toc["parts"] for c in p["chapters"]]
    assert "book/runs/land/findings" not in files  # the root only, not a chapter too


def test_a_profile_has_at_most_one_landing_run(repo: Path) -> None:
    write_profile(
        repo,
        LANDING.rstrip() + "\n      - {id: more, notebook: trivial.ipynb, section: landing}\n",
        name="two",
    )
    with pytest.raises(ProfileError, match="only one run may be in section 'landing'"):
        load_profile("two")


def test_the_pages_workflow_publishes_what_book_builds() -> None:
    """The workflow only builds the published profile's book (no training) and uploads the
    folder build_book writes."""
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "book.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert f"wbcrepro book --profile {PUBLISHED_PROFILE}" in runs
    assert "reproduce" not in runs and "wbcrepro train" not in runs
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert upload["with"]["path"] == html_dir(PUBLISHED_PROFILE) == "_build/cpu/_build/html"


def test_build_config_banner_only_for_synthetic(repo: Path) -> None:
    write_profile(repo, PROFILE.format(synthetic="true"), name="syn")
    write_profile(repo, PROFILE.format(synthetic="false"), name="real")
    syn = yaml.safe_load(write_build_config(load_profile("syn")).read_text())
    real = yaml.safe_load(write_build_config(load_profile("real")).read_text())
    assert syn["html"]["announcement"] == SYNTHETIC_BANNER
    assert "announcement" not in real.get("html", {})
    root_config = yaml.safe_load((repo / "_config.yml").read_text())
    assert root_config["execute"]["execute_notebooks"] == "off"
    assert root_config["author"] == "wbcrepro contributors"
    assert root_config["only_build_toc_files"] is True
    # an existing root config is never overwritten
    (repo / "_config.yml").write_text("title: Mine\nexecute: {execute_notebooks: 'off'}\n")
    again = yaml.safe_load(write_build_config(load_profile("syn")).read_text())
    assert again["title"] == "Mine (syn)"  # short: the profile's long title is on its pages
    assert yaml.safe_load((repo / "_config.yml").read_text())["title"] == "Mine"


def test_author_and_year_come_from_the_project_and_the_runs(repo: Path) -> None:
    """The footer's copyright: the authors of pyproject.toml, the year the newest run finished
    (no default year of the book tool)."""
    (repo / "pyproject.toml").write_text('[project]\nname = "x"\nauthors = [{name = "A Lab"}]\n')
    write_profile(repo, PROFILE.format(synthetic="false"), name="real")
    runs = repo / "book" / "runs" / "real"
    runs.mkdir(parents=True)
    for run_id, finished in (("main", "2025-03-01T10:00:00+00:00"), ("abl", "2026-12-06T09:00:00")):
        (runs / f"{run_id}.run.json").write_text(json.dumps({"id": run_id, "finished": finished}))
    config = yaml.safe_load(write_build_config(load_profile("real")).read_text())
    assert config["author"] == "A Lab" and config["copyright"] == "2026, A Lab"


@pytest.mark.slow
def test_reproduce_and_build_tiny_book(repo: Path) -> None:
    """End to end through the CLI: papermill one run, leave a failing one out, build with JB1."""
    write_profile(
        repo,
        textwrap.dedent(
            """\
            title: "Tiny CPU"
            synthetic: true
            runs:
              - {id: main, notebook: trivial.ipynb, section: results, title: "Main run"}
              - {id: bad, notebook: trivial.ipynb, params: {fail: true}}
            """
        ),
        name="cpu",
    )
    assert main(["reproduce", "--profile", "cpu"]) == 1  # bad failed; the book is still built
    html = repo / "_build" / "cpu" / "_build" / "html"
    assert (html / "index.html").is_file()
    assert (repo / "_toc.yml").is_file()  # the "cpu" profile is the published book
    intro = (html / "book" / "intro.html").read_text()
    assert SYNTHETIC_BANNER in intro
    page = (html / "book" / "runs" / "cpu" / "main.html").read_text()
    assert SYNTHETIC_BANNER in page and "wrote" in page
    assert not (html / "book" / "runs" / "cpu" / "bad.html").exists()
    # the build function returns the index
    assert build_book("cpu") == html / "index.html"


NESTED = """\
    runs:
      - {id: main, notebook: seeded.ipynb, section: results, seeds: [0, 1]}
      - {id: alt, notebook: seeded.ipynb, section: results, seeds: [0, 1]}
      - {id: cited, notebook: trivial.ipynb, section: results, params: {value: 5}}
      - {id: abl, notebook: ablation.ipynb, section: ablations, params: {run_ids: "main,alt"}}
      - {id: grouping, notebook: lolo.ipynb, section: results, params: {matrix: "x=alt|cited"}}
      - {id: card, notebook: model_card.ipynb, section: results, params: {source_run: main}}
    """


def test_seeds_hang_under_their_arm_and_arms_under_the_page_that_groups_them(repo: Path) -> None:
    """The sidebar lists arms, not seeds: a seed under its arm's page; an arm's page (or a run
    without seeds) under the first page of its section that presents it as its part; a page
    that only cites a run (a model card) or groups it from another section leaves it a chapter."""
    for name in ("arm", "ablation", "lolo", "model_card"):
        shutil.copy(REPO / "notebooks" / f"{name}.ipynb", repo / "notebooks" / f"{name}.ipynb")
    seeded = repo / "notebooks" / "seeded.ipynb"
    make_notebook(seeded)
    seeded.write_text(seeded.read_text().replace("fail = False", "fail = False\\nseed = 0"))
    write_profile(repo, NESTED, name="nest")
    profile = load_profile("nest")
    ids = [spec.id for spec in profile.runs]
    assert ids[:3] == ["main-s0", "main-s1", "main-arm"]  # one page per arm, after its seeds
    for run_id in ids:
        fake_run(repo, "nest", run_id)
    toc = yaml.safe_load(write_toc("nest").read_text())
    parts = {p["caption"]: p["chapters"] for p in toc["parts"]}

    def tree(nodes: list[dict]) -> list:
        return [
            (n["file"].rsplit("/", 1)[1], tree(n["sections"])) if "sections" in n
            else n["file"].rsplit("/", 1)[1]
            for n in nodes
        ]  # fmt: skip

    assert tree(parts["Results"]) == [
        ("main-arm", ["main-s0", "main-s1"]),  # cited by the card, grouped in another section
        "cited",  # a page: pages stay chapters
        ("grouping", [("alt-arm", ["alt-s0", "alt-s1"])]),
        "card",
    ]
    assert tree(parts["Ablations"]) == ["abl"]
    assert profile.run("main-arm").reads == ("main-s0", "main-s1")
    assert dict(profile.run("main-arm").params) == {"arm": "main"}
