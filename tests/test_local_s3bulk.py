"""The bulk S3 read: GetObject's bytes, for 127.0.0.1 only, and GetObject where it is absent."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator

import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from test_athena import Lake, fill, make_lake, rows
from werkzeug.test import EnvironBuilder

from workshop import athena, config
from workshop.config import LocalModeViolation
from workshop.local.athena.engine import LocalAthena
from workshop.local.aws import s3bulk
from workshop.local.aws.s3bulk import BulkReader, BulkUnavailable, NoSuchBucket


@pytest.fixture(scope="module")
def bulk(moto_local: config.Settings) -> Iterator[config.Settings]:
    """The test session's moto server, with the bulk routes the local AWS process installs."""
    s3bulk.install()
    yield moto_local
    s3bulk.remove()


@pytest.fixture
def bucket(bulk: config.Settings) -> str:
    name = f"bulk-{uuid.uuid4().hex[:12]}"
    config.client("s3").create_bucket(Bucket=name)
    return name


OBJECTS = {  # key -> body: text, binary, empty, no final newline, odd key names, a large one
    "data/year=2026/hour=01/a": b'{"orderid": "a"}\n{"orderid": "b"}\n',
    "data/year=2026/hour=01/every byte": bytes(range(256)) * 3,
    "data/year=2026/hour=02/empty": b"",
    "data/year=2026/hour=02/no-newline": b'{"orderid": "c"}',
    "data/caf\u00e9 & co/k=v?x#y": "na\u00efve \u2713\n".encode(),
    "data/large": b"0123456789abcdef" * (3 << 16),  # 3 MiB
}


def test_bulk_bodies_and_listing_are_those_of_get_object_and_list_objects(bucket: str) -> None:
    s3 = config.client("s3")
    for key, body in OBJECTS.items():
        s3.put_object(Bucket=bucket, Key=key, Body=b"an older version")
        s3.put_object(Bucket=bucket, Key=key, Body=body)  # the latest one is read
    s3.put_object(Bucket=bucket, Key="elsewhere/x", Body=b"not under the prefix")
    reader = BulkReader(config.settings())
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="data/")["Contents"]
    assert reader.list(bucket, "data/") == [(o["Key"], o["Size"]) for o in listed]
    keys = [*OBJECTS, "data/never-written"]
    got = dict(reader.get(bucket, keys))
    assert list(got) == keys
    for key in OBJECTS:
        assert got[key] == s3.get_object(Bucket=bucket, Key=key)["Body"].read(), key
    assert got["data/never-written"] is None
    assert dict(reader.get(bucket, [])) == {}


def test_a_missing_bucket_is_named(bulk: config.Settings) -> None:
    reader = BulkReader(config.settings())
    with pytest.raises(NoSuchBucket):
        reader.list("no-such-bucket-here", "")
    with pytest.raises(NoSuchBucket):
        list(reader.get("no-such-bucket-here", ["k"]))


@pytest.mark.parametrize("peer", ["10.0.0.7", "192.168.1.20", "::1", ""])
def test_the_routes_answer_127_0_0_1_only(bucket: str, peer: str) -> None:
    moto_app = DomainDispatcherApplication.__new__(DomainDispatcherApplication)  # routes first
    config.client("s3").put_object(Bucket=bucket, Key="data/secret", Body=b"secret")
    wanted = b'{"keys": ["data/secret"]}'
    statuses: list[str] = []
    for method, path, data in (("GET", "list", None), ("POST", "get", wanted)):
        environ = EnvironBuilder(method=method, path=s3bulk.ROUTE + path, data=data,
                                 query_string={"bucket": bucket, "prefix": "data/"}).get_environ()
        environ["REMOTE_ADDR"] = peer
        body = b"".join(moto_app(environ, lambda status, _h: statuses.append(status)))
        assert statuses.pop() == "403 Forbidden"
        assert b"secret" not in body and json.loads(body)["code"] == "AccessDenied"


def test_the_reader_refuses_anything_but_the_local_aws() -> None:
    aws = dataclasses.replace(config.Settings(), target="aws")
    with pytest.raises(LocalModeViolation, match="local AWS only"):
        BulkReader(aws)


def test_a_server_without_the_routes_is_recognised(bucket: str) -> None:
    s3bulk.remove()
    try:
        with pytest.raises(BulkUnavailable, match="no bulk S3 routes"):
            BulkReader(config.settings()).list(bucket, "")
    finally:
        s3bulk.install()


# --- the query engine over the bulk routes --------------------------------------------------------

@pytest.fixture
def bulk_sales(bulk: config.Settings) -> Lake:
    return fill(make_lake(bulk))


def test_the_engine_lists_and_fetches_in_bulk_and_answers_as_with_get_object(
        bulk_sales: Lake, bulk: config.Settings) -> None:
    count = "SELECT COUNT(*) AS n FROM orders"
    assert rows(bulk_sales.engine.query(count)) == [(14,)]
    fetch = bulk_sales.engine.last_fetch
    assert (fetch.listed, fetch.fetched, fetch.requests) == (4, 4, 2)  # one list, one get
    assert bulk_sales.engine.cache.bulk is not None
    bulk_sales.engine.query(count)
    assert (bulk_sales.engine.last_fetch.fetched, bulk_sales.engine.last_fetch.requests) == (0, 1)
    plain = LocalAthena(bulk_sales.database, dataclasses.replace(
        bulk, state_dir=bulk.state_dir / "plain"))
    plain.cache.bulk = None  # ListObjectsV2 and GetObject, as without the routes
    for name, sql in athena.QUERIES.items():
        # the same rows (latest_state_per_order has no ORDER BY: its rows come in any order)
        ours, theirs = (frame.sort_values(list(frame.columns), ignore_index=True)
                        for frame in (bulk_sales.engine.query(sql), plain.query(sql)))
        assert ours.equals(theirs), name
    assert plain.last_fetch.requests == 1  # one ListObjectsV2 page, all cached already


def test_the_engine_falls_back_to_get_object_without_the_routes(bulk: config.Settings) -> None:
    lake = fill(make_lake(bulk))
    s3bulk.remove()
    try:
        assert rows(lake.engine.query("SELECT COUNT(*) FROM orders")) == [(14,)]
        assert lake.engine.cache.bulk is None
        assert lake.engine.last_fetch.requests == 5  # one list page, four GetObject
    finally:
        s3bulk.install()
