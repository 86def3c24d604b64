"""Everything the book's pages show: headers, tables, plots, verdict lines and glued numbers.

The notebooks in ``notebooks/`` stay thin: each cell calls one function re-exported here
(``from wbcrepro import report``; ``report.plot_curves(run)``), so the logic is tested once and
every page shows the same thing in the same way. One module per page kind:

=====================  =======================================================================
``records``            run records (:func:`load_run`), formatting and glue helpers
``crossval``           fold arms joined by ``+``: one pooled record per seed
``headers``            the first table of every page, from the environment a run RECORDED
``data_page``          one dataset as its loader reads it (no model is trained)
``leakage_page``       the leakage audit, read from ``wbcrepro data leakage``'s JSON
``experiment_page``    one run: status, metrics tables, the paper beside it
``figures``            one run's pictures: confusion matrix, curves, examples, Grad-CAM panel
``ablation_page``      runs that differ in one setting, side by side
``arm_page``           one arm: its seeds' mean, interval and range, then the median seed
``table1_page``        the paper's Table 1 (quoted) beside our runs
``claims_page``        the claims ledger
``label_noise_page``   PBC's band/segmented labels against WBCAtt's nucleus shapes
``costs_page``         the training time each run recorded, per arm and in total
``curve_page``         a learning curve on validation (train images, input size, epochs), and
                       what each CPU-budget lever measured
``lolo_page``          leave-one-lab-out: held-out lab x recipe x AdaBN, wbc-benchmark beside
``model_card_page``    the shipped model's card: its metadata, unsure rule, other labs
``targets_page``       the profile's own targets against what its runs measured
``display``            how a page shows a DataFrame: every cell whole, no row numbers
``landing_page``       the findings first: the headline, Table 1 and claims counted, one figure
=====================  =======================================================================

Pages only READ run folders: this package imports no training code (``wbcrepro.training.fit``,
``engine``, ``models``, ``data``) and not torch; the decisions live in the pure
:mod:`wbcrepro.analysis.verdicts`, training in :mod:`wbcrepro.training.experiment`. Functions that
return a
:class:`~matplotlib.figure.Figure` close it first, so a notebook shows it once (as the cell's
value), never twice.
"""

from __future__ import annotations

import seaborn as sns

from wbcrepro.report import (
    arm_page,
    costs_page,
    crossdomain_page,
    crossval,  # registers how load_runs reads a cross-validation ("a-f0+a-f1+...")
    curve_page,
    display,
    label_noise_page,
    lolo_page,
    model_card_page,
    targets_page,
)
from wbcrepro.report.ablation_page import (
    ablation_recall_markdown,
    ablation_recall_table,
    ablation_table,
    ablation_verdict,
    glue_ablation,
    plot_ablation,
    seed_summary,
)
from wbcrepro.report.claims_page import (
    claim_verdict,
    claims_ledger,
    glue_ledger,
    ledger_markdown,
    ledger_tests_markdown,
    parse_evidence,
    records_of_evidence,
)
from wbcrepro.report.data_page import (
    Overview,
    class_balance,
    dataset_card,
    exclusions,
    glue_overview,
    image_sizes,
    load_overview,
    plot_class_balance,
    sample_grid,
)
from wbcrepro.report.experiment_page import (
    describe_split,
    glue_run,
    metrics_table,
    paper_vs_ours,
    per_class_table,
    plot_curves_overlay,
    run_status,
)
from wbcrepro.report.figures import (
    gradcam_caption,
    plot_confusion,
    plot_curves,
    plot_examples,
    selected_epoch,
    show_gradcam,
)
from wbcrepro.report.headers import (
    collapsed,
    header,
    header_for_data,
    header_for_run,
    header_for_runs,
    synthetic_data_note,
    synthetic_note,
)
from wbcrepro.report.landing_page import (
    claims_counts,
    glue_findings,
    headline_table,
    plot_paper_vs_ours,
    records_of_findings,
    table1_outcomes,
)
from wbcrepro.report.leakage_page import leakage_summary
from wbcrepro.report.records import (
    SYNTHETIC_BANNER,
    RunRecord,
    arm_run_ids,
    load_run,
    load_runs,
    markdown_table,
    run_folder,
    split_ids,
)
from wbcrepro.report.table1_page import (
    glue_table1,
    parse_pairs,
    records_of_pairs,
    table1,
    table1_details,
    table1_details_markdown,
    table1_markdown,
)

sns.set_theme(context="notebook", style="whitegrid")
display.install()

__all__ = [
    "SYNTHETIC_BANNER",
    "Overview",
    "RunRecord",
    "ablation_recall_markdown",
    "ablation_recall_table",
    "ablation_table",
    "ablation_verdict",
    "arm_page",
    "arm_run_ids",
    "claim_verdict",
    "claims_counts",
    "claims_ledger",
    "class_balance",
    "collapsed",
    "costs_page",
    "crossdomain_page",
    "crossval",
    "curve_page",
    "dataset_card",
    "describe_split",
    "exclusions",
    "glue_ablation",
    "glue_findings",
    "glue_ledger",
    "glue_overview",
    "glue_run",
    "glue_table1",
    "gradcam_caption",
    "header",
    "header_for_data",
    "header_for_run",
    "header_for_runs",
    "headline_table",
    "image_sizes",
    "label_noise_page",
    "leakage_summary",
    "ledger_markdown",
    "ledger_tests_markdown",
    "load_overview",
    "load_run",
    "load_runs",
    "lolo_page",
    "markdown_table",
    "metrics_table",
    "model_card_page",
    "paper_vs_ours",
    "parse_evidence",
    "parse_pairs",
    "per_class_table",
    "plot_ablation",
    "plot_class_balance",
    "plot_confusion",
    "plot_curves",
    "plot_curves_overlay",
    "plot_examples",
    "plot_paper_vs_ours",
    "records_of_evidence",
    "records_of_findings",
    "records_of_pairs",
    "run_folder",
    "run_status",
    "sample_grid",
    "seed_summary",
    "selected_epoch",
    "show_gradcam",
    "split_ids",
    "synthetic_data_note",
    "synthetic_note",
    "table1",
    "table1_details",
    "table1_details_markdown",
    "table1_markdown",
    "table1_outcomes",
    "targets_page",
]
