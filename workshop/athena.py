"""SQL over the orders in S3, on either target: `athena.query(sql)` returns a DataFrame.

On aws the query runs on Athena (pyathena, the stack's workgroup and Glue database); locally it
runs on `workshop.local.engine`, DuckDB reading the same Glue tables from the local S3. The
workshop's own queries are written once, in Athena's SQL, in `workshop/queries/*.sql`, and run
unchanged on both: `athena.run("units_per_product_today")`.
"""

from __future__ import annotations

import threading
from importlib import resources
from typing import TYPE_CHECKING

from workshop.config import Settings, session, settings

if TYPE_CHECKING:
    import pandas as pd

    from workshop.local.engine import LocalAthena


class QueryError(RuntimeError):
    """A query failed; the message is Athena's reason (or the local engine's) and the next step."""


class UnsupportedQuery(QueryError):
    """The local engine cannot run this query faithfully; Athena on the aws target may."""

    def __init__(self, message: str, function: str | None = None) -> None:
        super().__init__(message)
        self.function = function  # the function refused, when one is to blame


def _load_queries() -> dict[str, str]:
    folder = resources.files("workshop") / "queries"
    return {item.name.removesuffix(".sql"): item.read_text(encoding="utf-8")
            for item in sorted(folder.iterdir(), key=lambda i: i.name)
            if item.name.endswith(".sql")}


QUERIES: dict[str, str] = _load_queries()  # name -> Athena SQL, from workshop/queries/*.sql

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
    from workshop import stack
    from workshop.local.engine import LocalAthena

    s = s or settings()
    database = stack.outputs(s)["GlueDatabaseName"]
    with _engines_lock:
        if (s, database) not in _engines:
            _engines[(s, database)] = LocalAthena(database, s)
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
            return cursor.execute(sql).as_pandas()
    except PyAthenaError as error:
        raise QueryError(f"Athena query failed: {error}. Fix the SQL (the reason above is "
                         "Athena's), then run it again.") from error
    finally:
        connection.close()


def query(sql: str, s: Settings | None = None) -> pd.DataFrame:
    """Run one SQL statement (Athena's dialect) on the current target; rows as a DataFrame."""
    s = s or settings()
    if s.is_local:
        return local_engine(s).query(sql)
    return _athena_query(sql, s)


def run(name: str, s: Settings | None = None) -> pd.DataFrame:
    """Run a named workshop query, e.g. run("units_per_product_today")."""
    return query(sql_of(name), s)
