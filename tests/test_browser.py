"""The book as a reader sees it: scripts/browser_check.py in headless Chromium at 1280x900.

The checker is first shown to catch what it looks for (a table wider than its column, a visible
parameters cell, a broken image) on a hand-made page, then run on the smoke profile's book (built
once per session by conftest's ``smoke_book``, shared with test_smoke_profile.py). Without
Chromium these tests are skipped and say how to install it.
"""

from __future__ import annotations

import importlib.util
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "browser_check", REPO / "scripts" / "browser_check.py"
)
browser_check = importlib.util.module_from_spec(_spec)
sys.modules["browser_check"] = browser_check
_spec.loader.exec_module(browser_check)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GIF = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"  # 1x1 px
FIGURE = f'<img src="data:image/gif;base64,{GIF}" width="10" height="10">'


def _chromium() -> str:
    executable = browser_check.find_chromium()
    if executable is None:
        pytest.skip(browser_check.INSTALL_HINT)
    return executable


def _page(body: str) -> str:
    return f"<html><head><title>t</title></head><body><article>{body}</article></body></html>"


@pytest.fixture
def fake_book(tmp_path: Path) -> Path:
    """A "built book": index.html redirecting to the landing page, an experiment page and a
    Table 1 page under book/runs/x/."""
    runs = tmp_path / "book" / "runs" / "x"
    runs.mkdir(parents=True)
    (tmp_path / "index.html").write_text(
        '<html><head><meta http-equiv="Refresh" content="0; url=book/runs/x/findings.html" />'
        "</head></html>"
    )
    figure = FIGURE
    (runs / "findings.html").write_text(_page(f"<h1>What we found</h1>{figure}<p>fine</p>"))
    (runs / "main-a-s0.html").write_text(_page("<p>experiment</p>"))
    (runs / "table1.html").write_text(_page("<p>table 1</p>"))
    return tmp_path


def test_default_pages_follow_the_root_redirect(fake_book: Path) -> None:
    assert browser_check.default_pages(fake_book) == {
        "landing": "book/runs/x/findings.html",
        "experiment": "book/runs/x/main-a-s0.html",
        "table1": "book/runs/x/table1.html",
    }
    (fake_book / "book/runs/x/claims.html").write_text(_page("claims"))
    (fake_book / "book/runs/x/table1.html").unlink()
    pages = browser_check.default_pages(fake_book)
    assert pages["claims"] == "book/runs/x/claims.html" and pages["table1"] is None


def test_serve_serves_the_folder_on_loopback(fake_book: Path) -> None:
    with browser_check.serve(fake_book) as base:
        assert base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(base + "book/runs/x/table1.html", timeout=10) as response:
            assert b"table 1" in response.read()


def test_without_chromium_it_says_how_to_install_it(fake_book, monkeypatch, capsys) -> None:
    monkeypatch.setenv(browser_check.CHROMIUM_ENV, str(fake_book / "no-such-browser"))
    assert browser_check.find_chromium() is None
    assert browser_check.main([str(fake_book), "--out", str(fake_book / "shots")]) == 2
    assert browser_check.INSTALL_HINT in capsys.readouterr().err


@pytest.mark.slow
def test_the_checker_catches_wide_tables_parameters_and_broken_images(fake_book: Path) -> None:
    executable = _chromium()
    wide = "<table><tr><td>" + "x" * 100 + "</td></tr></table>"
    params = (
        '<div class="cell tag_injected-parameters"><div class="cell_input">'
        "<pre>profile = 'smoke'</pre></div></div>"
    )
    code = '<pre style="width:300px; overflow-x:auto">' + "y" * 100 + "</pre>"
    output = '<div class="cell_output"><pre style="width:300px; overflow-x:auto">' + "z" * 100
    (fake_book / "book/runs/x/main-a-s0.html").write_text(
        _page(
            f'<div style="width:600px">{wide}</div>{code}{params}<img src="missing.png">'
            f"{output}</pre></div>"
        )
    )
    out = fake_book / "shots"
    failures, checked = browser_check.check_book(fake_book, out, executable=executable)
    assert checked == 3 and len(failures) == 6, failures
    assert all(f.startswith("experiment (") for f in failures)
    assert "px wide in a 600 px container" in failures[0]
    assert 'code block "yyy' in failures[1] and "wider than its column" in failures[1]
    assert 'output "zzz' in failures[2] and "clipped or scrolled" in failures[2]  # never clipped
    assert "a parameters cell is shown" in failures[3]
    assert "a code cell shows parameters" in failures[4]
    assert failures[5].endswith("image not loaded: missing.png")
    for name in ("landing", "experiment", "table1"):
        assert (out / f"{name}.png").read_bytes().startswith(PNG_MAGIC)
    # A page wider than the window is caught too.
    (fake_book / "book/runs/x/table1.html").write_text(_page('<div style="width:2000px">x</div>'))
    failures, _ = browser_check.check_book(fake_book, out, executable=executable)
    assert any("table1" in f and "wide in a 1280 px window" in f for f in failures), failures


def test_the_checker_counts_sidebar_entries_and_refuses_generic_titles(fake_book: Path) -> None:
    executable = _chromium()
    links = "".join(f'<a href="p{i}.html">page {i}</a>' for i in range(41))
    hidden = '<div style="display:none"><a href="s.html">a seed page, collapsed</a></div>'
    (fake_book / "book/runs/x/main-a-s0.html").write_text(
        _page(f'<nav class="bd-links">{links}{hidden}</nav><h1>Experiment</h1><p>one run</p>')
    )
    failures, _ = browser_check.check_book(fake_book, fake_book / "shots", executable=executable)
    assert len(failures) == 2, failures
    assert "the sidebar shows 41 entries (at most 40)" in failures[0]  # the hidden one not counted
    assert 'the page is titled "Experiment"' in failures[1]


