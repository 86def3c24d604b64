"""The book's source notebooks (structure, parameters, thinness) and the report functions they call.

The notebooks' contract with the papermill runner: one ``parameters`` cell of flat literals, no
outputs stored, every cell a call into :mod:`wbcrepro.report`. The report functions are tested on
a real (tiny) run folder written by :func:`wbcrepro.runs.fit`, and one slow test executes every
notebook with papermill on the synthetic data set.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import shutil
import time
from dataclasses import fields
from pathlib import Path

import nbformat
import pytest
from matplotlib.figure import Figure

from tests.conftest import REPO, TINY
from wbcrepro import paper, report
from wbcrepro.config import TrainConfig
from wbcrepro.datasets import REGISTRY
from wbcrepro.runs import RESULTS, RunFolderError, fit, read_json, write_json

NOTEBOOKS = REPO / "notebooks"
NAMES = ("data_overview", "experiment", "ablation", "table1", "claims")
COMMON_PARAMS = {"profile", "run_id", "runs_root", "data_root"}
SPECIFIC_PARAMS = {
    "data_overview": {"dataset", "img_size", "leakage"},
    "ablation": {"ablation", "run_ids", "vary", "claim"},
    "table1": {"pairs"},
    "claims": {"evidence"},
}
GLUE_ROLE = re.compile(r"\{glue:text\}`([^`:]+)(?::[^`]*)?`")


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _parameters(nb: nbformat.NotebookNode) -> dict:
    """The parameters cell's names -> literal values (fails on anything but `name = literal`)."""
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell must be tagged 'parameters'"
    assert cells[0].cell_type == "code"
    values = {}
    for stmt in ast.parse(cells[0].source).body:
        assert isinstance(stmt, ast.Assign), f"not an assignment: {ast.unparse(stmt)}"
        assert len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
        value = ast.literal_eval(stmt.value)  # raises on anything computed
        assert isinstance(value, str | int | float | bool), f"{ast.unparse(stmt)} is not a scalar"
        values[stmt.targets[0].id] = value
    return values


# --- the source notebooks -------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_valid_and_clean(name):
    nb = _read(name)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: stored outputs"
            assert cell.execution_count is None, f"{name}: stored execution count"


@pytest.mark.parametrize("name", NAMES)
def test_parameters_cell_holds_flat_literals(name):
    params = _parameters(_read(name))
    assert params["profile"] == "smoke"
    assert set(params) >= COMMON_PARAMS
    assert SPECIFIC_PARAMS.get(name, set()) <= set(params)


def test_experiment_parameters_are_every_config_field_with_its_default():
    params = _parameters(_read("experiment"))
    defaults = TrainConfig().to_flat()
    assert set(params) == {f.name for f in fields(TrainConfig)} | {"profile", "run_id", "runs_root"}
    for key, value in defaults.items():
        assert params[key] == value and type(params[key]) is type(value), key


@pytest.mark.parametrize("name", NAMES)
def test_cells_are_thin(name):
    """No logic in cells: only calls into wbcrepro.report (and `from wbcrepro import report`)."""
    banned = (
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ast.ClassDef,
        ast.For,
        ast.While,
        ast.If,
        ast.With,
        ast.Try,
        ast.Lambda,
        ast.ListComp,
        ast.DictComp,
        ast.SetComp,
        ast.GeneratorExp,
    )
    for cell in _read(name).cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, banned), f"{name}: logic in a cell: {cell.source!r}"
            if isinstance(node, ast.Import | ast.ImportFrom):
                assert ast.unparse(node) == "from wbcrepro import report", cell.source
        if "parameters" not in cell.metadata.get("tags", []):
            assert len(tree.body) <= 2, f"{name}: more than two statements: {cell.source!r}"


@pytest.mark.parametrize("name", NAMES)
def test_markdown_types_no_number_of_ours(name):
    """Prose numbers are glued; a percentage typed into markdown would be a stale result."""
    for cell in _read(name).cells:
        if cell.cell_type == "markdown":
            prose = GLUE_ROLE.sub("", cell.source).replace("95%", "")  # 95% is a CI level
            assert not re.search(r"\d\s*%", prose), cell.source


