"""Staleness follows the code a result depends on: training runs hash what training imports, in a
normal form that docstrings, comments, formatting, moves and renames leave alone.

The normal-form tests build a small fake package ``pkg`` in a temporary folder, hash it, edit it,
and hash it again: each "unchanged" case fails if the normal form keeps what it should drop, each
"changed" case fails if it drops what it should keep.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wbcrepro import codehash

BASE = {
    "pkg/__init__.py": '"""A fake package."""\n',
    "pkg/entry.py": '''"""The training entry."""

from __future__ import annotations

from pkg import helpers
from pkg.consts import RATE
from pkg.codehash import code_hash


class Trainer:
    """Trains."""

    def fit(self, x: float) -> float:
        """One step."""
        return helpers.scale(x) * RATE  # the update


def record() -> dict:
    return {"hash": code_hash()}
''',
    "pkg/helpers.py": '"""Helpers."""\n\n\ndef scale(x):\n    """Doc."""\n    return x + 1\n',
    "pkg/other_helpers.py": "def scale(x):\n    return x + 2\n",
    "pkg/consts.py": 'RATE = 0.5\n"""The rate."""\n',
    "pkg/extra.py": "EXTRA = 3\n",
    "pkg/report.py": "from pkg.consts import RATE\n\n\ndef page():\n    return f'rate {RATE}'\n",
    "pkg/codehash.py": "def code_hash():\n    return 'x'\n",
}
ENTRY = "pkg.entry"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / name
    text = path.read_text()
    assert old in text, (name, old)
    path.write_text(text.replace(old, new))


def move(root: Path, old: str, new: str) -> None:
    (root / new).parent.mkdir(parents=True, exist_ok=True)
    (root / old).rename(root / new)


def thash(root: Path, entry: str = ENTRY) -> str:
    return codehash.training_code_hash_of(root, "pkg", entry)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write(tmp_path, BASE)
    return tmp_path


def _docstrings(root: Path) -> None:
    edit(root, "pkg/entry.py", '"""The training entry."""', '"""The entry, said better."""')
    edit(root, "pkg/entry.py", '"""Trains."""', '"""Trains a model."""')
    edit(root, "pkg/helpers.py", '"""Doc."""', '"""Adds one."""')
    edit(root, "pkg/consts.py", '"""The rate."""', '"""The learning rate."""')
    edit(root, "pkg/__init__.py", "A fake", "A pretend")


def _comments_and_format(root: Path) -> None:
    edit(root, "pkg/entry.py", "  # the update", "  # the update rule\n\n# more")
    edit(
        root,
        "pkg/entry.py",
        "return helpers.scale(x) * RATE",
        "return (\n  helpers.scale( x )*RATE)",
    )
    edit(root, "pkg/helpers.py", "def scale(x):", "\n\n# scaling\ndef scale(x) :")


def _move_into_subpackage(root: Path) -> None:
    move(root, "pkg/helpers.py", "pkg/tools/helpers.py")
    write(root, {"pkg/tools/__init__.py": '"""Tools."""\n'})
    edit(root, "pkg/entry.py", "from pkg import helpers", "from pkg.tools import helpers")


def _move_with_relative_import(root: Path) -> None:
    move(root, "pkg/consts.py", "pkg/config/consts.py")
    write(root, {"pkg/config/__init__.py": ""})
    edit(root, "pkg/entry.py", "from pkg.consts import RATE", "from .config.consts import RATE")


def _rename_module_and_its_local_name(root: Path) -> None:
    move(root, "pkg/helpers.py", "pkg/maths.py")
    edit(root, "pkg/entry.py", "from pkg import helpers", "import pkg.maths as maths")
    edit(root, "pkg/entry.py", "helpers.scale", "maths.scale")


def _rename_with_dotted_use(root: Path) -> None:
    move(root, "pkg/helpers.py", "pkg/core/scaling.py")
    edit(root, "pkg/entry.py", "from pkg import helpers", "import pkg.core.scaling")
    edit(root, "pkg/entry.py", "helpers.scale", "pkg.core.scaling.scale")


def _move_the_entry_and_the_hashing_machinery(root: Path) -> None:
    move(root, "pkg/entry.py", "pkg/training/fit.py")
    move(root, "pkg/codehash.py", "pkg/provenance/codehash.py")
    edit(root, "pkg/training/fit.py", "from pkg.codehash", "from pkg.provenance.codehash")


def _rename_that_reorders_the_imports(root: Path) -> None:
    """An import sorter puts ``from pkg.zeta import RATE`` after ``from pkg.codehash ...``."""
    move(root, "pkg/consts.py", "pkg/zeta.py")
    edit(
        root,
        "pkg/entry.py",
        "from pkg.consts import RATE\nfrom pkg.codehash import code_hash\n",
        "from pkg.codehash import code_hash\nfrom pkg.zeta import RATE\n",
    )


def _edit_outside_the_closure(root: Path) -> None:
    edit(root, "pkg/report.py", "rate {RATE}", "learning rate {RATE}")
    edit(root, "pkg/extra.py", "3", "4")


def _edit_the_hashing_machinery(root: Path) -> None:
    edit(root, "pkg/codehash.py", "return 'x'", "return 'a different hash'")


UNCHANGED: list[tuple[Callable[[Path], None], str]] = [
    (_docstrings, ENTRY),
    (_comments_and_format, ENTRY),
    (_move_into_subpackage, ENTRY),
    (_move_with_relative_import, ENTRY),
    (_rename_module_and_its_local_name, ENTRY),
    (_rename_with_dotted_use, ENTRY),
    (_move_the_entry_and_the_hashing_machinery, "pkg.training.fit"),
    (_rename_that_reorders_the_imports, ENTRY),
    (_edit_outside_the_closure, ENTRY),
    (_edit_the_hashing_machinery, ENTRY),
]


@pytest.mark.parametrize(("change", "entry"), UNCHANGED, ids=[c.__name__ for c, _ in UNCHANGED])
def test_training_hash_ignores_what_changes_no_trained_number(
    tree: Path, change: Callable[[Path], None], entry: str
) -> None:
    before = thash(tree)
    change(tree)
    assert thash(tree, entry) == before


def _constant(root: Path) -> None:
    edit(root, "pkg/consts.py", "RATE = 0.5", "RATE = 0.25")


def _line_of_logic(root: Path) -> None:
    edit(root, "pkg/helpers.py", "return x + 1", "return x - 1")


def _newly_imported_module(root: Path) -> None:
    edit(root, "pkg/entry.py", "from pkg import helpers", "from pkg import extra, helpers")


def _dropped_module(root: Path) -> None:
    edit(root, "pkg/entry.py", "from pkg.consts import RATE", "RATE = 0.5")


CHANGED = [
    _constant,
    _line_of_logic,
    _newly_imported_module,
    _dropped_module,
]


@pytest.mark.parametrize("change", CHANGED, ids=[c.__name__ for c in CHANGED])
def test_training_hash_follows_what_training_executes(
    tree: Path, change: Callable[[Path], None]
) -> None:
    before = thash(tree)
    change(tree)
    assert thash(tree) != before


def test_importing_another_module_of_the_closure_is_a_change(tree: Path) -> None:
    """The same name from another module already in the closure is other code, though no module
    joins or leaves the closure: imports name their target by its content, not a bare
    placeholder."""
    write(tree, {"pkg/__init__.py": "from pkg import helpers, other_helpers\n"})
    edit(tree, "pkg/entry.py", "from pkg import helpers", "from pkg.helpers import scale")
    edit(tree, "pkg/entry.py", "helpers.scale(x)", "scale(x)")
    before, modules = thash(tree), codehash.training_modules_of(tree, "pkg", ENTRY)
    edit(tree, "pkg/entry.py", "from pkg.helpers import", "from pkg.other_helpers import")
    assert codehash.training_modules_of(tree, "pkg", ENTRY) == modules
    assert thash(tree) != before


def test_argument_and_module_of_one_name_stay_apart(tree: Path) -> None:
    """``return helpers`` means the argument in one version and the module in the other."""
    edit(tree, "pkg/entry.py", "def record() -> dict:", "def record(helpers=None) -> dict:")
    edit(tree, "pkg/entry.py", '{"hash": code_hash()}', '{"h": helpers}')
    argument = thash(tree)
    edit(tree, "pkg/entry.py", "from pkg import helpers", "from pkg import helpers as h2")
    edit(tree, "pkg/entry.py", "helpers.scale", "h2.scale")
    edit(tree, "pkg/entry.py", '{"h": helpers}', '{"h": h2}')
    assert thash(tree) != argument


def test_training_modules_leave_out_the_hashing_machinery(tree: Path) -> None:
    modules = set(codehash.training_modules_of(tree, "pkg", ENTRY))
    assert modules == {"pkg", "pkg.entry", "pkg.helpers", "pkg.consts"}


def test_missing_entry_module_is_an_error(tree: Path) -> None:
    with pytest.raises(ValueError, match=r"pkg\.runs"):
        thash(tree, "pkg.runs")


def test_report_hash_covers_the_whole_package_in_normal_form(tree: Path) -> None:
    before = codehash.report_code_hash_of(tree, "pkg")
    edit(tree, "pkg/report.py", "def page():", "# a comment\ndef page():")
    assert codehash.report_code_hash_of(tree, "pkg") == before
    edit(tree, "pkg/report.py", "rate {RATE}", "learning rate {RATE}")
    assert codehash.report_code_hash_of(tree, "pkg") != before


def test_training_hash_covers_what_fit_imports_and_nothing_presentational() -> None:
    modules = set(codehash.training_modules())
    entry = codehash.TRAINING_ENTRY
    expected = {entry, "wbcrepro.training.engine", "wbcrepro.data.loading"}
    assert expected | {"wbcrepro.data.transforms"} <= modules
    assert "wbcrepro.data.datasets.pbc" in modules  # loaders run inside fit
    for page_or_tool in (
        "wbcrepro.report",
        "wbcrepro.report.experiment_page",
        "wbcrepro.analysis.verdicts",
        "wbcrepro.reproduction.runner",
        "wbcrepro.inference.shipped",
        "wbcrepro.inference.crossdomain",
        "wbcrepro.training.experiment",
        "wbcrepro.inference.explain",
        "wbcrepro.codehash",
        "wbcrepro.importgraph",
    ):
        assert page_or_tool not in modules, page_or_tool


def test_live_hashes_are_the_parametric_ones_of_this_package() -> None:
    root, package = codehash.PACKAGE_DIR.parent, codehash.PACKAGE_DIR.name
    assert codehash.training_code_hash() == codehash.training_code_hash_of(
        root, package, codehash.TRAINING_ENTRY
    )
    assert codehash.report_code_hash() == codehash.report_code_hash_of(root, package)
    assert len(codehash.training_code_hash()) == 16
    assert codehash.training_code_hash() != codehash.report_code_hash()


def test_hashes_are_kept_per_source_bytes_and_a_bad_cache_is_recomputed(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process finds the hashes an earlier one computed for the same bytes (seconds of parsing
    saved in every kernel); any edit, even a comment, is a new key, and an unreadable cache file
    is computed again, never trusted."""
    monkeypatch.setenv("WBCREPRO_CACHE", str(tmp_path / "cache"))
    expected = {
        "training": codehash.training_code_hash_of(tree, "pkg", ENTRY),
        "report": codehash.report_code_hash_of(tree, "pkg"),
    }
    key = codehash.source_key(tree, "pkg")
    assert codehash._cached_hashes(tree, "pkg", ENTRY) == expected
    stored = tmp_path / "cache" / "codehash" / f"{key}.json"
    assert stored.is_file()
    stored.write_text('{"training": "planted", "report": "planted"}')
    assert codehash._cached_hashes(tree, "pkg", ENTRY)["training"] == "planted"  # read, not parsed
    stored.write_text("{not json")
    assert codehash._cached_hashes(tree, "pkg", ENTRY) == expected
    _comments_and_format(tree)
    assert codehash.source_key(tree, "pkg") != key
    assert codehash._cached_hashes(tree, "pkg", ENTRY)["training"] == expected["training"]
