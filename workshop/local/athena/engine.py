"""The local Athena: Glue tables over the local S3, queried with DuckDB in Athena's SQL.

moto stores the Glue tables the template declares but its Athena answers every query with an
empty success. This engine reads each table's definition from Glue (columns, types, partition
keys, location), mirrors the table's objects from S3 into a cache on disk (each object is
fetched once, later queries fetch only new keys; workshop.local.athena.segments), loads their rows
into an in-memory DuckDB table (again only the new objects), and runs the query there after sqlglot
has translated it from Athena's dialect, with the table schema at hand so that `5/2` stays 2.

Each answer carries its QueryStatistics (`frame.attrs["statistics"]`): how many partitions the
tables' partition projection makes Athena enumerate for the query (workshop.local.athena.pruning),
the bytes of the objects in those partitions (what Athena would scan of JSON) and DuckDB's time.

It refuses what it cannot run faithfully, never answering with wrong rows: a function sqlglot
cannot translate raises `UnsupportedQuery` naming it, and so does DDL such as
`CREATE EXTERNAL TABLE`, because locally the tables come from Glue, through the template. Where
sqlglot's DuckDB SQL would mean something else than Athena's (split_part past the end, date_diff,
a subscript past the end...), workshop.local.athena.sql rewrites the call into a DuckDB macro that
keeps Athena's meaning, or refuses it by name (docs/local-sql.md lists both).

Why a cache and not DuckDB reading the local S3 through pyathena's fsspec filesystem: fsspec
fetches every object again on each query, and moto spends milliseconds per request; the cache
fetches each object once, and on the local AWS in bulk (workshop.local.aws.s3bulk): one request
lists the table's objects and one per 32 MB reads them, instead of one GetObject per object
(measured: docs/performance.md#the-query-engines-cache).
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from botocore.exceptions import ClientError
from sqlglot import exp
from sqlglot.errors import ErrorLevel, OptimizeError, ParseError, TokenError, UnsupportedError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from workshop.config import Settings, client, settings
from workshop.errors import QueryError, UnsupportedQuery
from workshop.local.athena import pruning, sql
from workshop.local.athena.glue import GlueTable, spelling_of
from workshop.local.athena.segments import FetchStats, Segment, SegmentCache
from workshop.records.statistics import QueryStatistics

log = logging.getLogger("workshop.local.athena.engine")

READ_DIALECT = "athena"
LOCAL_DDL = re.compile(  # after any leading comments
    r"^(\s|--[^\n]*(\n|$)|/\*.*?\*/)*(MSCK\s+REPAIR\s+TABLE|CREATE\s+(EXTERNAL\s+)?TABLE|"
    r"ALTER\s+TABLE\s+\S+\s+(ADD|DROP)\s+PARTITION)", re.IGNORECASE | re.DOTALL)
DDL_MESSAGE = (
    "Locally the tables come from Glue, created by the stack from cloudformation/pipeline.yaml, "
    "and partitions are read from the S3 keys: there is nothing to create or repair. Query the "
    "tables as they are (e.g. SELECT * FROM orders LIMIT 10); to change a table, change the "
    "template and run `workshop deploy`.")
ROWS_SCHEMA = '"_loaded_rows"'  # DuckDB schema of the loaded tables; views name them as Glue does
MISSING_FUNCTION = re.compile(r'Function with name "?([\w.]+)"? does not exist', re.IGNORECASE)
DUCKDB_REFUSALS = (  # DuckDB's error on a construct the translation could not see coming
    ("UNNEST requires a single list", "UNNEST of a map"),
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _struct(pairs: Iterable[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in pairs) + "}"


@dataclass(frozen=True)
class _Translation:
    """A statement as the engine runs it: the Glue tables it reads, its DuckDB SQL, and each
    read of a projected table with what prunes its partitions."""

    used: list[str]
    duck_sql: str
    scans: tuple[pruning.Scan, ...]


@dataclass
class _Loaded:
    """A Glue table as loaded into DuckDB: its definition and the segments its rows came from."""

    table: GlueTable
    segments: dict[str, Segment] = field(default_factory=dict)

    def sizes(self) -> Iterator[tuple[str, int]]:
        """(S3 key, size) of every object loaded."""
        for key, size, _ in self.objects():
            yield key, size

    def objects(self) -> Iterator[tuple[str, int, str | None]]:
        """(S3 key, size, cached file or None when empty) of every object loaded."""
        for segment in self.segments.values():
            for key, where in segment.objects.items():
                yield key, where[3], str(segment.files[where[0]].path) if where[0] >= 0 else None


@lru_cache(maxsize=4096)
def _chunk_bytes(path: str) -> tuple[tuple[str, int], ...]:
    """(column, compressed bytes) of every column chunk of a Parquet file (its footer only)."""
    metadata = pq.read_metadata(path)
    return tuple((chunk.path_in_schema.lower(), chunk.total_compressed_size)
                 for group in range(metadata.num_row_groups)
                 for chunk in (metadata.row_group(group).column(i)
                               for i in range(metadata.num_columns)))


def column_bytes(path: str, columns: frozenset[str]) -> int:
    """The bytes of a Parquet file's column chunks for the given columns: what Athena reads."""
    return sum(size for column, size in _chunk_bytes(path) if column in columns)


