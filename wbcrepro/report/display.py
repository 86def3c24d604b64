"""How a page shows a table: every cell whole, and no row numbers posing as a column.

Page functions return plain DataFrames (tested as data; a user can index them), and IPython
renders a DataFrame with pandas' own HTML. Two of pandas' display defaults read badly in a book:

* a cell longer than ``display.max_colwidth`` (50 characters) is cut with "...": a reader of
  the model card saw "160 px RGB; decoded, cropped to a square aroun...";
* a table built from a list of rows has a RangeIndex, shown as a first column 0, 1, 2, ... with
  no header: numbers that mean nothing beside numbers that do.

:func:`install` (called when :mod:`wbcrepro.report` is imported, which every notebook does
first) registers :func:`table_html` as the HTML form of a DataFrame in the running IPython
kernel: the whole table, every cell whole, the index shown only when it labels the rows. Outside
IPython it does nothing. ``scripts/browser_check.py`` checks every page of the built book for
both, and for a count printed as a float.
"""

from __future__ import annotations

import pandas as pd


def labels_rows(index: pd.Index) -> bool:
    """False for row numbers (a RangeIndex 0..n-1 without a name): nothing to show."""
    if index.name is not None or index.nlevels > 1:
        return True
    return not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1)


def table_html(frame: pd.DataFrame) -> str:
    """``frame`` as a page shows it: pandas' notebook HTML, every row, column and character."""
    with pd.option_context(
        "display.max_colwidth", None, "display.max_rows", None, "display.max_columns", None
    ):
        return frame.to_html(notebook=True, index=labels_rows(frame.index))


def install() -> None:
    """Register :func:`table_html` for DataFrames in the running IPython kernel, if any."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the kernel
        return
    shell = get_ipython()
    if shell is None:
        return
    shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, table_html)
