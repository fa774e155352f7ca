"""Charts are titled, labelled and refuse a DataFrame that is not theirs."""

import pandas as pd
import pytest

from workshop import charts


def test_units_per_product_puts_the_best_seller_on_top_with_its_units():
    frame = pd.DataFrame({"product_name": ["Phone", "Laptop"], "total_units": [5, 9]})
    ax = charts.units_per_product(frame).axes[0]
    assert ax.get_title() == "Units sold per product"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Phone", "Laptop"]
    assert [t.get_text() for t in ax.texts] == ["5", "9"]


def test_revenue_per_minute_labels_each_minute_in_utc_with_dollars():
    frame = pd.DataFrame({"minute": ["2026-11-28 12:01:00+00:00", "2026-11-28 12:00:00+00:00"],
                          "revenue": [1500.0, 250.5]})
    ax = charts.revenue_per_minute(frame).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["12:00", "12:01"]
    assert [t.get_text() for t in ax.texts] == ["$250", "$1,500"]
    assert ax.get_xlabel() == "minute (UTC)"


def test_a_chart_names_the_columns_it_misses(tmp_path):
    with pytest.raises(charts.ChartError, match=r"missing \['total_units'\]"):
        charts.units_per_product(pd.DataFrame({"product_name": ["Phone"]}))


def test_save_writes_a_png(tmp_path):
    frame = pd.DataFrame({"product_name": ["Phone"], "total_units": [1]})
    path = charts.save(charts.units_per_product(frame), tmp_path / "sub" / "units.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
