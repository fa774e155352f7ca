"""The order generator: the seed's specification, unique ids, honest reports, retries."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from workshop import config, generator
from workshop.generator import PRODUCTS, GeneratorError, make_orders, write_orders

ISO_MICROS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def without_time(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in o.items() if k != "placed_at"} for o in orders]


@pytest.fixture
def order_table(moto_local: config.Settings) -> Iterator[str]:
    """A DynamoDB table shaped like the template's OrderTable (orderid key, stream on)."""
    name = f"OrderTable-{uuid.uuid4().hex[:8]}"
    dynamodb = config.client("dynamodb")
    dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    yield name
    dynamodb.delete_table(TableName=name)


def table_items(table: str) -> dict[str, dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer().deserialize
    pages = config.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return {i["orderid"]["S"]: {k: des(v) for k, v in i.items()}
            for page in pages for i in page["Items"]}


def stream_events(table: str) -> list[tuple[str, str]]:
    """(eventName, orderid) of every record in the table's DynamoDB stream, in order."""
    arn = config.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = config.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    return [(r["eventName"], r["dynamodb"]["Keys"]["orderid"]["S"]) for r in records]


# --- making orders -------------------------------------------------------------------------------

def test_same_seed_gives_same_orders() -> None:
    assert without_time(make_orders(50, seed=7)) == without_time(make_orders(50, seed=7))


def test_different_seeds_and_unseeded_runs_share_no_ids() -> None:
    runs = [make_orders(1000, seed=1), make_orders(1000, seed=2), make_orders(1000),
            make_orders(1000)]
    ids = [o["orderid"] for run in runs for o in run]
    assert len(set(ids)) == len(ids)


def test_start_continues_a_seeded_sequence() -> None:
    assert without_time(make_orders(5, seed=3, start=10)) == without_time(
        make_orders(15, seed=3)[10:])


def test_order_ids_are_unique_over_100000_orders() -> None:
    orders = make_orders(100_000, seed=42)
    assert len({o["orderid"] for o in orders}) == 100_000
    assert all(re.fullmatch(r"[0-9a-f]{16}", o["orderid"]) for o in orders[:1000])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**64))
def test_orders_follow_the_seed_specification(seed: int) -> None:
    for order in make_orders(40, seed=seed):
        assert set(order) == {"orderid", "product_name", "quantity", "price", "placed_at"}
        assert order["product_name"] in PRODUCTS
        assert 1 <= order["quantity"] <= 10 and isinstance(order["quantity"], int)
        assert isinstance(order["price"], Decimal)
        assert order["price"].as_tuple().exponent == -2  # exactly two decimals
        assert Decimal("10.99") <= order["price"] <= Decimal("999.99")
        assert ISO_MICROS_Z.match(order["placed_at"])


def test_all_products_and_the_range_ends_occur() -> None:
    orders = make_orders(20_000, seed=5)
    assert {o["product_name"] for o in orders} == set(PRODUCTS)
    assert {o["quantity"] for o in orders} == set(range(1, 11))


# --- writing to DynamoDB (moto) ------------------------------------------------------------------

def test_burst_writes_every_order(order_table: str) -> None:
    orders = make_orders(130, seed=1)
    report = write_orders(orders, order_table, burst=True, progress=False)
    assert (report.written, report.unconfirmed, report.mode) == (130, 0, "burst")
    assert report.orderids == [o["orderid"] for o in orders]
    items = table_items(order_table)
    assert len(items) == 130
    first = items[orders[0]["orderid"]]
    assert first["price"] == orders[0]["price"]  # the Decimal arrives exactly
    assert first["quantity"] == orders[0]["quantity"]


def test_placed_at_is_the_time_of_writing(order_table: str) -> None:
    orders = make_orders(3, seed=2)
    for order in orders:
        order["placed_at"] = "2000-01-01T00:00:00.000000Z"
    write_orders(orders, order_table, burst=True, progress=False)
    written = table_items(order_table)
    assert all(ISO_MICROS_Z.match(i["placed_at"]) and not i["placed_at"].startswith("2000")
               for i in written.values())


def test_paced_writes_keep_the_rate(order_table: str) -> None:
    report = write_orders(make_orders(5, seed=3), order_table, rate=40, progress=False)
    assert (report.written, report.mode) == (5, "paced")
    assert report.seconds >= 4 / 40
    assert len(table_items(order_table)) == 5


def test_run_continuous_stops_at_max_orders(order_table: str) -> None:
    report = generator.run_continuous(0.0, table=order_table, seed=9, max_orders=4)
    assert report.written == 4 and not report.interrupted
    assert sorted(table_items(order_table)) == sorted(o["orderid"] for o in make_orders(4, 9))


