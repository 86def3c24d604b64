"""``reproduce --executor inline|local|slurm``: settings, checks before any job, GPUs per kernel,
SLURM job arrays (``sbatch``/``sacct`` replaced by test doubles on PATH), local submitit jobs and
their requeue after a timeout.

No cluster here: the SLURM tests check the sbatch file submitit writes and the records, with a
fake ``sbatch`` that stores the file and a fake ``sacct`` that reports the states the test sets.
The local-executor tests start real subprocesses (submitit's ``LocalExecutor``, not its debug
executor) and real kernels.
"""

from __future__ import annotations

import json
import os
import stat
import textwrap
import threading
from pathlib import Path

import pytest

from tests.reproduction.test_runner import make_notebook, write_profile
from wbcrepro.cli import main
from wbcrepro.reproduction import cluster as cluster_module
from wbcrepro.reproduction import runner
from wbcrepro.reproduction.cluster import (
    ClusterError,
    ClusterSettings,
    default_jobs,
    gpu_slots,
    preflight,
    visible_gpus,
)
from wbcrepro.reproduction.profiles import ProfileError, load_profile
from wbcrepro.reproduction.runner import read_record, record_path, reproduce

TWO_DATA_RUNS = """\
    synthetic: true
    cluster: {gpus_per_run: 0, time_min: 30}
    runs:
      - {id: a, notebook: data_overview.ipynb, section: data, params: {value: 1}}
      - {id: b, notebook: data_overview.ipynb, section: data, params: {value: 2}}
      - {id: page, notebook: other.ipynb, reads: [a, b], params: {value: 3}}
    """


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with a 'data' notebook (runs as a job) and a page reading its runs."""
    root = tmp_path / "repo"
    make_notebook(root / "notebooks" / "data_overview.ipynb")
    make_notebook(root / "notebooks" / "other.ipynb")
    write_profile(root, TWO_DATA_RUNS, name="jobs")
    monkeypatch.setenv("WBCREPRO_REPO", str(root))
    return root


# --- settings and checks ------------------------------------------------------------------------
def test_cluster_block_is_validated_naming_file_and_key(repo: Path) -> None:
    write_profile(repo, "cluster: {gpu_per_run: 1}\nruns: [{id: a, notebook: other}]\n", "bad")
    with pytest.raises(ProfileError, match=r"bad\.yaml.*unknown key\(s\) gpu_per_run"):
        load_profile("bad")
    write_profile(repo, "cluster: {time_min: '2h'}\nruns: [{id: a, notebook: other}]\n", "bad")
    with pytest.raises(ProfileError, match="'time_min' must be a whole number"):
        load_profile("bad")
    assert load_profile("jobs").cluster == ClusterSettings(gpus_per_run=0, time_min=30)


def test_command_line_overrides_are_checked_like_the_profile() -> None:
    settings = ClusterSettings().updated({"partition": "gpu", "time_min": 90, "account": None})
    assert (settings.partition, settings.time_min, settings.account) == ("gpu", 90, "")
    with pytest.raises(ClusterError, match="'mem_gb' must be >= 1"):
        ClusterSettings().updated({"mem_gb": 0})


def test_unknown_executor_and_detach_without_slurm_are_refused() -> None:
    with pytest.raises(ClusterError, match="unknown executor 'pbs'; choose one of inline"):
        preflight("pbs", ClusterSettings(), "p")
    with pytest.raises(ClusterError, match="--detach needs --executor slurm"):
        preflight("local", ClusterSettings(), "p", detach=True)


def test_a_gpu_profile_on_a_machine_without_gpu_is_refused_before_any_run(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(ClusterError, match=r"profile 'paper' asks for 1 GPU\(s\) per run.*none"):
        preflight("inline", ClusterSettings(gpus_per_run=1), "paper", gpus=[])
    with pytest.raises(ClusterError, match="asks for 2 GPU"):
        preflight("local", ClusterSettings(gpus_per_run=2), "paper", gpus=[0])
    preflight("inline", ClusterSettings(gpus_per_run=1), "paper", gpus=[0])  # fine
    monkeypatch.setattr(runner, "visible_gpus", lambda: [])
    assert main(["reproduce", "--profile", "jobs", "--gpus-per-run", "1", "--no-book"]) == 2
    assert "asks for 1 GPU(s) per run" in capsys.readouterr().err
    assert read_record(record_path(load_profile("jobs"), "a")) is None  # nothing started


def test_visible_gpus_and_one_run_per_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert visible_gpus() == [2, 5]
    one = ClusterSettings(gpus_per_run=1)
    assert default_jobs(None, one, [0, 1, 2, 3]) == 4
    assert default_jobs(3, one, [0, 1, 2, 3]) == 3  # the profile's jobs win
    assert default_jobs(None, ClusterSettings(), [0, 1]) == 1  # a CPU profile
    assert gpu_slots(4, one, [0, 1, 2, 3]) == ["0", "1", "2", "3"]
    assert gpu_slots(2, ClusterSettings(gpus_per_run=2), [4, 5, 6, 7]) == ["4,5", "6,7"]
    assert gpu_slots(3, one, [0, 1]) == ["0", "1", "0"]  # more workers than GPUs: shared
    assert gpu_slots(2, ClusterSettings(), [0, 1]) == []


def test_inline_side_by_side_kernels_each_get_their_own_gpu(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "visible_gpus", lambda: [0, 1])
    seen: dict[str, str | None] = {}
    together = threading.Barrier(2, timeout=30)  # both kernels run at once, as side by side

    def fake(source, output, params, cwd, env=None):
        seen[params["run_id"]] = (env or {}).get("CUDA_VISIBLE_DEVICES")
        if params["run_id"] in ("a", "b"):
            together.wait()
        Path(output).write_text("{}")

    summary = reproduce("jobs", progress=False, executor=fake, jobs=2, cluster={"gpus_per_run": 1})
    assert summary.ok, summary.table()
    assert sorted([seen["a"], seen["b"]]) == ["0", "1"], seen  # side by side, one GPU each


# --- SLURM with sbatch and sacct replaced ---------------------------------------------------------
FAKE_SBATCH = """\
#!/bin/bash
# test double: --test-only checks the partition; otherwise keep the script and give a job id
if [[ " $* " == *" --test-only "* ]]; then
  if [[ " $* " == *"--partition=nosuch"* ]]; then
    echo "sbatch: error: invalid partition specified: nosuch" >&2; exit 1
  fi
  echo "sbatch: Job 1 to start at now" >&2; exit 0
