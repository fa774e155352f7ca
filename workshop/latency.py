"""Latency, measured: from each order's placed_at to its arrival in S3 and to being queryable.

The seed promises "typically <1 minute latency from generation to queryable data". `measure`
writes orders in a background thread while it watches the bucket and the query engine, then
gives, per order, the seconds from `placed_at` to

* **in S3**: when S3 says the object holding it was written (`LastModified`). S3 keeps whole
  seconds, so this is LastModified + 1 s, or the moment the watcher first listed the object if
  that was earlier: an upper bound, within a second;
* **queryable**: when a query first returned it (an upper bound, within one poll).

Firehose's buffering is most of it: `buffering()` says which intervals are in force. Change them
with the template's parameters (`workshop deploy -p BufferIntervalSeconds=...
-p ProcessorBufferIntervalSeconds=...`), or locally with WORKSHOP_LOCAL_BUFFER_SECONDS, and
measure again.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from workshop import athena, delivered, generator, stack
from workshop.config import Settings, client, settings
from workshop.errors import InvalidValue, WorkshopError
from workshop.records import formats

POLL_SECONDS = 0.5  # locally; on aws each Athena query takes a second or two anyway
S3_TIME_RESOLUTION = 1.0  # LastModified is kept to the second


class LatencyTimeout(WorkshopError, TimeoutError):
    """Not every measured order became queryable in time; the message says where data stops."""


@dataclass
class Latency:
    """Per-order seconds from placed_at to in S3 (to_s3) and to queryable (to_query)."""

    seconds: pd.DataFrame  # index orderid; columns placed_at, to_s3, to_query
    rate: float | None = None  # orders per second asked of the generator (None: a burst)
    poll: float = POLL_SECONDS

    def stats(self) -> pd.DataFrame:
        """p50, p95 and max of both latencies, in seconds, with the number of orders."""
        rows = {}
        for column, label in (("to_s3", "in S3"), ("to_query", "queryable")):
            values = self.seconds[column].astype(float)
            rows[label] = {"orders": len(values), "p50": values.quantile(0.5),
                           "p95": values.quantile(0.95), "max": values.max()}
        return pd.DataFrame(rows).T.astype({"orders": int}).round(2)

    def under(self, limit: float = 60.0) -> bool:
        """True when every order was queryable within `limit` seconds of being placed."""
        return bool((self.seconds["to_query"] <= limit).all())

    def __str__(self) -> str:
        stats = self.stats()
        pace = f"at {self.rate:g} orders/s" if self.rate else "as a burst"
        lines = [f"{len(self.seconds)} orders written {pace}:"]
        for label, row in stats.iterrows():
            lines.append(f"  {label + ':':<11} half in {row['p50']:.1f} s, 95 % in "
                         f"{row['p95']:.1f} s, all in {row['max']:.1f} s")
        lines.append("under a minute from placed to queryable: "
                     + ("yes" if self.under(60) else "NO"))
        return "\n".join(lines)


def summarize(placed: dict[str, datetime], in_s3: dict[str, datetime],
              queryable: dict[str, datetime]) -> pd.DataFrame:
    """Seconds from placed to in S3 and to queryable, one row per order seen in all three."""
    ids = sorted(set(placed) & set(in_s3) & set(queryable))
    return pd.DataFrame({
        "placed_at": [placed[i] for i in ids],
        "to_s3": [(in_s3[i] - placed[i]).total_seconds() for i in ids],
        "to_query": [(queryable[i] - placed[i]).total_seconds() for i in ids],
    }, index=pd.Index(ids, name="orderid"))


@dataclass
class _Watcher:
    """Notes when each wanted order shows up in S3 and in query results."""

    bucket: str
    wanted: set[str]
    s: Settings
    since: str  # ISO placed_at lower bound of the measured orders
    known_keys: set[str] = field(default_factory=set)
    placed: dict[str, datetime] = field(default_factory=dict)
    in_s3: dict[str, datetime] = field(default_factory=dict)
    queryable: dict[str, datetime] = field(default_factory=dict)

    def snapshot(self) -> None:
        """Remember the objects already there: they hold none of the orders to measure."""
        self.known_keys = {obj["Key"] for obj in self._objects()}

    def _objects(self) -> list[dict[str, Any]]:
        return delivered.objects(self.bucket, delivered.orders_prefix(), self.s)

    def poll_s3(self) -> None:
        """Read the new objects; note when each wanted order arrived."""
        listed_at = datetime.now(UTC)
        for obj in self._objects():
            if obj["Key"] in self.known_keys:
                continue
            self.known_keys.add(obj["Key"])
            written = obj["LastModified"] + timedelta(seconds=S3_TIME_RESOLUTION)
            arrived = min(written, listed_at)
            body = delivered.body(self.bucket, obj["Key"], self.s)
            for line in body.decode("utf-8").splitlines():
                if not line.strip():
                    continue
                record = _json(line)
                orderid = record.get("orderid")
                if orderid in self.wanted and record.get("event_type") == "INSERT":
                    self.placed[orderid] = datetime.fromisoformat(record["placed_at"])
                    self.in_s3.setdefault(orderid, arrived)

    def poll_query(self) -> None:
        """Ask the query engine which wanted orders it returns now.

        Polled every few seconds: the partition filter keeps Athena to the hours the orders
        can have arrived in since `since` (arrival comes after placing), not the whole range.
        """
        frame = athena.query(
            "SELECT DISTINCT orderid FROM orders "
            f"WHERE event_type = 'INSERT' AND placed_at >= '{self.since}' "
            f"AND {athena.arrived_since(self.since)}", self.s)
        answered = datetime.now(UTC)
        for orderid in frame["orderid"]:
            if orderid in self.wanted:
                self.queryable.setdefault(orderid, answered)

    @property
    def done(self) -> bool:
        return len(self.queryable) == len(self.wanted) and len(self.in_s3) == len(self.wanted)


def _json(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def measure(count: int = 100, rate: float | None = 20.0, timeout: float = 120.0,
            poll: float | None = None, s: Settings | None = None) -> Latency:
    """Write `count` new orders (at `rate` per second, or a burst with rate=None) and measure
    each one's latency to S3 and to queryable while they flow."""
    s = s or settings()
    if count < 1:
        raise InvalidValue(f"count is {count}; measure at least 1 order")
    poll = poll if poll is not None else (POLL_SECONDS if s.is_local else 3.0)
    found = stack.outputs(s)
    orders = generator.make_orders(count)  # no seed: new order ids on every run
    since = formats.iso_utc(datetime.now(UTC) - timedelta(seconds=1))
    watcher = _Watcher(found["BucketName"], {o["orderid"] for o in orders}, s, since)
    watcher.snapshot()
    failure: list[BaseException] = []

    def write() -> None:
        try:
            generator.write_orders(orders, found["TableName"], rate=rate, burst=rate is None,
                                   progress=False)
        except BaseException as error:  # reported in the caller's thread
            failure.append(error)

    writer = threading.Thread(target=write, name="latency-generator", daemon=True)
    writer.start()
    deadline = time.monotonic() + timeout
    while True:
        watcher.poll_s3()
        watcher.poll_query()
        if failure:
            raise failure[0]
        if watcher.done and not writer.is_alive():
            break
        if time.monotonic() > deadline:
            from workshop.doctor import diagnose

            raise LatencyTimeout(
                f"after {timeout:.0f} s, {len(watcher.queryable)} of {count} orders are "
                f"queryable and {len(watcher.in_s3)} in S3. Where the data is now:\n"
                f"{diagnose(s)}")
        time.sleep(poll)
    writer.join()
    return Latency(summarize(watcher.placed, watcher.in_s3, watcher.queryable), rate, poll)


