"""Profiles and ``reproduce``: run, skip what is complete, redo what changed, failed or was cut off.

Everything happens in a temporary repository (``WBCREPRO_REPO`` / ``repo=``), never in this one.
Tests marked by a real papermill execution start a ``python3`` kernel (about 1.5 s per run).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import nbformat
import pytest

import wbcrepro
from wbcrepro.cli import main
from wbcrepro.reproduction import records as records_module
from wbcrepro.reproduction import runner as reproduce_module
from wbcrepro.reproduction import scheduling
from wbcrepro.reproduction.profiles import (
    ProfileError,
    find_repo_root,
    list_profiles,
    load_profile,
)
from wbcrepro.reproduction.runner import (
    ReproduceError,
    read_record,
    record_path,
    reproduce,
    select_runs,
    stale_reasons,
    up_to_date,
)

PARAMETERS = 'profile = ""\nrun_id = ""\nruns_root = ""\nvalue = 0\nfail = False'
WRITE = textwrap.dedent(
    """\
    from pathlib import Path
    with open("executions.log", "a") as log:  # cwd is the repository root
        log.write(run_id + "\\n")
    out = Path(runs_root) / run_id
    out.mkdir(parents=True, exist_ok=True)
    (out / "value.txt").write_text(str(value))
    print("wrote", out.resolve())  # an absolute path, made repository-relative on the page
    """
)
RAISE = 'if fail:\n    raise RuntimeError(f"asked to fail: {run_id}")'


def make_notebook(path: Path, extra: str = "") -> Path:
    """A clean source notebook: parameters cell, a cell writing into the run folder, a cell
    that raises when ``fail`` is true."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# Trivial notebook {path.stem}"),
        params,
        nbformat.v4.new_code_cell(WRITE + extra),
        nbformat.v4.new_code_cell(RAISE),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def write_profile(repo: Path, text: str, name: str = "demo") -> Path:
    path = repo / "profiles" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


