"""A Glue table as the local engine reads it: DuckDB column types, S3 location, JSON key names.

moto stores the tables the template declares; the engine reads them back with
`GlueTable.from_glue` and needs three things from each: the DuckDB type of every column, which S3
keys hold its rows (the location, Hive partition folders, partition projection: see
workshop.records.projection), and how the JSON keys of its objects are spelled (Athena's JSON SerDe
ignores their case, DuckDB does not).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from workshop.errors import QueryError, UnsupportedQuery
from workshop.records import projection

GLUE_TO_DUCKDB = {
    "string": "VARCHAR", "int": "INTEGER", "integer": "INTEGER", "bigint": "BIGINT",
    "smallint": "SMALLINT", "tinyint": "TINYINT", "double": "DOUBLE", "float": "FLOAT",
    "boolean": "BOOLEAN", "timestamp": "TIMESTAMP", "date": "DATE",
}

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
    format: str = "json"  # "json" (JSON lines) or "parquet", by the table's SerDe

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
                                    if k.lower().startswith("projection."))),
            format="parquet" if "parquet" in " ".join(
                (sd.get("SerdeInfo", {}).get("SerializationLibrary", ""),
                 sd.get("InputFormat", ""))).lower() else "json")

    @property
    def schema(self) -> dict[str, str]:
        """Every column, partition keys last (as Athena lists them), with its DuckDB type."""
        return dict(self.columns + self.partitions)

    @cached_property
    def key_pattern(self) -> re.Pattern[str]:
        """Keys of data objects: Hive-style partition folders, no hidden (_ or .) files."""
        folders = "".join(f"{re.escape(p)}=(?P<p{i}>[^/]+)/"
                          for i, (p, _) in enumerate(self.partitions))
        return re.compile(f"^{re.escape(self.prefix)}{folders}[^/._][^/]*$")

    @cached_property
    def params(self) -> dict[str, str]:
        """The table's projection.* parameters, as a dict."""
        return dict(self.projection)

    @cached_property
    def _judged(self) -> _Judged:
        """Partition folder -> is it one the projection makes (filled by `visible`)."""
        return _Judged()

    def visible(self, key: str, now: datetime | None = None) -> bool:
        """Would Athena read this object? Its folders must be partitions the projection makes.

        Called for every listed key: the pattern is compiled once and each folder is judged
        once per second, since judging every key cost every query time and a table has far
        fewer folders than keys (measured: docs/performance.md#the-query-engines-cache);
        a date projection's range moves with NOW, so a judgement holds for that second only.
        """
        match = self.key_pattern.match(key)
        if match is None:
            return False
        if not projection.enabled(self.params):
            return True
        when = now or datetime.now(UTC)
        judged = self._judged
        if judged.second != (second := int(when.timestamp())):
            judged.second, judged.folders = second, {}
        folder = key[:key.rfind("/") + 1]
        known = judged.folders.get(folder)
        if known is None:
            try:
                known = all(projection.projected(self.params, name, match.group(f"p{i}"), when)
                            for i, (name, _) in enumerate(self.partitions))
            except projection.ProjectionError as error:
                raise QueryError(
                    f"Glue table {self.database}.{self.name}: {error}. Fix the table's "
                    "partition projection in the template and run `workshop deploy`.") from None
            judged.folders[folder] = known
        return known


@dataclass
class _Judged:
    """Which partition folders the projection makes, judged at one second."""

    second: int = -1
    folders: dict[str, bool] = field(default_factory=dict)


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


def spelling_of(table: GlueTable, first_line: bytes) -> tuple[str, ...]:
    """The JSON key of each column in an object: Athena's JSON SerDe ignores the key's case.

    DuckDB's read_json matches keys exactly, so the first record tells how they are spelled
    (Firehose's error records say attemptsMade where the Glue column is attemptsmade).
    """
    mapped = dict(table.json_keys)
    try:
        record = json.loads(first_line or b"{}")
    except ValueError:
        record = {}  # DuckDB reports the bad line, with its object, when it reads it
    keys = list(record) if isinstance(record, dict) else []
    by_lower = {k.lower(): k for k in keys}
    return tuple(mapped.get(name) or (name if name in keys else by_lower.get(name, name))
                 for name, _ in table.columns)
