"""Shared fixtures: an isolated cache folder and a tiny, fast training configuration."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def share_cores_between_workers() -> int | None:
    """Under ``pytest -n N`` give each worker (and the kernels and CLIs it starts, which inherit
    the environment) ``cores // N`` threads, as ``reproduce --jobs`` does for side-by-side runs:
    N workers each running a 2-thread torch on 2 cores oversubscribe them, and every test that
    trains then waits on the other worker's threads. A thread count the developer set is kept.
    Runs at import, before anything imports torch (which reads the variables once)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers <= 1 or any(name in os.environ for name in THREAD_VARIABLES):
        return None
    threads = max(1, (os.cpu_count() or 1) // workers)
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    return threads


share_cores_between_workers()
SHARED_DATA = Path(os.environ.get("WBCREPRO_SHARED_DATA", REPO.parent / "shared" / "data"))

# Small enough to train an epoch in about a second on 2 CPU cores.
TINY = {
    "dataset": "synthetic",
    "synthetic_per_class": 10,
    "synthetic_size": 48,
    "arch": "efficientnet_b0",
    "img_size": 32,
    "epochs": 1,
    "batch_size": 8,
    "weights": "none",
    "transfer": "scratch",
    "lr": 0.001,
    "val_fraction": 0.2,
    "test_fraction": 0.2,
}


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every cache the package writes goes to a temporary folder (never ~/.cache or the data)."""
    cache = tmp_path_factory.mktemp("wbcrepro-cache")
    os.environ["WBCREPRO_CACHE"] = str(cache)
    return cache


@pytest.fixture
def tiny() -> dict:
    return dict(TINY)


def local_paths(paths) -> list[str]:
    """Paths of a run's split.csv / predictions_*.csv (``$DATA/...``, ``$CACHE/...``) as files on
    this machine."""
    from wbcrepro.paths import cache_root, data_root, resolve_portable

    return [resolve_portable(str(p), data_root(), cache_root()) for p in paths]


# --- the smoke profile, executed once per session ------------------------------------------------
@pytest.fixture(scope="session")
def smoke_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what the suite reads (never the real book/runs), with the smoke profile run.

    Session-scoped and shared (test_smoke_profile.py, test_browser.py): executing the profile
    takes minutes, so CI does it once. Only slow tests request it, all of them matched by
    ``SMOKE_GROUP`` below, so that under ``pytest -n`` (``make test``) one worker builds it.
    """
    from wbcrepro.reproduction.runner import reproduce

    root = tmp_path_factory.mktemp("repo")
    # _static: the book's stylesheet (cell output wrapped, never clipped), as in the repository
    for folder in ("notebooks", "profiles", "book", "_static"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("runs"))
    for name in ("_config.yml",):
        if (REPO / name).exists():
            shutil.copy(REPO / name, root / name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WBCREPRO_REPO", str(root))
        summary = reproduce("smoke", progress=False)
    assert summary.ok, summary.table()
    return root


@pytest.fixture(scope="session")
def smoke_book(smoke_repo: Path) -> Path:
    """The smoke profile's book built (JB1, warnings as errors) from ``smoke_repo``: its HTML
    folder ``_build/smoke/_build/html``."""
    from wbcrepro.reproduction.book import build_book

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WBCREPRO_REPO", str(smoke_repo))
        index = build_book("smoke", quiet=True)
    return index.parent


# --- scheduling under pytest-xdist (`make test`: -n auto --dist loadgroup) -----------------------
SMOKE_GROUP = ("tests/reproduction/test_smoke_profile.py", "tests/test_browser.py::test_the_smoke")
"""Node ids (prefixes) of the tests that read the smoke book: one worker runs them all, so that
``smoke_repo`` and ``smoke_book`` are built once. xdist's own ``xdist_group`` marker (kept on
these tests) no longer groups anything with pytest 9: xdist renames ``item._nodeid``, which
pytest 9 does not read (checked with pytest 9.2 and pytest-xdist 3.8), so the grouping is done
here by node id."""

ONE_UNIT_MODULES = ("tests/training/test_fit.py", "tests/data/test_shared_data.py")
"""Modules whose tests share expensive work, handed to one worker as one unit so that it is done
once: ``test_fit.py``'s module fixture ``three_epochs`` (a CLI training run; as single tests
spread over both workers, pytest rebuilt it each time a worker came back to the module, three
builds of 13-17 s in one measured run) and ``test_shared_data.py``'s BCCD crops, cut into each
worker's own cache by the first test there that loads BCCD (about 10 s)."""

LONGEST_FIRST = (
    "test_kaggle_hash_audit_on_real_data",
    "test_kaggle_embedding_audit_on_real_data",
    "test_paper_dry_run_executes_every_notebook",
    "test_readme_example_trains_b0_at_64px_for_two_epochs",
    "test_predict_on_zheng_2018_scores_what_cross_domain_evaluation_scores",
    "test_resumed_run_restores_the_best_epoch",
    "test_run_killed_in_second_epoch_resumes_to_the_same_metrics",
    "test_cpu_budget_writes_speedup_and_validation_of_both_sides",
    "test_throughput_json_has_mfu_and_feeds_the_plan",
    "test_a_local_job_past_its_time_limit_is_requeued_and_resumes",
    "test_without_a_held_out_lab_each_set_is_split_alone_pbc_as_a_pbc_run",
    "test_notebook_executes_with_papermill",
    "test_lite0_after_a_short_high_lr_run_collapses_with_stale_statistics_not_recomputed",
)
"""The longest single tests (10 s to a minute or more on 2 busy cores), queued first so that no
worker starts one of them when the other has nothing left to do (xdist's ``loadscope`` order puts
the multi-test units first, then single tests in this collection order)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest tests first (stable otherwise): the order xdist hands work out in."""
    items.sort(key=lambda item: item.originalname not in LONGEST_FIRST)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadgroup``: the smoke-book tests as one unit of work (the largest, so handed out
    first), each of :data:`ONE_UNIT_MODULES` as one unit, every other test a unit of its own."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SmokeGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(SMOKE_GROUP):
                return "smoke"
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_UNIT_MODULES else nodeid

    return SmokeGroupScheduling(config, log)