THREE_RUNS = """\
    title: "Demo"
    synthetic: true
    defaults: {value: 100}
    defaults_for: [trivial.ipynb]
    runs:
      - id: a
        notebook: trivial.ipynb
        params: {value: 1}
      - id: b
        notebook: trivial.ipynb
        section: ablations
        params: {value: 2}
      - id: c
        notebook: other.ipynb
        params: {value: 3}
    """


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary repository with two notebooks and the three-run profile ``demo``."""
    root = tmp_path / "repo"
    make_notebook(root / "notebooks" / "trivial.ipynb")
    make_notebook(root / "notebooks" / "other.ipynb")
    write_profile(root, THREE_RUNS)
    monkeypatch.setenv("WBCREPRO_REPO", str(root))
    return root


def executions(repo: Path) -> list[str]:
    log = repo / "executions.log"
    return log.read_text().split() if log.exists() else []


def records(repo: Path, profile: str = "demo") -> dict[str, bytes]:
    folder = repo / "book" / "runs" / profile
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.run.json"))}


# --- profiles -------------------------------------------------------------------------------------
def test_repo_root_is_injectable(repo: Path) -> None:
    assert find_repo_root() == repo.resolve()
    assert list_profiles() == ["demo"]


def test_parameters_merge_defaults_params_and_reserved(repo: Path) -> None:
    write_profile(
        repo,
        """\
        defaults: {value: 100, fail: false}
        defaults_for: [trivial]
        runs:
          - {id: x, notebook: trivial.ipynb}
          - {id: y, notebook: trivial.ipynb, params: {value: 5}}
          - {id: z, notebook: other}
        """,
        name="merge",
    )
    profile = load_profile("merge")
    reserved = {"profile": "merge", "runs_root": "book/runs/merge"}
    assert profile.run("x").parameters(profile) == {
        "value": 100,
        "fail": False,
        "run_id": "x",
        **reserved,
    }
    assert profile.run("y").parameters(profile) == {  # run params win over defaults
        "value": 5,
        "fail": False,
        "run_id": "y",
        **reserved,
    }
    # other.ipynb is not in defaults_for: it gets only the reserved parameters
    assert profile.run("z").parameters(profile) == {"run_id": "z", **reserved}
    assert profile.run("z").notebook == "other.ipynb"
    write_profile(repo, "runs:\n  - {id: x, notebook: trivial.ipynb}\n", name="plain")
    assert load_profile("plain").defaults_for == ("experiment.ipynb",)
    write_profile(  # anchors: YAML anchors merged into params, read by nothing else
        repo,
        """\
        anchors:
          shared: &shared {value: 7, fail: false}
        runs:
          - {id: x, notebook: trivial.ipynb, params: {<<: *shared, value: 8}}
        """,
        name="anchored",
    )
    anchored = load_profile("anchored").run("x").parameters(load_profile("anchored"))
    assert anchored["value"] == 8 and anchored["fail"] is False
    demo = load_profile("demo")
    assert demo.synthetic and demo.run("b").section == "ablations"
    assert demo.run("a").section == "results"


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ("runs:\n  - {id: a, notebook: trivial.ipynb}\nepochs: 3\n", ["epochs", "unknown key"]),
        ("runs:\n  - {notebook: trivial.ipynb}\n", ["runs[0]", "'id'"]),
        ("runs:\n  - {id: a}\n", ["runs[0]", "'notebook'"]),
        (
            "runs:\n  - {id: a, notebook: trivial.ipynb}\n  - {id: a, notebook: other.ipynb}\n",
            ["runs[1]", "duplicate", "'a'"],
        ),
        ("runs:\n  - {id: a, notebook: nope.ipynb}\n", ["'notebook'", "nope.ipynb"]),
        (
            "runs:\n  - {id: a, notebook: trivial.ipynb, section: appendix}\n",
            ["'section'", "appendix"],
        ),
        (
            "runs:\n  - {id: a, notebook: trivial.ipynb, params: {lr: [1, 2]}}\n",
            ["'params'", "'lr'", "flat scalar"],
        ),
        (
            "runs:\n  - {id: a, notebook: trivial.ipynb, params: {run_id: x}}\n",
            ["'run_id'", "reserved"],
        ),
        ("defaults: {a: {b: 1}}\nruns:\n  - {id: a, notebook: trivial.ipynb}\n", ["defaults"]),
        ("runs:\n  - {id: a, notebook: trivial.ipynb, colour: red}\n", ["runs[0]", "colour"]),
        ("name: other\nruns:\n  - {id: a, notebook: trivial.ipynb}\n", ["'name'", "other"]),
        ("title: x\n", ["'runs'"]),
        ("anchors: [1]\nruns:\n  - {id: a, notebook: trivial.ipynb}\n", ["'anchors'", "mapping"]),
    ],
)
def test_profile_errors_name_file_and_key(repo: Path, body: str, needles: list[str]) -> None:
    path = write_profile(repo, body, name="bad")
    with pytest.raises(ProfileError) as info:
        load_profile("bad")
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message


@pytest.mark.parametrize(
    "body",
    [
        # A misspelt training default: it would otherwise be dropped and the run train at 224 px.
        "defaults: {img_szie: 112}\ndefaults_for: [trivial.ipynb]\n"
        "runs:\n  - {id: main-x, notebook: trivial.ipynb}\n",
        # The same typo in one run's params.
        "defaults_for: [trivial.ipynb]\n"
        "runs:\n  - {id: main-x, notebook: trivial.ipynb, params: {img_szie: 112}}\n",
    ],
    ids=["defaults", "params"],
)
def test_misspelt_parameter_fails_at_load_naming_key_file_and_run(repo: Path, body: str) -> None:
    path = write_profile(repo, body, name="typo")
    with pytest.raises(ProfileError) as info:
        load_profile("typo")
    message = str(info.value)
    for needle in (str(path), "'main-x'", "'img_szie'", "did you mean 'img_size'"):
        assert needle in message
    assert ("from defaults" in message) == body.startswith("defaults: ")


def test_config_notebooks_take_config_fields_and_check_their_values(repo: Path) -> None:
    ok = "defaults: {img_size: 112}\ndefaults_for: [trivial.ipynb]\n"
    write_profile(repo, ok + "runs:\n  - {id: a, notebook: trivial.ipynb}\n", name="ok")
    assert load_profile("ok").run("a").parameters(load_profile("ok"))["img_size"] == 112
    bad = ok.replace("112", "-3") + "runs:\n  - {id: a, notebook: trivial.ipynb}\n"
    write_profile(repo, bad, name="bad")
    with pytest.raises(ProfileError, match="img_size"):
        load_profile("bad")
    # A notebook outside defaults_for takes only what its parameters cell declares.
    plain = "runs:\n  - {id: a, notebook: other.ipynb, params: {img_size: 112}}\n"
    write_profile(repo, plain, name="plain")
    with pytest.raises(ProfileError, match="unknown parameter 'img_size'"):
        load_profile("plain")


def test_seeds_expand_into_one_run_per_seed(repo: Path) -> None:
    body = (
        "defaults_for: [trivial.ipynb]\n"
        "runs:\n  - {id: main, notebook: trivial.ipynb, title: Main, seeds: [0, 2],\n"
        "     params: {value: 5}}\n"
    )
    write_profile(repo, body, name="seeded")
    profile = load_profile("seeded")
    assert profile.run_ids == ["main-s0", "main-s2"]
    assert {spec.arm for spec in profile.runs} == {"main"}
    params = profile.run("main-s2").parameters(profile)
    assert (params["seed"], params["value"], params["run_id"]) == (2, 5, "main-s2")
    assert profile.run("main-s2").display_title == "Main (seed 2)"
    for bad, needle in (("[]", "distinct"), ("[1, 1]", "distinct"), ("[-1]", "non-negative")):
        write_profile(repo, body.replace("[0, 2]", bad), name="badseeds")
        with pytest.raises(ProfileError, match=needle):
            load_profile("badseeds")
    write_profile(repo, body.replace("{value: 5}", "{value: 5, seed: 1}"), name="both")
    with pytest.raises(ProfileError, match="either 'seeds' or params 'seed'"):
        load_profile("both")
    # --only takes an arm for all its seed runs, as the CLI's example says
    assert [s.id for s in select_runs(profile, ["main"])] == ["main-s0", "main-s2"]
    assert [s.id for s in select_runs(profile, ["main-s2"])] == ["main-s2"]
    with pytest.raises(ReproduceError, match=r"unknown run id\(s\) mai\b"):
        select_runs(profile, ["mai"])


def test_shipped_profiles_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WBCREPRO_REPO", raising=False)
    for name in ("smoke", "cpu", "paper"):
        assert load_profile(name).runs


def test_cli_reproduce_with_typo_fails_before_running(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    write_profile(repo, "runs:\n  - {id: a, notebook: trivial.ipynb, params: {valeu: 1}}\n", "t")
    assert main(["reproduce", "--profile", "t", "--no-book"]) == 2
    assert "unknown parameter 'valeu'" in capsys.readouterr().err
    assert executions(repo) == []


def test_unknown_profile_lists_known(repo: Path) -> None:
    with pytest.raises(ProfileError, match="known profiles: demo"):
        load_profile("nope")


# --- reproduce with papermill ---------------------------------------------------------------------
def test_run_skip_and_rerun_only_what_changed(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = reproduce("demo", progress=False)
    assert [(o.id, o.status) for o in summary.outcomes] == [
        ("a", "complete"),
        ("b", "complete"),
        ("c", "complete"),
    ]
    assert summary.ok and summary.exit_code == 0
    runs = repo / "book" / "runs" / "demo"
    assert (runs / "b" / "value.txt").read_text() == "2"
    for run_id in "abc":
        assert (runs / f"{run_id}.ipynb").is_file()
        record = read_record(runs / f"{run_id}.run.json")
        assert record["status"] == "complete"
        assert record["package_version"] == wbcrepro.__version__
        assert record["notebook"] == (
            "notebooks/other.ipynb" if run_id == "c" else "notebooks/trivial.ipynb"
        )
        assert len(record["notebook_sha256"]) == 64 and record["error"] is None
        assert record["parameters"]["run_id"] == run_id
    executed = nbformat.read(runs / "a.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    # Committed outputs are portable: no timestamps, no absolute path of this machine.
    text = (runs / "a.ipynb").read_text()
    assert str(repo) not in text and "start_time" not in text and "iopub" not in text
    assert executed.metadata.papermill["input_path"] == "notebooks/trivial.ipynb"
    # Clean pages: parameters (declared and injected) removed, other code cells show output only.
    tags = [c.metadata.get("tags", []) for c in executed.cells if c.cell_type == "code"]
    assert tags[0] == ["parameters", "remove-cell"]
    assert tags[1] == ["injected-parameters", "remove-cell"]
    assert all(t == ["remove-input"] for t in tags[2:])
    assert [r["status"] for r in json.loads((runs / "summary.json").read_text())["runs"]] == [
        "complete"
    ] * 3
    assert executions(repo) == ["a", "b", "c"]

    # Second call: nothing to do, records untouched.
    before = records(repo)
    summary = reproduce("demo", progress=False)
    assert [o.status for o in summary.outcomes] == ["skipped"] * 3
    assert records(repo) == before
    assert executions(repo) == ["a", "b", "c"]

    # Changed params of b: only b again, and its stale run folder was replaced.
    (runs / "b" / "stale.txt").write_text("old")
    text = (repo / "profiles" / "demo.yaml").read_text().replace("{value: 2}", "{value: 20}")
    (repo / "profiles" / "demo.yaml").write_text(text)
    summary = reproduce("demo", progress=False)
    assert [o.status for o in summary.outcomes] == ["skipped", "complete", "skipped"]
    assert (runs / "b" / "value.txt").read_text() == "20"
    assert not (runs / "b" / "stale.txt").exists()

    # Edited notebook other.ipynb: only c again.
    make_notebook(repo / "notebooks" / "other.ipynb", extra="\nprint('edited')\n")
    summary = reproduce("demo", progress=False)
    assert [o.status for o in summary.outcomes] == ["skipped", "skipped", "complete"]
    assert executions(repo) == ["a", "b", "c", "b", "c"]

    # A change of the package's code invalidates every run, and says which code changed
    # (checked without executing): presentation only, or training code (runs retrain).
    profile = load_profile("demo")
    assert all(up_to_date(profile, spec) for spec in profile.runs)
    monkeypatch.setattr(records_module, "report_code_hash", lambda: "page-edit")
    assert stale_reasons(profile, profile.runs[0]) == [
        "report code changed (pages re-render, no retraining)"
    ]
    monkeypatch.setattr(records_module, "training_code_hash", lambda: "loop-edit")
    assert not any(up_to_date(profile, spec) for spec in profile.runs)
    assert stale_reasons(profile, profile.runs[0]) == [
        "training code changed (trained runs retrain)"
    ]


def test_failure_is_recorded_others_continue_and_cli_exits_1(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    text = (repo / "profiles" / "demo.yaml").read_text()
    (repo / "profiles" / "demo.yaml").write_text(
        text.replace("{value: 2}", "{value: 2, fail: true}")
    )
    summary = reproduce("demo", progress=True)
    assert [(o.id, o.status) for o in summary.outcomes] == [
        ("a", "complete"),
        ("b", "failed"),
        ("c", "complete"),
    ]
    assert not summary.ok and summary.exit_code == 1
    assert [o.id for o in summary.failed] == ["b"]
    assert "RuntimeError: asked to fail: b" in summary.failed[0].error
    out = capsys.readouterr().out
    assert "[2/3] b ... FAILED" in out and "[1/3] a ... done in" in out
    assert "FAILED b: RuntimeError: asked to fail: b" in out  # the summary table names it
    runs = repo / "book" / "runs" / "demo"
    record = read_record(runs / "b.run.json")
    assert record["status"] == "failed" and "asked to fail" in record["error"]
    assert "asked to fail" in (runs / "b.ipynb").read_text()  # traceback kept for inspection
    statuses = {
        r["id"]: r["status"] for r in json.loads((runs / "summary.json").read_text())["runs"]
    }
    assert statuses == {"a": "complete", "b": "failed", "c": "complete"}

    # The CLI redoes only the failed run, fails again, and exits 1.
    assert main(["reproduce", "--profile", "demo", "--no-book"]) == 1
    err = capsys.readouterr().err
    assert "1 run(s) failed: b" in err
    assert executions(repo) == ["a", "b", "c", "b"]


def test_interrupted_run_is_redone(repo: Path) -> None:
    summary = reproduce("demo", only=["a"], progress=False)
    assert summary.ok
    path = record_path(load_profile("demo"), "a")
    record = read_record(path)
    record.update(status="running", finished=None, seconds=None)  # killed mid-run
    path.write_text(json.dumps(record))
    summary = reproduce("demo", only=["a"], progress=False)
    assert [o.status for o in summary.outcomes] == ["complete"]
    assert read_record(path)["status"] == "complete"
    assert executions(repo) == ["a", "a"]


def test_keyboard_interrupt_leaves_record_running(repo: Path) -> None:
    def interrupted(source, output, parameters, cwd):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reproduce("demo", progress=False, executor=interrupted)
    profile = load_profile("demo")
    assert read_record(record_path(profile, "a"))["status"] == "running"
    assert read_record(record_path(profile, "b")) is None
    assert not up_to_date(profile, profile.run("a"))


def test_only_runs_just_that_id(repo: Path, capsys: pytest.CaptureFixture) -> None:
    summary = reproduce("demo", only=["b"], progress=False)
    assert [(o.id, o.status) for o in summary.outcomes] == [("b", "complete")]
    assert executions(repo) == ["b"]
    runs = repo / "book" / "runs" / "demo"
    statuses = [r["status"] for r in json.loads((runs / "summary.json").read_text())["runs"]]
    assert statuses == ["not run", "complete", "not run"]

    with pytest.raises(ReproduceError, match=r"unknown run id\(s\) zz.*known ids: a, b, c"):
        reproduce("demo", only=["zz"], progress=False)
    assert main(["reproduce", "--profile", "demo", "--only", "zz", "--no-book"]) == 2
    assert "known ids: a, b, c" in capsys.readouterr().err
    assert executions(repo) == ["b"]


def test_force_reruns_complete_runs(repo: Path) -> None:
    calls: list[str] = []

    def fake(source: Path, output: Path, parameters: dict, cwd: Path) -> None:
        calls.append(parameters["run_id"])
        assert cwd == repo.resolve()
        output.write_text("{}")

    reproduce("demo", progress=False, executor=fake)
    reproduce("demo", progress=False, executor=fake)
    reproduce("demo", only=["c"], force=True, progress=False, executor=fake)
    assert calls == ["a", "b", "c", "c"]


def test_page_reading_an_executed_run_is_refreshed_in_the_same_call(repo: Path) -> None:
    """A page declares what it reads (here ``reads:``; real notebooks derive it from their
    parameters): it must never show stale results, and a page reading something else is left."""
    make_notebook(repo / "notebooks" / "ablation.ipynb")
    body = """\
        runs:
          - {id: exp, notebook: trivial.ipynb, params: {value: 1}}
          - {id: other, notebook: trivial.ipynb}
          - {id: summary, notebook: ablation.ipynb, reads: [exp]}
          - {id: unrelated, notebook: ablation.ipynb, reads: [other]}
        """
    write_profile(repo, body, name="summ")
    reproduce("summ", progress=False)
    again = reproduce("summ", progress=False)  # nothing changed: all skipped
    assert [o.status for o in again.outcomes] == ["skipped"] * 4
    write_profile(repo, body.replace("{value: 1}", "{value: 2}"), name="summ")
    changed = reproduce("summ", progress=False)  # the experiment changed: its page refreshed
    assert [o.status for o in changed.outcomes] == ["complete", "skipped", "complete", "skipped"]
    assert changed.outcomes[2].reasons == ["input exp re-executed in this call"]


def test_summary_is_left_untouched_when_nothing_changed(repo: Path) -> None:
    """A rerun that skips every run must not rewrite summary.json (a committed book stays clean);
    a rerun that executes something rewrites it."""
    reproduce("demo", progress=False)
    summary_path = repo / "book" / "runs" / "demo" / "summary.json"
    first = summary_path.read_bytes()
    assert all(o.status == "skipped" for o in reproduce("demo", progress=False).outcomes)
    assert summary_path.read_bytes() == first
    reproduce("demo", only=["c"], force=True, progress=False)
    assert summary_path.read_bytes() != first


# --- runs side by side ----------------------------------------------------------------------------
TIMED = textwrap.dedent(
    """\
    import os, time
    from pathlib import Path
    start = time.time()  # cwd is the repository root
    met = "-"
    if run_id.startswith("slow") and Path("rendezvous").exists():
        # Overlap proven by a rendezvous, not by timing (kernel start-up varies on a busy
        # machine): each slow run announces itself and waits for the other one.
        other = "slow-b" if run_id == "slow-a" else "slow-a"
        Path(f"started-{run_id}").touch()
        deadline = time.time() + 60
        while not Path(f"started-{other}").exists() and time.time() < deadline:
            time.sleep(0.05)
        met = "met" if Path(f"started-{other}").exists() else "alone"
    else:
        time.sleep(0.2)
    with open(f"times-{run_id}.log", "w") as log:
        log.write(f"{start} {time.time()} {os.environ.get('OMP_NUM_THREADS', '-')} {met}")
    """
)


def timed(repo: Path, run_id: str) -> tuple[float, float, str, str]:
    """(start, end, OMP_NUM_THREADS, whether a slow run met the other slow run) of one run."""
    start, end, threads, met = (repo / f"times-{run_id}.log").read_text().split()
    return float(start), float(end), threads, met


def test_jobs_run_training_notebooks_side_by_side_then_pages_in_order(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in scheduling.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(reproduce_module.os, "cpu_count", lambda: 4)
    make_notebook(repo / "notebooks" / "experiment.ipynb", extra="\n" + TIMED)
    make_notebook(repo / "notebooks" / "ablation.ipynb", extra="\n" + TIMED)
    write_profile(
        repo,
        """\
        jobs: 2
        runs:
          - {id: fast, notebook: experiment.ipynb}
          - {id: slow-a, notebook: experiment.ipynb}
          - {id: page, notebook: ablation.ipynb}
          - {id: slow-b, notebook: experiment.ipynb}
        """,
        name="par",
    )
    assert load_profile("par").jobs == 2
    (repo / "rendezvous").touch()
    summary = reproduce("par", progress=False)
    # outcomes in profile order, whatever order they finished in
    assert [(o.id, o.status) for o in summary.outcomes] == [
        ("fast", "complete"),
        ("slow-a", "complete"),
        ("page", "complete"),
        ("slow-b", "complete"),
    ]
    slow_a, slow_b, page = timed(repo, "slow-a"), timed(repo, "slow-b"), timed(repo, "page")
    assert (slow_a[3], slow_b[3]) == ("met", "met"), "the two slow runs did not overlap"
    assert page[0] >= max(slow_a[1], slow_b[1], timed(repo, "fast")[1]), "page ran too early"
    # each side-by-side kernel got half of the (4) cores; the page ran with the caller's setting
    assert (slow_a[2], slow_b[2], page[2]) == ("2", "2", "-")
    runs = repo / "book" / "runs" / "par"
    call = read_record(runs / "slow-a.run.json")["call"]
    assert call["jobs"] == 2 and call["threads_per_job"] == 2 and call["started"]
    assert read_record(runs / "page.run.json")["call"] == {**call, "threads_per_job": None}
    assert "OMP_NUM_THREADS" not in scheduling.os.environ  # restored afterwards

    # --jobs 1 overrides the profile: one at a time, in profile order, threads left alone
    (repo / "rendezvous").unlink()  # run one at a time, the slow runs must not wait
    summary = reproduce("par", progress=False, force=True, jobs=1)
    assert summary.ok
    assert timed(repo, "slow-a")[1] <= timed(repo, "page")[0] <= timed(repo, "slow-b")[0]
    assert read_record(runs / "slow-b.run.json")["call"]["jobs"] == 1


def test_a_notebook_runs_in_the_repository_without_changing_the_process_directory(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Side-by-side notebooks run in threads of one process, so the kernel's directory must not
    be set with the process-wide ``os.chdir`` (papermill's ``cwd=`` does that, and two runs
    restored each other's directory: a run folder was written outside the repository)."""
    from wbcrepro.reproduction import executed

    notebook = make_notebook(repo / "notebooks" / "experiment.ipynb")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    def refuse(path: str) -> None:  # papermill's file reads "change" to the current directory
        if Path(path).resolve() != elsewhere.resolve():
            raise AssertionError(f"os.chdir({path!r}) while notebooks may run side by side")

    monkeypatch.setattr(executed.os, "chdir", refuse)
    output = tmp_path / "out.ipynb"
    parameters = {"run_id": "r1", "runs_root": "book/runs/x", "value": 3}
    executed.papermill_executor(notebook, output, parameters, repo)
    assert (repo / "book" / "runs" / "x" / "r1" / "value.txt").read_text() == "3"
    assert (repo / "executions.log").read_text() == "r1\n"
    assert not (elsewhere / "book").exists() and Path.cwd() == elsewhere


