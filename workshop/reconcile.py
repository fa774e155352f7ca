"""Account for every order at the end of the pipeline: delivered, failed, or missing.

Reads what Firehose wrote to the bucket (clean JSON lines under the delivery stream's prefix,
error records under its error prefix: workshop.delivered) and matches it against the orders that
were written to the table, so that "nothing lost, nothing invented" is a number, not a hope.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from workshop import delivered
from workshop.config import Settings
from workshop.errors import WorkshopError


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
              event_type: str = "INSERT",
              reader: delivered.BucketReader | None = None) -> Reconciliation:
    """Match the written orders' INSERT events against the bucket's clean and error output."""
    wanted = set(orderids)
    reader = reader or delivered.BucketReader(bucket, s)
    lines = [line for line in reader.lines(delivered.orders_prefix())
             if line.get("event_type") == event_type]
    copies = Counter((line.get("orderid"), line.get("event_time"), json.dumps(line, sort_keys=True))
                     for line in lines)
    arrived = {line.get("orderid") for line in lines}
    errors = reader.lines(delivered.errors_prefix())
    failed = {oid for record in errors if (oid := error_order_id(record)) is not None} - arrived
    return Reconciliation(
        generated=len(wanted),
        delivered=len(arrived & wanted),
        failed=len(failed & wanted),
        duplicates=sum(n - 1 for n in copies.values()),
        missing=sorted(wanted - arrived - failed),
        unexpected=sorted(arrived - wanted),
    )


class DeliveryTimeout(WorkshopError, TimeoutError):
    """Not every order reached the end of the pipeline in time."""


def wait_for_delivery(orderids: Iterable[str], bucket: str, timeout: float = 120.0,
                      s: Settings | None = None, progress: bool = True) -> Reconciliation:
    """Poll the bucket until every order is delivered or failed, with a progress bar."""
    import time

    from tqdm.auto import tqdm

    wanted = list(orderids)
    reader = delivered.BucketReader(bucket, s)
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
