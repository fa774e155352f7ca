"""workshop.delivered: the one reader of what Firehose wrote, its prefixes from the template."""

from __future__ import annotations

import uuid

import pytest

from workshop import delivered, template
from workshop.config import client


@pytest.fixture
def bucket(moto_local):
    name = f"delivered-{uuid.uuid4().hex[:8]}"
    client("s3", moto_local).create_bucket(Bucket=name)
    return name


def put(bucket: str, key: str, body: bytes, s) -> None:
    client("s3", s).put_object(Bucket=bucket, Key=key, Body=body)


def test_the_prefixes_are_the_folders_the_template_gives_firehose():
    s3 = template.resource("DeliveryStream")["Properties"]["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"].startswith(delivered.orders_prefix())
    assert s3["ErrorOutputPrefix"].startswith(delivered.errors_prefix())
    assert (delivered.orders_prefix(), delivered.errors_prefix()) == ("orders/", "errors/")
    assert delivered.orders_prefix("ParquetDeliveryStream") == "parquet/"


def test_objects_are_listed_oldest_first_and_lines_parsed_blank_ones_skipped(bucket, moto_local):
    put(bucket, "orders/datehour=2026-12-05-10/b", b'{"n": 2}\n\n{"n": 3}\n', moto_local)
    put(bucket, "orders/datehour=2026-12-05-09/a", b'{"n": 1}\n', moto_local)
    put(bucket, "errors/x", b'{"n": 9}\n', moto_local)
    keys = delivered.object_keys(bucket, "orders/", moto_local)
    assert keys == ["orders/datehour=2026-12-05-09/a", "orders/datehour=2026-12-05-10/b"]
    assert [line["n"] for line in delivered.read_lines(bucket, keys, moto_local)] == [1, 2, 3]


def test_a_reader_fetches_each_object_once_and_keeps_what_s3_listed(bucket, moto_local):
    s3 = client("s3", moto_local)
    fetched: list[str] = []

    def count(params, **_):
        fetched.append(params["Key"])

    s3.meta.events.register("provide-client-params.s3.GetObject", count)
    try:
        reader = delivered.BucketReader(bucket, moto_local)
        put(bucket, "orders/a", b'{"n": 1}\n', moto_local)
        assert [obj["Key"] for obj in reader.new_objects("orders/")] == ["orders/a"]
        put(bucket, "orders/b", b'{"n": 2}\n', moto_local)
        assert [line["n"] for line in reader.lines("orders/")] == [1, 2]
        assert reader.new_objects("orders/") == []
    finally:
        s3.meta.events.unregister("provide-client-params.s3.GetObject", count)
    assert sorted(fetched) == ["orders/a", "orders/b"]
    assert reader.listed["orders/b"]["Size"] == len(b'{"n": 2}\n')
