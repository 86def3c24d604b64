"""Declared inputs (which runs a page reads), the order and staleness they give, and ``--plan``.

Everything runs in a temporary repository with fake notebooks named like the real ones (so the
roles table applies) and a fake executor: no kernel starts.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import nbformat
import pytest

from wbcrepro.cli import main
from wbcrepro.codehash import RESULTS_KEY, training_code_hash
from wbcrepro.reproduction import plan as plan_module
from wbcrepro.reproduction import records as records_module
from wbcrepro.reproduction import runner as runner_module
from wbcrepro.reproduction.plan import ACTIONS, plan
from wbcrepro.reproduction.profiles import ProfileError, load_profile
from wbcrepro.reproduction.runner import read_record, record_path, reproduce, stale_reasons
from wbcrepro.reproduction.scheduling import execution_batches

COMMON = 'profile = ""\nrun_id = ""\nruns_root = ""\n'
PARAMETERS = {  # each fake notebook declares what its real namesake reads
    "experiment.ipynb": "epochs = 1\nseed = 0\n",
    "data_overview.ipynb": 'dataset = "synthetic"\n',
    "ablation.ipynb": 'run_ids = ""\nvary = ""\n',
    "table1.ipynb": 'pairs = ""\n',
    "claims.ipynb": 'evidence = ""\n',
    "findings.ipynb": 'headline = ""\n',
    "crossdomain.ipynb": 'source_run = ""\n',
    "model_card.ipynb": 'source_run = ""\ncrossdomain_runs = ""\n',
    "label_noise.ipynb": 'arms = "main,paper"\n',  # a default that names runs: they are read
    "learning_curve.ipynb": 'run_ids = ""\nreference = ""\n',
}

PROFILE = """\
    defaults_for: [experiment.ipynb]
    runs:
      - {id: data, notebook: data_overview.ipynb}
      - {id: main, notebook: experiment.ipynb, seeds: [0, 1, 2], params: {epochs: 5}}
      - {id: paper, notebook: experiment.ipynb, params: {epochs: 5}}
      - {id: small, notebook: experiment.ipynb, params: {epochs: 2}}
      - {id: ablation-lr, notebook: ablation.ipynb, params: {run_ids: "main,paper", vary: lr}}
      - {id: ablation-small, notebook: ablation.ipynb, params: {run_ids: "small,paper"}}
      - {id: curve, notebook: learning_curve.ipynb,
         params: {run_ids: "small,main-s0", reference: main-s0}}
      - {id: noise, notebook: label_noise.ipynb}
      - {id: cross, notebook: crossdomain.ipynb, params: {source_run: main}}
      - {id: card, notebook: model_card.ipynb, params: {source_run: main, crossdomain_runs: cross}}
      - {id: table1, notebook: table1.ipynb, params: {pairs: "set=main|paper,other=small"}}
      - {id: claims, notebook: claims.ipynb, params: {evidence: "lr=main|paper;size=small"}}
      - {id: findings, notebook: findings.ipynb}
    """
MAIN = ["main-s0", "main-s1", "main-s2"]
PAGES_READING_MAIN = ["ablation-lr", "curve", "noise", "cross", "card", "table1", "claims"]


def fake_notebook(path: Path, parameters: str) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(COMMON + parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def write_profile(repo: Path, text: str, name: str = "p") -> Path:
    path = repo / "profiles" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    for name, parameters in PARAMETERS.items():
        fake_notebook(root / "notebooks" / name, parameters)
    write_profile(root, PROFILE)
    monkeypatch.setenv("WBCREPRO_REPO", str(root))
    return root


class FakeExecutor:
    """Writes the executed notebook; a training notebook also trains (writes results.json with
    120 s of training) unless its run folder already holds a complete run."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, source: Path, output: Path, parameters: dict, cwd: Path) -> None:
        self.calls.append(parameters["run_id"])
        output.write_text("{}")
        if source.name == "experiment.ipynb":
            results = cwd / parameters["runs_root"] / parameters["run_id"] / "results.json"
            if not results.exists():
                results.parent.mkdir(parents=True, exist_ok=True)
                record = {"status": "complete", "train_seconds": 120.0}
                results.write_text(json.dumps({**record, RESULTS_KEY: training_code_hash()}))


