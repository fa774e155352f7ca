"""Queries on the Parquet copy: the local engine reads the Glue table's Parquet objects, gives
the same rows as on the JSON copy, and counts what Athena bills of a columnar file: the column
chunks of the columns the query uses, not the whole object."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import wait_for
from tests.test_athena import PROJECTION, folder
from tests.test_local_pipeline import make_orders, write_burst
from workshop import athena, columnar, config
from workshop.delivered import object_keys
from workshop.local.athena.engine import LocalAthena

HOUR = datetime.now(UTC) - timedelta(hours=1)
SCHEMA = pa.schema([("orderid", pa.string()), ("product_name", pa.string()),
                    ("quantity", pa.int32()), ("price", pa.float64())])


@pytest.fixture
def parquet_lake(moto_local):
    """A bucket and a Glue database with one Parquet table, projected as the template's."""
    suffix = uuid.uuid4().hex[:8]
    bucket, database = f"pq-{suffix}", f"pq_{suffix}"
    config.client("s3").create_bucket(Bucket=bucket)
    glue = config.client("glue")
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(DatabaseName=database, TableInput={
        "Name": "orders_parquet", "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", **PROJECTION},
        "PartitionKeys": [{"Name": "datehour", "Type": "string"}],
        "StorageDescriptor": {
            "Columns": [{"Name": f.name, "Type": {"string": "string", "int32": "int",
                                                  "double": "double"}[str(f.type)]}
                        for f in SCHEMA],
            "Location": f"s3://{bucket}/parquet/",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "SerdeInfo": {"SerializationLibrary":
                          "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}})
    return bucket, LocalAthena(database, moto_local)


def put_parquet(bucket: str, rows: list[dict]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), buffer, compression="snappy")
    key = f"parquet/datehour={folder(HOUR)}/orders-to-parquet-1-{uuid.uuid4()}.parquet"
    config.client("s3").put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    return buffer.getvalue()


def chunks(data: bytes, columns: set[str]) -> int:
    """By hand: the compressed bytes of the named columns' chunks, from the file's footer."""
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    return sum(metadata.row_group(g).column(c).total_compressed_size
               for g in range(metadata.num_row_groups) for c in range(metadata.num_columns)
               if metadata.row_group(g).column(c).path_in_schema in columns)


def test_a_query_scans_only_the_column_chunks_it_uses(parquet_lake):
    bucket, engine = parquet_lake
    rows = [{"orderid": f"o{n}", "product_name": ["Phone", "Laptop"][n % 2], "quantity": n,
             "price": n + 0.5} for n in range(500)]
    first, second = put_parquet(bucket, rows[:300]), put_parquet(bucket, rows[300:])
    frame = engine.query("SELECT product_name, SUM(quantity) AS units FROM orders_parquet "
                         "GROUP BY product_name ORDER BY product_name")
    assert frame.to_dict("list") == {"product_name": ["Laptop", "Phone"],
                                     "units": [sum(range(1, 500, 2)), sum(range(0, 500, 2))]}
    stats = athena.statistics(frame)
    wanted = {"product_name", "quantity"}
    assert stats.data_scanned_in_bytes == chunks(first, wanted) + chunks(second, wanted)
    assert stats.data_scanned_in_bytes < len(first) + len(second)  # never the whole objects
    star = athena.statistics(engine.query("SELECT * FROM orders_parquet"))
    assert star.data_scanned_in_bytes == chunks(first, set(SCHEMA.names)) + chunks(
        second, set(SCHEMA.names))
    # COUNT(*) needs no column: the row counts are in the footers.
    assert athena.statistics(engine.query(
        "SELECT COUNT(*) AS n FROM orders_parquet")).data_scanned_in_bytes == 0


def test_both_copies_of_a_stack_answer_alike_and_parquet_scans_less(fresh_stack):
    s, found = fresh_stack
    write_burst(s, found["TableName"], make_orders(40, start=100))
    bucket = found["BucketName"]
    wait_for(lambda: object_keys(bucket, "parquet/", s) and object_keys(bucket, "orders/", s),
             60, "both copies in S3")
    wait_for(lambda: len(athena.query("SELECT orderid FROM orders_parquet", s)) == 40, 30,
             "40 rows in the Parquet copy")
    assert columnar.same_answers("units per product", s)
    frame = columnar.compare(s=s)
    scanned = frame.pivot_table(index=["question", "partition filter"], columns="table",
                                values="MB scanned")
    assert (scanned["Parquet"] < scanned["JSON"]).all()
    assert set(frame["billed MB"]) == {10}  # every query is billed the 10 MB minimum here
    assert frame.groupby(["question", "partition filter"])["rows"].nunique().eq(1).all()