def test_notebooks_name_only_existing_report_functions():
    for name in NAMES:
        for cell in _read(name).cells:
            if cell.cell_type == "code":
                for attr in re.findall(r"report\.(\w+)", cell.source):
                    assert hasattr(report, attr), f"{name}: report.{attr} does not exist"


# --- paper.py -------------------------------------------------------------------------------------
def test_paper_table1_rows_and_datasets():
    assert len(paper.TABLE1) == 7
    assert paper.TABLE1[-1].accuracy_percent == paper.PAPER_RESULT["accuracy"] * 100
    for row in paper.TABLE1:
        assert row.dataset is None or row.dataset in REGISTRY, row
        if row.dataset is None:
            assert row.reason, f"{row.study}: a row we cannot run must say why"
    assert {r.dataset for r in paper.TABLE1} == {"kaggle-bloodcells", "bccd", "lisc", None}


def test_paper_claims_are_well_formed():
    ids = [c.id for c in paper.CLAIMS]
    assert len(ids) == len(set(ids))
    known_fields = {f.name for f in fields(TrainConfig)}
    for claim in paper.CLAIMS:
        assert claim.test in (
            "threshold",
            "better",
            "not_worse",
            "equivalent",
            "per_class",
            "untestable",
        )
        if claim.test in ("better", "not_worse", "equivalent"):
            assert claim.vary in known_fields, claim.id
        if claim.test == "untestable":
            assert claim.reason
    assert paper.get_claim("transfer").vary == "transfer"
    with pytest.raises(KeyError, match="known"):
        paper.get_claim("nope")


def test_profiles_name_known_claims_and_notebook_parameters():
    """Claim ids and notebook parameters used by the profiles exist (skipped without profiles)."""
    import yaml

    files = sorted((REPO / "profiles").glob("*.yaml"))
    if not files:
        pytest.skip("no profiles/*.yaml in this checkout")
    known = {c.id for c in paper.CLAIMS}
    params_of = {name: set(_parameters(_read(name))) for name in NAMES}
    for file in files:
        for run in yaml.safe_load(file.read_text()).get("runs", []):
            name = run["notebook"].removesuffix(".ipynb")
            params = run.get("params") or {}
            assert set(params) <= params_of[name], f"{file.name}:{run['id']}: {set(params)}"
            if name == "ablation" and params.get("claim"):
                assert params["claim"] in known, f"{file.name}:{run['id']}"
            if name == "claims":
                unknown = set(report.parse_evidence(params.get("evidence", ""))) - known
                assert not unknown, f"{file.name}:{run['id']}: unknown claims {unknown}"


# --- report.py on a real tiny run -----------------------------------------------------------------
@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    """One real TINY run (``tiny-s0``) plus a copy posing as seed 1 with other numbers."""
    root = tmp_path_factory.mktemp("runs")
    fit(TrainConfig.from_flat(TINY), root / "tiny-s0", progress=False)
    shutil.copytree(root / "tiny-s0", root / "tiny-s1")
    results = read_json(root / "tiny-s1" / RESULTS)
    results["params"]["seed"] = 1
    test = results["final"]["test"]
    test["correct"] = min(test["n"], test["correct"] + 3)
    test["accuracy"] = test["correct"] / test["n"]
    write_json(root / "tiny-s1" / RESULTS, results)
    (root / "tiny-s0.ipynb").write_text("{}")  # its executed notebook, as the runner places it
    return root


@pytest.fixture
def glued(monkeypatch) -> dict:
    import myst_nb

    store: dict = {}
    monkeypatch.setattr(myst_nb, "glue", lambda k, v, display=True: store.__setitem__(k, v))
    return store


def test_config_from_parameters_takes_config_keys_only():
    namespace = {**TINY, "profile": "smoke", "run_id": "x", "runs_root": "r", "report": report}
    cfg = report.config_from_parameters(namespace)
    assert cfg == TrainConfig.from_flat(TINY)


