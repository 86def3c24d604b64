"""The landing page (wbcrepro.report.landing_page) on hand-made run folders: the headline, the
Table 1 outcomes and claims counted, the paper-vs-ours figure (what it draws, point by point),
and the profiles' findings runs mirroring their table1 and claims runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib.container import ErrorbarContainer

from tests.conftest import REPO
from tests.fixtures.recorded_runs import write_run
from wbcrepro import report
from wbcrepro.analysis import paper
from wbcrepro.report import landing_page as landing

PAIRS = (
    "kaggle-bloodcells=main-kaggle|synth|paper-kaggle,bccd=main-bccd|paper-bccd,"
    "pbc=main-pbc,zheng2018=main-zheng"
)


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real-data arms of three seeds (BCCD tuned above Liang's 90.79 %, BCCD paper's recipe
    below it, PBC beside the paper's own row), a Kaggle arm with one seed that did not learn, a
    synthetic arm, a PBC arm of one seed and arms that were never run."""
    root = tmp_path_factory.mktemp("runs")
    arms = {
        "main-bccd": ("bccd", (36, 38, 37)),  # 90.0 / 95.0 / 92.5 % -> mean 92.5 %
        "paper-bccd": ("bccd", (20, 22, 24)),  # 55 % on average
        "main-pbc": ("pbc", (38, 39, 39)),
        "main-kaggle": ("kaggle-bloodcells", (30, 34, 10)),  # the third did not learn
    }
    for arm, (dataset, corrects) in arms.items():
        for seed, correct in enumerate(corrects):
            learned = not (arm == "main-kaggle" and seed == 2)
            write_run(
                root,
                f"{arm}-s{seed}",
                params={"seed": seed, "dataset": dataset},
                correct=correct,
                synthetic=False,
                learned=learned,
            )
    for seed in range(2):
        write_run(root, f"synth-s{seed}", params={"seed": seed}, correct=20, synthetic=True)
    write_run(root, "one-pbc-s0", params={"dataset": "pbc"}, correct=30, synthetic=False)
    return root


@pytest.fixture
def glued(monkeypatch: pytest.MonkeyPatch) -> dict:
    import myst_nb

    store: dict = {}
    monkeypatch.setattr(myst_nb, "glue", lambda k, v, display=True: store.__setitem__(k, v))
    return store


def test_outcomes_of_every_table1_line(runs_root: Path) -> None:
    lines = report.table1_outcomes(PAIRS, runs_root)
    outcome = dict(zip(lines["study"] + " / " + lines["arm"], lines["outcome"], strict=True))
    kaggle, liang = (
        "Habibzadeh et al. 2018 (Kaggle blood cells (dhruvp))",
        "Liang et al. 2018 (BCCD)",
    )
    assert outcome[f"{liang} / main-bccd"] == landing.OUT_MET  # 92.5 >= 90.79
    assert outcome[f"{liang} / paper-bccd"] == landing.OUT_NOT_MET
    assert outcome[f"{kaggle} / main-kaggle"] == landing.OUT_INCONCLUSIVE  # 2 of 3 learned
    assert outcome[f"{kaggle} / synth"] == landing.OUT_SYNTHETIC
    assert outcome[f"{kaggle} / paper-kaggle"] == landing.OUT_NOT_RUN
    assert outcome["Chegodaev 2021 (the paper) (private) / main-pbc"] == landing.OUT_OTHER_DATA
    assert outcome["not in Table 1: zheng2018 / main-zheng"] == landing.OUT_NOT_IN_TABLE1
    counts = landing.outcome_counts(lines)
    assert counts == {
        landing.OUT_MET: 1,
        landing.OUT_NOT_MET: 1,
        landing.OUT_INCONCLUSIVE: 1,
        landing.OUT_OTHER_DATA: 1,
        landing.OUT_SYNTHETIC: 1,
        landing.OUT_NOT_RUN: 5,  # paper-kaggle, and the four paper rows we cannot run
        landing.OUT_NOT_IN_TABLE1: 1,
    }
    # The same lines, in the same order, as the Table 1 page.
    assert len(lines) == len(report.table1(PAIRS, runs_root))


def test_headline_arms_and_table(runs_root: Path) -> None:
    main, missing = landing.headline_arms("pbc=main-pbc|paper-pbc", runs_root)
    assert main.arm == "main-pbc" and main.n_learned == 3 and main.data == "pbc, 6 classes"
    assert main.mean == pytest.approx((38 + 39 + 39) / 120)
    assert main.accuracy_text == "96.67% (95.00%-97.50%)"
    assert main.seeds_text == "3 of 3 seed(s) learned"
    assert (missing.accuracy_text, missing.seeds_text) == ("not run", "no complete run")
    (one,) = landing.headline_arms("pbc=one-pbc", runs_root)
    assert one.accuracy_text.startswith("75.00% (one seed; 95% CI 59.")
    text = report.headline_table("pbc=main-pbc|paper-pbc", runs_root).data
    rows = text.splitlines()
    assert rows[0] == "|  | data | test accuracy | seeds |"
    assert rows[2].startswith("| the paper (quoted) | private (not published), 11,457 images")
    assert "| 99.64% |" in rows[2]
    assert rows[3] == (
        "| ours: `main-pbc` | pbc, 6 classes | 96.67% (95.00%-97.50%) | 3 of 3 seed(s) learned |"
    )


