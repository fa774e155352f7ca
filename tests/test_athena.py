"""Athena SQL on the local engine: the workshop's queries, types, refusals and the S3 cache.

The data set is small and known: it is written in Firehose's layout (one Hive-style folder per
UTC hour of arrival, as the template's projection reads them, one JSON object per line) with
INSERT, MODIFY and REMOVE rows, a duplicate delivery, and events in the first two hours of today
and the last hour of yesterday, so every expected value is computed by hand. An object is put in
the folder of the hour it arrived, and nothing arrives in the future: at 00:20 UTC, the events of
01:00 are in the folder of hour 00 (the projection never makes a future hour).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from workshop import athena, config, template
from workshop.athena import QueryError, QueryStatistics, UnsupportedQuery
from workshop.local.athena.engine import LocalAthena
from workshop.records import projection

ORDER_COLUMNS = [("orderid", "string"), ("product_name", "string"), ("quantity", "int"),
                 ("price", "double"), ("placed_at", "string"), ("event_type", "string"),
                 ("event_time", "string")]
ERROR_COLUMNS = [("attemptsmade", "int"), ("arrivaltimestamp", "bigint"), ("errorcode", "string"),
                 ("errormessage", "string"), ("attemptendingtimestamp", "bigint"),
                 ("rawdata", "string"), ("lambdaarn", "string")]
ORDERS_TABLE = template.resource("OrdersTable")["Properties"]["TableInput"]
PARTITIONS = [key["Name"] for key in ORDERS_TABLE["PartitionKeys"]]  # ["datehour"]
PROJECTION = {k: str(v) for k, v in ORDERS_TABLE["Parameters"].items()  # as in the template:
              if k.startswith("projection.")}  # Athena computes the partitions from these
HOUR_FORMAT = projection.java_to_strftime(PROJECTION["projection.datehour.format"])
RANGE_HOURS = projection.partitions(PROJECTION, PARTITIONS)  # every hour the range projects
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
YESTERDAY = TODAY - timedelta(days=1)


def folder(when: datetime) -> str:
    """The partition value of an object that arrived at `when`, or now if that is later."""
    return f"{min(when, datetime.now(UTC)):{HOUR_FORMAT}}"


@dataclass
class Lake:
    """A bucket and Glue database laid out as the stack's template declares them."""

    bucket: str
    database: str
    engine: LocalAthena

    def put(self, table_prefix: str, when: datetime, lines: list[dict[str, Any]]) -> str:
        """Write one Firehose-style object into the hour folder of `when` (or of now, if
        `when` is still to come); return its key."""
        key = (f"{table_prefix}datehour={folder(when)}/"
               f"gadget-orders-1-{when:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}")
        body = "".join(json.dumps(line) + "\n" for line in lines)
        config.client("s3").put_object(Bucket=self.bucket, Key=key, Body=body.encode())
        return key


def glue_table(name: str, bucket: str, prefix: str, columns: list[tuple[str, str]]) -> dict:
    return {
        "Name": name, "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "json", **PROJECTION},
        "PartitionKeys": [{"Name": p, "Type": "string"} for p in PARTITIONS],
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in columns],
            "Location": f"s3://{bucket}/{prefix}",
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
        },
    }


def make_lake(s: config.Settings) -> Lake:
    """An empty bucket, and a Glue database with the orders and order_errors tables."""
    suffix = uuid.uuid4().hex[:8]
    bucket, database = f"gadget-data-{suffix}", f"gadget_{suffix}"
    config.client("s3").create_bucket(Bucket=bucket)
    glue = config.client("glue")
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(DatabaseName=database,
                      TableInput=glue_table("orders", bucket, "orders/", ORDER_COLUMNS))
    glue.create_table(DatabaseName=database, TableInput=glue_table(
        "order_errors", bucket, "errors/processing-failed/", ERROR_COLUMNS))
    return Lake(bucket, database, LocalAthena(database, s))


@pytest.fixture
def lake(moto_local: config.Settings) -> Lake:
    """A lake of this test's own, empty."""
    return make_lake(moto_local)