def test_load_or_fit_loads_a_complete_run_without_training(runs_root):
    results = runs_root / "tiny-s0" / RESULTS
    before = results.stat().st_mtime_ns
    rec = report.load_or_fit(TrainConfig.from_flat(TINY), runs_root, "tiny-s0")
    assert rec.complete and not rec.trained_now
    assert results.stat().st_mtime_ns == before
    with pytest.raises(RunFolderError, match="other parameters"):
        report.load_or_fit(TrainConfig.from_flat({**TINY, "lr": 0.01}), runs_root, "tiny-s0")


def test_record_and_tables(runs_root, glued):
    rec = report.load_run(runs_root, "tiny-s0")
    assert rec.complete and rec.synthetic and rec.dataset == "synthetic"
    assert len(rec.history) == TINY["epochs"]
    n_test = rec.report("test")["n"]
    assert report.per_class_table(rec)["support"].sum() == n_test
    assert list(report.metrics_table(rec).index) == ["val", "test"]
    values = report.glue_run(rec)
    assert values["test_n"] == n_test
    assert values["test_accuracy"] == pytest.approx(rec.results["final"]["test"]["accuracy"])
    assert glued["test_accuracy"] == values["test_accuracy"]
    assert all(type(v) in (int, float, str) for v in glued.values())  # no numpy reprs
    side = report.paper_vs_ours(rec)
    assert "99.64%" in side.iloc[:, 0].str.cat()
    assert "SYNTHETIC" in side.loc["data"].iloc[1]
    for fig in (report.plot_curves(rec), report.plot_confusion(rec)):
        assert isinstance(fig, Figure)
    assert report.load_run(runs_root, "nothing-here").status == "missing"


def test_headers_flag_synthetic_data(runs_root):
    cfg = TrainConfig.from_flat(TINY)
    text = report.header_for_config(cfg, "smoke", "tiny-s0").data
    for word in ("SYNTHETIC", "smoke", "efficientnet_b0", "32 px", "CPU"):
        assert word in text
    runs = report.load_runs(runs_root, "tiny-s0, tiny-s1, missing-run")
    assert "SYNTHETIC" in report.header_for_runs(runs, "smoke").data
    assert "missing-run` (missing)" in report.header_for_runs(runs, "smoke").data
    real = report.header("cpu", "bccd", "m", 128, 15, "CPU").data
    assert "SYNTHETIC" not in real


def test_data_overview_functions(glued):
    ov = report.load_overview("synthetic", "", 32, synthetic_per_class=4, synthetic_size=32)
    balance = report.class_balance(ov)
    assert list(balance.index) == list(ov.classes)
    assert balance.iloc[:, 0].sum() == 4 * 6
    assert isinstance(report.plot_class_balance(ov), Figure)
    assert isinstance(report.sample_grid(ov, per_class=2), Figure)
    assert report.image_sizes(ov)["images"].sum() == 24
    assert report.exclusions(ov)["items"].sum() == 0
    assert "SYNTHETIC" in report.dataset_card(ov).data
    report.glue_overview(ov)
    assert glued["n_images"] == 24
    assert "not requested" in report.leakage_summary(ov, False).data
    assert "not requested" in report.leakage_summary(ov, "false").data
    assert "kaggle-bloodcells" in report.leakage_summary(ov, True).data


def test_ablation_functions(runs_root, glued):
    runs = report.load_runs(runs_root, "tiny-s0,tiny-s1")
    table = report.ablation_table(runs, "seed")
    assert list(table["seed"]) == [0, 1]
    assert isinstance(report.plot_ablation(runs, "seed"), Figure)
    assert isinstance(report.plot_curves_overlay(runs, "seed"), Figure)
    seeds = report.seed_summary(runs, "seed")
    assert seeds.loc["test accuracy", "seeds"] == 2
    verdict = report.glue_ablation(runs, "seed", "accuracy")["verdict"]
    assert verdict.startswith("Over 2 seeds") and "SYNTHETIC" in verdict
    assert glued["n_complete"] == 2
    assert "Not a seed ablation" in report.seed_summary(runs, "transfer").data
    one = report.ablation_verdict(runs[:1], "seed")
    assert one.startswith("Not enough complete runs")


