"""How a page shows a DataFrame (report.display): every cell whole, no row numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from wbcrepro.report import display

LONG = "160 px RGB; decoded, cropped to a square around its nucleus, which spans 40% of the side"


def test_a_long_cell_is_shown_whole_and_row_numbers_are_not_a_column() -> None:
    rows = pd.DataFrame([{"lab": "pbc", "input": LONG}, {"lab": "lisc", "input": "x"}])
    html = display.table_html(rows)
    assert LONG in html and "..." not in html
    assert "<th>0</th>" not in html and "<th>lab</th>" in html
    assert pd.DataFrame({"a": [1]}).to_html().count("<th>0</th>") == 1  # what pandas does


@pytest.mark.parametrize(
    "index",
    [pd.Index(["val", "test"], name="split"), pd.Index(["weights", "input"]), pd.RangeIndex(1, 3)],
)
def test_an_index_that_labels_the_rows_is_kept(index: pd.Index) -> None:
    table = pd.DataFrame({"value": ["a", "b"]}, index=index)
    html = display.table_html(table)
    assert all(f"<th>{label}</th>" in html for label in index)


def test_install_registers_the_form_in_an_ipython_shell() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        display.install()
        data, _ = shell.display_formatter.format(pd.DataFrame([{"input": LONG}]))
        assert LONG in data["text/html"] and "<th>0</th>" not in data["text/html"]
    finally:
        InteractiveShell.clear_instance()