def event(orderid: str, product: str, quantity: int, price: float, placed: datetime,
          kind: str, at: datetime) -> dict[str, Any]:
    """One transformed record, as the transformer writes it."""
    return {"orderid": orderid, "product_name": product, "quantity": quantity, "price": price,
            "placed_at": placed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "event_type": kind,
            "event_time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def t(base: datetime, hh: int, mm: int, ss: int = 0, us: int = 123456) -> datetime:
    return base.replace(hour=hh, minute=mm, second=ss, microsecond=us)


def fill(lake: Lake) -> Lake:
    """The known data set (see the module docstring); expectations below are by hand."""
    a1, a2, a3 = t(TODAY, 0, 10), t(TODAY, 0, 10, 30), t(TODAY, 0, 11)
    a4, a5, a6 = t(TODAY, 1, 0), t(TODAY, 1, 0, 40), t(TODAY, 1, 2, 3)
    y1, y2 = t(YESTERDAY, 23, 59), t(YESTERDAY, 23, 50)
    lake.put("orders/", t(YESTERDAY, 23, 59, 30), [
        event("y2", "Headphones", 2, 150.0, y2, "INSERT", y2),
        event("y1", "Charger", 7, 20.0, y1, "INSERT", y1),
    ])
    lake.put("orders/", t(TODAY, 0, 30), [
        event("y2", "Headphones", 3, 150.0, y2, "MODIFY", t(TODAY, 0, 5)),
        event("a1", "Laptop", 3, 1000.0, a1, "INSERT", a1),
        event("a2", "Phone", 3, 500.0, a2, "INSERT", a2),
        event("a3", "Tablet", 1, 300.0, a3, "INSERT", a3),
    ])
    lake.put("orders/", t(TODAY, 0, 45), [
        event("a2", "Phone", 5, 500.0, a2, "MODIFY", t(TODAY, 0, 20)),
    ])
    lake.put("orders/", t(TODAY, 1, 10), [
        event("a3", "Tablet", 1, 300.0, a3, "REMOVE", t(TODAY, 1, 5)),
        event("a4", "Phone", 1, 250.5, a4, "INSERT", a4),
        event("a4", "Phone", 1, 250.5, a4, "INSERT", a4),  # delivered twice: at least once
        event("a5", "Laptop", 4, 999.99, a5, "INSERT", a5),
        event("a5", "Laptop", 4, 899.99, a5, "MODIFY", t(TODAY, 1, 1)),
        # removed in the same second it was placed: the REMOVE is the later event
        event("a6", "Smartwatch", 2, 199.0, a6, "REMOVE", a6),
        event("a6", "Smartwatch", 2, 199.0, a6, "INSERT", a6),
    ])
    return lake


@pytest.fixture(scope="module")
def sales(moto_local: config.Settings) -> Lake:
    """The known data set, shared by the tests that only read it."""
    return fill(make_lake(moto_local))


@pytest.fixture
def own_sales(lake: Lake) -> Lake:
    """The known data set in a lake of this test's own, for tests that change it."""
    return fill(lake)


def rows(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(r) for r in frame.itertuples(index=False)]


# --- the workshop's queries ----------------------------------------------------------------------

def test_the_workshop_queries_are_the_named_files() -> None:
    assert {"units_per_product_today", "revenue_per_product", "orders_per_minute",
            "latest_state_per_order", "p95_price"} <= set(athena.QUERIES)
    assert "SUM(quantity) AS total_units" in athena.QUERIES["units_per_product_today"]


@pytest.mark.parametrize("name", sorted(athena.QUERIES))
def test_every_named_query_runs_locally_on_data_and_on_an_empty_table(
        name: str, sales: Lake, lake: Lake) -> None:
    assert len(sales.engine.query(athena.QUERIES[name])) > 0
    empty = lake.engine.query(athena.QUERIES[name])
    assert len(empty) == 0 and len(empty.columns) > 0


def test_units_per_product_today_counts_live_orders_in_their_latest_state(sales: Lake) -> None:
    frame = sales.engine.query(athena.QUERIES["units_per_product_today"])
    # a1 Laptop 3 + a5 Laptop 4; a2 Phone 5 (modified from 3) + a4 Phone 1 (once, not twice);
    # a3 and a6 were removed; y2 was placed yesterday though modified today.
    assert rows(frame) == [("Laptop", 7), ("Phone", 6)]
    assert str(frame["total_units"].dtype) == "int64"  # BIGINT, as Athena sums integers


def test_results_keep_duckdbs_column_types_and_unique_names(sales: Lake) -> None:
    """Strings come through Arrow (fast), every other column as DuckDB's .df() types it."""
    frame = sales.engine.query(
        "SELECT orderid, quantity, price, event_type = 'REMOVE' AS removed, "
        "from_iso8601_timestamp(event_time) AS at, CAST(NULL AS varchar) AS nothing, orderid "
        "FROM orders WHERE orderid = 'a1' ORDER BY at")
    assert list(frame.columns) == ["orderid", "quantity", "price", "removed", "at", "nothing",
                                   "orderid_1"]
    assert [str(t) for t in frame.dtypes] == ["str", "int32", "float64", "bool",
                                              "datetime64[us, UTC]", "str", "str"]
    assert frame["orderid"].tolist() == ["a1"] and frame["nothing"].isna().all()


def test_a_result_of_many_arrow_batches_comes_back_in_whole_rows(lake: Lake) -> None:
    """Strings and the other columns are turned into pandas apart; each row must stay whole.

    Three million rows come out of DuckDB in 23 Arrow batches here; put back in another order,
    the strings stood beside another row's numbers (it happened to latest_state_per_order).
    """
    frame = lake.engine.query("SELECT n, CAST(n AS varchar) AS text, n % 2 = 0 AS even "
                              "FROM UNNEST(sequence(1, 3000000)) AS t(n)")
    assert len(frame) == 3_000_000
    assert (frame["text"] == frame["n"].astype(str)).all()
    assert (frame["even"] == (frame["n"] % 2 == 0)).all()


def test_revenue_per_product(sales: Lake) -> None:
    frame = sales.engine.query(athena.QUERIES["revenue_per_product"])
    assert rows(frame) == [("Laptop", 2, 7, 6599.96),  # 3 x 1000 + 4 x 899.99
                           ("Phone", 2, 6, 2750.5),  # 5 x 500 + 1 x 250.50
                           ("Headphones", 1, 3, 450.0),  # 3 x 150, modified today
                           ("Charger", 1, 7, 140.0)]


def test_orders_per_minute_counts_each_placed_order_once(sales: Lake) -> None:
    frame = sales.engine.query(athena.QUERIES["orders_per_minute"])
    minutes = [m.to_pydatetime().astimezone(UTC) for m in frame["order_minute"]]
    assert minutes == [t(YESTERDAY, 23, 50, 0, 0), t(YESTERDAY, 23, 59, 0, 0),
                       t(TODAY, 0, 10, 0, 0), t(TODAY, 0, 11, 0, 0), t(TODAY, 1, 0, 0, 0),
                       t(TODAY, 1, 2, 0, 0)]
    assert frame["orders"].tolist() == [1, 1, 2, 1, 2, 1]


def test_latest_state_per_order_shows_removed_orders(sales: Lake) -> None:
    frame = sales.engine.query(athena.QUERIES["latest_state_per_order"])
    state = {r.orderid: (r.quantity, r.price, r.latest_event, bool(r.removed))
             for r in frame.itertuples()}
    assert state == {
        "y2": (3, 150.0, "MODIFY", False), "y1": (7, 20.0, "INSERT", False),
        "a1": (3, 1000.0, "INSERT", False), "a2": (5, 500.0, "MODIFY", False),
        "a3": (1, 300.0, "REMOVE", True), "a4": (1, 250.5, "INSERT", False),
        "a5": (4, 899.99, "MODIFY", False), "a6": (2, 199.0, "REMOVE", True)}
    assert len(frame) == len(state)  # one row per order


def test_p95_price_per_product(sales: Lake) -> None:
    frame = sales.engine.query(athena.QUERIES["p95_price"])
    p95 = dict(zip(frame["product_name"], frame["p95_price"], strict=True))
    # one or two live orders per product: the 95th percentile is the highest price
    assert p95 == pytest.approx({"Charger": 20.0, "Headphones": 150.0, "Laptop": 1000.0,
                                 "Phone": 500.0})
    assert frame["orders"].tolist() == [1, 1, 2, 2]


def test_every_workshop_query_on_an_empty_table_returns_no_rows_but_its_columns(
        lake: Lake) -> None:
    expected = {
        "units_per_product_today": ["product_name", "total_units"],
        "revenue_per_product": ["product_name", "orders", "units", "revenue"],
        "orders_per_minute": ["order_minute", "orders"],
        "latest_state_per_order": ["orderid", "product_name", "quantity", "price", "placed_at",
                                   "latest_event", "latest_event_time", "removed"],
        "p95_price": ["product_name", "orders", "p95_price"],
    }
    for name, columns in expected.items():
        frame = lake.engine.query(athena.QUERIES[name])
        assert (len(frame), list(frame.columns)) == (0, columns), name
    everything = lake.engine.query("SELECT * FROM orders")
    assert list(everything.columns) == [c for c, _ in ORDER_COLUMNS] + PARTITIONS


def test_athena_run_uses_the_local_engine_on_the_local_target(
        sales: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    from workshop import stack

    monkeypatch.setattr(stack, "outputs", lambda s=None: {"GlueDatabaseName": sales.database})
    frame = athena.run("revenue_per_product")
    assert frame["product_name"].tolist() == ["Laptop", "Phone", "Headphones", "Charger"]
    assert frame.attrs["statistics"].partitions == RANGE_HOURS  # a question about all time
    with pytest.raises(QueryError, match="No workshop query named 'nope'"):
        athena.run("nope")


# --- the partitions a query makes Athena enumerate -----------------------------------------------

def statistics(frame: pd.DataFrame) -> QueryStatistics:
    return frame.attrs["statistics"]


def object_bytes(lake: Lake, prefix: str = "orders/") -> int:
    listed = config.client("s3").list_objects_v2(Bucket=lake.bucket, Prefix=prefix)
    return sum(o["Size"] for o in listed.get("Contents", []))


def test_the_bound_is_every_hour_the_template_projects() -> None:
    assert RANGE_HOURS == 7 * 24 + 1  # the current hour and the 168 before it
    assert athena.MAX_PROJECTED_PARTITIONS == RANGE_HOURS


def test_a_query_without_a_partition_filter_enumerates_every_hour_of_the_range(
        sales: Lake) -> None:
    stats = statistics(sales.engine.query("SELECT COUNT(*) AS n FROM orders"))
    assert stats.partitions == RANGE_HOURS  # empty or not: Athena lists S3 for each
    assert stats.data_scanned_in_bytes == object_bytes(sales)
    assert stats.engine_execution_time_in_millis is not None


def test_a_query_for_one_hour_enumerates_one_partition_and_scans_its_objects(
        sales: Lake) -> None:
    hour = folder(t(YESTERDAY, 23, 59))
    stats = statistics(sales.engine.query(
        f"SELECT COUNT(*) AS n FROM orders WHERE datehour = '{hour}'"))
    assert stats.partitions == 1
    assert stats.data_scanned_in_bytes == object_bytes(sales, f"orders/datehour={hour}/")


DAY = f"{YESTERDAY:%Y-%m-%d}"  # yesterday: 24 hours, all of them in the range


@pytest.mark.parametrize(("where", "partitions"), [
    (f"datehour IN ('{DAY}-00', '{DAY}-23', '2020-01-01-00')", 2),  # 2020 is not projected
    (f"datehour BETWEEN '{DAY}-00' AND '{DAY}-23'", 24),
    (f"datehour >= '{DAY}-00' AND datehour < '{DAY}-12'", 12),
    (f"datehour = '{DAY}-00' OR datehour = '{DAY}-23'", 2),  # OR on the partition column
    (f"datehour = '{DAY}-00' AND event_type = 'INSERT'", 1),  # the other condition filters rows
    (f"NOT (datehour <> '{DAY}-07')", 1),
    ("datehour = date_format(date_add('day', -1, current_date), '%Y-%m-%d-23')", 1),  # constant
    ("datehour IS NULL", 0),
    (f"datehour = '{DAY}-00' OR event_type = 'INSERT'", RANGE_HOURS),  # OR with another column
    (f"substr(datehour, 1, 10) = '{DAY}'", RANGE_HOURS),  # a function of the column
    (f"datehour LIKE '{DAY}-%'", RANGE_HOURS),  # counted as the whole range: an upper bound
    (f"datehour IN (SELECT '{DAY}-00')", RANGE_HOURS),  # a subquery is no constant
    (f"NOT (datehour = '{DAY}-00' AND event_type = 'INSERT')", RANGE_HOURS),
])
def test_predicates_on_the_partition_column_prune_as_athena_prunes(
        sales: Lake, where: str, partitions: int) -> None:
    frame = sales.engine.query(f"SELECT COUNT(*) AS n FROM orders WHERE {where}")
    assert statistics(frame).partitions == partitions


def test_every_read_of_a_projected_table_is_counted_with_its_own_filter(sales: Lake) -> None:
    frame = sales.engine.query(
        f"WITH late AS (SELECT orderid FROM orders WHERE datehour = '{DAY}-23') "
        "SELECT COUNT(*) AS n FROM late JOIN orders AS o ON late.orderid = o.orderid "
        f"WHERE o.datehour >= '{DAY}-22'")
    hour_now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours_since = (hour_now - t(YESTERDAY, 22, 0, 0, 0)) // timedelta(hours=1) + 1
    assert statistics(frame).partitions == 1 + hours_since  # 1 for late, yesterday 22:00 on
    assert rows(frame) == [(3,)]  # y1 and y2 at 23:59, y2 again (MODIFY) today
    outer = sales.engine.query(  # a filter outside the reading SELECT is not followed into it
        f"SELECT COUNT(*) FROM (SELECT * FROM orders) AS o WHERE o.datehour = '{DAY}-23'")
    assert statistics(outer).partitions == RANGE_HOURS
    assert statistics(sales.engine.query("SELECT 5/2")).partitions == 0


def test_todays_queries_enumerate_todays_hours_only(sales: Lake) -> None:
    before = datetime.now(UTC).hour
    frame = sales.engine.query(athena.QUERIES["units_per_product_today"])
    after = datetime.now(UTC).hour
    assert statistics(frame).partitions in {before + 1, after + 1}  # hour 00 to now's
    assert rows(frame) == [("Laptop", 7), ("Phone", 6)]


def test_the_templates_saved_query_reads_todays_partitions_and_over_counts_as_the_seeds(
        sales: Lake) -> None:
    named = template.resource("UnitsPerProductQuery")["Properties"]["QueryString"]["Fn::Sub"]
    frame = sales.engine.query(named.replace("${OrdersTable}", "orders"))
    assert statistics(frame).partitions <= 24
    # every row that arrived today: modified orders twice, removed ones with their REMOVE
    assert rows(frame) == [("Laptop", 11), ("Phone", 10), ("Smartwatch", 4), ("Headphones", 3),
                           ("Tablet", 2)]


@pytest.mark.parametrize("name", sorted(athena.QUERIES))
def test_every_workshop_query_enumerates_no_more_partitions_than_the_bound(
        name: str, sales: Lake) -> None:
    frame = sales.engine.query(athena.QUERIES[name])
    assert statistics(frame).partitions <= athena.MAX_PROJECTED_PARTITIONS


def test_arrived_since_keeps_the_hours_since_a_time_and_one_before(sales: Lake) -> None:
    assert athena.arrived_since("2026-12-03T17:05:00.000000Z") == "datehour >= '2026-12-03-16'"
    since = datetime.now(UTC) - timedelta(minutes=5)
    frame = sales.engine.query(f"SELECT COUNT(*) AS n FROM orders WHERE "
                               f"{athena.arrived_since(since)}")
    assert statistics(frame).partitions in (2, 3)  # since's hour, the one before, now's


def test_a_key_outside_the_projected_range_is_invisible_as_on_athena(lake: Lake) -> None:
    now = datetime.now(UTC)
    for arrived in (now - timedelta(days=7, hours=1),  # its hour left the range an hour ago
                    now + timedelta(hours=1),  # a future hour: not projected yet
                    now - timedelta(days=6)):  # within the range: read
        key = (f"orders/datehour={arrived:{HOUR_FORMAT}}/gadget-orders-1-"
               f"{arrived:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}")
        body = json.dumps(event(f"k{arrived:%d%H}", "Phone", 1, 9.5, arrived, "INSERT", arrived))
        config.client("s3").put_object(Bucket=lake.bucket, Key=key, Body=body.encode() + b"\n")
    frame = lake.engine.query("SELECT orderid FROM orders")
    assert frame["orderid"].tolist() == [f"k{now - timedelta(days=6):%d%H}"]


# --- Athena semantics on DuckDB ------------------------------------------------------------------

def test_integer_division_stays_integer(sales: Lake) -> None:
    assert rows(sales.engine.query("SELECT 5/2")) == [(2,)]
    assert list(sales.engine.query("SELECT 5/2").columns) == ["_col0"]  # Athena's name
    half = sales.engine.query("SELECT quantity / 2 AS half, price / 2 AS p FROM orders "
                              "WHERE orderid = 'a1'")
    assert rows(half) == [(1, 500.0)]


def test_tables_may_be_named_with_their_database_and_catalog(sales: Lake) -> None:
    for name in (f"{sales.database}.orders", f'AwsDataCatalog."{sales.database}"."orders"'):
        assert rows(sales.engine.query(f"SELECT COUNT(*) FROM {name}")) == [(14,)]
    with pytest.raises(QueryError, match="does not exist in Glue database"):
        sales.engine.query("SELECT COUNT(*) FROM other_db.orders")


def test_partitions_come_from_the_keys_as_zero_padded_strings(sales: Lake) -> None:
    frame = sales.engine.query("SELECT DISTINCT datehour FROM orders ORDER BY datehour")
    arrivals = (t(YESTERDAY, 23, 59, 30), t(TODAY, 0, 30), t(TODAY, 0, 45), t(TODAY, 1, 10))
    assert rows(frame) == [(value,) for value in sorted({folder(a) for a in arrivals})]
    assert rows(frame)[0] == (f"{YESTERDAY:%Y-%m-%d}-23",)  # yyyy-MM-dd-HH, as Firehose writes


def test_time_functions_work_in_utc_whatever_the_laptop_zone(
        lake: Lake, monkeypatch: pytest.MonkeyPatch, moto_local: config.Settings) -> None:
    import time

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: a different date most of the day
    time.tzset()
    try:
        engine = LocalAthena(lake.database, moto_local)
        frame = engine.query("SELECT CAST(current_date AS varchar) AS today, "
                             "hour(from_iso8601_timestamp('2026-11-28T23:30:00Z')) AS h")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert rows(frame) == [(datetime.now(UTC).date().isoformat(), 23)]


def test_json_keys_are_matched_without_regard_to_case(lake: Lake) -> None:
    """Firehose's error records use camelCase keys; Athena's JSON SerDe reads them anyway."""
    lake.put("errors/processing-failed/", t(TODAY, 2, 0), [
        {"attemptsMade": 4, "arrivalTimestamp": 1764300000000, "errorCode": "Lambda.X",
         "errorMessage": "bad", "attemptEndingTimestamp": 1764300001000, "rawData": "eyJ9",
         "lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:t"}])
    frame = lake.engine.query("SELECT errorcode, attemptsmade, arrivaltimestamp, datehour "
                              "FROM order_errors")
    assert rows(frame) == [("Lambda.X", 4, 1764300000000, folder(t(TODAY, 2, 0)))]


# --- refusals and errors -------------------------------------------------------------------------

def test_a_function_without_translation_is_refused_by_name(sales: Lake) -> None:
    with pytest.raises(UnsupportedQuery, match=r"Function format_datetime\(\) is not avail"
                       ) as caught:
        sales.engine.query("SELECT format_datetime(from_iso8601_timestamp(placed_at), "
                           "'yyyy-MM-dd') AS d FROM orders")
    assert caught.value.function == "format_datetime"
    assert "date_format" in str(caught.value)


def test_an_unknown_function_is_refused_by_name(sales: Lake) -> None:
    with pytest.raises(UnsupportedQuery, match=r"Function no_such_fn\(\)") as caught:
        sales.engine.query("SELECT no_such_fn(quantity) FROM orders")
    assert caught.value.function == "no_such_fn"


def test_a_syntax_error_gives_its_position(sales: Lake) -> None:
    with pytest.raises(QueryError) as caught:
        sales.engine.query("SELECT product_name FROM orders WHERE")
    assert str(caught.value).startswith("Syntax error at line 1, column 33:")
    with pytest.raises(QueryError, match="Syntax error"):
        sales.engine.query("SELECT 'unclosed FROM orders")


@pytest.mark.parametrize("ddl", [
    "CREATE EXTERNAL TABLE orders (orderid string) LOCATION 's3://b/orders/'",
    "MSCK REPAIR TABLE orders",
    "-- find the new partitions\nmsck repair table orders",
    "ALTER TABLE orders ADD PARTITION (datehour='2026-12-03-17')",
])
def test_table_ddl_is_answered_with_where_local_tables_come_from(lake: Lake, ddl: str) -> None:
    with pytest.raises(UnsupportedQuery) as caught:
        lake.engine.query(ddl)
    assert str(caught.value).startswith("Locally the tables come from Glue, created by the "
                                        "stack from cloudformation/pipeline.yaml")


def test_other_statements_are_refused(lake: Lake) -> None:
    with pytest.raises(UnsupportedQuery, match="SELECT queries only"):
        lake.engine.query("DROP TABLE orders")


def test_unknown_tables_and_columns_are_query_errors(lake: Lake) -> None:
    with pytest.raises(QueryError, match="Table nope does not exist in Glue database gadget_"):
        lake.engine.query("SELECT * FROM nope")
    with pytest.raises(QueryError, match="Column 'colour' could not be resolved"):
        lake.engine.query("SELECT colour FROM orders")
    with pytest.raises(QueryError, match="one SQL statement at a time"):
        lake.engine.query("SELECT 1; SELECT 2")


def test_an_object_that_is_not_json_lines_fails_loudly_naming_it(lake: Lake) -> None:
    lake.put("orders/", t(TODAY, 3, 0), [])
    lake.put("orders/", t(TODAY, 3, 0), [event("g", "Phone", 1, 9.5, t(TODAY, 3, 0), "INSERT",
                                                t(TODAY, 3, 0))])
    key = lake.put("orders/", t(TODAY, 3, 0), [])
    config.client("s3").put_object(Bucket=lake.bucket, Key=key,
                                   Body=b'{"orderid": "x", "quantity": 1}{"orderid": "y"}\n')
    with pytest.raises(QueryError, match="could not run the query") as caught:
        lake.engine.query("SELECT COUNT(*) FROM orders")
    assert f"object s3://{lake.bucket}/{key} of table orders" in str(caught.value)
    config.client("s3").delete_object(Bucket=lake.bucket, Key=key)  # as the message suggests
    assert rows(lake.engine.query("SELECT COUNT(*) FROM orders")) == [(1,)]


def test_objects_of_one_hour_are_read_whole_even_without_a_final_newline(lake: Lake) -> None:
    """The engine reads the objects of a partition together; each must stay whole."""
    when = t(TODAY, 4, 0)
    keys = [lake.put("orders/", when, [event(f"n{i}", "Phone", i, 1.0, when, "INSERT", when)])
            for i in range(1, 4)]
    config.client("s3").put_object(Bucket=lake.bucket, Key=keys[1], Body=json.dumps(
        event("n2", "Phone", 2, 1.0, when, "INSERT", when)).encode())  # no final newline
    frame = lake.engine.query("SELECT orderid, quantity, datehour FROM orders ORDER BY orderid")
    assert rows(frame) == [("n1", 1, folder(when)), ("n2", 2, folder(when)),
                           ("n3", 3, folder(when))]


# --- the S3 cache --------------------------------------------------------------------------------

def test_objects_are_fetched_once_and_new_ones_are_picked_up(own_sales: Lake,
                                                             moto_local: config.Settings) -> None:
    count = "SELECT COUNT(*) AS n FROM orders"
    assert rows(own_sales.engine.query(count)) == [(14,)]
    assert (own_sales.engine.last_fetch.listed, own_sales.engine.last_fetch.fetched) == (4, 4)
    assert rows(own_sales.engine.query(count)) == [(14,)]
    assert (own_sales.engine.last_fetch.fetched, own_sales.engine.last_fetch.cached) == (0, 4)
    own_sales.put("orders/", t(TODAY, 2, 0), [
        event("b1", "Charger", 1, 15.0, t(TODAY, 2, 0), "INSERT", t(TODAY, 2, 0))])
    assert rows(own_sales.engine.query(count)) == [(15,)]
    assert (own_sales.engine.last_fetch.fetched, own_sales.engine.last_fetch.cached) == (1, 4)
    another_kernel = LocalAthena(own_sales.database, moto_local)  # same state folder on disk
    assert rows(another_kernel.query(count)) == [(15,)]
    assert another_kernel.last_fetch.fetched == 0
    orders = another_kernel.tables()["orders"]
    held = [key for segment in another_kernel.cache.segments(orders) for key in segment.objects]
    listed = [key for key, _ in another_kernel.cache.list(orders)]
    assert sorted(held) == sorted(listed) and len(listed) == 5  # each object cached once
    assert len(another_kernel.cache.segments(orders)) == 2  # one per fetch, not one per object


def test_kernels_that_fetched_the_same_objects_at_once_still_count_each_row_once(
        own_sales: Lake, moto_local: config.Settings) -> None:
    count = "SELECT COUNT(*) AS n, COUNT(DISTINCT orderid) AS orders FROM orders"
    first, second = (LocalAthena(own_sales.database, moto_local) for _ in range(2))
    assert rows(first.query(count)) == [(14, 8)]
    orders = second.tables()["orders"]
    # `second` fetched the same objects while `first` did: its segment overlaps first's.
    objects = [(key, first.cache.segments(orders)[0].body(key)) for key, _ in
               second.cache.list(orders)]
    second.cache.write(orders, objects[1:])
    assert len(second.cache.segments(orders)) == 2
    for kernel in (second, LocalAthena(own_sales.database, moto_local)):
        assert rows(kernel.query(count)) == [(14, 8)]
        assert kernel.last_fetch.fetched == 0


def test_a_segment_with_a_deleted_object_is_skipped_and_removed_when_stale(
        own_sales: Lake, moto_local: config.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from workshop.local.athena import segments

    assert rows(own_sales.engine.query("SELECT COUNT(*) FROM orders")) == [(14,)]
    orders = own_sales.engine.tables()["orders"]
    (old,) = own_sales.engine.cache.segments(orders)
    s3 = config.client("s3")
    yesterday = f"orders/datehour={folder(t(YESTERDAY, 23, 59))}/"
    (gone,) = s3.list_objects_v2(Bucket=own_sales.bucket, Prefix=yesterday)["Contents"]
    s3.delete_object(Bucket=own_sales.bucket, Key=gone["Key"])  # its 2 rows go with it
    kernel = LocalAthena(own_sales.database, moto_local)
    assert rows(kernel.query("SELECT COUNT(*) FROM orders")) == [(12,)]
    assert kernel.last_fetch.fetched == 3  # the old segment's other objects, fetched again
    assert old.manifest.exists()  # young: another kernel may be reading it
    monkeypatch.setattr(segments, "STALE_AFTER_SECONDS", 0.0)
    assert rows(LocalAthena(own_sales.database, moto_local).query(
        "SELECT COUNT(*) FROM orders")) == [(12,)]
    assert not old.manifest.exists()
    assert not any(file.path.exists() for file in old.files)


def test_only_partition_folders_are_read_and_deleted_objects_are_forgotten(
        own_sales: Lake) -> None:
    s3 = config.client("s3")
    s3.put_object(Bucket=own_sales.bucket, Key="orders/stray.json", Body=b'{"orderid": "z"}\n')
    s3.put_object(Bucket=own_sales.bucket, Key=f"orders/datehour={folder(TODAY)}/_SUCCESS",
                  Body=b"")
    line = b'{"orderid": "p"}\n'  # folders partition projection does not generate: unseen
    now = datetime.now(UTC)
    for unseen in (f"{YESTERDAY:%Y-%m-%d}-5",  # hour 05, not zero-padded (a wrong layout)
                   f"{now:%Y/%m/%d/%H}",  # another layout
                   f"{now - timedelta(days=7, hours=2):{HOUR_FORMAT}}",  # older than the range
                   f"{now + timedelta(hours=2):{HOUR_FORMAT}}"):  # in the future
        s3.put_object(Bucket=own_sales.bucket, Key=f"orders/datehour={unseen}/f", Body=line)
    s3.put_object(Bucket=own_sales.bucket,
                  Key=f"orders/year={now:%Y}/month={now:%m}/day={now:%d}/hour={now:%H}/f",
                  Body=line)
    assert rows(own_sales.engine.query("SELECT COUNT(*) FROM orders")) == [(14,)]
    yesterday = f"orders/datehour={folder(t(YESTERDAY, 23, 59))}/"
    (gone,) = s3.list_objects_v2(Bucket=own_sales.bucket, Prefix=yesterday)["Contents"]
    s3.delete_object(Bucket=own_sales.bucket, Key=gone["Key"])  # its 2 rows go with it
    assert rows(own_sales.engine.query("SELECT COUNT(*) FROM orders")) == [(12,)]


# --- the aws target ------------------------------------------------------------------------------

def test_a_failed_athena_query_surfaces_athenas_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyathena
    from pyathena.error import OperationalError

    from workshop import stack

    class FailingCursor:
        def __enter__(self) -> FailingCursor:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def execute(self, sql: str) -> FailingCursor:
            raise OperationalError("FAILED: SYNTAX_ERROR: line 1:8: Column 'colour' cannot be "
                                   "resolved")

    class Connection:
        def cursor(self) -> FailingCursor:
            return FailingCursor()

        def close(self) -> None:
            return None

    seen: dict[str, Any] = {}
    monkeypatch.setattr(pyathena, "connect", lambda **kw: seen.update(kw) or Connection())
    monkeypatch.setattr(stack, "outputs", lambda s=None: {
        "AthenaWorkGroupName": "gadget-wg", "GlueDatabaseName": "gadget_db"})
    s = dataclasses.replace(config.settings(), target="aws", region="eu-west-1")
    with pytest.raises(QueryError, match="Column 'colour' cannot be resolved"):
        athena.query("SELECT colour FROM orders", s)
    assert (seen["work_group"], seen["schema_name"], seen["region_name"]) == (
        "gadget-wg", "gadget_db", "eu-west-1")
    assert seen["cursor_class"].__name__ == "PandasCursor"


def test_on_aws_the_statistics_are_what_athena_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyathena

    from workshop import stack

    class Cursor:
        data_scanned_in_bytes = 10_485_760
        engine_execution_time_in_millis = 412

        def __enter__(self) -> Cursor:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def execute(self, sql: str) -> Cursor:
            return self

        def as_pandas(self) -> pd.DataFrame:
            return pd.DataFrame({"n": [3]})

    class Connection:
        def cursor(self) -> Cursor:
            return Cursor()

        def close(self) -> None:
            return None

    monkeypatch.setattr(pyathena, "connect", lambda **kw: Connection())
    monkeypatch.setattr(stack, "outputs", lambda s=None: {
        "AthenaWorkGroupName": "gadget-wg", "GlueDatabaseName": "gadget_db"})
    s = dataclasses.replace(config.settings(), target="aws", region="eu-west-1")
    frame = athena.query("SELECT COUNT(*) AS n FROM orders", s)
    assert statistics(frame) == QueryStatistics(
        partitions=None, data_scanned_in_bytes=10_485_760, engine_execution_time_in_millis=412)
