"""What is committed under book/runs is portable: no absolute path of the machine that made it.

The published book and fresh clones read these files; a path such as ``/root/.cache/...`` or
``/work/...`` would leak one machine's layout and point nowhere elsewhere.
"""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO

LOCAL_PATH = re.compile(r"(?<![\w$])/(?:root|home|work|tmp|Users)/[\w.-]+")


def committed_run_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "book/runs"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return [line for line in out.stdout.splitlines() if line.endswith((".ipynb", ".json", ".csv"))]


def test_no_absolute_local_path_in_committed_outputs() -> None:
    offenders = {}
    for name in committed_run_files():
        found = LOCAL_PATH.findall((REPO / name).read_text(encoding="utf-8", errors="replace"))
        if found:
            offenders[name] = sorted(set(found))[:3]
    assert not offenders, offenders


def test_the_pattern_catches_what_it_is_for() -> None:
    assert LOCAL_PATH.findall('{"path": "/root/.cache/wbcrepro/x.png"}') == ["/root/.cache"]
    assert LOCAL_PATH.findall("$DATA/PBC/a.jpg and book/runs/cpu/x") == []
