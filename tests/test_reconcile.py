"""workshop.reconcile: every order accounted for, reading each output object only once."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from workshop import delivered, reconcile
from workshop.config import client


@pytest.fixture
def bucket(moto_local):
    name = f"reconcile-{uuid.uuid4().hex[:8]}"
    client("s3", moto_local).create_bucket(Bucket=name)
    return name


def put_lines(bucket, key, lines, s):
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    client("s3", s).put_object(Bucket=bucket, Key=key, Body=body)


def order(orderid, event_type="INSERT"):
    return {"orderid": orderid, "event_type": event_type, "event_time": "t", "quantity": 1}


def error_record(orderid):
    raw = {"dynamodb": {"Keys": {"orderid": {"S": orderid}}}}
    return {"errorCode": "Lambda.ProcessingFailed",
            "rawData": base64.b64encode(json.dumps(raw).encode()).decode()}


def test_every_order_is_delivered_failed_or_named_missing(bucket, moto_local):
    put_lines(bucket, "orders/year=2026/a", [order("1"), order("2"), order("2")], moto_local)
    put_lines(bucket, "errors/processing-failed/b", [error_record("3")], moto_local)
    result = reconcile.reconcile(["1", "2", "3", "4"], bucket, moto_local)
    assert (result.delivered, result.failed, result.duplicates) == (2, 1, 1)
    assert result.missing == ["4"]
    assert str(result).startswith("generated 4 = delivered 2 + failed 1 (+ 1 duplicate lines)")


def test_a_reader_fetches_each_object_once_across_polls(bucket, moto_local):
    s3 = client("s3", moto_local)
    fetched = []

    def count(params, **_):
        fetched.append(params["Key"])

    s3.meta.events.register("provide-client-params.s3.GetObject", count)
    try:
        reader = delivered.BucketReader(bucket, moto_local)
        put_lines(bucket, "orders/year=2026/a", [order("1")], moto_local)
        assert reconcile.reconcile(["1", "2"], bucket, moto_local, reader=reader).missing == ["2"]
        put_lines(bucket, "orders/year=2026/b", [order("2")], moto_local)
        assert reconcile.reconcile(["1", "2"], bucket, moto_local, reader=reader).complete
    finally:
        s3.meta.events.unregister("provide-client-params.s3.GetObject", count)
    assert sorted(fetched) == ["orders/year=2026/a", "orders/year=2026/b"]
