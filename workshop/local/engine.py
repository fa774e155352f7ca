"""The local Athena: Glue tables over the local S3, queried with DuckDB in Athena's SQL.

moto stores the Glue tables the template declares but its Athena answers every query with an
empty success. This engine reads each table's definition from Glue (columns, types, partition
keys, location), mirrors the table's objects from S3 into a cache on disk (each object is
fetched once; later queries fetch only new keys), loads their rows into an in-memory DuckDB
table (again only the new objects), and runs the query there after sqlglot has translated it
from Athena's dialect, with the table schema at hand so that `5/2` stays 2.

It refuses what it cannot run faithfully, never answering with wrong rows: a function sqlglot
cannot translate raises `UnsupportedQuery` naming it, and so does DDL such as
`CREATE EXTERNAL TABLE`, because locally the tables come from Glue, through the template.

Why a cache and not DuckDB reading the local S3 through pyathena's fsspec filesystem: measured
on 2,000 objects (benchmarks/bench_query.py), fsspec fetched every object again on each query
(tens of seconds here, moto spends milliseconds per request); the cache fetches each object once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import sqlglot
from botocore.exceptions import ClientError
from sqlglot import exp
from sqlglot.errors import ErrorLevel, OptimizeError, ParseError, TokenError, UnsupportedError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from workshop.athena import QueryError, UnsupportedQuery
from workshop.config import Settings, client, settings

log = logging.getLogger("workshop.local.engine")

READ_DIALECT = "athena"
FETCH_WORKERS = 8
GLUE_TO_DUCKDB = {
    "string": "VARCHAR", "int": "INTEGER", "integer": "INTEGER", "bigint": "BIGINT",
    "smallint": "SMALLINT", "tinyint": "TINYINT", "double": "DOUBLE", "float": "FLOAT",
    "boolean": "BOOLEAN", "timestamp": "TIMESTAMP", "date": "DATE",
}
LOCAL_DDL = re.compile(  # after any leading comments
    r"^(\s|--[^\n]*(\n|$)|/\*.*?\*/)*(MSCK\s+REPAIR\s+TABLE|CREATE\s+(EXTERNAL\s+)?TABLE|"
    r"ALTER\s+TABLE\s+\S+\s+(ADD|DROP)\s+PARTITION)", re.IGNORECASE | re.DOTALL)
DDL_MESSAGE = (
    "Locally the tables come from Glue, created by the stack from cloudformation/pipeline.yaml, "
    "and partitions are read from the S3 keys: there is nothing to create or repair. Query the "
    "tables as they are (e.g. SELECT * FROM orders LIMIT 10); to change a table, change the "
    "template and run `workshop deploy`.")
FUNCTION_HINTS = {
    "format_datetime": "use date_format(ts, '%Y-%m-%d %H:%i') (MySQL-style pattern) instead",
    "to_iso8601": "use date_format(ts, '%Y-%m-%dT%H:%i:%sZ') instead",
}
ROWS_SCHEMA = '"_loaded_rows"'  # DuckDB schema of the loaded tables; views name them as Glue does
MISSING_FUNCTION = re.compile(r'Function with name "?([\w.]+)"? does not exist', re.IGNORECASE)


@dataclass(frozen=True)
class GlueTable:
    """One Glue table as the local engine reads it: DuckDB types, S3 location, JSON key names."""

    database: str
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type) of the data columns
    partitions: tuple[tuple[str, str], ...]  # (name, DuckDB type) of the partition keys
    bucket: str
    prefix: str  # the key prefix of the location, ending in "/" (or empty)
    json_keys: tuple[tuple[str, str], ...] = ()  # SerDe "mapping.<column>" -> JSON key
    projection: tuple[tuple[str, str], ...] = ()  # the table's projection.* parameters

    @classmethod
    def from_glue(cls, database: str, table: dict[str, Any]) -> GlueTable:
        """Read a `glue.get_table(...)["Table"]` answer."""
        name = table["Name"].lower()
        sd = table.get("StorageDescriptor", {})
        location = sd.get("Location", "")
        match = re.fullmatch(r"s3a?n?://([^/]+)/?(.*)", location)
        if not match:
            raise QueryError(f"Glue table {database}.{name} has location {location!r}, not an "
                             "s3:// URL; fix the table in the template and run `workshop deploy`.")
        prefix = match.group(2)
        prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        serde = sd.get("SerdeInfo", {}).get("Parameters", {}) or {}
        mappings = tuple(sorted((k.split(".", 1)[1].lower(), v) for k, v in serde.items()
                                if k.lower().startswith("mapping.")))
        return cls(
            database=database, name=name,
            columns=tuple((c["Name"].lower(), duckdb_type(c["Type"], c["Name"], name))
                          for c in sd.get("Columns", [])),
            partitions=tuple((c["Name"].lower(), duckdb_type(c["Type"], c["Name"], name))
                             for c in table.get("PartitionKeys", [])),
            bucket=match.group(1), prefix=prefix, json_keys=mappings,
            projection=tuple(sorted((k.lower(), str(v)) for k, v in
                                    (table.get("Parameters") or {}).items()
                                    if k.lower().startswith("projection."))))

    @property
    def schema(self) -> dict[str, str]:
        """Every column, partition keys last (as Athena lists them), with its DuckDB type."""
        return dict(self.columns + self.partitions)

    @property
    def key_pattern(self) -> re.Pattern[str]:
        """Keys of data objects: Hive-style partition folders, no hidden (_ or .) files."""
        folders = "".join(f"{re.escape(p)}=(?P<p{i}>[^/]+)/"
                          for i, (p, _) in enumerate(self.partitions))
        return re.compile(f"^{re.escape(self.prefix)}{folders}[^/._][^/]*$")

    def visible(self, key: str) -> bool:
        """Would Athena read this object? Its folders must be partitions the projection makes."""
        match = self.key_pattern.match(key)
        if match is None:
            return False
        params = dict(self.projection)
        if params.get("projection.enabled", "false").lower() != "true":
            return True
        return all(_projected(params, name, match.group(f"p{i}"))
                   for i, (name, _) in enumerate(self.partitions))


def _projected(params: dict[str, str], name: str, value: str) -> bool:
    """Is `value` one of the values Athena's partition projection generates for `name`?"""
    kind = params.get(f"projection.{name}.type", "").lower()
    if kind == "integer":
        low, _, high = params.get(f"projection.{name}.range", "").partition(",")
        digits = int(params.get(f"projection.{name}.digits", "0") or 0)
        if not value.isdigit() or not (low.strip() and high.strip()):
            return False
        return int(low) <= int(value) <= int(high) and value == str(int(value)).zfill(digits)
    if kind == "enum":
        return value in params.get(f"projection.{name}.values", "").split(",")
    return True  # date and injected projections: read whatever is there