def reproduced(repo: Path) -> FakeExecutor:
    fake = FakeExecutor()
    assert reproduce("p", progress=False, executor=fake).ok
    return fake


def change_main_epochs(repo: Path) -> None:
    path = repo / "profiles" / "p.yaml"
    path.write_text(path.read_text().replace("params: {epochs: 5}}", "params: {epochs: 6}}", 1))


def actions(planned) -> dict[str, str]:
    return {p.id: p.action for p in planned}


# --- the graph ------------------------------------------------------------------------------------
def test_reads_are_derived_from_each_notebooks_parameters(repo: Path) -> None:
    reads = {spec.id: list(spec.reads) for spec in load_profile("p").runs}
    everything_else = [run_id for run_id in reads if run_id != "findings"]
    assert reads == {
        "data": [],
        **{run_id: [] for run_id in [*MAIN, "paper", "small"]},
        "ablation-lr": [*MAIN, "paper"],  # an arm id stands for its seed runs
        "ablation-small": ["small", "paper"],
        "curve": ["small", "main-s0"],  # run_ids and reference, once each
        "noise": [*MAIN, "paper"],  # the notebook's own default arms
        "cross": MAIN,
        "card": [*MAIN, "cross"],
        "table1": [*MAIN, "paper", "small"],
        "claims": [*MAIN, "paper", "small"],
        "findings": everything_else,
    }


def test_explicit_reads_add_to_the_derived_ones(repo: Path) -> None:
    old = "{id: cross, notebook: crossdomain.ipynb,"
    text = PROFILE.replace(old, "{id: cross, reads: [data, main-s1], notebook: crossdomain.ipynb,")
    write_profile(repo, text)
    assert load_profile("p").run("cross").reads == (*MAIN, "data")


@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        ("{source_run: main}", "{source_run: mian}", ["'cross'", "'mian'", "crossdomain.ipynb"]),
        ("{id: data, notebook:", "{id: data, reads: [nope], notebook:", ["'data'", "'nope'"]),
        ("{id: data, notebook:", "{id: data, reads: nope, notebook:", ["'data'", "'reads'"]),
        ("{source_run: main}", "{source_run: cross}", ["'cross'", "reads itself"]),
        ("{source_run: main}", "{source_run: card}", ["cycle", "cross", "card"]),
    ],
    ids=["derived", "explicit", "not-a-list", "itself", "cycle"],
)
def test_a_read_of_no_run_of_the_profile_fails_at_load(
    repo: Path, old: str, new: str, needles: list[str]
) -> None:
    path = write_profile(repo, PROFILE.replace(old, new))
    with pytest.raises(ProfileError) as info:
        load_profile("p")
    message = str(info.value)
    for needle in [str(path), *needles]:
        assert needle in message
    if "cycle" not in needles and "'reads'" not in needles:
        assert "profile 'p'" in message


def test_a_page_listed_before_its_inputs_runs_after_them(repo: Path) -> None:
    write_profile(
        repo,
        """\
        runs:
          - {id: page, notebook: ablation.ipynb, params: {run_ids: "late,early"}}
          - {id: early, notebook: experiment.ipynb}
          - {id: other-page, notebook: crossdomain.ipynb, params: {source_run: early}}
          - {id: late, notebook: experiment.ipynb}
        """,
    )
    fake = FakeExecutor()
    summary = reproduce("p", progress=False, executor=fake)
    # inputs first; otherwise profile order (other-page stays before late, page moves down)
    assert fake.calls == ["early", "other-page", "late", "page"]
    assert [o.id for o in summary.outcomes] == fake.calls  # the summary in execution order
    profile = load_profile("p")
    order = runner_module.ordered_runs(profile, None)
    batches = execution_batches(order, 2, lambda spec: 1.0)
    assert [[s.id for s in b] for b in batches] == [["early", "late"], ["other-page"], ["page"]]
    assert [p.id for p in plan(profile)] == ["early", "other-page", "late", "page"]