# --- verdict logic on hand-made records -----------------------------------------------------------
def _fake(run_id: str, correct: int, n: int, synthetic: bool = False, **params) -> report.RunRecord:
    from wbcrepro.metrics import wilson_interval

    test = {
        "n": n,
        "correct": correct,
        "accuracy": correct / n,
        "accuracy_ci95": list(wilson_interval(correct, n)),
        "balanced_accuracy": correct / n,
        "macro_f1": correct / n,
        "macro_f1_ci95": [None, None],
        "per_class": {
            "band_neutrophil": {"precision": 1.0, "recall": correct / n, "f1": 1.0, "support": n},
            "segmented_neutrophil": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": n},
        },
    }
    results = {
        "status": "complete",
        "params": {"dataset": "synthetic" if synthetic else "bccd", **params},
        "dataset": {"name": "synthetic" if synthetic else "bccd", "synthetic": synthetic},
        "final": {"test": test, "val": copy.deepcopy(test)},
    }
    return report.RunRecord(run_id, Path(run_id), "complete", results)


def test_compare_uses_non_overlapping_intervals():
    fine = _fake("a", 990, 1000, transfer="finetune")
    scratch = _fake("b", 700, 1000, transfer="scratch")
    close = _fake("c", 985, 1000, transfer="frozen")
    assert report.compare([fine, scratch], "transfer", "better", "finetune")[0] == "reproduced"
    assert report.compare([fine, close], "transfer", "better", "finetune")[0] == "inconclusive"
    assert report.compare([fine, scratch], "transfer", "better", "scratch")[0] == "not reproduced"
    assert report.compare([fine, scratch, close], "transfer", "better", "finetune")[0] == (
        "partly reproduced"
    )
    small = _fake("s", 90, 100, img_size=224)
    big = _fake("l", 99, 100, img_size=380)
    assert report.compare([small, big], "img_size", "not_worse", "smallest")[0] == "not reproduced"
    assert report.compare([fine, close], "transfer", "equivalent")[0] == "reproduced"
    assert report.compare([fine], "transfer", "better", "finetune")[0] == "not run"
    verdict = report.ablation_verdict([fine, scratch], "transfer", "transfer")
    assert "beats" in verdict and "Claim `transfer`: reproduced" in verdict


def test_claim_verdicts_never_reproduce_on_synthetic_data():
    accuracy = paper.get_claim("accuracy")
    assert report.claim_verdict(accuracy, [_fake("r", 995, 1000)])[0] == "reproduced"
    assert report.claim_verdict(accuracy, [_fake("r", 900, 1000)])[0] == "not reproduced"
    assert report.claim_verdict(accuracy, [_fake("r", 98, 100)])[0] == "inconclusive"
    both = [_fake("r", 995, 1000), _fake("q", 900, 1000)]
    assert report.claim_verdict(accuracy, both)[0] == "partly reproduced"
    status, evidence = report.claim_verdict(accuracy, [_fake("s", 1000, 1000, synthetic=True)])
    assert status.startswith("tested on synthetic data only")
    assert "`s`" in evidence  # no executed notebook beside it: no link
    mixed = [_fake("s", 1000, 1000, synthetic=True), _fake("r", 900, 1000)]
    status, evidence = report.claim_verdict(accuracy, mixed)
    assert status == "not reproduced" and "synthetic runs ignored" in evidence
    assert report.claim_verdict(paper.get_claim("private_set"), [])[0] == "not testable here"
    band = paper.get_claim("band_vs_segmented")
    assert report.claim_verdict(band, [_fake("p", 1000, 1000)])[0] == "reproduced"


