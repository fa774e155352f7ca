"""Latency, measured: per-order seconds, their p50/p95/max, and the buffering in force."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from workshop import latency

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_summarize_gives_seconds_per_order_seen_everywhere():
    placed = {"a": at(0), "b": at(1), "c": at(2)}
    in_s3 = {"a": at(1.5), "b": at(3)}  # c has not arrived yet: left out
    queryable = {"a": at(2), "b": at(4), "c": at(9)}
    frame = latency.summarize(placed, in_s3, queryable)
    assert list(frame.index) == ["a", "b"]
    assert list(frame["to_s3"]) == [1.5, 2.0]
    assert list(frame["to_query"]) == [2.0, 3.0]


def hand_made(to_s3: list[float], to_query: list[float]) -> latency.Latency:
    ids = [f"o{i}" for i in range(len(to_s3))]
    frame = pd.DataFrame({"placed_at": [T0] * len(ids), "to_s3": to_s3, "to_query": to_query},
                         index=pd.Index(ids, name="orderid"))
    return latency.Latency(frame, rate=20)


def test_stats_are_the_percentiles_and_the_maximum():
    result = hand_made([float(i) for i in range(1, 101)], [float(i) + 1 for i in range(1, 101)])
    stats = result.stats()
    assert list(stats.index) == ["in S3", "queryable"]
    assert stats.loc["in S3"].to_dict() == {"orders": 100, "p50": 50.5, "p95": 95.05,
                                            "max": 100.0}
    assert stats.loc["queryable", "max"] == 101.0


def test_the_report_reads_as_sentences_and_answers_the_seed_claim():
    fast = hand_made([0.5, 1.0, 1.5], [1.0, 2.0, 3.0])
    assert str(fast).splitlines() == [
        "3 orders written at 20 orders/s:",
        "  in S3:      half in 1.0 s, 95 % in 1.4 s, all in 1.5 s",
        "  queryable:  half in 2.0 s, 95 % in 2.9 s, all in 3.0 s",
        "under a minute from placed to queryable: yes",
    ]
    slow = hand_made([30.0, 70.0], [40.0, 75.0])
    assert not slow.under(60) and str(slow).endswith("queryable: NO")


def test_measure_follows_new_orders_to_s3_and_to_the_query(fresh_stack):
    s, _ = fresh_stack
    result = latency.measure(count=15, rate=30, timeout=120, s=s)
    assert len(result.seconds) == 15
    assert (result.seconds["to_s3"] > 0).all()
    assert (result.seconds["to_query"] > 0).all()
    stats = result.stats()
    assert (stats["p50"] <= stats["p95"]).all() and (stats["p95"] <= stats["max"]).all()


def test_buffering_reads_the_stack_and_the_local_override(fresh_stack):
    s, _ = fresh_stack
    found = latency.buffering(dataclasses.replace(s, local_buffer_seconds=2.5))
    assert (found.s3_interval, found.s3_size_mb, found.processor_interval) == (60, 5, 60)
    assert found.local_override == 2.5
    assert str(found).startswith("Firehose buffering: 2.5 s here")
    as_deployed = latency.buffering(dataclasses.replace(s, local_buffer_seconds=None))
    assert str(as_deployed) == ("Firehose buffering, as the stack says: deliver to S3 "
                                "every 60 s or 5 MB, call the transformer every 60 s.")


def test_waiting_for_orders_that_never_come_reports_where_data_stops(fresh_stack):
    s, _ = fresh_stack
    with pytest.raises(latency.LatencyTimeout, match="0 of 1 orders are queryable") as caught:
        latency.wait_until_queryable(["no-such-order"], timeout=0.5, s=s)
    assert "items in the table" in str(caught.value)
