"""The first output of every page: what produced the numbers that follow, in a small table.

Hardware, software and code are the ones RECORDED in the run's ``results.json`` ("environment",
written by :func:`wbcrepro.environment.collect_environment` when the run trained), never the
machine that happens to render the page: a run loaded on a laptop was still trained on its GPU.
A run trained from a git tree with uncommitted changes says so. Synthetic data is flagged twice:
a banner above the table and ``SYNTHETIC`` in the data row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from IPython.display import Markdown

from wbcrepro.codehash import RESULTS_KEY
from wbcrepro.report.records import (
    SYNTHETIC_BANNER,
    RunRecord,
    dataset_spec,
    key_value_table,
    model_text,
)

NOT_TRAINED = "none: no model was trained for this page (data only)"


def header(
    profile: str,
    data: str,
    model: str,
    resolution: str | int,
    epochs: str | int,
    hardware: str,
    synthetic: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Markdown:
    """The header table; ``extra`` rows follow the six standard ones."""
    rows = {
        "profile": profile,
        "data": f"**SYNTHETIC** ({data})" if synthetic else data,
        "model": model,
        "resolution": f"{resolution} px" if isinstance(resolution, int) else resolution,
        "epochs": epochs,
        "hardware": hardware,
        **(extra or {}),
    }
    return Markdown((SYNTHETIC_BANNER + "\n\n" if synthetic else "") + key_value_table(rows))


# --- the recorded environment --------------------------------------------------------------------
def hardware_text(env: Mapping[str, Any]) -> str:
    """``NVIDIA H100 80GB HBM3 (device cuda, CUDA 12.4)`` / ``CPU (2 cores) (device cpu)``."""
    hw = env.get("hardware") or {}
    if not hw:
        return "not recorded"
    details = [f"device {hw['device']}"] if hw.get("device") else []
    if hw.get("cuda"):
        details.append(f"CUDA {hw['cuda']}")
    summary = hw.get("summary") or "?"
    return f"{summary} ({', '.join(details)})" if details else summary


def software_text(env: Mapping[str, Any]) -> str:
    """Python, torch and torchvision versions the run was trained with."""
    packages = env.get("packages") or {}
    parts = [f"Python {env['python']}"] if env.get("python") else []
    parts += [f"{name} {packages[name]}" for name in ("torch", "torchvision") if packages.get(name)]
    return ", ".join(parts) or "not recorded"


def code_text(env: Mapping[str, Any], training_hash: str | None = None) -> str:
    """The git commit the run was trained from, whether the tree had uncommitted changes, and
    the hash of the training code it ran (which tells whether a dirty tree changed that code:
    runs with the same hash ran the same training modules)."""
    git = env.get("git") or {}
    commit = git.get("commit")
    text = f"git `{commit[:10]}`" if commit else "git commit not recorded (not a git checkout)"
    if commit and git.get("dirty"):
        text += " **with uncommitted changes (dirty tree)**"
    if training_hash:
        text += f"; training code `{training_hash}`"
    return text


def _training_hash(rec: RunRecord) -> str | None:
    return rec.results.get(RESULTS_KEY)


def _dataset_text(name: str) -> str:
    spec = dataset_spec(name)
    return f"{name}: {spec.description}" if spec and spec.description else name


# --- the three kinds of page --------------------------------------------------------------------
def header_for_run(rec: RunRecord, profile: str) -> Markdown:
    """Header of an experiment page: everything from the run's record."""
    if rec.status == "missing":
        where = {"run": f"`{rec.run_id}`: no results.json in `{rec.folder}`"}
        return header(profile, "?", "?", "?", "?", "not recorded", extra=where)
    env = rec.environment
    planned = rec.params.get("epochs", "?")
    done = rec.results.get("epochs_completed")
    table = header(
        profile,
        _dataset_text(rec.dataset),
        model_text(rec),
        rec.params.get("img_size", "?"),
        f"{done} of {planned}" if done is not None and done != planned else planned,
        hardware_text(env) + " (recorded when it trained)",
        synthetic=rec.synthetic,
        extra={
            "software": software_text(env),
            "code": code_text(env, _training_hash(rec)),
            "run": f"`{rec.run_id}` ({rec.status})",
        },
    )
    return Markdown(table.data + "\n\n" + run_parameters(rec))