def test_side_by_side_batch_is_longest_first_and_user_threads_are_kept(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_notebook(repo / "notebooks" / "experiment.ipynb")
    write_profile(
        repo,
        """\
        runs:
          - {id: short, notebook: experiment.ipynb}
          - {id: long, notebook: experiment.ipynb}
          - {id: new, notebook: experiment.ipynb}
          - {id: page, notebook: other.ipynb}
        """,
        name="order",
    )
    profile = load_profile("order")
    runs = profile.runs_root
    runs.mkdir(parents=True)
    for run_id, seconds in (("short", 5.0), ("long", 50.0)):
        (runs / f"{run_id}.run.json").write_text(json.dumps({"seconds": seconds}))
    seconds = reproduce_module.last_seconds(profile)
    batches = scheduling.execution_batches(list(profile.runs), 2, seconds)
    assert [[s.id for s in b] for b in batches] == [["new", "long", "short"], ["page"]]
    sequential = scheduling.execution_batches(list(profile.runs), 1, seconds)
    assert [[s.id for s in b] for b in sequential] == [["short"], ["long"], ["new"], ["page"]]
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    with scheduling.kernel_threads(2) as threads:
        assert threads is None and scheduling.os.environ["OMP_NUM_THREADS"] == "3"
    with pytest.raises(ReproduceError, match="jobs must be >= 1"):
        reproduce("order", progress=False, jobs=0)


@pytest.mark.parametrize("value", ["0", "two", "true", "1.5"])
def test_profile_jobs_must_be_a_whole_number(repo: Path, value: str) -> None:
    write_profile(repo, f"jobs: {value}\nruns:\n  - {{id: a, notebook: trivial.ipynb}}\n", "bad")
    with pytest.raises(ProfileError, match="key 'jobs' must be a whole number >= 1"):
        load_profile("bad")


TRAIN = textwrap.dedent(
    """\
    import json, time
    from pathlib import Path
    results = Path(runs_root) / run_id / "results.json"
    if not results.exists():  # a trained run folder is reloaded, not retrained
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps({"train_seconds": time.time()}))
    """
)


def test_record_keeps_the_call_that_trained_the_run_across_re_renders(repo: Path) -> None:
    make_notebook(repo / "notebooks" / "experiment.ipynb", extra="\n" + TRAIN)
    write_profile(
        repo,
        "runs:\n  - {id: t, notebook: experiment.ipynb}\n  - {id: page, notebook: other.ipynb}\n",
        name="tr",
    )
    path = repo / "book" / "runs" / "tr" / "t.run.json"
    reproduce("tr", progress=False)
    first = read_record(path)
    assert first["trained"] == {**first["call"], "finished": first["finished"]}
    assert "trained" not in read_record(path.with_name("page.run.json"))  # no model there
    # the notebook changed, the folder is kept and reloaded: a new call, the same training call
    make_notebook(repo / "notebooks" / "experiment.ipynb", extra="\n" + TRAIN + "\nprint(1)\n")
    reproduce("tr", progress=False)
    second = read_record(path)
    assert second["call"]["started"] >= first["call"]["started"]
    assert second["finished"] != first["finished"] and second["trained"] == first["trained"]
    # forced: the folder is deleted and trained again, by this call
    reproduce("tr", progress=False, force=True)
    third = read_record(path)
    assert third["trained"] == {**third["call"], "finished": third["finished"]}
    assert third["trained"] != first["trained"]


def test_each_call_that_executed_runs_is_logged_with_its_wall_time(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    log = repo / "book" / "runs" / "demo" / "calls.jsonl"
    assert main(["reproduce", "--profile", "demo", "--no-book", "--force"]) == 0
    assert main(["reproduce", "--profile", "demo", "--no-book"]) == 0  # nothing to do: no line
    assert main(["reproduce", "--profile", "demo", "--no-book", "--only", "a", "--force"]) == 0
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(c["force"], c["only"], c["executed"], c["failed"]) for c in calls] == [
        (True, [], 3, 0),
        (True, ["a"], 1, 0),
    ]
    first = calls[0]
    assert first["runs_in_profile"] == 3 and first["book_built"] is False
    assert first["wall_seconds"] >= 0 and first["finished"] >= first["started"]
    assert first["executor"] == "inline" and "commit" in first["git"]


def test_the_call_log_says_whether_the_tree_was_clean_at_the_start_of_the_call(
    repo: Path,
) -> None:
    """A call that starts from a clean commit and changes a tracked file outside the run outputs
    as it goes (as the book build rewrites ``_toc.yml``): its log line says clean at the start
    (the code its runs ran) and dirty at the end, and the landing page's cost row says clean."""
    from wbcrepro.report.costs_page import _recreation_rows

    (repo / "tracked.txt").write_text("before\n")
    make_notebook(
        repo / "notebooks" / "trivial.ipynb", extra="\nopen('tracked.txt', 'a').write('x')"
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "clean"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
    assert main(["reproduce", "--profile", "demo", "--no-book", "--force"]) == 0
    (call,) = [json.loads(line) for line in (repo / "book/runs/demo/calls.jsonl").open()]
    assert call["git"]["dirty"] is False and call["git_at_end"]["dirty"] is True
    assert call["git"]["commit"] == call["git_at_end"]["commit"]
    that_call = dict(_recreation_rows(call))["that call"]
    assert that_call.endswith(f"commit {call['git']['commit'][:10]} (clean at its start)")