class LocalAthena:
    """Athena on this machine for one Glue database: Glue tables, local S3, DuckDB.

    Each table is loaded into an in-memory DuckDB table, segment by segment
    (workshop.local.athena.segments): a query reads only the objects that arrived since the last one
    (and drops the rows of deleted objects), so a notebook querying a growing table pays for the
    new data only.
    """

    def __init__(self, database: str, s: Settings | None = None) -> None:
        self.settings = s or settings()
        self.database = database.lower()
        self.cache = SegmentCache(self.settings.state_dir / "query-cache", self.settings)
        self.last_fetch = FetchStats()
        self._loaded: dict[str, _Loaded] = {}
        self._translations: dict[tuple[str, frozenset[GlueTable]], _Translation] = {}
        self._lock = threading.Lock()
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone='UTC'")  # Athena works in UTC; a laptop may not
        # Athena promises no row order without ORDER BY; not keeping it loads JSON faster
        # (measured: docs/performance.md#the-query-engines-cache).
        self._con.execute("SET preserve_insertion_order = false")
        self._con.execute(f"CREATE SCHEMA {_quote(self.database)}")
        self._con.execute(f"CREATE SCHEMA {ROWS_SCHEMA}")
        for macro in sql.MACROS:  # Athena's meaning where DuckDB's own functions differ
            self._con.execute(macro)
        # Turns results into pandas (_frame). A database of its own: preserve_insertion_order
        # is a setting of the whole database, and this one must keep it (on, the default).
        self._pandas = duckdb.connect()
        self._pandas.execute("SET TimeZone='UTC'")  # the zone .df() gives TIMESTAMPTZ columns

    def close(self) -> None:
        """Release the DuckDB connections (and the memory of the loaded tables)."""
        self._con.close()
        self._pandas.close()

    def tables(self) -> dict[str, GlueTable]:
        """The Glue tables of the database, read fresh (the template may have changed them)."""
        glue = client("glue", self.settings)
        found: dict[str, GlueTable] = {}
        try:
            for page in glue.get_paginator("get_tables").paginate(DatabaseName=self.database):
                for table in page.get("TableList", []):
                    parsed = GlueTable.from_glue(self.database, table)
                    found[parsed.name] = parsed
        except ClientError as error:
            if error.response["Error"]["Code"] == "EntityNotFoundException":
                raise QueryError(
                    f"Glue database {self.database} does not exist on the local target: deploy "
                    "the stack first: workshop deploy") from error
            raise
        return found

    def query(self, sql: str) -> pd.DataFrame:
        """Run one Athena SQL statement locally and return its rows as a DataFrame.

        `frame.attrs["statistics"]` holds the query's QueryStatistics.
        """
        tables = self.tables()
        translation = self._translate(sql, tables)
        with self._lock:
            self.last_fetch = FetchStats()
            now = datetime.now(UTC)  # the projection's NOW for this query
            for name in translation.used:
                self._refresh(tables[name])
            started = time.perf_counter()
            frame = self._run(translation.duck_sql)
            millis = round((time.perf_counter() - started) * 1000)
            frame.attrs["statistics"] = self._statistics(translation.scans, tables, now, millis)
            return frame

    def transpile(self, sql: str) -> str:
        """The DuckDB SQL this engine would run for an Athena statement (to see the translation)."""
        return to_duckdb(parse(sql), self.database, self.tables(), pretty=True)

    def _translate(self, sql: str, tables: dict[str, GlueTable]) -> _Translation:
        """Tables read, DuckDB SQL and projected reads of a statement; remembered, as notebooks
        repeat queries."""
        memo = (sql, frozenset(tables.values()))
        if memo not in self._translations:
            statement = parse(sql)
            used = referenced_tables(statement, self.database, tables)
            tree = qualified(statement, self.database, tables)
            if len(self._translations) > 256:
                self._translations.clear()
            self._translations[memo] = _Translation(
                used, generate(tree), pruning.scans(tree, self.database, tables))
        return self._translations[memo]

    def _statistics(self, scans: tuple[pruning.Scan, ...], tables: dict[str, GlueTable],
                    now: datetime, millis: int) -> QueryStatistics:
        """Partitions the query's projected reads enumerate, and the bytes of their objects."""
        partitions: int | None = 0
        scanned = 0
        for scan in scans:
            table = tables[scan.table]
            enumerated = pruning.enumerate_scan(scan, table, self._con, now)
            count = enumerated.partitions
            partitions = None if count is None or partitions is None else partitions + count
            if enumerated.kept is not None and (loaded := self._loaded.get(table.name)):
                kept = [values for _, values in enumerated.kept]
                for key, size, path in loaded.objects():
                    match = table.key_pattern.match(key)
                    if match and all(match.group(f"p{i}") in values
                                     for i, values in enumerate(kept)):
                        # Athena reads a JSON object whole, and of a Parquet object only the
                        # column chunks the query uses.
                        scanned += (column_bytes(path, scan.columns)
                                    if table.format == "parquet" and path else size)
        return QueryStatistics(partitions=partitions, data_scanned_in_bytes=scanned,
                               engine_execution_time_in_millis=millis)

    def _refresh(self, table: GlueTable) -> None:
        """Bring the table's rows up to date: load new segments, fetch what no segment holds.

        Reloads from scratch when a loaded object was deleted or rewritten. Every batch is
        fetched first and then DuckDB loads all new segments in one statement: on 2 cores,
        parsing each batch while the next was fetched made the two compete for the cores, and
        a cold query took longer (measured: docs/performance.md#the-query-engines-cache).
        """
        started = time.perf_counter()
        stats = FetchStats()
        listed = dict(sorted(self.cache.list(table, stats)))
        loaded = self._loaded.get(table.name)
        if loaded is None or loaded.table != table or any(
                listed.get(key) != size for key, size in loaded.sizes()):
            # New, redefined, or objects deleted or rewritten (Firehose only ever adds keys).
            loaded = self._create(table)
        cached, missing = self.cache.plan(table, listed, loaded.segments)
        new = list(cached)
        try:
            for segment, gone in self.cache.fetch(table, missing, listed, stats):
                for key in gone:
                    del listed[key]  # deleted since it was listed
                if segment is not None:
                    new.append(segment)
            stats.seconds = time.perf_counter() - started
            self._insert(table, new)
        except duckdb.Error as error:
            self._create(table)  # no half-loaded table: the next query loads it all again
            raise self._load_error(table, new, error) from error
        except BaseException:
            self._create(table)  # some segments may be in: load them all again next time
            raise
        finally:
            stats.listed, stats.cached = len(listed), len(listed) - stats.fetched
            self.last_fetch.add(stats)
        loaded.segments.update((segment.id, segment) for segment in new)
        log.debug("%s: %s; %d segments loaded", table.name, stats, len(new))

    def _insert(self, table: GlueTable, segments: list[Segment]) -> None:
        """Insert the rows of the segments' files into the table, one statement per spelling
        (JSON) or one for every file (Parquet)."""
        rows = f"{ROWS_SCHEMA}.{_quote(table.name)}"
        if table.format == "parquet":
            paths = [str(file.path) for segment in segments for file in segment.files]
            if paths:
                selected = [_quote(name) for name in table.schema]
                self._con.execute(f"INSERT INTO {rows} SELECT {', '.join(selected)} "
                                  f"FROM {read_parquet(table, paths)}")
            return
        by_spelling: dict[tuple[str, ...], list[str]] = {}
        for file in (file for segment in segments for file in segment.files):
            by_spelling.setdefault(file.spelling, []).append(str(file.path))
        for spelling, paths in by_spelling.items():
            selected = [_quote(key) for key in spelling]
            selected += [_quote(name) for name, _ in table.partitions]
            self._con.execute(f"INSERT INTO {rows} SELECT {', '.join(selected)} "
                              f"FROM {read_json(table, spelling, paths)}")

    def _create(self, table: GlueTable) -> _Loaded:
        """An empty DuckDB table for the Glue table's rows, and its view under the Glue name."""
        rows = f"{ROWS_SCHEMA}.{_quote(table.name)}"
        columns = ", ".join(f"{_quote(c)} {t}" for c, t in table.schema.items())
        self._con.execute(f"CREATE OR REPLACE TABLE {rows} ({columns})")
        names = ", ".join(_quote(c) for c in table.schema)
        self._con.execute(f"CREATE OR REPLACE VIEW {_quote(self.database)}."
                          f"{_quote(table.name)} AS SELECT {names} FROM {rows}")
        self._loaded[table.name] = _Loaded(table)
        return self._loaded[table.name]

    def _load_error(self, table: GlueTable, segments: list[Segment],
                    error: duckdb.Error) -> QueryError:
        """The object that DuckDB could not read, found by reading the new ones one by one."""
        with tempfile.TemporaryDirectory(prefix="workshop-check-") as folder:
            for segment in segments:
                for key in segment.objects:
                    body = segment.body(key)
                    path = Path(folder, key[len(table.prefix):])  # keeps the partition folders
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(body)
                    reader = read_parquet(table, [str(path)]) if table.format == "parquet" \
                        else read_json(table, spelling_of(table, body[:body.find(b"\n") + 1]),
                                       [str(path)])
                    try:
                        self._con.execute(f"SELECT COUNT(*) FROM {reader}")
                    except duckdb.Error as culprit:
                        text = str(culprit).splitlines()[0].replace(str(path), key)
                        return QueryError(
                            f"The local engine could not run the query: object "
                            f"s3://{table.bucket}/{key} of table {table.name} is not "
                            f"{'Parquet' if table.format == 'parquet' else 'JSON lines'} of its "
                            f"columns: {text}. Fix or delete that object.")
        return _duckdb_error(error, f"loading {len(segments)} segments of {table.name}")

    def _run(self, duck_sql: str) -> pd.DataFrame:
        """Execute the DuckDB SQL, with Athena's result types and column names."""
        try:
            relation = self._con.sql(duck_sql)
            # DuckDB sums integers into HUGEINT; Athena (Trino) into BIGINT.
            if any(str(t) == "HUGEINT" for t in relation.types):
                relation = relation.project(", ".join(
                    f"CAST({_quote(c)} AS BIGINT) AS {_quote(c)}" if str(t) == "HUGEINT"
                    else _quote(c) for c, t in zip(relation.columns, relation.types, strict=True)))
            frame = self._frame(relation)
        except duckdb.Error as error:
            raise _duckdb_error(error, duck_sql) from error
        # Athena names an unnamed column _col0, sqlglot's qualify names it _col_0.
        return frame.rename(columns=lambda c: re.sub(r"^_col_(\d+)$", r"_col\1", str(c)))

    def _frame(self, relation: duckdb.DuckDBPyRelation) -> pd.DataFrame:
        """The relation's rows as DuckDB's .df() gives them, with the query run once.

        .df() makes a Python object of every string, slow on a large result; through Arrow the
        string columns take a fraction of that time (measured:
        docs/performance.md#the-query-engines-cache). The other columns still go through .df(),
        for its nullable integer and boolean types, on a connection that keeps row order: the
        query's, which does not, put the rows of a result of several Arrow batches back in
        another order than the strings beside them.
        """
        names, types = relation.columns, [str(t) for t in relation.types]
        result = relation.arrow()
        table = result if isinstance(result, pa.Table) else result.read_all()
        table = table.rename_columns([f"c{i}" for i in range(len(names))])
        others = [i for i, t in enumerate(types) if t != "VARCHAR"]
        rest = duckdb.from_arrow(table.select(others), connection=self._pandas).df() if others \
            else None
        columns = [table.column(i).to_pandas() if t == "VARCHAR" else rest[f"c{i}"]
                   for i, t in enumerate(types)]
        frame = pd.concat(columns, axis=1, ignore_index=True) if columns else pd.DataFrame()
        frame.columns = _unique(names)
        return frame