@dataclass(frozen=True)
class Buffering(formats.Buffering):
    """The Firehose buffering in force: the delivery stream's intervals and any local override."""

    local_override: float | None = None  # WORKSHOP_LOCAL_BUFFER_SECONDS, local target only

    def __str__(self) -> str:
        template = (f"the stack says: deliver to S3 every {self.s3_interval:g} s or "
                    f"{self.s3_size_mb:g} MB")
        if self.processor_interval is not None:
            template += f", call the transformer every {self.processor_interval:g} s"
        if self.local_override is None:
            return f"Firehose buffering, as {template}."
        return (f"Firehose buffering: {self.local_override:g} s here "
                f"(WORKSHOP_LOCAL_BUFFER_SECONDS overrides the intervals locally); {template}.")


def buffering(s: Settings | None = None) -> Buffering:
    """Read the delivery stream's buffering hints (and the local override, if any)."""
    s = s or settings()
    name = stack.outputs(s)["DeliveryStreamName"]
    description = client("firehose", s).describe_delivery_stream(
        DeliveryStreamName=name)["DeliveryStreamDescription"]
    hints = formats.Buffering.of(description["Destinations"][0]["ExtendedS3DestinationDescription"])
    return Buffering(**dataclasses.asdict(hints),
                     local_override=s.local_buffer_seconds if s.is_local else None)


def wait_until_queryable(orderids: list[str], timeout: float = 120.0,
                         s: Settings | None = None) -> int:
    """Poll the query engine until every given order's INSERT is returned; return how many.

    Raises LatencyTimeout, with the doctor's diagnosis, when some are still missing at the end.
    """
    s = s or settings()
    wanted = set(orderids)
    deadline = time.monotonic() + timeout
    while True:
        frame = athena.query("SELECT DISTINCT orderid FROM orders WHERE event_type = 'INSERT'", s)
        seen = len(wanted & set(frame["orderid"]))
        if seen == len(wanted):
            return seen
        if time.monotonic() > deadline:
            from workshop.doctor import diagnose

            raise LatencyTimeout(f"after {timeout:.0f} s, {seen} of {len(wanted)} orders are "
                                 f"queryable. Where the data is now:\n{diagnose(s)}")
        time.sleep(POLL_SECONDS if s.is_local else 3.0)
