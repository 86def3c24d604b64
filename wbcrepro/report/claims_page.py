"""The claims page: every claim of the paper, how we test it, and its status from our runs.

Statuses are decided by :func:`wbcrepro.analysis.verdicts.claim_verdict` on plain values; this
module reads
the evidence runs and lays the ledger out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import Markdown

from wbcrepro.analysis import paper, verdicts
from wbcrepro.analysis.verdicts import (
    STATUS_INCONCLUSIVE,
    STATUS_NO_MATERIAL,
    STATUS_NOT,
    STATUS_NOT_RUN,
    STATUS_NOT_TESTED,
    STATUS_PARTLY,
    STATUS_REPRODUCED,
    STATUS_SYNTHETIC,
    STATUS_UNTESTABLE,
)
from wbcrepro.report.records import RunRecord, glue_values, link, load_runs, markdown_table


def parse_evidence(text: str) -> dict[str, list[str]]:
    """``"transfer=a|b;accuracy=c"`` -> {claim id: [run ids]}."""
    out: dict[str, list[str]] = {}
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        if "=" not in item:
            raise ValueError(f"evidence {item!r} is not claim_id=run_id|run_id")
        claim, runs = (part.strip() for part in item.split("=", 1))
        out[claim] = [r.strip() for r in runs.split("|") if r.strip()]
    return out


def claim_verdict(claim: paper.Claim, records: Sequence[RunRecord]) -> tuple[str, str]:
    """(status, evidence as markdown) of one claim (see
    :func:`wbcrepro.analysis.verdicts.claim_verdict`)."""
    return verdicts.claim_verdict(claim, [r.as_result() for r in records])


def settings_here(claim: paper.Claim, records: Sequence[RunRecord]) -> str:
    """The settings this book tested a claim with, read from its evidence runs (never typed):
    the values of the varied setting, with the data sets and seeds; empty without runs."""
    if not records:
        return ""
    datasets = ", ".join(sorted({str(r.dataset) for r in records}))
    if not claim.vary:
        sizes = sorted({int(r.params["img_size"]) for r in records if r.params.get("img_size")})
        where = f" at {' and '.join(map(str, sizes))} px" if sizes else ""
        return f". Here: {len(records)} run(s) on {datasets}{where}"
    counts: dict[str, int] = {}
    for rec in records:
        value = rec.params.get(claim.vary)
        counts[str(value)] = counts.get(str(value), 0) + 1
    unit = " px" if claim.vary == "img_size" else ""
    order = sorted(counts, key=lambda v: (not _is_number(v), float(v) if _is_number(v) else 0, v))
    values = " vs ".join(f"{value}{unit} ({counts[value]} run(s))" for value in order)
    return f". Here: {claim.vary} {values}, on {datasets}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def claims_ledger(
    evidence: str | Mapping[str, Sequence[str]], runs_root: str | Path
) -> pd.DataFrame:
    """Every claim of :data:`wbcrepro.analysis.paper.CLAIMS` with its status and evidence; evidence
    named
    for an unknown claim id gets a row of its own saying so."""
    mapping = parse_evidence(evidence) if isinstance(evidence, str) else dict(evidence)
    rows = []
    for claim in paper.CLAIMS:
        records = load_runs(runs_root, list(mapping.get(claim.id, [])))
        if claim.test != "untestable" and not records:
            status, detail = STATUS_NOT_RUN, "no evidence run named for it in this profile"
        else:
            status, detail = claim_verdict(claim, records)
        rows.append(
            {
                "claim": f"`{claim.id}`",
                "the paper says": claim.text,
                "how we test it": claim.how + settings_here(claim, records),
                "status": f"**{status}**",
                "evidence": detail,
            }
        )
    known = {c.id for c in paper.CLAIMS}
    for claim_id in mapping:
        if claim_id not in known:
            rows.append(
                {
                    "claim": f"`{claim_id}`",
                    "the paper says": "(not a claim in wbcrepro.analysis.paper)",
                    "how we test it": "",
                    "status": "**unknown claim id**",
                    "evidence": ", ".join(link(r) for r in mapping[claim_id]),
                }
            )
    return pd.DataFrame(rows)


def ledger_markdown(ledger: pd.DataFrame) -> Markdown:
    """The ledger as a markdown table of three columns (the claim in the paper's words after its
    id, its status, the evidence; run links are clickable). Five text columns do not fit a page's
    text column at 1280 px: how each claim is tested is :func:`ledger_tests_markdown`."""
    table = pd.DataFrame(
        {
            "claim": ledger["claim"] + ": " + ledger["the paper says"],
            "status": ledger["status"],
            "evidence": ledger["evidence"],
        }
    )
    return Markdown(markdown_table(table))


def ledger_tests_markdown(ledger: pd.DataFrame) -> Markdown:
    """How each claim of the ledger is tested, as a two-column markdown table."""
    return Markdown(markdown_table(ledger[["claim", "how we test it"]]))


def glue_ledger(ledger: pd.DataFrame) -> dict[str, Any]:
    """Glue the number of claims per status (``n_claims``, ``n_holds``, ``n_contradicted``,
    ``n_partly``, ``n_no_material``, ``n_inconclusive``, ``n_not_tested``, ``n_untestable``,
    ``n_synthetic_only``, ``n_not_run``)."""
    statuses = ledger["status"].str.strip("*")
    return glue_values(
        {
            "n_claims": len(ledger),
            "n_holds": int((statuses == STATUS_REPRODUCED).sum()),
            "n_contradicted": int((statuses == STATUS_NOT).sum()),
            "n_partly": int((statuses == STATUS_PARTLY).sum()),
            "n_no_material": int((statuses == STATUS_NO_MATERIAL).sum()),
            "n_inconclusive": int((statuses == STATUS_INCONCLUSIVE).sum()),
            "n_not_tested": int((statuses == STATUS_NOT_TESTED).sum()),
            "n_untestable": int((statuses == STATUS_UNTESTABLE).sum()),
            "n_synthetic_only": int(statuses.str.startswith(STATUS_SYNTHETIC).sum()),
            "n_not_run": int((statuses == STATUS_NOT_RUN).sum()),
        }
    )


def records_of_evidence(evidence: str, runs_root: str | Path) -> list[RunRecord]:
    """Every distinct run named in ``evidence`` (for the header)."""
    ids: list[str] = []
    for runs in parse_evidence(evidence).values():
        ids += [r for r in runs if r not in ids]
    return load_runs(runs_root, ids)