def _unique(names: list[str]) -> list[str]:
    """Column names as DuckDB's .df() makes them unique: a repeated name gets _1, _2, ..."""
    seen: set[str] = set()
    unique = []
    for name in names:
        candidate, number = name, 0
        while candidate in seen:
            number += 1
            candidate = f"{name}_{number}"
        seen.add(candidate)
        unique.append(candidate)
    return unique


def read_parquet(table: GlueTable, files: list[str]) -> str:
    """read_parquet over a table's Parquet files, its columns matched by name."""
    options = [f"[{', '.join(_literal(f) for f in files)}]", "union_by_name = true"]
    if table.partitions:
        options += ["hive_partitioning = true", f"hive_types = {_struct(table.partitions)}",
                    "hive_types_autocast = false"]
    return f"read_parquet({', '.join(options)})"


def read_json(table: GlueTable, spelling: tuple[str, ...], files: list[str]) -> str:
    """read_json over files whose JSON keys are spelled alike, typed as Glue declares."""
    columns = _struct((key, t) for key, (_, t) in zip(spelling, table.columns, strict=True))
    options = [f"[{', '.join(_literal(f) for f in files)}]", "format = 'newline_delimited'",
               f"columns = {columns}"]
    if table.partitions:
        options += ["hive_partitioning = true", f"hive_types = {_struct(table.partitions)}",
                    "hive_types_autocast = false"]
    return f"read_json({', '.join(options)})"


