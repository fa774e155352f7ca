"""Anomaly alerts: a spike and a lull are flagged, steady sales are not, gaps count as zero."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from workshop import anomaly, generator, latency

START = pd.Timestamp("2026-11-28 12:00", tz="UTC")


def series(orders: list[int]) -> pd.DataFrame:
    """A hand-made per-minute series from START, revenue 100 per order."""
    minutes = pd.date_range(START, periods=len(orders), freq="min")
    return pd.DataFrame({"minute": minutes, "orders": orders,
                         "revenue": [100.0 * n for n in orders]})


STEADY = [20, 22, 19, 21, 18, 20, 23, 19, 21, 20, 22, 18, 20, 21, 19]


def flags(frame: pd.DataFrame) -> dict[int, str]:
    return {i: f for i, f in enumerate(frame["flag"]) if f}


def test_steady_sales_are_not_flagged():
    assert flags(anomaly.flag(series(STEADY))) == {}


def test_a_spike_is_flagged_and_only_that_minute():
    orders = STEADY.copy()
    orders[8] = 80
    result = anomaly.flag(series(orders))
    assert flags(result) == {8: "spike"}
    assert result.loc[8, "baseline"] == 20.0  # median of the minutes before it
    assert result.loc[9, "baseline"] == 20.0  # ...which the spike does not drag up (mean: 26.9)


def test_a_lull_is_flagged_as_a_drop():
    orders = STEADY.copy()
    orders[10] = 2
    assert flags(anomaly.flag(series(orders))) == {10: "drop"}


def test_the_first_minutes_have_no_baseline_and_are_never_flagged():
    result = anomaly.flag(series([1, 100, 1, 100, 1, 100]), min_minutes=5)
    assert result["baseline"].iloc[:5].isna().all()
    assert flags(result) == {5: "spike"}  # minute 5 is the first one judged


def test_revenue_can_be_judged_instead_of_orders():
    orders = STEADY.copy()
    frame = series(orders)
    frame.loc[12, "revenue"] = 10_000.0  # same orders, far bigger baskets
    assert flags(anomaly.flag(frame)) == {}
    assert flags(anomaly.flag(frame, column="revenue")) == {12: "spike"}


def test_a_minute_without_sales_is_filled_with_zero_and_flagged():
    frame = series(STEADY).drop(index=9)  # the query returns no row for an empty minute
    full = anomaly.complete_minutes(frame)
    assert len(full) == len(STEADY) and full.loc[9, "orders"] == 0
    assert flags(anomaly.flag(full)) == {9: "drop"}


def test_the_window_bounds_fill_the_edges_and_leave_out_the_end():
    frame = series([5, 5])
    full = anomaly.complete_minutes(frame, START - timedelta(minutes=2),
                                    START + timedelta(minutes=3))
    assert list(full["orders"]) == [0, 0, 5, 5, 0]
    assert full["minute"].iloc[-1] == START + timedelta(minutes=2)


def test_flagged_lists_only_the_flagged_minutes():
    orders = STEADY.copy()
    orders[7], orders[12] = 2, 70
    table = anomaly.flagged(anomaly.flag(series(orders)))
    assert list(table["flag"]) == ["drop", "spike"]
    assert list(table.columns) == ["minute", "orders", "revenue", "baseline", "flag"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"column": "units"}, "no column 'units'"),
    ({"threshold": 1.5}, "threshold is 1.5"),
    ({"min_minutes": 0}, "min_minutes"),
])
def test_bad_options_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(anomaly.AnomalyError, match=message):
        anomaly.flag(series(STEADY), **kwargs)


def test_a_frame_without_the_query_columns_is_refused():
    with pytest.raises(anomaly.AnomalyError, match="sales_per_minute"):
        anomaly.complete_minutes(pd.DataFrame({"minute": [START]}))


def test_a_generated_history_is_flagged_at_its_spike_and_lull_through_the_pipeline(fresh_stack):
    s, found = fresh_stack
    start = generator.history_start(16)
    orders = generator.history(16, 20, spike=12, lull=8, seed=6, start=start)
    report = generator.write_orders(orders, found["TableName"], burst=True, progress=False,
                                    stamp=False)
    latency.wait_until_queryable(report.orderids, timeout=120, s=s)
    result = anomaly.detect(start, start + timedelta(minutes=16), s)
    assert list(result["orders"]) == generator.history_counts(16, 20, 12, 8, seed=6)
    assert flags(result) == {8: "drop", 12: "spike"}
