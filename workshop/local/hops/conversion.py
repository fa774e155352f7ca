"""Firehose's record format conversion, locally: JSON records to one Parquet object per flush.

A delivery stream with a DataFormatConversionConfiguration deserializes each record (after the
Lambda processor) with the OpenX JSON SerDe, by the columns of the Glue table its
SchemaConfiguration names, and serializes the batch with the Parquet SerDe
(https://docs.aws.amazon.com/firehose/latest/dev/record-format-conversion.html). As the OpenX
SerDe does, keys match columns without regard to case, a missing key is NULL and a key the
table does not declare is left out; a value that does not fit its column's type fails that
record alone, which goes to the error output under `format-conversion-failed`, in the format of
https://docs.aws.amazon.com/firehose/latest/dev/record-format-conversion-error-handling.html.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from workshop.errors import WorkshopError

ERROR_OUTPUT_TYPE = "format-conversion-failed"
MALFORMED = "DataFormatConversion.MalformedData"
INTS = {"tinyint": (pa.int8(), 8), "smallint": (pa.int16(), 16), "int": (pa.int32(), 32),
        "integer": (pa.int32(), 32), "bigint": (pa.int64(), 64)}
FLOATS = {"double": pa.float64(), "float": pa.float32()}
COMPRESSION = {"SNAPPY": "snappy", "GZIP": "gzip", "UNCOMPRESSED": "none"}


class ConversionError(WorkshopError):
    """A delivery stream's conversion cannot be carried out as configured."""


@dataclass(frozen=True)
class Column:
    """One column of the Glue table, with the Arrow type it is written as."""

    name: str
    glue_type: str
    arrow_type: pa.DataType


def columns(glue_columns: list[dict[str, Any]]) -> list[Column]:
    """The Glue table's columns as Parquet will hold them; a type not read here is refused."""
    found = []
    for column in glue_columns:
        kind = str(column["Type"]).lower()
        if kind in INTS:
            arrow = INTS[kind][0]
        elif kind in FLOATS:
            arrow = FLOATS[kind]
        elif kind in ("string", "varchar", "char") or kind.startswith(("varchar(", "char(")):
            arrow = pa.string()
        elif kind == "boolean":
            arrow = pa.bool_()
        else:
            raise ConversionError(f"column {column['Name']} is {kind}: the local conversion "
                                  "writes string, boolean, integer and floating types only")
        found.append(Column(column["Name"], kind, arrow))
    return found


def _value(raw: Any, column: Column) -> Any:
    """A JSON value as the column holds it; ValueError when it does not fit the column."""
    if raw is None:
        return None
    kind = column.glue_type
    if kind in INTS:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"{column.name}: {raw!r} is not an integer ({kind})")
        bits = INTS[kind][1]
        if not -(2 ** (bits - 1)) <= raw < 2 ** (bits - 1):
            raise ValueError(f"{column.name}: {raw} does not fit {kind}")
        return raw
    if kind in FLOATS:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise ValueError(f"{column.name}: {raw!r} is not a number ({kind})")
        return float(raw)
    if kind == "boolean":
        if not isinstance(raw, bool):
            raise ValueError(f"{column.name}: {raw!r} is not a boolean")
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"{column.name}: {raw!r} is not a string")
    return raw


def row(data: bytes, table_columns: list[Column]) -> dict[str, Any]:
    """One record's values by column; ValueError when it is not a JSON object that fits."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    by_name = {str(key).lower(): value for key, value in document.items()}  # case-insensitive
    return {c.name: _value(by_name.get(c.name.lower()), c) for c in table_columns}


def parquet(rows: list[dict[str, Any]], table_columns: list[Column], compression: str) -> bytes:
    """The rows as one Parquet file, compressed as the serializer is configured."""
    schema = pa.schema([pa.field(c.name, c.arrow_type) for c in table_columns])
    table = pa.Table.from_pylist(rows, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression=COMPRESSION.get(compression.upper(), "snappy"))
    return buffer.getvalue()


@dataclass(frozen=True)
class Converter:
    """A delivery stream's conversion, as configured, with the table it reads columns from."""

    database: str
    table: str
    region: str
    catalog_id: str
    compression: str
    glue_columns: Callable[[], list[dict[str, Any]]]  # the table's columns, read at each flush

    @classmethod
    def from_destination(cls, destination: dict[str, Any], region: str,
                         glue_columns: Callable[[str, str], list[dict[str, Any]]]
                         ) -> Converter | None:
        """The conversion a destination configures, or None when it converts nothing."""
        config = destination.get("DataFormatConversionConfiguration") or {}
        if not config or str(config.get("Enabled", True)).lower() == "false":
            return None
        output = (config.get("OutputFormatConfiguration") or {}).get("Serializer") or {}
        if "ParquetSerDe" not in output:
            raise ConversionError("the local conversion writes Parquet only (ParquetSerDe)")
        schema = config.get("SchemaConfiguration") or {}
        database, table = schema["DatabaseName"], schema["TableName"]
        return cls(database, table, schema.get("Region", region), str(schema.get("CatalogId", "")),
                   str(output["ParquetSerDe"].get("Compression", "SNAPPY")),
                   lambda: glue_columns(database, table))

    def convert(self, records: list[tuple[Any, bytes]]
                ) -> tuple[bytes | None, list[tuple[Any, bytes, str]]]:
        """(the Parquet object of the records that fit, or None; (record, data, why) of the
        others). `records` are (record, data) pairs; the record is the caller's own."""
        table_columns = columns(self.glue_columns())
        rows, failed = [], []
        for record, data in records:
            try:
                rows.append(row(data, table_columns))
            except ValueError as error:
                failed.append((record, data, str(error)))
        return (parquet(rows, table_columns, self.compression) if rows else None), failed

    def error_record(self, arrival_ms: int, data: bytes, sequence_number: str,
                     message: str) -> dict[str, Any]:
        """A record of the error output for a record that did not convert."""
        arn = f"arn:aws:glue:{self.region}:{self.catalog_id}:catalog"
        return {"attemptsMade": 1, "arrivalTimestamp": arrival_ms, "ErrorCode": MALFORMED,
                "ErrorMessage": message, "attemptEndingTimestamp": int(time.time() * 1000),
                "rawData": base64.b64encode(data).decode("ascii"),
                "sequenceNumber": sequence_number, "subSequenceNumber": 0,
                "dataCatalogTable": {"catalogId": self.catalog_id, "databaseName": self.database,
                                     "tableName": self.table, "region": self.region,
                                     "versionId": "LATEST", "catalogArn": arn}}