def parse(text: str) -> exp.Expression:
    """Parse one Athena statement; refuse what the local engine must not run."""
    if LOCAL_DDL.match(text):
        raise UnsupportedQuery(DDL_MESSAGE)
    try:
        statements = [s for s in sqlglot.parse(text, read=sql.PARSE_DIALECT) if s is not None]
    except ParseError as error:
        raise _syntax_error(error) from error
    except TokenError as error:
        raise QueryError(f"Syntax error: {error} (an unclosed quote?)") from error
    if len(statements) != 1:
        raise QueryError(f"Send one SQL statement at a time, as Athena takes them (got "
                         f"{len(statements)}).")
    statement = statements[0]
    if isinstance(statement, exp.Create):
        raise UnsupportedQuery(DDL_MESSAGE)
    if not isinstance(statement, exp.Query):
        kind = statement.key.upper() if not isinstance(statement, exp.Command) else statement.name
        raise UnsupportedQuery(
            f"The local engine answers SELECT queries only; {kind} statements run on Athena "
            "(WORKSHOP_TARGET=aws). The table definitions are in Glue: see `workshop outputs`.")
    return statement


def _syntax_error(error: ParseError) -> QueryError:
    """Where the parser stopped (line, column of the token's start) and why."""
    first = error.errors[0] if error.errors else {}
    near = first.get("highlight") or ""
    line, column = first.get("line", 0), first.get("col", 0)
    start = column - len(near) + 1 if near and column >= len(near) else column
    why = re.sub(r"<class '[\w.]+\.(\w+)'>", r"\1", str(first.get("description", error)))
    return QueryError(f"Syntax error at line {line}, column {start}: {why} (near {near!r})")