def test_change_orders_emits_the_modify_and_remove_it_reports(order_table: str) -> None:
    written = write_orders(make_orders(10, seed=4), order_table, burst=True, progress=False)
    changes = generator.change_orders(written.orderids, update=3, delete=2, seed=4,
                                      table=order_table)
    assert (len(changes.updated), len(changes.deleted), changes.missing) == (3, 2, [])
    items = table_items(order_table)
    for change in changes.updated:
        assert change.old != change.new
        assert items[change.orderid][change.attribute] == change.new
    assert not set(changes.deleted) & set(items)
    events = stream_events(order_table)
    assert sorted(i for e, i in events if e == "MODIFY") == sorted(
        c.orderid for c in changes.updated)
    assert sorted(i for e, i in events if e == "REMOVE") == sorted(changes.deleted)
    assert [e for e, _ in events].count("INSERT") == 10


def test_change_orders_reports_ids_that_are_gone(order_table: str) -> None:
    changes = generator.change_orders(["not-there"], update=1, table=order_table)
    assert (changes.updated, changes.missing) == ([], ["not-there"])
    assert table_items(order_table) == {}  # an update never creates a half order


def test_generate_writes_then_changes_its_own_orders(order_table: str) -> None:
    report = generator.generate(8, seed=11, burst=True, update=2, delete=1, progress=False,
                                table=order_table)
    assert report.written == 8 and report.changes is not None
    assert (len(report.changes.updated), len(report.changes.deleted)) == (2, 1)
    assert len(table_items(order_table)) == 7


def test_generate_with_count_zero_changes_existing_orders(order_table: str) -> None:
    write_orders(make_orders(6, seed=12), order_table, burst=True, progress=False)
    report = generator.generate(0, update=1, delete=2, seed=1, table=order_table)
    assert report.written == 0 and report.changes is not None
    assert (len(report.changes.updated), len(report.changes.deleted)) == (1, 2)
    assert len(table_items(order_table)) == 4


def test_generate_refuses_more_changes_than_orders(moto_local: config.Settings) -> None:
    with pytest.raises(GeneratorError, match="Cannot update 2 and delete 2 of 3 new orders"):
        generator.generate(3, burst=True, update=2, delete=2, table="whatever")


@pytest.mark.parametrize("burst", [True, False])
def test_missing_table_says_to_deploy_first(moto_local: config.Settings, burst: bool) -> None:
    with pytest.raises(GeneratorError) as caught:
        write_orders(make_orders(2), "NoSuchTable", burst=burst, interval=0, progress=False)
    assert str(caught.value) == (
        "DynamoDB table NoSuchTable does not exist on the local target: "
        "deploy the stack first: workshop deploy")
    assert caught.value.report is not None and caught.value.report.written == 0


# --- retries and interruptions (a fake client) ---------------------------------------------------

class FakeDynamoDB:
    """Answers batch_write_item from a script of outcomes, recording every request."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.requests: list[list[str]] = []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        (table, requests), = RequestItems.items()
        ids = [r["PutRequest"]["Item"]["orderid"]["S"] for r in requests]
        self.requests.append(ids)
        outcome = self.script.pop(0) if self.script else "ok"
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome == "half":  # DynamoDB took only the first half
            return {"UnprocessedItems": {table: requests[len(requests) // 2:]}}
        if outcome == "none":
            return {"UnprocessedItems": {table: requests}}
        return {"UnprocessedItems": {}}


def throttled(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "slow down"}}, "BatchWriteItem")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Route the generator to a FakeDynamoDB (set per test) and record backoff sleeps."""
    sleeps: list[float] = []
    monkeypatch.setattr(generator, "_sleep", sleeps.append)
    yield sleeps


def use(monkeypatch: pytest.MonkeyPatch, dynamodb: FakeDynamoDB) -> None:
    monkeypatch.setattr(generator, "client", lambda service, validate=True: dynamodb)


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException",
                                  "ThrottlingException"])
def test_throttled_batch_is_retried_with_backoff(monkeypatch: pytest.MonkeyPatch,
                                                 fake: list[float], code: str) -> None:
    dynamodb = FakeDynamoDB([throttled(code), throttled(code), "ok"])
    use(monkeypatch, dynamodb)
    report = write_orders(make_orders(10, seed=1), "T", burst=True, progress=False)
    assert (report.written, report.retries, len(dynamodb.requests)) == (10, 2, 3)
    assert len(fake) == 2 and fake[1] > fake[0] * 0.9  # backoff grows (with jitter)


def test_unprocessed_items_are_sent_again_until_written(monkeypatch: pytest.MonkeyPatch,
                                                        fake: list[float]) -> None:
    dynamodb = FakeDynamoDB(["half", "half", "ok"])
    use(monkeypatch, dynamodb)
    orders = make_orders(20, seed=2)
    report = write_orders(orders, "T", burst=True, progress=False)
    assert [len(r) for r in dynamodb.requests] == [20, 10, 5]
    assert report.written == 20 and report.retries == 2
    assert sorted(report.orderids) == sorted(o["orderid"] for o in orders)