@pytest.mark.slow
@pytest.mark.xdist_group("smoke")  # on the worker that built the smoke book
def test_the_smoke_book_reads_well_at_1280_px(request: pytest.FixtureRequest) -> None:
    """Every page of the smoke book, in one browser; the pages a reader opens first are
    photographed under their role's name."""
    executable = _chromium()  # before building the book: no browser, no build
    html: Path = request.getfixturevalue("smoke_book")
    out = html.parents[2] / "screenshots"  # <repo copy>/_build/screenshots
    pages = browser_check.default_pages(html)
    assert pages["landing"] == "book/runs/smoke/findings.html"  # the findings are the root
    assert {"experiment", "table1", "ablation", "claims"} <= set(pages)
    every = browser_check.all_pages(html)
    built = [p for p in html.rglob("*.html") if not p.relative_to(html).parts[0].startswith("_")]
    assert len(every) == len(built) - len(("index", "genindex", "search"))  # every book page
    failures, checked = browser_check.check_book(html, out, executable=executable)
    assert failures == [] and checked == len(every)
    for name in pages:
        shot = (out / f"{name}.png").read_bytes()
        assert shot.startswith(PNG_MAGIC) and len(shot) > 10_000, name
    assert len(list(out.glob("*.png"))) == len(pages)  # only the failed pages beside them


def test_the_landing_page_shows_its_figure_before_any_run_id(fake_book: Path) -> None:
    executable = _chromium()
    figure = FIGURE
    folded = "<details><summary>Provenance</summary><code>main-pbc-s0</code></details>"
    landing = fake_book / "book/runs/x/findings.html"
    landing.write_text(_page(f"<h1>What we found</h1>{figure}{folded}"))
    assert browser_check.check_book(fake_book, fake_book / "shots", executable=executable)[0] == []
    landing.write_text(
        _page(f"<h1>What we found</h1><table><tr><td>main-pbc-s0</td></tr></table>{figure}")
    )
    failures, _ = browser_check.check_book(fake_book, fake_book / "shots", executable=executable)
    assert failures == [
        f'landing ({failures[0].split("(")[1].split(")")[0]}): run id "main-pbc-s0" comes '
        "before the landing page's first figure"
    ], failures


def test_all_pages_lists_every_page_once_under_its_path(fake_book: Path) -> None:
    (fake_book / "book" / "intro.html").write_text(_page("intro"))
    (fake_book / "genindex.html").write_text(_page("index"))
    (fake_book / "_static").mkdir()
    (fake_book / "_static" / "x.html").write_text(_page("theme"))
    assert browser_check.all_pages(fake_book) == {
        "landing": "book/runs/x/findings.html",
        "experiment": "book/runs/x/main-a-s0.html",
        "table1": "book/runs/x/table1.html",
        "book/intro": "book/intro.html",
    }


TABLE = (
    '<table class="dataframe"><thead><tr><th></th><th>lab</th><th>support</th></tr></thead>'
    "<tbody><tr><th>0</th><td>pbc</td><td>160.0</td></tr>"
    "<tr><th>1</th><td>lisc</td><td>12.0</td></tr></tbody></table>"
)


@pytest.mark.slow
def test_the_checker_catches_cut_cells_reprs_row_numbers_and_float_counts(
    fake_book: Path, capsys: pytest.CaptureFixture
) -> None:
    """What pandas and IPython print by default: a cell cut at 50 characters, a cell's value
    shown as its repr, a RangeIndex as a first column, a count as a float."""
    executable = _chromium()
    cut = "<table><tr><td>160 px RGB; decoded, cropped to a square aroun...</td></tr></table>"
    value = (
        '<div class="cell_output"><div class="output text_plain"><pre>'
        "&lt;IPython.core.display.Markdown object&gt;</pre></div></div>"
    )
    quoted = (
        '<div class="cell_output"><div class="output stream"><pre>\'up to date\'</pre></div></div>'
    )
    fine = (  # proportions of 1.0, a year-like column of ints and a printed sentence pass
        "<table><thead><tr><th>recall</th><th>year</th></tr></thead><tbody>"
        + "".join(f"<tr><td>1.0</td><td>{2018 + i}</td></tr>" for i in range(3))
        + '</tbody></table><div class="cell_output"><div class="output stream">'
        "<pre>wrote 3 predictions</pre></div></div>"
    )
    (fake_book / "book/runs/x/table1.html").write_text(_page(cut + value + quoted + TABLE + fine))
    out = fake_book / "shots"
    failures, checked = browser_check.check_book(fake_book, out, executable=executable)
    assert checked == 3 and len(failures) == 5, failures
    assert all(f.startswith("table1 (") for f in failures)
    assert 'table cell "160 px RGB; decoded, cropped to a square aroun..." is cut' in failures[0]
    assert "repr" in failures[1] and "Markdown object" in failures[1]
    assert "repr" in failures[2] and "'up to date'" in failures[2]
    assert "shows pandas' row index" in failures[3]
    assert 'column "support" shows a count as a float ("160.0")' in failures[4]
    # the command line: every failure, then one last line with the pages and failures counted
    code = browser_check.main([str(fake_book), "--out", str(out), "--chromium", executable])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 1 and sum(line.startswith("FAIL table1 (") for line in lines) == 5
    assert lines[-1] == "browser check: 3 pages, 5 failure(s) on 1 page(s)"
    assert {p.name for p in out.glob("*.png")} == {"landing.png", "experiment.png", "table1.png"}