def test_claims_ledger_and_table1(runs_root, glued):
    ledger = report.claims_ledger("accuracy=tiny-s0|tiny-s1;bogus=tiny-s0", runs_root)
    assert len(ledger) == len(paper.CLAIMS) + 1
    status = dict(zip(ledger["claim"], ledger["status"], strict=True))
    assert status["`accuracy`"].startswith("**tested on synthetic data only")
    assert status["`private_set`"] == "**not testable here**"
    assert status["`transfer`"] == "**not run**"
    assert status["`bogus`"] == "**unknown claim id**"
    ledger_text = report.ledger_markdown(ledger).data
    assert "[tiny-s0](tiny-s0.ipynb)" in ledger_text and "[tiny-s1]" not in ledger_text
    report.glue_ledger(ledger)
    assert glued["n_synthetic_only"] == 1 and glued["n_claims"] == len(ledger)

    table = report.table1("synthetic=tiny-s0,bccd=missing-run", runs_root)
    assert len(table) == len(paper.TABLE1) + 1
    ours = table[table["data"] == "synthetic"].iloc[0]
    assert ours["our run"] == "[tiny-s0](tiny-s0.ipynb)" and "SYNTHETIC" in ours["our data"]
    lisc = table[table["data"] == "LISC"]["our run"]
    assert all(v.startswith("not run") for v in lisc)
    private = table[table["study"].str.contains("the paper")].iloc[0]
    assert private["our run"] == "not run: private data (11,457 images, not published)"
    report.glue_table1("synthetic=tiny-s0", runs_root)
    assert glued["n_compared"] == 1
    with pytest.raises(ValueError, match="dataset=run_id"):
        report.parse_pairs("bccd")
    assert report.parse_evidence("a=x|y; b=z") == {"a": ["x", "y"], "b": ["z"]}


# --- every notebook, executed ---------------------------------------------------------------------
def _glued_names(nb) -> set[str]:
    names = set()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:
                names.add(scrap["name"])
    return names


def _referenced_glue(nb) -> set[str]:
    return {
        key
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for key in GLUE_ROLE.findall(cell.source)
    }


@pytest.mark.slow
def test_notebooks_execute_on_synthetic_data(tmp_path):
    import papermill as pm

    runs = tmp_path  # executed notebooks sit beside the run folders, as the runner puts them
    tiny = {k: v for k, v in TINY.items()}
    common = {"profile": "smoke", "runs_root": str(runs)}
    jobs = [
        (
            "data_overview",
            "data-synthetic",
            {
                "dataset": "synthetic",
                "img_size": 32,
                "leakage": True,
                "synthetic_per_class": TINY["synthetic_per_class"],
                "synthetic_size": TINY["synthetic_size"],
            },
        ),
        ("experiment", "tiny-s0", {**tiny, "seed": 0}),
        ("experiment", "tiny-s1", {**tiny, "seed": 1}),
        (
            "ablation",
            "ablation-seed",
            {
                "ablation": "seeds",
                "run_ids": "tiny-s0,tiny-s1",
                "vary": "seed",
                "claim": "accuracy",
            },
        ),
        ("table1", "table1", {"pairs": "synthetic=tiny-s0,bccd=not-run"}),
        ("claims", "claims", {"evidence": "accuracy=tiny-s0|tiny-s1;transfer=tiny-s0"}),
    ]
    timings = {}
    for name, run_id, params in jobs:
        out = tmp_path / f"{run_id}.ipynb"
        tic = time.perf_counter()
        pm.execute_notebook(
            str(NOTEBOOKS / f"{name}.ipynb"),
            str(out),
            parameters={**common, "run_id": run_id, **params},
            kernel_name="python3",
            cwd=str(REPO),
            progress_bar=False,
        )
        timings[run_id] = time.perf_counter() - tic
        nb = nbformat.read(out, as_version=4)
        text = json.dumps(nb)
        assert "SYNTHETIC" in text, f"{name}: no SYNTHETIC label in the outputs"
        first = next(o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        assert "profile" in json.dumps(first) and "SYNTHETIC" in json.dumps(first), name
        missing = _referenced_glue(nb) - _glued_names(nb)
        assert not missing, f"{name}: prose refers to unglued keys {missing}"
        assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert read_json(runs / "tiny-s1" / RESULTS)["status"] == "complete"
    print("notebook timings (s):", {k: round(v, 1) for k, v in timings.items()})
