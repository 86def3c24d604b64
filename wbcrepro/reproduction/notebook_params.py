"""What a notebook accepts as parameters, and the check that a profile passes nothing else.

Papermill injects every parameter it is given, declared by the notebook or not, and a notebook that
picks the keys it knows out of ``globals()`` would then drop a misspelt one without a word: a
profile with ``img_szie: 112`` would train at the default 224 px. So every key of a profile is
checked, when the profile loads, against the names the run's notebook declares in its
``parameters`` cell (and, for notebooks that build a :class:`~wbcrepro.config.TrainConfig`, the
config's fields, whose values are validated too). A typo costs seconds, not an hour of training.
"""

from __future__ import annotations

import ast
import difflib
import json
from dataclasses import fields
from functools import cache
from pathlib import Path

from wbcrepro.config import ConfigError, TrainConfig

PARAMETERS_TAG = "parameters"
CONFIG_FIELDS = frozenset(f.name for f in fields(TrainConfig))


class NotebookParameterError(ValueError):
    """A notebook's parameters cannot be read, or a parameter is unknown to it."""


@cache
def _declared(path: Path, mtime_ns: int) -> frozenset[str]:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise NotebookParameterError(f"cannot read notebook {path}: {err}") from err
    for cell in notebook.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") != "code" or PARAMETERS_TAG not in tags:
            continue
        source = "".join(cell.get("source", []))
        try:
            tree = ast.parse(source)
        except SyntaxError as err:
            raise NotebookParameterError(f"{path}: parameters cell is not Python: {err}") from err
        names = {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign | ast.AnnAssign)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        }
        return frozenset(names)
    raise NotebookParameterError(f"{path}: no code cell tagged {PARAMETERS_TAG!r}")


@cache
def _defaults(path: Path, mtime_ns: int) -> dict[str, object]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook.get("cells", []):
        if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            out: dict[str, object] = {}
            for node in ast.parse("".join(cell.get("source", []))).body:
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    try:
                        out[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        continue  # not a literal: papermill would override it anyway
            return out
    return {}


def declared_defaults(notebook: str | Path) -> dict[str, object]:
    """The literal values the ``parameters`` cell assigns: what a run that does not set a
    parameter reads (:mod:`~wbcrepro.reproduction.roles` derives the runs a page reads from
    them). Call :func:`declared_parameters` first: it reports an unreadable cell."""
    path = Path(notebook).resolve()
    return dict(_defaults(path, path.stat().st_mtime_ns))


def declared_parameters(notebook: str | Path) -> frozenset[str]:
    """The names assigned in the notebook's cell tagged ``parameters``."""
    path = Path(notebook).resolve()
    return _declared(path, path.stat().st_mtime_ns)


def _suggest(key: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_parameters(
    notebook: str | Path,
    params: dict[str, object],
    origin: dict[str, str],
    takes_config: bool,
) -> None:
    """Raise :class:`NotebookParameterError` for the first parameter the notebook does not know.

    ``origin`` maps each key to where it came from (``defaults`` or ``params``) for the message.
    When ``takes_config``, the keys that are :class:`TrainConfig` fields are also validated as a
    config, so a bad value (``img_size: -1``) fails here too.
    """
    known = declared_parameters(notebook) | (CONFIG_FIELDS if takes_config else frozenset())
    for key in params:
        if key not in known:
            raise NotebookParameterError(
                f"unknown parameter {key!r} (from {origin.get(key, 'params')}) for notebook "
                f"{Path(notebook).name}{_suggest(key, known)}"
            )
    if takes_config:
        try:
            TrainConfig.from_flat({k: v for k, v in params.items() if k in CONFIG_FIELDS})
        except ConfigError as err:
            raise NotebookParameterError(f"bad config value: {err}") from err
