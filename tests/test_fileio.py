"""Atomic writes: whole files or nothing, readable like any other file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wbcrepro.fileio import atomic_write, read_json, read_json_or_none, write_json


def test_write_json_round_trip_and_ordinary_permissions(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "record.json"
    write_json(path, {"a": 1, "path": Path("x/y")})
    assert read_json(path) == {"a": 1, "path": "x/y"}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    write_json(path, {"old": True})

    def broken(tmp: str) -> None:
        Path(tmp).write_text("{half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert read_json(path) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_bad_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json"):
        read_json(path)
    assert read_json_or_none(path) is None and read_json_or_none(tmp_path / "none.json") is None
