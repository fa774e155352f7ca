"""SQL over the orders in S3, on either target: `athena.query(sql)` returns a DataFrame.

On aws the query runs on Athena (pyathena, the stack's workgroup and Glue database); locally it
runs on `workshop.local.athena.engine`, DuckDB reading the same Glue tables from the local S3. The
workshop's own queries are written once, in Athena's SQL, in `workshop/queries/*.sql`, and run
unchanged on both: `athena.run("units_per_product_today")`. Every DataFrame returned carries
what the query cost in `frame.attrs["statistics"]` (QueryStatistics): on aws what Athena
reports, locally how many projected partitions the query made Athena enumerate, each one an S3
LIST on AWS, and the bytes of the objects in them.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from workshop.config import Settings, session, settings

# The errors and statistics of a query, re-exported: athena.QueryError, athena.QueryStatistics.
from workshop.errors import QueryError, UnsupportedQuery  # noqa: F401
from workshop.records.statistics import MB, QueryStatistics  # noqa: F401

if TYPE_CHECKING:
    import pandas as pd

    from workshop.local_aws import LocalAthena


def _load_queries() -> dict[str, str]:
    folder = resources.files("workshop") / "queries"
    return {item.name.removesuffix(".sql"): item.read_text(encoding="utf-8")
            for item in sorted(folder.iterdir(), key=lambda i: i.name)
            if item.name.endswith(".sql")}


QUERIES: dict[str, str] = _load_queries()  # name -> Athena SQL, from workshop/queries/*.sql

# The most projected partitions one query should make Athena enumerate. Athena's guidance:
# "Configure a range that matches your data as closely as possible so that Athena looks only for
# existing partitions" (https://docs.aws.amazon.com/athena/latest/ug/partition-projection-
# kinesis-firehose-example-using-the-date-type.html), because empty projected partitions are
# still listed: "if more than half of your projected partitions are empty, it is recommended
# that you use traditional partitions"
# (https://docs.aws.amazon.com/athena/latest/ug/partition-projection.html). A stack's orders live
# a week (the bucket's lifecycle rule, as the tables' projection range NOW-7DAYS,NOW): one
# partition per hour of that week and the current hour is every partition that can hold data.
# A query may read all of them once (a question about all time); one that enumerates more asks
# S3 about hours no order can be in. tests/test_athena.py holds the template to this figure.
MAX_PROJECTED_PARTITIONS = 7 * 24 + 1
ARRIVAL_SLACK = timedelta(hours=1)  # a laptop clock ahead of AWS's, for arrived_since


def statistics(frame: pd.DataFrame) -> QueryStatistics:
    """The statistics a query's DataFrame carries (empty ones for a frame made otherwise)."""
    found = frame.attrs.get("statistics")
    return found if isinstance(found, QueryStatistics) else QueryStatistics()

_engines: dict[tuple[Settings, str], LocalAthena] = {}
_engines_lock = threading.Lock()


def sql_of(name: str) -> str:
    """The SQL text of a named workshop query."""
    try:
        return QUERIES[name]
    except KeyError:
        raise QueryError(f"No workshop query named {name!r}; choose one of: "
                         f"{', '.join(QUERIES)}.") from None


def local_engine(s: Settings | None = None) -> LocalAthena:
    """The local engine for the deployed stack's Glue database (one per process, reused)."""
    from workshop import local_aws, stack

    s = s or settings()
    database = stack.outputs(s)["GlueDatabaseName"]
    with _engines_lock:
        if (s, database) not in _engines:
            _engines[(s, database)] = local_aws.query_engine(database, s)
        return _engines[(s, database)]


def _athena_query(sql: str, s: Settings) -> pd.DataFrame:
    """Run on Athena through pyathena's PandasCursor, in the stack's workgroup and database."""
    from pyathena import connect
    from pyathena.error import Error as PyAthenaError
    from pyathena.pandas.cursor import PandasCursor

    from workshop import stack

    found = stack.outputs(s)
    connection = connect(session=session(s), region_name=s.region,
                         work_group=found["AthenaWorkGroupName"],
                         schema_name=found["GlueDatabaseName"], cursor_class=PandasCursor)
    try:
        with connection.cursor() as cursor:
            frame = cursor.execute(sql).as_pandas()
            frame.attrs["statistics"] = QueryStatistics(
                partitions=None,  # Athena computes them and does not say how many
                data_scanned_in_bytes=getattr(cursor, "data_scanned_in_bytes", None),
                engine_execution_time_in_millis=getattr(
                    cursor, "engine_execution_time_in_millis", None))
            return frame
    except PyAthenaError as error:
        raise QueryError(f"Athena query failed: {error}. Fix the SQL (the reason above is "
                         "Athena's), then run it again.") from error
    finally:
        connection.close()


def query(sql: str, s: Settings | None = None) -> pd.DataFrame:
    """Run one SQL statement (Athena's dialect) on the current target; rows as a DataFrame.

    `frame.attrs["statistics"]` is the query's QueryStatistics.
    """
    s = s or settings()
    if s.is_local:
        return local_engine(s).query(sql)
    return _athena_query(sql, s)


@lru_cache(maxsize=4)
def _partition_column(table_id: str) -> tuple[str, str]:
    """(partition column, its strftime format) of a Glue table of the template with one date
    partition column (OrdersTable, ErrorsTable)."""
    from workshop import template
    from workshop.records import projection

    table = template.resource(table_id)["Properties"]["TableInput"]
    [column] = [key["Name"] for key in table["PartitionKeys"]]
    fmt = projection.java_to_strftime(table["Parameters"][f"projection.{column}.format"])
    return column, fmt


def arrived_since(when: datetime | str, table_id: str = "OrdersTable",
                  slack: timedelta = ARRIVAL_SLACK) -> str:
    """A WHERE condition that keeps the partitions Firehose has filled since `when` (UTC).

    Firehose names an object's partition by the arrival time of its oldest record, in UTC
    (https://docs.aws.amazon.com/firehose/latest/dev/s3-prefixes.html), and an order arrives
    after it is placed: `athena.query(f"... WHERE placed_at >= '{since}' AND
    {athena.arrived_since(since)}")` reads the hours since `since` (and `slack` before, for a
    clock ahead of AWS's) instead of the whole week. The partition values sort as times do.
    """
    column, fmt = _partition_column(table_id)
    moment = datetime.fromisoformat(when.replace("Z", "+00:00")) if isinstance(when, str) else when
    moment = moment.astimezone(UTC) if moment.tzinfo else moment  # naive: taken as UTC
    return f"{column} >= '{(moment - slack).strftime(fmt)}'"


def run(name: str, s: Settings | None = None) -> pd.DataFrame:
    """Run a named workshop query, e.g. run("units_per_product_today")."""
    return query(sql_of(name), s)
