"""Account for every order at the end of the pipeline: delivered, failed, or missing.

Reads what Firehose wrote to the bucket (clean JSON lines under `orders/`, error records under
`errors/`) and matches it against the orders that were written to the table, so that "nothing
lost, nothing invented" is a number, not a hope.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from workshop.config import Settings, client
from workshop.errors import WorkshopError

ORDERS_PREFIX = "orders/"
ERRORS_PREFIX = "errors/"


def object_keys(bucket: str, prefix: str, s: Settings | None = None) -> list[str]:
    """Every object key under prefix, oldest layout first (keys sort by partition, then time)."""
    pages = client("s3", s).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def read_lines(bucket: str, keys: Iterable[str], s: Settings | None = None) -> Iterator[dict]:
    """Parse every JSON line of the given objects."""
    s3 = client("s3", s)
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for line in body.splitlines():
            if line.strip():
                yield json.loads(line)


class BucketReader:
    """Reads the pipeline's output, each object once: Firehose never rewrites an object, so a
    poll only fetches the keys it has not seen (a wait over 2,000 objects stays cheap)."""

    def __init__(self, bucket: str, s: Settings | None = None) -> None:
        self.bucket = bucket
        self.s = s
        self.parsed: dict[str, list[dict]] = {}

    def lines(self, prefix: str) -> list[dict]:
        """Every JSON line under prefix, in key order; new objects are fetched, old ones reused."""
        keys = object_keys(self.bucket, prefix, self.s)
        for key in keys:
            if key not in self.parsed:
                self.parsed[key] = list(read_lines(self.bucket, [key], self.s))
        return [line for key in keys for line in self.parsed[key]]


def error_order_id(error_record: dict[str, Any]) -> str | None:
    """The orderid inside an error record's raw data, when the raw data is a stream record."""
    try:
        raw = json.loads(base64.b64decode(error_record["rawData"]))
        return raw["dynamodb"]["Keys"]["orderid"]["S"]
    except (KeyError, TypeError, ValueError):
        return None


@dataclass
class Reconciliation:
    """Where each written order ended up."""

    generated: int
    delivered: int  # distinct orders with at least one clean line under orders/
    failed: int  # distinct orders found only in the error output
    duplicates: int  # extra copies of the same (orderid, event_type, event_time) line
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # delivered but never generated

    @property
    def complete(self) -> bool:
        """True when every generated order is delivered or in the error output."""
        return not self.missing and not self.unexpected

    def __str__(self) -> str:
        text = (f"generated {self.generated} = delivered {self.delivered} + failed {self.failed}"
                f" (+ {self.duplicates} duplicate lines)")
        if self.missing:
            text += f"; MISSING {len(self.missing)}, e.g. {self.missing[0]}"
        if self.unexpected:
            text += f"; UNEXPECTED {len(self.unexpected)}, e.g. {self.unexpected[0]}"
        return text


def reconcile(orderids: Iterable[str], bucket: str, s: Settings | None = None,
              event_type: str = "INSERT", reader: BucketReader | None = None) -> Reconciliation:
    """Match the written orders' INSERT events against the bucket's clean and error output."""
    wanted = set(orderids)
    reader = reader or BucketReader(bucket, s)
    lines = [line for line in reader.lines(ORDERS_PREFIX) if line.get("event_type") == event_type]
    copies = Counter((line.get("orderid"), line.get("event_time"), json.dumps(line, sort_keys=True))
                     for line in lines)
    delivered = {line.get("orderid") for line in lines}
    errors = reader.lines(ERRORS_PREFIX)
    failed = {oid for record in errors if (oid := error_order_id(record)) is not None} - delivered
    return Reconciliation(
        generated=len(wanted),
        delivered=len(delivered & wanted),
        failed=len(failed & wanted),
        duplicates=sum(n - 1 for n in copies.values()),
        missing=sorted(wanted - delivered - failed),
        unexpected=sorted(delivered - wanted),
    )


class DeliveryTimeout(WorkshopError, TimeoutError):
    """Not every order reached the end of the pipeline in time."""


def wait_for_delivery(orderids: Iterable[str], bucket: str, timeout: float = 120.0,
                      s: Settings | None = None, progress: bool = True) -> Reconciliation:
    """Poll the bucket until every order is delivered or failed, with a progress bar."""
    import time

    from tqdm.auto import tqdm

    wanted = list(orderids)
    reader = BucketReader(bucket, s)
    deadline = time.monotonic() + timeout
    with tqdm(total=len(wanted), desc="orders in S3", unit="order", disable=not progress) as bar:
        while True:
            result = reconcile(wanted, bucket, s, reader=reader)
            bar.update(result.delivered + result.failed - bar.n)
            if not result.missing:
                return result
            if time.monotonic() > deadline:
                raise DeliveryTimeout(
                    f"after {timeout:.0f} s, {len(result.missing)} of {len(wanted)} orders have "
                    f"not reached s3://{bucket}/ ({result}); run `workshop local status` and "
                    "check .workshop/local/runtime.log"
                )
            time.sleep(0.5)
