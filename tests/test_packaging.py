"""The project's own files: pins agree, the README's commands are what CI runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_exactly_the_pyproject_pins() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = project["dependencies"] + project["optional-dependencies"]["dev"]
    wanted = {_name(r): r for r in pins}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(r): r for r in pip_section if not r.startswith("-e")}
    assert listed == wanted
    assert "python=3.11" in env["dependencies"]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme and "make book" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^exec make test$", ci, re.M)
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test: install$", makefile, re.M)
    assert re.search(r"^book: install$", makefile, re.M)


def test_console_script_points_at_the_cli() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"wbcrepro": "wbcrepro.cli:main"}
    from wbcrepro.cli import main

    assert callable(main)