# --- staleness by inputs --------------------------------------------------------------------------
def test_pages_reading_a_re_executed_run_are_re_rendered_in_the_same_call(repo: Path) -> None:
    reproduced(repo)
    fake = reproduced(repo)
    assert fake.calls == []
    change_main_epochs(repo)
    fake = FakeExecutor()
    summary = reproduce("p", progress=False, executor=fake)
    assert fake.calls == [*MAIN, *PAGES_READING_MAIN, "findings"]
    reasons = {o.id: o.reasons for o in summary.outcomes}
    assert reasons["cross"] == ["inputs main-s0, main-s1, main-s2 re-executed in this call"]
    assert reasons["curve"] == ["input main-s0 re-executed in this call"]
    profile = load_profile("p")
    card = read_record(record_path(profile, "card"))
    assert set(card["inputs"]) == {*MAIN, "cross"}  # fingerprints of what the page read
    assert all(stale_reasons(profile, spec) == [] for spec in profile.runs)


def test_a_page_is_stale_when_an_input_was_re_executed_by_another_call(repo: Path) -> None:
    reproduced(repo)
    fake = FakeExecutor()
    reproduce("p", only=["main-s1"], force=True, progress=False, executor=fake)
    assert fake.calls == ["main-s1"]
    profile = load_profile("p")
    assert stale_reasons(profile, profile.run("cross")) == [
        "input main-s1 re-executed since this page ran"
    ]
    assert stale_reasons(profile, profile.run("ablation-small")) == []
    fake = FakeExecutor()
    reproduce("p", progress=False, executor=fake)
    assert fake.calls == [p for p in PAGES_READING_MAIN if p != "curve"] + ["findings"]


def test_a_page_record_without_inputs_falls_back_to_record_times(repo: Path) -> None:
    reproduced(repo)
    profile = load_profile("p")
    path = record_path(profile, "cross")
    record = read_record(path)
    del record["inputs"]  # a record written before pages kept their inputs
    path.write_text(json.dumps(record))
    assert stale_reasons(profile, profile.run("cross")) == []
    main_path = record_path(profile, "main-s2")
    main = read_record(main_path)
    main_path.write_text(json.dumps({**main, "finished": "9999-01-01T00:00:00+00:00"}))
    assert stale_reasons(profile, profile.run("cross")) == [
        "input main-s2 re-executed since this page ran"
    ]


