"""What a query costs, as Athena bills it: the bytes it scans, rounded up to the megabyte, at
least 10 MB a query, at $5 a terabyte (https://aws.amazon.com/athena/pricing/), worked out by
hand on objects of known sizes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.test_athena import Lake, folder, make_lake
from workshop import athena, cli, config

MB = 1024 * 1024
PRICE_PER_MB = 5.0 / (1024 * 1024)  # $5 a terabyte, a terabyte being 1024 x 1024 megabytes
HOUR = datetime.now(UTC) - timedelta(hours=2)
LINE = {"orderid": "o", "product_name": "Phone", "quantity": 1, "price": 1.0,
        "placed_at": "2026-12-05T00:00:00Z", "event_type": "INSERT",
        "event_time": "2026-12-05T00:00:01Z"}


@pytest.fixture
def lake(moto_local: config.Settings) -> Lake:
    return make_lake(moto_local)


def sized(lake: Lake, count: int, when: datetime = HOUR) -> int:
    """Write one object of `count` lines into the partition of `when`; its size in bytes."""
    key = lake.put("orders/", when, [dict(LINE, orderid=f"o{n:07d}") for n in range(count)])
    return config.client("s3").head_object(Bucket=lake.bucket, Key=key)["ContentLength"]


def test_a_small_query_is_billed_the_10_mb_minimum(lake: Lake) -> None:
    size = sized(lake, 100) + sized(lake, 50)
    stats = athena.statistics(lake.engine.query(
        f"SELECT COUNT(*) AS n FROM orders WHERE datehour = '{folder(HOUR)}'"))
    assert stats.data_scanned_in_bytes == size  # both objects, whole: JSON is read whole
    assert stats.billed_bytes == 10 * MB
    assert stats.cost_usd == pytest.approx(10 * PRICE_PER_MB)  # $0.0000477
    assert str(stats) == (f"scanned {size / MB:.2f} MB (billed 10 MB), $0.000048; "
                          "1 projected partition(s) listed")


def test_past_the_minimum_the_bytes_are_rounded_up_to_the_megabyte(lake: Lake) -> None:
    size = sized(lake, 60_000)  # about 11 MB of JSON lines
    assert 10 * MB < size < 12 * MB
    stats = athena.statistics(lake.engine.query("SELECT COUNT(*) AS n FROM orders"))
    megabytes = -(-size // MB)  # rounded up
    assert stats.data_scanned_in_bytes == size
    assert stats.billed_bytes == megabytes * MB
    assert stats.cost_usd == pytest.approx(megabytes * PRICE_PER_MB)


def test_a_partition_filter_scans_only_its_partitions(lake: Lake) -> None:
    sized(lake, 200)
    other = HOUR - timedelta(hours=3)
    small = sized(lake, 1, other)
    stats = athena.statistics(lake.engine.query(
        f"SELECT COUNT(*) AS n FROM orders WHERE datehour = '{folder(other)}'"))
    assert stats.data_scanned_in_bytes == small  # not the 200 lines of the other hour


def test_workshop_query_prints_what_it_scanned_and_cost(fresh_stack, monkeypatch, capsys):
    s, _ = fresh_stack
    monkeypatch.setenv("WORKSHOP_PREFIX", s.prefix)
    config.reset()
    try:
        assert cli.main(["query", "SELECT COUNT(*) AS n FROM orders"]) == 0
    finally:
        config.reset()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("scanned 0.00 MB (billed 10 MB), $0.000048;")