def duckdb_type(glue_type: str, column: str, table: str) -> str:
    """The DuckDB type for a Glue (Hive) column type, e.g. decimal(10,2) -> DECIMAL(10,2)."""
    t = glue_type.strip().lower()
    if t in GLUE_TO_DUCKDB:
        return GLUE_TO_DUCKDB[t]
    if match := re.fullmatch(r"decimal\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)", t):
        return f"DECIMAL({match.group(1)},{match.group(2)})"
    if t == "decimal":
        return "DECIMAL(10,0)"  # Hive's default precision and scale
    if re.fullmatch(r"(var)?char\s*\(\s*\d+\s*\)", t):
        return "VARCHAR"
    if match := re.fullmatch(r"array\s*<(.+)>", t):
        return duckdb_type(match.group(1), column, table) + "[]"
    raise UnsupportedQuery(
        f"Column {column} of table {table} has Glue type {glue_type}, which the local engine "
        "does not read; run this query on Athena (WORKSHOP_TARGET=aws) or declare a simpler "
        "type in the template.")


@dataclass
class FetchStats:
    """What bringing the tables' objects up to date cost: listed, fetched and cached objects."""

    listed: int = 0
    fetched: int = 0
    cached: int = 0
    bytes_fetched: int = 0
    seconds: float = 0.0

    def add(self, other: FetchStats) -> None:
        """Accumulate another table's numbers into these."""
        for name in ("listed", "fetched", "cached", "bytes_fetched", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class ObjectCache:
    """S3 objects mirrored under <root>/<bucket>/<key>; each key is fetched once."""

    root: Path
    settings: Settings  # which local S3 to read
    workers: int = FETCH_WORKERS

    def path(self, bucket: str, key: str) -> Path:
        """Where the cached copy of an object lives."""
        return self.root / bucket / key

    def list(self, table: GlueTable) -> list[tuple[str, int]]:
        """(key, size) of every data object under the table's location."""
        s3 = client("s3", self.settings)
        found: list[tuple[str, int]] = []
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(
                    Bucket=table.bucket, Prefix=table.prefix):
                found.extend((o["Key"], o["Size"]) for o in page.get("Contents", [])
                             if table.visible(o["Key"]))
        except ClientError as error:
            if error.response["Error"]["Code"] == "NoSuchBucket":
                raise QueryError(
                    f"Bucket {table.bucket} of table {table.name} does not exist: deploy the "
                    "stack first: workshop deploy") from error
            raise
        return found

    def _fetch(self, bucket: str, key: str) -> int:
        target = self.path(bucket, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        body = client("s3", self.settings).get_object(Bucket=bucket, Key=key)["Body"].read()
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        partial.write_bytes(body)
        os.replace(partial, target)  # atomic: a reader never sees half an object
        return len(body)

    def sync(self, table: GlueTable) -> tuple[dict[str, int], FetchStats]:
        """Fetch the table's objects not cached yet; return {key: size} of all of them."""
        started = time.perf_counter()
        objects = sorted(self.list(table))
        missing = []
        for key, size in objects:
            path = self.path(table.bucket, key)
            # Firehose never rewrites a key, so a cached file of the listed size is current.
            if not (path.is_file() and path.stat().st_size == size):
                missing.append(key)
        fetched = 0
        if missing:
            with ThreadPoolExecutor(min(self.workers, len(missing))) as pool:
                fetched = sum(pool.map(lambda k: self._fetch(table.bucket, k), missing))
        stats = FetchStats(listed=len(objects), fetched=len(missing),
                           cached=len(objects) - len(missing), bytes_fetched=fetched,
                           seconds=time.perf_counter() - started)
        return dict(objects), stats


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _struct(pairs: Iterable[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in pairs) + "}"


@dataclass
class _Loaded:
    """A Glue table as loaded into DuckDB: its definition and the objects its rows came from."""

    table: GlueTable
    files: dict[str, tuple[int, int]]  # S3 key -> (size, file id stored with each row)
    next_id: int = 0


class LocalAthena:
    """Athena on this machine for one Glue database: Glue tables, local S3, DuckDB.

    Each table is loaded into an in-memory DuckDB table, object by object: a query reads only
    the objects that arrived since the last one (and drops the rows of deleted objects), so a
    notebook querying a growing table pays for the new data only.
    """

    def __init__(self, database: str, s: Settings | None = None) -> None:
        self.settings = s or settings()
        self.database = database.lower()
        self.cache = ObjectCache(self.settings.state_dir / "query-cache", self.settings)
        self.last_fetch = FetchStats()
        self._loaded: dict[str, _Loaded] = {}
        self._translations: dict[tuple[str, frozenset[GlueTable]], tuple[list[str], str]] = {}
        self._lock = threading.Lock()
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone='UTC'")  # Athena works in UTC; a laptop may not
        self._con.execute(f"CREATE SCHEMA {_quote(self.database)}")
        self._con.execute(f"CREATE SCHEMA {ROWS_SCHEMA}")

    def close(self) -> None:
        """Release the DuckDB connection (and the memory of the loaded tables)."""
        self._con.close()

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
        """Run one Athena SQL statement locally and return its rows as a DataFrame."""
        tables = self.tables()
        used, duck_sql = self._translate(sql, tables)
        with self._lock:
            self.last_fetch = FetchStats()
            for name in used:
                self._refresh(tables[name])
            return self._run(duck_sql)

    def transpile(self, sql: str) -> str:
        """The DuckDB SQL this engine would run for an Athena statement (to see the translation)."""
        return to_duckdb(parse(sql), self.database, self.tables(), pretty=True)

    def _translate(self, sql: str, tables: dict[str, GlueTable]) -> tuple[list[str], str]:
        """(tables read, DuckDB SQL) for a statement; remembered, as notebooks repeat queries."""
        memo = (sql, frozenset(tables.values()))
        if memo not in self._translations:
            statement = parse(sql)
            used = referenced_tables(statement, self.database, tables)
            if len(self._translations) > 256:
                self._translations.clear()
            self._translations[memo] = (used, to_duckdb(statement, self.database, tables))
        return self._translations[memo]

    def _refresh(self, table: GlueTable) -> None:
        """Fetch the table's new objects, load their rows, drop the rows of deleted objects."""
        objects, stats = self.cache.sync(table)
        self.last_fetch.add(stats)
        loaded = self._loaded.get(table.name)
        if loaded is None or loaded.table != table:
            loaded = self._create(table)
        stale = [key for key, (size, _) in loaded.files.items() if objects.get(key) != size]
        new = [key for key, size in objects.items()
               if key not in loaded.files or loaded.files[key][0] != size]
        if not stale and not new:
            return
        ids = {key: loaded.next_id + n for n, key in enumerate(new)}
        rows = f"{ROWS_SCHEMA}.{_quote(table.name)}"
        try:
            self._con.execute("BEGIN TRANSACTION")
            if stale:
                gone = ", ".join(str(loaded.files[key][1]) for key in stale)
                self._con.execute(f"DELETE FROM {rows} WHERE _file IN ({gone})")
            if new:
                self._insert(table, rows, {self.cache.path(table.bucket, k): i
                                           for k, i in ids.items()})
            self._con.execute("COMMIT")
        except duckdb.Error as error:
            self._con.execute("ROLLBACK")
            raise _duckdb_error(error, f"loading {len(new)} objects of {table.name}") from error
        for key in stale:
            del loaded.files[key]
        loaded.files.update({key: (objects[key], ids[key]) for key in new})
        loaded.next_id += len(new)
        log.debug("%s: %s; %d objects loaded, %d dropped", table.name, stats, len(new), len(stale))

    def _create(self, table: GlueTable) -> _Loaded:
        """An empty DuckDB table for the Glue table's rows, and its view under the Glue name."""
        rows = f"{ROWS_SCHEMA}.{_quote(table.name)}"
        columns = ", ".join(f"{_quote(c)} {t}" for c, t in table.schema.items())
        self._con.execute(f"CREATE OR REPLACE TABLE {rows} ({columns}, _file INTEGER)")
        names = ", ".join(_quote(c) for c in table.schema)
        self._con.execute(f"CREATE OR REPLACE VIEW {_quote(self.database)}."
                          f"{_quote(table.name)} AS SELECT {names} FROM {rows}")
        self._loaded[table.name] = _Loaded(table, {})
        return self._loaded[table.name]

    def _insert(self, table: GlueTable, rows: str, files: dict[Path, int]) -> None:
        """Load objects with read_json, the Glue types and Hive partitions, tagged by file id."""
        groups: dict[tuple[str, ...], list[Path]] = {}
        for path in files:
            groups.setdefault(key_spelling(table, path), []).append(path)
        for spelling, paths in groups.items():
            ids = ", ".join(f"({_literal(str(p))}, {files[p]})" for p in paths)
            self._con.execute(f"CREATE OR REPLACE TEMP TABLE _new_files AS "
                              f"SELECT * FROM (VALUES {ids}) AS f(path, id)")
            selected = [f"r.{_quote(key)}" for key in spelling]
            selected += [f"r.{_quote(name)}" for name, _ in table.partitions]
            self._con.execute(
                f"INSERT INTO {rows} SELECT {', '.join(selected)}, f.id "
                f"FROM {read_json(table, spelling, [str(p) for p in paths])} AS r "
                f"JOIN _new_files AS f ON r.filename = f.path")

    def _run(self, duck_sql: str) -> pd.DataFrame:
        """Execute the DuckDB SQL, with Athena's result types and column names."""
        try:
            relation = self._con.sql(duck_sql)
            # DuckDB sums integers into HUGEINT; Athena (Trino) into BIGINT.
            if any(str(t) == "HUGEINT" for t in relation.types):
                relation = relation.project(", ".join(
                    f"CAST({_quote(c)} AS BIGINT) AS {_quote(c)}" if str(t) == "HUGEINT"
                    else _quote(c) for c, t in zip(relation.columns, relation.types, strict=True)))
            frame = relation.df()
        except duckdb.Error as error:
            raise _duckdb_error(error, duck_sql) from error
        # Athena names an unnamed column _col0, sqlglot's qualify names it _col_0.
        return frame.rename(columns=lambda c: re.sub(r"^_col_(\d+)$", r"_col\1", str(c)))


def read_json(table: GlueTable, spelling: tuple[str, ...], files: list[str]) -> str:
    """read_json over files whose JSON keys are spelled alike, typed as Glue declares."""
    columns = _struct((key, t) for key, (_, t) in zip(spelling, table.columns, strict=True))
    options = [f"[{', '.join(_literal(f) for f in files)}]", "format = 'newline_delimited'",
               f"columns = {columns}", "filename = true"]
    if table.partitions:
        options += ["hive_partitioning = true", f"hive_types = {_struct(table.partitions)}",
                    "hive_types_autocast = false"]
    return f"read_json({', '.join(options)})"


def key_spelling(table: GlueTable, path: Path) -> tuple[str, ...]:
    """The JSON key of each column in this file: Athena's JSON SerDe ignores the key's case.

    DuckDB's read_json matches keys exactly, so the first record tells how they are spelled
    (Firehose's error records say attemptsMade where the Glue column is attemptsmade).
    """
    mapped = dict(table.json_keys)
    with path.open("rb") as handle:
        first = handle.readline()
    try:
        record = json.loads(first or b"{}")
    except ValueError:
        record = {}  # DuckDB reports the bad line, with its file, when it reads it
    keys = list(record) if isinstance(record, dict) else []
    by_lower = {k.lower(): k for k in keys}
    return tuple(mapped.get(name) or (name if name in keys else by_lower.get(name, name))
                 for name, _ in table.columns)


def parse(sql: str) -> exp.Expression:
    """Parse one Athena statement; refuse what the local engine must not run."""
    if LOCAL_DDL.match(sql):
        raise UnsupportedQuery(DDL_MESSAGE)
    try:
        statements = [s for s in sqlglot.parse(sql, read=READ_DIALECT) if s is not None]
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
    """Functions sqlglot does not know in Athena's dialect, so cannot translate faithfully."""
    names = [f.name.lower() for f in statement.find_all(exp.Anonymous, exp.AnonymousAggFunc)]
    return list(dict.fromkeys(names))


def _unsupported_function(name: str) -> UnsupportedQuery:
    hint = FUNCTION_HINTS.get(name.lower(), "rewrite the query without it")
    return UnsupportedQuery(
        f"Function {name}() is not available in the local engine: it has no faithful DuckDB "
        f"translation, so it is refused rather than risk wrong rows. {hint[0].upper()}{hint[1:]}, "
        "or run the query on Athena (WORKSHOP_TARGET=aws).", function=name)


def to_duckdb(statement: exp.Expression, database: str, tables: dict[str, GlueTable],
              pretty: bool = False) -> str:
    """Translate a parsed Athena query to DuckDB SQL, typed by the tables' schema."""
    names = unsupported_functions(statement)
    if names:
        raise _unsupported_function(names[0])
    schema = {database: {name: t.schema for name, t in tables.items()}}
    statement = statement.copy()
    for table in statement.find_all(exp.Table):
        table.set("catalog", None)  # AwsDataCatalog, Athena's name for Glue: one catalog here
    try:
        tree = qualify(statement, dialect=READ_DIALECT, db=database, schema=schema)
        # Types let the DuckDB generator keep Trino semantics, e.g. integer division.
        tree = annotate_types(tree, schema=schema, dialect=READ_DIALECT)
    except OptimizeError as error:
        raise QueryError(f"{error} (Athena would answer COLUMN_NOT_FOUND or similar).") from error
    try:
        return tree.sql(dialect="duckdb", pretty=pretty, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as error:
        raise UnsupportedQuery(
            f"The local engine cannot translate part of this query to DuckDB: {error}. Run it on "
            "Athena (WORKSHOP_TARGET=aws) or rewrite that part.") from error


def _duckdb_error(error: duckdb.Error, duck_sql: str) -> QueryError:
    text = str(error).splitlines()[0]
    if isinstance(error, duckdb.CatalogException) and (match := MISSING_FUNCTION.search(text)):
        return _unsupported_function(match.group(1))
    log.debug("DuckDB failed on: %s", duck_sql)
    return QueryError(f"The local engine could not run the query: {text}")
