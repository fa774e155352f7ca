"""What the pipeline delivered to S3: the one reader of the objects Firehose wrote.

The prefixes come from the template's delivery stream (the folders of its Prefix and
ErrorOutputPrefix before their first `!{...}` expression), so they are written once, in
cloudformation/pipeline.yaml. Firehose never rewrites an object, so a reader that remembers what it
fetched asks S3 only for the keys it has not seen. reconcile, doctor, latency and show all read the
bucket through here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from workshop import template
from workshop.config import Settings, client

DELIVERY_STREAM = "DeliveryStream"  # the template's JSON delivery stream (logical ID)


def _static_part(prefix: str) -> str:
    """The folders of a Firehose prefix before its first expression: where every object lands,
    e.g. `orders/` of `orders/datehour=!{timestamp:yyyy-MM-dd-HH}/`."""
    head = prefix.split("!{", 1)[0]
    return head[:head.rfind("/") + 1]


@cache
def _destination(logical_id: str) -> dict[str, Any]:
    properties = template.resource(logical_id)["Properties"]
    return properties["ExtendedS3DestinationConfiguration"]


def orders_prefix(logical_id: str = DELIVERY_STREAM) -> str:
    """Where a delivery stream writes the transformed records, e.g. `orders/`."""
    return _static_part(_destination(logical_id)["Prefix"])


def errors_prefix(logical_id: str = DELIVERY_STREAM) -> str:
    """Where a delivery stream writes the records it could not deliver, e.g. `errors/`."""
    return _static_part(_destination(logical_id)["ErrorOutputPrefix"])


def objects(bucket: str, prefix: str, s: Settings | None = None) -> list[dict[str, Any]]:
    """Every object under prefix (ListObjectsV2 entries: Key, Size, LastModified), by key.

    Keys sort by partition, then by Firehose's time-stamped name: oldest first."""
    pages = client("s3", s).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted((obj for page in pages for obj in page.get("Contents", [])),
                  key=lambda obj: obj["Key"])


def object_keys(bucket: str, prefix: str, s: Settings | None = None) -> list[str]:
    """Every object key under prefix, oldest first."""
    return [obj["Key"] for obj in objects(bucket, prefix, s)]


def body(bucket: str, key: str, s: Settings | None = None) -> bytes:
    """One object's bytes."""
    return client("s3", s).get_object(Bucket=bucket, Key=key)["Body"].read()


def json_lines(data: bytes) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON-lines body, blank lines skipped."""
    for line in data.splitlines():
        if line.strip():
            yield json.loads(line)


def read_lines(bucket: str, keys: Iterable[str], s: Settings | None = None) -> Iterator[dict]:
    """Parse every JSON line of the given objects."""
    for key in keys:
        yield from json_lines(body(bucket, key, s))


@dataclass
class BucketReader:
    """Reads a bucket's delivered objects, each once: a poll fetches only the keys it has not
    seen, so a wait over thousands of objects stays cheap."""

    bucket: str
    s: Settings | None = None
    bodies: dict[str, bytes] = field(default_factory=dict)
    listed: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> ListObjectsV2 entry
    parsed: dict[str, list[dict]] = field(default_factory=dict)  # key -> its JSON lines

    def new_objects(self, prefix: str) -> list[dict[str, Any]]:
        """The objects under prefix not fetched before, now fetched (their bodies kept)."""
        fresh = [obj for obj in objects(self.bucket, prefix, self.s)
                 if obj["Key"] not in self.bodies]
        for obj in fresh:
            self.bodies[obj["Key"]] = body(self.bucket, obj["Key"], self.s)
            self.listed[obj["Key"]] = obj
        return fresh

    def under(self, prefix: str) -> list[str]:
        """Every key under prefix, fetching the new ones first; oldest first."""
        self.new_objects(prefix)
        return sorted(key for key in self.bodies if key.startswith(prefix))

    def lines(self, prefix: str) -> list[dict]:
        """Every JSON line under prefix, in key order."""
        keys = self.under(prefix)
        for key in keys:
            if key not in self.parsed:
                self.parsed[key] = list(json_lines(self.bodies[key]))
        return [line for key in keys for line in self.parsed[key]]