fi
for last; do true; done
cp "$last" "$FAKE_SLURM/submitted-$(ls "$FAKE_SLURM" | grep -c submitted).sh"
echo "Submitted batch job 4242"
"""
FAKE_SACCT = """\
#!/bin/bash
echo "JobID|State|NodeList"
for task in 0 1; do echo "4242_${task}|$(cat "$FAKE_SLURM/state")|node1"; done
"""


@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``sbatch`` and ``sacct`` test doubles first on PATH; the folder they share."""
    folder = tmp_path / "slurm"
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("sbatch", FAKE_SBATCH), ("sacct", FAKE_SACCT), ("srun", "#!/bin/bash\n")):
        path = bin_dir / name
        path.write_text(textwrap.dedent(text))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    (folder / "state").write_text("PENDING")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(folder))
    return folder


def test_missing_sbatch_and_a_rejected_partition_fail_before_submitting(
    repo: Path, fake_slurm: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    argv = ["reproduce", "--profile", "jobs", "--executor", "slurm", "--partition", "nosuch"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "SLURM rejects the job settings" in err and "invalid partition specified: nosuch" in err
    assert not list(fake_slurm.glob("submitted-*.sh"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no sbatch anywhere
    assert main(["reproduce", "--profile", "jobs", "--executor", "slurm"]) == 2
    assert "needs SLURM's `sbatch` on PATH" in capsys.readouterr().err
    assert read_record(record_path(load_profile("jobs"), "a")) is None


def test_slurm_submits_one_array_per_wave_and_a_later_call_collects(
    repo: Path, fake_slurm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WBCREPRO_DATA", str(repo / "data"))
    cluster = {"partition": "gpu", "gpus_per_run": 1, "time_min": 45, "cpus_per_task": 6}
    summary = reproduce("jobs", progress=False, execution="slurm", cluster=cluster, detach=True)
    assert [(o.id, o.status) for o in summary.outcomes] == [
        ("a", "submitted"),
        ("b", "submitted"),
        ("page", "waiting"),
    ]
    assert summary.ok and len(summary.pending) == 3
    (script,) = fake_slurm.glob("submitted-*.sh")
    text = script.read_text()
    for needle in (
        "#SBATCH --array=0-1",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --time=45",
        "#SBATCH --partition=gpu",
        "#SBATCH --cpus-per-task=6",
        "#SBATCH --signal=USR2@",  # the checkpoint signal before the time limit
        f"export WBCREPRO_REPO={repo.resolve()}",
        f"export WBCREPRO_DATA={(repo / 'data').resolve()}",
        "-m submitit.core._submit",
    ):
        assert needle in text, needle
    assert str(repo / "book" / "runs" / "jobs" / "_jobs") in text  # logs beside the run folders
    profile = load_profile("jobs")
    record = read_record(record_path(profile, "a"))
    assert record["status"] == "submitted"
    assert record["call"]["executor"] == "slurm" and record["call"]["job_id"] == "4242_0"

    # a later call while the jobs are running adopts them: nothing is submitted twice
    (fake_slurm / "state").write_text("RUNNING")
    again = reproduce("jobs", progress=False, execution="slurm", detach=True)
    assert [o.status for o in again.outcomes] == ["submitted", "submitted", "waiting"]
    assert len(list(fake_slurm.glob("submitted-*.sh"))) == 1

    # the jobs died without finishing their runs: reported failed, like a local failure
    (fake_slurm / "state").write_text("NODE_FAIL")
    collected = reproduce("jobs", progress=False, execution="slurm", detach=True)
    failed = {o.id: o.error for o in collected.failed}
    assert set(failed) == {"a", "b"}
    assert "job 4242_0 NODE_FAIL before the run finished" in failed["a"]
    assert read_record(record_path(profile, "a"))["status"] == "failed"


# --- submitit's local executor (real subprocesses) ----------------------------------------------
@pytest.mark.slow
def test_local_executor_runs_each_data_run_as_a_job_and_pages_here(repo: Path) -> None:
    summary = reproduce("jobs", progress=False, execution="local", jobs=2)
    assert summary.ok, summary.table()
    profile = load_profile("jobs")
    for run_id in ("a", "b"):
        record = read_record(record_path(profile, run_id))
        assert record["status"] == "complete"
        assert record["call"]["executor"] == "local" and record["call"]["job_id"]
        assert (repo / "book" / "runs" / "jobs" / run_id / "value.txt").is_file()
    page = read_record(record_path(profile, "page"))
    assert page["status"] == "complete" and "executor" not in page["call"]
    assert list((repo / "book" / "runs" / "jobs" / "_jobs").rglob("*_log.out"))
    again = reproduce("jobs", progress=False, execution="local", jobs=2)
    assert [o.status for o in again.outcomes] == ["skipped"] * 3
    # a local call killed mid-run leaves 'running': the next call simply executes it again
    path = record_path(profile, "a")
    path.write_text(json.dumps({**read_record(path), "status": "running"}))
    redo = reproduce("jobs", progress=False, execution="local", jobs=2)
    assert (redo.outcomes[0].id, redo.outcomes[0].status) == ("a", "complete")
    assert read_record(path)["status"] == "complete"


SLOW_STEPS = """
import os, time
steps = Path(runs_root) / run_id / "steps.txt"
done = steps.read_text().split() if steps.exists() else []
first = not Path("blocked-once").exists()
with open("executions.log", "a") as log:
    log.write(f"start {len(done)}\\n")
for step in range(len(done), 6):
    with open(steps, "a") as f:  # the run's checkpoint: one line per finished step
        f.write(f"{step}\\n")
    if first and step == 1:  # past the time limit: only the scheduler's signal ends this start
        Path("blocked-once").touch()
        with open("executions.log", "a") as log:
            log.write("blocked\\n")
        parent, waited = os.getppid(), time.time()
        while os.getppid() == parent and time.time() - waited < 120:
            time.sleep(0.2)  # until the requeue ends the job (then this orphan writes nothing)
        raise RuntimeError("the first start was never signalled (or its job ended)")
"""


@pytest.mark.slow
def test_a_local_job_past_its_time_limit_is_requeued_and_resumes(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first start blocks after two steps, so only the time limit ends it: the job gets the
    checkpoint signal 15 s into a 30 s limit, is requeued, and the run continues from its last
    step instead of starting over. No step's timing matters: a loaded machine that starts the
    kernel slowly gets the signal later in the same place (it fails only if a start takes longer
    than 15 s, three times)."""
    make_notebook(repo / "notebooks" / "data_overview.ipynb", extra=SLOW_STEPS)
    write_profile(repo, "runs: [{id: slow, notebook: data_overview.ipynb, section: data}]", "slow")
    real = cluster_module.make_executor

    def short_limit(*args, **kwargs):
        executor = real(*args, **kwargs)
        executor.update_parameters(timeout_min=30 / 60, signal_delay_s=15)
        return executor

    monkeypatch.setattr("wbcrepro.reproduction.jobs.make_executor", short_limit)
    summary = reproduce("slow", progress=False, execution="local")
    assert summary.ok, summary.table()
    log = (repo / "executions.log").read_text().splitlines()
    starts = [line for line in log if line.startswith("start ")]
    assert starts[0] == "start 0" and len(starts) >= 2 and starts[-1] != "start 0", log
    assert "blocked" in log, log  # the first start was ended by the limit, not by its own end
    steps = (repo / "book" / "runs" / "slow" / "slow" / "steps.txt").read_text().split()
    assert steps == [str(i) for i in range(6)]  # every step once: resumed, not restarted
    record = read_record(record_path(load_profile("slow"), "slow"))
    assert record["status"] == "complete" and json.dumps(record["reasons"])


def test_local_jobs_get_the_time_limit_of_the_settings_not_submitits_two_minutes(
    tmp_path: Path,
) -> None:
    from wbcrepro.reproduction.cluster import make_executor

    local = make_executor("local", tmp_path / "%j", ClusterSettings(time_min=300), None)
    assert local.parameters["timeout_min"] == 300
    assert 0 < local.parameters["signal_delay_s"] <= 120