def referenced_tables(statement: exp.Expression, database: str,
                      tables: dict[str, GlueTable]) -> list[str]:
    """The Glue tables a statement reads; an unknown table is Athena's TABLE_NOT_FOUND."""
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    used: list[str] = []
    for table in statement.find_all(exp.Table):
        name, db = table.name.lower(), table.db.lower()
        if not db and name in ctes:
            continue
        catalog = table.catalog.lower()
        if (catalog and catalog != "awsdatacatalog") or (db and db != database) or (
                name not in tables):
            known = ", ".join(sorted(tables)) or "none yet"
            raise QueryError(
                f"Table {table.sql(READ_DIALECT)} does not exist in Glue database {database} "
                f"(its tables: {known}).")
        if name not in used:
            used.append(name)
    return used


def unsupported_functions(statement: exp.Expression) -> list[str]:
    """Functions sqlglot does not know in Athena's dialect (and workshop.local.athena.sql does not
    translate), so cannot run faithfully."""
    names = [f.name.lower() for f in statement.find_all(exp.Anonymous, exp.AnonymousAggFunc)]
    return list(dict.fromkeys(n for n in names if n not in sql.TRANSLATED))


def to_duckdb(statement: exp.Expression, database: str, tables: dict[str, GlueTable],
              pretty: bool = False) -> str:
    """Translate a parsed Athena query to DuckDB SQL, typed by the tables' schema."""
    return generate(qualified(statement, database, tables), pretty)