def test_items_never_processed_fail_with_an_exact_report(monkeypatch: pytest.MonkeyPatch,
                                                         fake: list[float]) -> None:
    use(monkeypatch, FakeDynamoDB(["ok"] + ["none"] * generator.MAX_ATTEMPTS))
    with pytest.raises(GeneratorError, match="25 orders stayed unprocessed") as caught:
        write_orders(make_orders(50, seed=3), "T", burst=True, progress=False)
    assert caught.value.report is not None and caught.value.report.written == 25


def test_ctrl_c_stops_cleanly_and_reports_only_confirmed_writes(
        monkeypatch: pytest.MonkeyPatch, fake: list[float]) -> None:
    use(monkeypatch, FakeDynamoDB(["ok", "ok", KeyboardInterrupt()]))
    report = write_orders(make_orders(100, seed=4), "T", burst=True, progress=False)
    assert report.interrupted
    assert (report.written, report.unconfirmed) == (50, 25)  # the 3rd batch's fate is unknown
    assert "may exist too" in str(report) and "stopped by Ctrl+C" in str(report)


def test_rate_and_interval_together_are_refused() -> None:
    with pytest.raises(ValueError, match="either rate"):
        write_orders([], "T", rate=2, interval=1)


# --- a history with a spike or a lull ------------------------------------------------------------

HISTORY_START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_a_history_has_a_spike_and_a_lull_at_the_minutes_asked():
    plain = generator.history_counts(30, 20, seed=3)
    shaped = generator.history_counts(30, 20, spike=20, lull=10, seed=3)
    assert shaped[20] == round(plain[20] * generator.SPIKE_FACTOR)
    assert shaped[10] == round(plain[10] * generator.LULL_FACTOR)
    others = [i for i in range(30) if i not in (10, 20)]
    assert [shaped[i] for i in others] == [plain[i] for i in others]
    assert min(plain) >= 1 and 15 <= sum(plain) / 30 <= 25  # about 20 a minute


def test_history_orders_are_placed_in_their_minutes_and_repeat_with_a_seed():
    orders = generator.history(5, 10, spike=3, seed=9, start=HISTORY_START)
    counts = generator.history_counts(5, 10, spike=3, seed=9)
    minutes = [int(o["placed_at"][14:16]) for o in orders]
    assert [minutes.count(m) for m in range(5)] == counts
    assert all(ISO_MICROS_Z.match(o["placed_at"]) for o in orders)
    assert orders == generator.history(5, 10, spike=3, seed=9, start=HISTORY_START)
    assert len({o["orderid"] for o in orders}) == len(orders)


def test_a_later_history_never_reuses_the_ids_of_an_earlier_one():
    first = generator.history(3, 5, seed=1, start=HISTORY_START)
    later = generator.history(3, 5, seed=1, start=HISTORY_START + timedelta(minutes=7))
    assert without_time([dict(o, orderid="") for o in first]) == without_time(
        [dict(o, orderid="") for o in later])  # same products, quantities, prices
    assert not {o["orderid"] for o in first} & {o["orderid"] for o in later}


def test_a_history_ends_an_hour_before_now_on_a_whole_minute():
    now = datetime(2026, 11, 28, 15, 42, 31, tzinfo=UTC)
    assert generator.history_start(30, now) == datetime(2026, 11, 28, 14, 12, tzinfo=UTC)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"spike": 30}, "spike minute 30 is outside the history: choose 0 to 29"),
    ({"lull": -1}, "lull minute -1 is outside the history"),
    ({"spike": 4, "lull": 4}, "the spike and the lull are both at minute 4"),
])
def test_a_history_refuses_minutes_it_does_not_have(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generator.history_counts(30, 20, **kwargs)


def test_writing_without_stamping_keeps_the_history_placed_at(order_table: str) -> None:
    orders = generator.history(2, 3, seed=5, start=HISTORY_START)
    write_orders(orders, order_table, burst=True, progress=False, stamp=False)
    items = table_items(order_table)
    assert {o["orderid"]: o["placed_at"] for o in orders} == {
        i: item["placed_at"] for i, item in items.items()}


def test_generate_writes_a_history_with_its_spike(order_table: str) -> None:
    report = generator.generate(history_minutes=6, per_minute=5, spike=5, seed=2,
                                table=order_table, progress=False)
    assert report.written == sum(generator.history_counts(6, 5, spike=5, seed=2))
    assert len(table_items(order_table)) == report.written


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"count": 5, "history_minutes": 3}, "either a count or a history"),
    ({"count": 5, "spike": 2}, "add --history MINUTES"),
    ({"history_minutes": 3, "lull": 3}, "lull minute 3 is outside the history"),
])
def test_generate_says_how_to_ask_for_a_spike_or_lull(moto_local, kwargs, message) -> None:
    with pytest.raises(GeneratorError, match=message):
        generator.generate(table="AnyTable", progress=False, **kwargs)
