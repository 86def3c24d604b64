"""The book's source notebooks: structure, parameters, thinness, and the paper's quoted side.

The notebooks' contract with the papermill runner: one ``parameters`` cell of flat literals, no
outputs stored, every cell a call into :mod:`wbcrepro.report` (and, in the experiment notebook,
its explicit training step :mod:`wbcrepro.training.experiment`). The functions they call are tested
in
``test_report.py`` / ``test_experiment.py``; the smoke-profile test executes every notebook.
"""

from __future__ import annotations

import ast
import re
from dataclasses import fields

import nbformat
import pytest

from tests.conftest import REPO
from wbcrepro import report
from wbcrepro.analysis import paper
from wbcrepro.config import TrainConfig
from wbcrepro.data.datasets import REGISTRY
from wbcrepro.inference import crossdomain, explain, shipped
from wbcrepro.training import experiment

NOTEBOOKS = REPO / "notebooks"
NAMES = (
    "data_overview",
    "experiment",
    "ablation",
    "table1",
    "claims",
    "crossdomain",
    "model_card",
    "label_noise",
    "learning_curve",
    "lolo",
    "findings",
    "arm",
)
COMMON_PARAMS = {"profile", "run_id", "runs_root"}
SPECIFIC_PARAMS = {
    "data_overview": {"dataset", "img_size", "leakage_json"},
    "ablation": {"ablation", "run_ids", "vary", "claim"},
    "table1": {"pairs"},
    "claims": {"evidence"},
    "crossdomain": {"source_run", "target_dataset"},
    "model_card": {"source_run", "crossdomain_runs", "model_path", "new_lab_estimate"},
    "label_noise": {"arms", "data_root"},
    "learning_curve": {"run_ids", "reference", "metric"},
    "lolo": {"matrix", "recipes", "targets"},
    "findings": {"headline", "table1_pairs", "evidence", "targets", "lolo_matrix", "lolo_recipes"},
    "arm": {"arm"},
}
IMPORTS = {
    # the one notebook that trains (and explains the trained model: Grad-CAM)
    "experiment": {
        "from wbcrepro import report",
        "from wbcrepro.inference import explain",
        "from wbcrepro.training import experiment",
    },
    # evaluates a trained model
    "crossdomain": {"from wbcrepro import report", "from wbcrepro.inference import crossdomain"},
    # exports the selected model
    "model_card": {"from wbcrepro import report", "from wbcrepro.inference import shipped"},
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
    assert set(params) == {f.name for f in fields(TrainConfig)} | set(experiment.NON_CONFIG)
    assert params["gradcam_per_class"] == 0  # Grad-CAM is off unless a profile asks for it
    for key, value in defaults.items():
        assert params[key] == value and type(params[key]) is type(value), key
    assert experiment.config_from_parameters(params) == TrainConfig()  # strict, and it passes


@pytest.mark.parametrize("name", NAMES)
def test_cells_are_thin(name):
    """No logic in cells: only calls into wbcrepro.report (and wbcrepro.training.experiment where
    the
    notebook trains) and one import of them."""
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
                allowed = IMPORTS.get(name, {"from wbcrepro import report"})
                assert ast.unparse(node) in allowed, cell.source
        if "parameters" not in cell.metadata.get("tags", []):
            statements = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom)]
            assert len(statements) <= 2, f"{name}: more than two statements: {cell.source!r}"


@pytest.mark.parametrize("name", NAMES)
def test_markdown_types_no_number_of_ours(name):
    """Prose numbers are glued; a percentage typed into markdown would be a stale result."""
    for cell in _read(name).cells:
        if cell.cell_type == "markdown":
            prose = GLUE_ROLE.sub("", cell.source).replace("95%", "")  # 95% is a CI level
            assert not re.search(r"\d\s*%", prose), cell.source


def test_notebooks_name_only_existing_functions():
    for name in NAMES:
        for cell in _read(name).cells:
            if cell.cell_type == "code":
                pattern = r"\b(report|experiment|explain|crossdomain|shipped)\.(\w+)(?=[.(])"
                for module, attr in re.findall(pattern, cell.source):
                    owner = {
                        "report": report,
                        "experiment": experiment,
                        "explain": explain,
                        "crossdomain": crossdomain,
                        "shipped": shipped,
                    }[module]
                    assert hasattr(owner, attr), f"{name}: {module}.{attr} does not exist"


def test_the_experiment_notebook_trains_in_its_own_step_before_reading_the_run():
    """config -> "## Training" -> fit_or_load -> load_run; no other cell trains."""
    cells = [c for c in _read("experiment").cells if "parameters" not in c.metadata.get("tags", [])]
    sources = [c.source for c in cells]
    config = sources.index("cfg = experiment.config_from_parameters(globals())")
    training = next(i for i, s in enumerate(sources) if s.startswith("## Training"))
    assert cells[training].cell_type == "markdown" and training > config
    assert sources[training + 1] == "folder = experiment.fit_or_load(cfg, runs_root, run_id)"
    reading = next(i for i, s in enumerate(sources) if "report.load_run(runs_root, run_id)" in s)
    assert reading > training + 1
    code = [c.source for c in cells if c.cell_type == "code"]
    assert sum("fit_or_load" in s for s in code) == 1


def test_the_experiment_notebook_explains_the_model_in_its_own_step_after_training():
    """Grad-CAM is computed (or found current) right after training, by one explicit call; the
    page only shows what it wrote."""
    code = [c.source for c in _read("experiment").cells if c.cell_type == "code"]
    fit = code.index("folder = experiment.fit_or_load(cfg, runs_root, run_id)")
    assert code[fit + 1] == "gradcam = explain.gradcam_panel(folder, per_class=gradcam_per_class)"
    assert sum("explain." in s for s in code) == 1
    shown = code.index("report.show_gradcam(run, gradcam_per_class)")
    assert shown > code.index("report.plot_examples(run, per_class=3)") > fit


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
            if name in ("claims", "findings"):
                unknown = set(report.parse_evidence(params.get("evidence", ""))) - known
                assert not unknown, f"{file.name}:{run['id']}: unknown claims {unknown}"


@pytest.mark.parametrize("name", NAMES)
def test_papermill_reads_every_declared_parameter(name):
    """Papermill parses the parameters cell itself; a line it cannot parse (an inline comment
    holding ``=``) makes it call the parameter unknown and warn on every run."""
    import papermill

    inspected = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    declared = _parameters(_read(name))
    # Papermill's line parser also gives up on a string default holding "=" (the pairs and
    # evidence mini-languages); it still injects such values, so only those may be missing.
    parsable = {k for k, v in declared.items() if not (isinstance(v, str) and "=" in v)}
    assert parsable <= set(inspected) <= set(declared)
