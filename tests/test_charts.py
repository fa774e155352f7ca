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


def test_sales_anomalies_colours_and_labels_the_flagged_minutes():
    from workshop import anomaly

    orders = [20, 21, 19, 20, 22, 20, 80, 20, 2, 21]
    frame = anomaly.flag(pd.DataFrame({
        "minute": pd.date_range("2026-11-28 12:00", periods=10, freq="min", tz="UTC"),
        "orders": orders, "revenue": [0.0] * 10}))
    ax = charts.sales_anomalies(frame).axes[0]
    colours = [bar.get_facecolor()[:3] for bar in ax.patches[:10]]
    red, orange, blue = (0.839, 0.153, 0.157), (1.0, 0.549, 0.0), (0.255, 0.412, 0.882)
    rounded = [tuple(round(c, 3) for c in colour) for colour in colours]
    assert rounded[6] == red and rounded[8] == orange and rounded[0] == blue
    assert [t.get_text() for t in ax.texts] == ["spike", "drop"]
    assert ax.get_xlabel() == "minute (UTC)"


def test_latency_histogram_draws_both_latencies_with_their_percentiles():
    seconds = pd.DataFrame({"to_s3": [0.5, 1.0, 1.5, 2.0], "to_query": [1.0, 2.0, 2.5, 3.0]})
    ax = charts.latency_histogram(seconds).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["in S3", "queryable"]
    assert len(ax.lines) == 4  # p50 and p95 of each
    assert sorted(line.get_xdata()[0] for line in ax.lines) == sorted(
        [1.25, seconds["to_s3"].quantile(0.95), 2.25, seconds["to_query"].quantile(0.95)])


def test_live_sales_waits_politely_then_draws_buckets_and_a_running_total():
    empty = pd.DataFrame(columns=["placed_at", "amount"])
    waiting = charts.live_sales(empty)
    assert "waiting for the first orders" in waiting.axes[0].texts[0].get_text()
    assert len(waiting.axes) == 2  # the same shape as the final chart (nbval compares its repr)
    frame = pd.DataFrame({"placed_at": ["2026-11-28T12:00:01.0Z", "2026-11-28T12:00:03.0Z",
                                        "2026-11-28T12:00:07.0Z"], "amount": [10.0, 20.0, 5.0]})
    fig = charts.live_sales(frame, bucket_seconds=5, title="Live")
    bars, total = fig.axes
    assert [p.get_height() for p in bars.patches] == [30.0, 5.0]
    assert list(total.lines[0].get_ydata()) == [30.0, 35.0]
