"""workshop.cost: the hourly estimate shown before an aws deploy, checked item by item."""

from __future__ import annotations

import pytest

from workshop import cost


def line(estimate: cost.Estimate, item: str) -> cost.Line:
    [found] = [entry for entry in estimate.lines if entry.item == item]
    return found


def test_an_idle_stack_still_pays_for_its_shards_every_hour():
    idle = cost.estimate({"ShardCount": 3}, orders_per_hour=0, queries_per_hour=0)
    assert idle.per_hour == pytest.approx(3 * 0.015)
    assert idle.idle_per_hour == pytest.approx(0.045)
    assert "$1.08/day until you run `workshop teardown`" in str(idle)


def test_usage_lines_follow_the_order_rate_and_the_template_defaults():
    busy = cost.estimate(orders_per_hour=1_000_000, queries_per_hour=0)
    assert line(busy, "Kinesis shard-hours").usd == pytest.approx(0.015)  # ShardCount default 1
    assert line(busy, "DynamoDB on-demand writes").usd == pytest.approx(0.625)
    assert line(busy, "Kinesis PUT payload units").usd == pytest.approx(0.014)
    # Each record is billed as 5 KB by Firehose: 1e6 * 5 KB = 4.768 GB at 0.029 USD, once for
    # each of the two delivery streams (JSON and the Parquet copy) that read every record.
    assert line(busy, "Firehose ingestion").usd == pytest.approx(2 * 1e6 * 5 / 1024**2 * 0.029)
    # The Parquet copy's conversion: the same 4.768 GB at 0.018 USD.
    assert line(busy, "Firehose Parquet conversion").usd == pytest.approx(
        1e6 * 5 / 1024**2 * 0.018)
    # 1e6 orders in batches of 100 (the pipe's BatchSize) = 10,000 requests.
    assert line(busy, "EventBridge Pipes requests").quantity == pytest.approx(10_000)
    # The default 60 s buffer flushes one object a minute from the one shard, per stream.
    assert line(busy, "S3 PUT requests").quantity == 2 * 60


def test_a_trickle_is_one_pipe_request_per_order_and_shorter_buffers_mean_more_objects():
    trickle = cost.estimate({"BufferIntervalSeconds": 10, "ProcessorBufferIntervalSeconds": 10},
                            orders_per_hour=1200, queries_per_hour=0)
    assert line(trickle, "EventBridge Pipes requests").quantity == 1200
    assert line(trickle, "S3 PUT requests").quantity == 2 * 360  # two delivery streams
    assert line(trickle, "Lambda transformer").quantity == 2 * 360


def test_each_athena_query_is_billed_at_least_ten_megabytes():
    queries = cost.estimate(orders_per_hour=0, queries_per_hour=100)
    assert line(queries, "Athena data scanned").usd == pytest.approx(100 * 10 / 1024**2 * 5.0)


def test_athena_lists_s3_once_for_every_projected_partition_of_a_query():
    """Partition projection makes Athena list every hour in range that a query does not filter
    out, empty or not; S3 bills each LIST to the bucket's owner."""
    assert cost.projected_partitions() == 7 * 24 + 1  # the template's NOW-7DAYS,NOW, by the hour
    queries = cost.estimate(orders_per_hour=0, queries_per_hour=100)
    lists = line(queries, "S3 LIST requests (Athena)")
    assert lists.quantity == 100 * (7 * 24 + 1)
    assert lists.usd == pytest.approx(100 * 169 / 1000 * 0.005)
    assert not lists.idle  # no query, no LIST
    assert line(cost.estimate(queries_per_hour=0), "S3 LIST requests (Athena)").usd == 0


def test_the_total_is_the_sum_of_its_lines():
    estimate = cost.estimate()
    assert estimate.per_hour == pytest.approx(sum(entry.usd for entry in estimate.lines))
    assert f"${estimate.per_hour:.4f}" in str(estimate)


def test_a_negative_rate_is_refused():
    with pytest.raises(ValueError, match="zero or more"):
        cost.estimate(orders_per_hour=-1)