def test_glue_findings_counts_table1_and_the_ledger(runs_root: Path, glued: dict) -> None:
    evidence = "accuracy=main-bccd|paper-bccd;transfer=main-bccd"
    values = report.glue_findings("pbc=main-pbc|paper-pbc", PAIRS, evidence, runs_root)
    assert values == glued
    assert glued["paper_accuracy"] == "99.64%" and glued["ours_arm"] == "main-pbc"
    assert glued["ours_accuracy"] == "96.67% (95.00%-97.50%)"
    assert glued["ours_seeds"] == "3 of 3 seed(s) learned"
    assert (glued["t1_lines"], glued["t1_met"], glued["t1_not_met"]) == (11, 1, 1)
    assert (glued["t1_inconclusive"], glued["t1_other_data"], glued["t1_synthetic"]) == (1, 1, 1)
    assert (glued["t1_not_run"], glued["t1_not_in_table1"]) == (5, 1)
    assert glued["n_claims"] == len(paper.CLAIMS)
    assert glued["n_untestable"] == 1 and glued["n_synthetic_only"] == 0
    assert glued["n_not_run"] == len(paper.CLAIMS) - 2  # private_set untestable; accuracy judged


def test_claims_counts_agree_with_the_ledger(runs_root: Path) -> None:
    evidence = "accuracy=main-bccd|paper-bccd;transfer=main-bccd"
    text = report.claims_counts(evidence, runs_root).data
    rows = dict(line.strip("|").split(" | ") for line in text.splitlines()[2:])
    rows = {k.strip(): int(v) for k, v in rows.items()}
    assert sum(rows.values()) == len(paper.CLAIMS)
    # private_set is untestable; accuracy has a verdict; the rest (transfer with one value of
    # transfer among its runs included) are not run.
    assert rows["not testable here"] == 1 and rows["not run"] == len(paper.CLAIMS) - 2
    ledger = report.claims_ledger(evidence, runs_root)
    accuracy = ledger.set_index("claim").loc["`accuracy`", "status"].strip("*")
    assert rows[accuracy] >= 1


def _errorbars(ax) -> list[ErrorbarContainer]:
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_paper_vs_ours_figure_draws_every_line(runs_root: Path) -> None:
    fig = report.plot_paper_vs_ours(PAIRS, runs_root)
    (ax,) = fig.axes
    labels = [t.get_text().replace("\n", " ") for t in ax.get_yticklabels()]  # wrapped
    assert len(labels) == 11  # one per line of our Table 1, the first on top
    assert labels[0] == "Habibzadeh et al. 2018 (Kaggle blood cells (dhruvp)) ours: main-kaggle"
    assert labels[-1] == "not in Table 1: zheng2018 ours: main-zheng"
    assert [t.get_position()[1] for t in ax.get_yticklabels()] == list(range(10, -1, -1))
    assert "Su et al. 2014 (CellaVision)" in labels
    assert "Chegodaev 2021 (the paper) (private) ours: main-pbc (closest public data)" in labels
    # The paper's quoted numbers: one diamond per line that has one (all but zheng2018).
    (diamonds,) = [line for line in ax.lines if line.get_label() == landing.PAPER_LABEL]
    quoted = sorted(set(np.round(diamonds.get_xdata(), 2)))
    assert len(diamonds.get_xdata()) == 10
    assert quoted == sorted({row.accuracy_percent for row in paper.TABLE1})
    # Ours: one point with a seed-range bar per arm with seeds that learned; synthetic apart.
    real, synthetic = _errorbars(ax)
    assert real.get_label() == landing.OURS_LABEL
    assert synthetic.get_label() == landing.SYNTHETIC_LABEL
    means = dict(zip(real.lines[0].get_ydata(), real.lines[0].get_xdata(), strict=True))
    assert len(means) == 4  # main-kaggle, main-bccd, paper-bccd, main-pbc
    liang_tuned = 10 - labels.index("Liang et al. 2018 (BCCD) ours: main-bccd")
    assert means[liang_tuned] == pytest.approx(92.5)
    segments = real.lines[2][0].get_segments()  # the horizontal bars: the seed range
    bar = next(seg for seg in segments if seg[0][1] == liang_tuned)
    assert [round(x, 2) for x in (bar[0][0], bar[1][0])] == [90.0, 95.0]
    assert len(synthetic.lines[0].get_xdata()) == 1
    assert "SYNTHETIC" in ax.get_title()
    notes = [t.get_text() for t in ax.texts]
    assert "paper-kaggle: not run" in notes and "main-zheng: not run" in notes
    assert notes.count("no run of ours") == 4
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [landing.PAPER_LABEL, landing.OURS_LABEL, landing.SYNTHETIC_LABEL]