# --- the plan -------------------------------------------------------------------------------------
def test_plan_of_an_epochs_change_trains_the_arm_and_re_renders_its_readers(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    reproduced(repo)
    change_main_epochs(repo)
    assert main(["reproduce", "--profile", "p", "--plan", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    planned = answer["runs"]
    assert answer["counts"] == {a: sum(p["action"] == a for p in planned) for a in ACTIONS}
    assert answer["estimated_minutes"] > 0 and answer["missing"] == {}
    assert all(
        {"id", "notebook", "action", "reasons", "estimated_minutes"} <= set(p) for p in planned
    )
    by_id = {p["id"]: p for p in planned}
    assert [p["id"] for p in planned if p["action"] == "train"] == MAIN
    assert [p["id"] for p in planned if p["action"] == "render"] == [
        *PAGES_READING_MAIN,
        "findings",
    ]
    assert by_id["main-s0"]["reasons"] == ["parameters changed: epochs"]
    assert by_id["cross"]["reasons"] == ["inputs main-s0, main-s1, main-s2 will retrain"]
    assert by_id["card"]["reasons"] == [  # transitively: cross re-renders, so card does too
        "inputs main-s0, main-s1, main-s2 will retrain",
        "input cross will re-render",
    ]
    assert by_id["ablation-small"] == {
        "id": "ablation-small",
        "notebook": "ablation.ipynb",
        "action": "skip",
        "reasons": [],
        "estimated_minutes": 0.0,
        "estimated_from": "",
        "missing": [],
        "images": "",
    }
    # 120 s of recorded training plus the (tiny) render of the last record
    assert by_id["main-s0"]["estimated_minutes"] == 2.0
    assert by_id["cross"]["estimated_minutes"] == 0.0
    assert main(["reproduce", "--profile", "p", "--plan"]) == 0
    table = capsys.readouterr().out
    assert "main-s0" in table and "train" in table
    assert "3 train, 8 render, 4 skip; estimated 6.0 min" in table


def test_plan_after_a_page_code_change_retrains_nothing(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reproduced(repo)
    profile = load_profile("p")
    assert set(actions(plan(profile)).values()) == {"skip"}
    monkeypatch.setattr(records_module, "report_code_hash", lambda: "a-page-edited")
    assert set(actions(plan(profile)).values()) == {"render"}
    monkeypatch.setattr(records_module, "training_code_hash", lambda: "a-loop-edited")
    monkeypatch.setattr(plan_module, "training_code_hash", lambda: "a-loop-edited")
    planned = actions(plan(profile))
    assert [i for i, a in planned.items() if a == "train"] == [*MAIN, "paper", "small"]


def test_plan_trains_a_run_whose_results_are_missing_or_unfinished(repo: Path) -> None:
    reproduced(repo)
    profile = load_profile("p")
    (profile.runs_root / "paper.ipynb").unlink()  # stale, but the model is there: render
    (profile.runs_root / "small.ipynb").unlink()
    (profile.runs_root / "small" / "results.json").write_text('{"status": "running"}')
    record = read_record(record_path(profile, "small"))  # its last execution trained, for 5 min
    record_path(profile, "small").write_text(json.dumps({**record, "seconds": 300.0}))
    planned = {p.id: p for p in plan(profile)}
    assert planned["paper"].action == "render"
    assert planned["small"].action == "train"
    assert planned["small"].reasons == [
        "executed notebook missing",
        "run folder's training unfinished (running)",
    ]
    # no training time in the folder: the last execution's, which trained
    assert planned["small"].estimated_minutes == 5.0
    assert planned["ablation-small"].reasons == [
        "input small will retrain",
        "input paper will re-render",
    ]


def test_plan_honours_only_and_force_and_never_run(repo: Path) -> None:
    profile = load_profile("p")
    planned = plan(profile)
    assert planned[1].reasons == ["never run"] and planned[1].estimated_minutes is None
    assert {p.id: p.action for p in planned}["data"] == "render"
    reproduced(repo)
    assert [(p.id, p.action) for p in plan(profile, only=["paper", "cross"])] == [
        ("paper", "skip"),
        ("cross", "skip"),
    ]
    forced = plan(profile, only=["paper", "cross"], force=True)
    assert [(p.id, p.action, p.reasons) for p in forced] == [
        ("paper", "train", ["forced"]),
        ("cross", "render", ["forced"]),
    ]


def test_plan_writes_nothing_and_runs_nothing(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    def snapshot() -> dict[str, tuple[bytes, int]]:
        return {
            p.relative_to(repo).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(repo.rglob("*"))
            if p.is_file()
        }

    def refuse(*args, **kwargs):
        raise AssertionError("a plan must not execute anything")

    before_any = snapshot()
    monkeypatch.setattr(runner_module, "reproduce", refuse)
    assert main(["reproduce", "--profile", "p", "--plan"]) == 0  # never run: no runs folder
    assert snapshot() == before_any
    monkeypatch.undo()
    monkeypatch.setenv("WBCREPRO_REPO", str(repo))
    reproduced(repo)
    change_main_epochs(repo)
    before = snapshot()
    monkeypatch.setattr(runner_module, "reproduce", refuse)
    monkeypatch.setattr(runner_module, "papermill_executor", refuse)
    for extra in ([], ["--json"], ["--force"], ["--only", "main-s0", "cross", "--json"]):
        assert main(["reproduce", "--profile", "p", "--plan", *extra]) == 0
    assert snapshot() == before
    capsys.readouterr()
    assert main(["reproduce", "--profile", "p", "--json"]) == 2
    assert "--json goes with --plan" in capsys.readouterr().err


def test_a_model_file_parameter_reads_no_run() -> None:
    from wbcrepro.reproduction.roles import role_of

    reads = role_of("crossdomain.ipynb").reads
    assert reads({"source_run": "main-pbc"}) == ["main-pbc"]
    assert reads({"source_run": "wbcrepro/assets/pbc6.pt"}) == []
    card = role_of("model_card.ipynb").reads
    assert card({"source_run": "main-pbc", "crossdomain_runs": "cd-zheng,cd-shipped"}) == [
        "main-pbc",
        "cd-zheng",
        "cd-shipped",
    ]