def qualified(statement: exp.Expression, database: str,
              tables: dict[str, GlueTable]) -> exp.Expression:
    """The parsed query with every column named by its table, and typed by the tables' schema."""
    statement = sql.prepare(statement.copy())
    names = unsupported_functions(statement)
    if names:
        raise sql.refusal(names[0])
    # sqlglot refuses a database without tables; a constant SELECT needs none.
    schema = {database: {name: t.schema for name, t in tables.items()}} if tables else {}
    for table in statement.find_all(exp.Table):
        table.set("catalog", None)  # AwsDataCatalog, Athena's name for Glue: one catalog here
    try:
        tree = qualify(statement, dialect=READ_DIALECT, db=database, schema=schema)
        # Types let the DuckDB generator keep Trino semantics, e.g. integer division.
        return sql.qualified_names(annotate_types(tree, schema=schema, dialect=READ_DIALECT))
    except OptimizeError as error:
        raise QueryError(f"{error} (Athena would answer COLUMN_NOT_FOUND or similar).") from error


def generate(tree: exp.Expression, pretty: bool = False) -> str:
    """DuckDB SQL for a qualified query; a part without a translation is refused."""
    tree = sql.translate(tree.copy())  # a copy: the caller still prunes partitions on `tree`
    try:
        return tree.sql(dialect="duckdb", pretty=pretty, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as error:
        reason = str(error).splitlines()[0].rstrip(".")  # sqlglot repeats it, one per line
        raise UnsupportedQuery(
            f"The local engine cannot translate part of this query to DuckDB: {reason}. Run it "
            "on Athena (WORKSHOP_TARGET=aws) or rewrite that part.") from error


def _duckdb_error(error: duckdb.Error, duck_sql: str) -> QueryError:
    """Athena's error for DuckDB's: a refusal where a macro or DuckDB names one."""
    text = str(error).splitlines()[0]
    if refused := sql.runtime_refusal(str(error)):
        return refused
    if failure := sql.runtime_failure(str(error)):
        return QueryError(f"The query fails, as it does on Athena: {failure}. Fix the query, "
                          "then run it again.")
    for clue, construct in DUCKDB_REFUSALS:
        if clue in text:
            return sql.refusal(construct)
    if isinstance(error, duckdb.CatalogException) and (match := MISSING_FUNCTION.search(text)):
        return sql.refusal(match.group(1))
    log.debug("DuckDB failed on: %s", duck_sql)
    return QueryError(f"The local engine could not run the query: {text}")
