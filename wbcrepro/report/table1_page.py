"""The Table 1 page: the paper's comparison table (quoted) beside our runs on the same data."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import Markdown

from wbcrepro import paper
from wbcrepro.report.experiment_page import describe_split
from wbcrepro.report.headers import hardware_text
from wbcrepro.report.records import (
    RunRecord,
    data_text,
    dataset_spec,
    f1_with_ci,
    glue_values,
    link,
    load_run,
    markdown_table,
    model_text,
    split_ids,
)
from wbcrepro.verdicts import with_ci

COLUMNS = (
    "study",
    "data",
    "n",
    "classes",
    "method",
    "paper accuracy (quoted)",
    "our run",
    "our data",
    "split",
    "model",
    "size",
    "epochs",
    "hardware",
    "our accuracy [95% CI]",
    "our macro-F1 [95% CI]",
    "comparability",
)


def parse_pairs(text: str) -> dict[str, str]:
    """``"kaggle-bloodcells=main-kaggle,bccd=main-bccd"`` -> {dataset: run id}."""
    out: dict[str, str] = {}
    for item in split_ids(text):
        if "=" not in item:
            raise ValueError(f"pair {item!r} is not dataset=run_id")
        dataset, run_id = (part.strip() for part in item.split("=", 1))
        out[dataset] = run_id
    return out


def _not_run_reason(row: paper.Table1Row | None, dataset: str | None, rec: RunRecord | None) -> str:
    """Why a Table 1 row has no result of ours beside it."""
    if rec is not None and rec.status != "missing":
        return f"not run: run `{rec.run_id}` is {rec.status}"
    if row is not None and row.reason:
        return f"not run: {row.reason}"
    if rec is not None:
        return f"not run: run `{rec.run_id}` is missing"
    from wbcrepro.paths import data_root

    spec = dataset_spec(dataset or "")
    if spec is not None and not spec.present(data_root()):
        return f"not run: `{dataset}` is not under the data root"
    return "not run: no run on it in this profile"


def _ours(rec: RunRecord) -> dict[str, str]:
    return {
        "our run": link(rec),
        "our data": data_text(rec),
        "split": describe_split(rec),
        "model": model_text(rec),
        "size": f"{rec.params.get('img_size', '?')} px",
        "epochs": str(rec.results.get("epochs_completed", "?")),
        "hardware": hardware_text(rec.environment),
        "our accuracy [95% CI]": with_ci(rec.metric("accuracy"), rec.interval("accuracy")),
        "our macro-F1 [95% CI]": f1_with_ci(rec),
    }


def table1(pairs: str | Mapping[str, str], runs_root: str | Path) -> pd.DataFrame:
    """The paper's Table 1, each row beside our run on the same public dataset where we have one.

    Datasets of ``pairs`` that are not in Table 1 are appended as rows of their own.
    """
    mapping = parse_pairs(pairs) if isinstance(pairs, str) else dict(pairs)
    records = {d: load_run(runs_root, r) for d, r in mapping.items()}
    in_table = {row.dataset for row in paper.TABLE1}
    rows_of = [(row, row.dataset) for row in paper.TABLE1]
    rows_of += [(None, d) for d in mapping if d not in in_table]
    rows = []
    for row, dataset in rows_of:
        rec = records.get(dataset) if dataset else None
        out: dict[str, Any] = {
            "study": row.study if row else "(not in Table 1)",
            "data": row.data if row else dataset,
            "n": f"{row.n_images:,}" if row else "",
            "classes": row.num_classes if row else "",
            "method": row.method if row else "",
            "paper accuracy (quoted)": f"{row.accuracy_percent:.2f}%" if row else "",
            "comparability": row.note if row else "our own dataset choice; no paper number",
        }
        if rec is not None and rec.complete:
            out.update(_ours(rec))
        else:
            out["our run"] = _not_run_reason(row, dataset, rec)
        rows.append(out)
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype(object).fillna("")


def table1_markdown(pairs: str | Mapping[str, str], runs_root: str | Path) -> Markdown:
    """:func:`table1` as a markdown table (its run links are clickable)."""
    return Markdown(markdown_table(table1(pairs, runs_root)))


def glue_table1(pairs: str | Mapping[str, str], runs_root: str | Path) -> dict[str, Any]:
    """Glue ``n_rows`` (Table 1 rows plus our extra datasets) and ``n_compared`` (with a run)."""
    table = table1(pairs, runs_root)
    return glue_values(
        {
            "n_rows": len(table),
            "n_paper_rows": len(paper.TABLE1),
            "n_compared": int((~table["our run"].str.startswith("not run")).sum()),
        }
    )


def records_of_pairs(pairs: str, runs_root: str | Path) -> list[RunRecord]:
    """The runs named in ``pairs`` (for the header)."""
    return [load_run(runs_root, r) for r in parse_pairs(pairs).values()]