def test_a_real_only_figure_is_not_labelled_synthetic(runs_root: Path) -> None:
    fig = report.plot_paper_vs_ours("bccd=main-bccd", runs_root)
    assert "SYNTHETIC" not in fig.axes[0].get_title()
    assert len(_errorbars(fig.axes[0])) == 1


def test_a_synthetic_arm_labels_the_figure_even_when_nothing_is_drawn(tmp_path: Path) -> None:
    for seed in range(2):
        write_run(tmp_path, f"syn-s{seed}", params={"seed": seed}, learned=False)
    fig = report.plot_paper_vs_ours("synthetic=syn", tmp_path)
    (ax,) = fig.axes
    assert "SYNTHETIC" in ax.get_title() and not _errorbars(ax)
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["no run of ours"] * len(paper.TABLE1) + ["syn: 0 of 2 seed(s) learned"]


def test_records_of_findings_are_distinct_and_in_order(runs_root: Path) -> None:
    ids = [
        r.run_id
        for r in report.records_of_findings(
            "pbc=main-pbc", "pbc=main-pbc,bccd=main-bccd", "accuracy=main-bccd|synth", runs_root
        )
    ]
    seeds = range(3)
    assert ids == [
        *(f"main-pbc-s{i}" for i in seeds),
        *(f"main-bccd-s{i}" for i in seeds),
        "synth-s0",
        "synth-s1",
    ]


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_the_profiles_findings_run_mirrors_table1_and_claims(name: str) -> None:
    """The landing page summarises exactly what the Table 1 and claims pages show, and comes
    last in the profile (it reads every run before it; the book still makes it the root)."""
    runs = yaml.safe_load((REPO / "profiles" / f"{name}.yaml").read_text())["runs"]
    by_id = {run["id"]: run for run in runs}
    findings = by_id["findings"]
    assert runs[-1] is findings and findings["section"] == "landing"
    assert findings["notebook"] == "findings.ipynb"
    params = findings["params"]
    assert params["table1_pairs"] == by_id["table1"]["params"]["pairs"]
    assert params["evidence"] == by_id["claims"]["params"]["evidence"]
    assert set(report.parse_pairs(params["headline"])) <= set(
        report.parse_pairs(params["table1_pairs"])
    )
    if "lolo" in by_id:  # the unseen-lab rows read the leave-one-lab-out page's own arms
        assert params["lolo_matrix"] == by_id["lolo"]["params"]["matrix"]
        assert params["lolo_recipes"] == by_id["lolo"]["params"]["recipes"]


def test_the_found_table_puts_our_best_arm_beside_the_papers_numbers(runs_root: Path) -> None:
    table = landing.found_table(PAIRS, "", "base,robust", runs_root).data
    lines = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()[2:]}
    assert set(lines) == {"bccd, 6 classes", "pbc, 6 classes", "kaggle-bloodcells, 6 classes",
                          "zheng2018"}  # fmt: skip
    assert "| not in it | not run, `main-zheng` |" in lines["zheng2018"]
    bccd = lines["bccd, 6 classes"]
    assert "90.79% (Liang et al. 2018, BCCD)" in bccd  # the paper's Table 1 number for the set
    assert "92.50% (90.00%-95.00%), `main-bccd`" in bccd  # the better of main and paper
    assert "99.64%" in lines["pbc, 6 classes"] and "private" in lines["pbc, 6 classes"]
    assert "a lab never seen" not in table  # no leave-one-lab-out matrix given


def test_the_found_table_gives_the_unseen_lab_mean_per_recipe(tmp_path: Path) -> None:
    from tests.report.test_lolo_page import _run

    for seed, (base, robust) in enumerate(((20, 34), (22, 35), (24, 36))):
        _run(tmp_path, "base", seed, base, adapted=base + 4)
        _run(tmp_path, "robust", seed, robust, adapted=robust + 1)
    matrix = "zheng2018=lolo-base-zheng|lolo-robust-zheng,pbc=lolo-base-zheng|lolo-robust-zheng"
    table = landing.found_table("", matrix, "base,robust", tmp_path).data
    base = next(line for line in table.splitlines() if "held out in turn), base" in line)
    assert "| not tested |" in base
    assert "55.00% as trained, 65.00% AdaBN (mean over the labs)" in base
    one_lab = landing.found_table("", matrix.split(",")[0], "base,robust", tmp_path).data
    assert "one lab only" in one_lab