LOCAL_KEYS = ("data_root", "data_path")


def run_parameters(rec: RunRecord) -> str:
    """A collapsed block (a dropdown admonition) listing the run's resolved config, from its
    record: the one place a page shows parameters, so readers never see a notebook's defaults."""
    rows = {k: v for k, v in sorted(rec.params.items()) if k not in LOCAL_KEYS}
    return (
        ":::{admonition} Run parameters (resolved, from the run record)\n"
        ":class: dropdown\n\n" + key_value_table(rows) + "\n:::"
    )


def header_for_data(dataset: str, img_size: int, profile: str) -> Markdown:
    """Header of a data page: no model, no epochs, no hardware to report."""
    spec = dataset_spec(dataset)
    return header(
        profile,
        _dataset_text(dataset),
        NOT_TRAINED,
        img_size,
        "none (no training)",
        "none (no model was trained)",
        synthetic=bool(spec and spec.synthetic),
    )


def _distinct(values: Iterable[Any]) -> str:
    seen: list[str] = []
    for value in values:
        if str(value) not in seen:
            seen.append(str(value))
    return "; ".join(seen) if seen else "none (no run found)"


def header_for_runs(
    records: Sequence[RunRecord], profile: str, extra: Mapping[str, Any] | None = None
) -> Markdown:
    """Header of a page that reads several runs (ablation, Table 1, claims): their distinct
    settings and recorded environments."""
    found = [r for r in records if r.status != "missing"]
    synthetic = any(r.synthetic for r in found)
    mixed = synthetic and not all(r.synthetic for r in found)
    data = _distinct(
        f"{r.dataset} (SYNTHETIC)" if mixed and r.synthetic else r.dataset for r in found
    )
    return header(
        profile,
        data,
        _distinct(model_text(r) for r in found),
        _distinct(r.params.get("img_size", "?") for r in found) + " px",
        _distinct(r.params.get("epochs", "?") for r in found),
        _distinct(hardware_text(r.environment) for r in found),
        synthetic=synthetic,
        extra={
            **(extra or {}),
            "software": _distinct(software_text(r.environment) for r in found),
            "code": _distinct(code_text(r.environment, _training_hash(r)) for r in found),
            "runs": ", ".join(f"`{r.run_id}` ({r.status})" for r in records) or "none",
        },
    )


PROVENANCE_SUMMARY = "Provenance: the profile, code, hardware and runs behind this page"


def collapsed(table: Markdown, summary: str = PROVENANCE_SUMMARY) -> Markdown:
    """A header table folded into a closed ``<details>`` block (the page's end, not its first
    screen: readers come for the findings). The synthetic banner stays outside, in view."""
    text = table.data
    banner = ""
    if text.startswith(SYNTHETIC_BANNER):
        banner, text = SYNTHETIC_BANNER + "\n\n", text[len(SYNTHETIC_BANNER) :].lstrip()
    return Markdown(f"{banner}<details><summary>{summary}</summary>\n\n{text}\n\n</details>")


def synthetic_data_note(dataset: str) -> Markdown | None:
    """The synthetic banner for the top of a data page when its dataset is synthetic, else None."""
    spec = dataset_spec(dataset)
    return Markdown(SYNTHETIC_BANNER) if spec and spec.synthetic else None


def synthetic_note(records: Sequence[RunRecord]) -> Markdown | None:
    """The synthetic banner alone, for the top of a page whose header is folded at its end;
    None (no output at all) when no run is synthetic."""
    synthetic = any(r.synthetic for r in records if r.status != "missing")
    return Markdown(SYNTHETIC_BANNER) if synthetic else None
