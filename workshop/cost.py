"""What the stack costs per hour on the aws target, estimated before anything is created.

The Kinesis shard is the cost that never sleeps: it is billed every hour, orders or not. The
rest is billed by use, so the estimate takes an order rate (the generator's default, one order
every 3 s, unless told otherwise). Prices are AWS's published us-east-1 list prices on
`PRICES_AS_OF`; other regions differ a little, and free tiers are ignored, so the figure is
an upper bound for a personal account and a planning number for an instructor.

Athena bills the bytes it scans, and the S3 requests it makes are billed to the bucket's owner
at S3's rates (https://aws.amazon.com/athena/pricing/). Among them, one LIST per projected
partition a query enumerates: with partition projection Athena lists every partition in range
that the query does not prune, empty or not. The estimate counts the template's own projection
for queries without a partition filter, the most a query lists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workshop import template
from workshop.errors import InvalidValue
from workshop.records import projection
from workshop.records.statistics import ATHENA_MIN_MB_PER_QUERY, ATHENA_PER_TB

PRICES_AS_OF = "2025"
PRICING_PAGES = "https://aws.amazon.com/pricing/ (or the AWS Pricing Calculator)"

# USD, us-east-1 list prices, by what AWS bills.
KINESIS_SHARD_HOUR = 0.015
KINESIS_PUT_UNITS_PER_MILLION = 0.014  # one unit per record of up to 25 KB
DYNAMODB_WRITES_PER_MILLION = 0.625  # on-demand write request units (orders under 1 KB)
PIPES_REQUESTS_PER_MILLION = 0.40  # each batch of up to 64 KB is one request
FIREHOSE_PER_GB = 0.029  # ingestion; each record is billed as at least 5 KB
FIREHOSE_MIN_RECORD_KB = 5
FIREHOSE_CONVERSION_PER_GB = 0.018  # record format conversion (JSON to Parquet)
LAMBDA_REQUESTS_PER_MILLION = 0.20
LAMBDA_GB_SECOND = 0.0000166667
S3_PUTS_PER_THOUSAND = 0.005
# "PUT, COPY, POST, LIST requests (per 1,000 requests)", S3 Standard (https://aws.amazon.com/s3/pricing/)
S3_LISTS_PER_THOUSAND = 0.005

DEFAULT_ORDERS_PER_HOUR = 1200.0  # the generator's default: one order every 3 s
DEFAULT_QUERIES_PER_HOUR = 30.0  # a learner running the notebooks' queries by hand
LAMBDA_SECONDS_PER_CALL = 0.2  # a generous figure for one batch through the transformer


@dataclass(frozen=True)
class Line:
    """One billed item: what it is, how much of it an hour, and its cost in USD."""

    item: str
    quantity: float
    unit: str
    usd: float
    idle: bool = False  # billed even when no order flows


@dataclass(frozen=True)
class Estimate:
    """The hourly cost of a running stack, item by item."""

    lines: tuple[Line, ...]
    orders_per_hour: float

    @property
    def per_hour(self) -> float:
        """Total USD per hour at the assumed order rate."""
        return sum(line.usd for line in self.lines)

    @property
    def idle_per_hour(self) -> float:
        """USD per hour with no order flowing: what a forgotten stack costs."""
        return sum(line.usd for line in self.lines if line.idle)

    def __str__(self) -> str:
        rows = [f"  {line.item:<34} {_amount(line.quantity):>12} {line.unit:<20} ${line.usd:.4f}"
                for line in self.lines]
        return "\n".join([
            f"Estimated cost at {self.orders_per_hour:,.0f} orders/hour "
            f"(us-east-1 list prices, {PRICES_AS_OF}):",
            *rows,
            f"  {'total per hour':<67} ${self.per_hour:.4f}",
            f"  idle (no orders): ${self.idle_per_hour:.4f}/hour, "
            f"${self.idle_per_hour * 24:.2f}/day until you run `workshop teardown`",
        ])


def _amount(quantity: float) -> str:
    return f"{quantity:,.0f}" if quantity >= 100 or quantity == int(quantity) else f"{quantity:.3f}"


def _parameter(name: str, parameters: Mapping[str, Any]) -> float:
    if name in parameters:
        return float(parameters[name])
    return float(template.load()["Parameters"][name]["Default"])


def projected_partitions(table_id: str = "OrdersTable") -> int:
    """How many partitions the template's projection makes Athena list for a query that does
    not filter on them (one S3 LIST each: an hour's folder holds far fewer than the 1,000 keys
    of a LIST page, at one object per buffer interval and shard)."""
    table = template.resource(table_id)["Properties"]["TableInput"]
    params = {key: str(value) for key, value in table["Parameters"].items()
              if key.startswith("projection.")}
    names = [key["Name"] for key in table["PartitionKeys"]]
    found = projection.partitions(params, names) if projection.enabled(params) else 1
    if found is None:
        raise template.TemplateError(f"{table_id} has an injected partition projection: how many "
                                     "partitions a query lists depends on the query alone.")
    return found


def estimate(parameters: Mapping[str, Any] | None = None,
             orders_per_hour: float = DEFAULT_ORDERS_PER_HOUR,
             queries_per_hour: float = DEFAULT_QUERIES_PER_HOUR) -> Estimate:
    """The hourly cost of the template deployed with `parameters`, at the given usage."""
    if orders_per_hour < 0 or queries_per_hour < 0:
        raise InvalidValue("orders_per_hour and queries_per_hour must be zero or more.")
    parameters = parameters or {}
    shards = _parameter("ShardCount", parameters)
    flush_seconds = max(_parameter("BufferIntervalSeconds", parameters), 1.0)
    processor_seconds = max(_parameter("ProcessorBufferIntervalSeconds", parameters), 1.0)
    memory_gb = float(template.resource("TransformerFunction")["Properties"]["MemorySize"]) / 1024
    active = orders_per_hour > 0
    # With orders flowing, each shard's buffer is flushed (and the Lambda called) once per interval.
    flushes = shards * 3600 / flush_seconds if active else 0.0
    calls = shards * 3600 / processor_seconds if active else 0.0
    # The pipe sends a batch when it holds BatchSize records or its window closes, whichever first.
    source = template.resource("OrderPipe")["Properties"]["SourceParameters"]
    batch_size = float(source["DynamoDBStreamParameters"]["BatchSize"])
    window = max(float(source["DynamoDBStreamParameters"]["MaximumBatchingWindowInSeconds"]), 1.0)
    batches = max(orders_per_hour / batch_size, min(orders_per_hour, 3600 / window))
    # Every delivery stream reads the whole Kinesis stream: each bills ingestion, calls the
    # transformer and writes objects; the Parquet copy bills its conversion too.
    hoses = [r.logical_id for r in template.resources()
             if r.type == "AWS::KinesisFirehose::DeliveryStream"]
    converting = sum(1 for logical_id in hoses if template.resource(logical_id)["Properties"]
                     ["ExtendedS3DestinationConfiguration"].get("DataFormatConversionConfiguration"))
    flushes, calls = flushes * len(hoses), calls * len(hoses)
    firehose_gb = orders_per_hour * FIREHOSE_MIN_RECORD_KB / 1024 / 1024
    scanned_tb = queries_per_hour * ATHENA_MIN_MB_PER_QUERY / 1024 / 1024
    lists = queries_per_hour * projected_partitions()
    lines = (
        Line("Kinesis shard-hours", shards, "shard-hours", shards * KINESIS_SHARD_HOUR, idle=True),
        Line("Kinesis PUT payload units", orders_per_hour, "records",
             orders_per_hour / 1e6 * KINESIS_PUT_UNITS_PER_MILLION),
        Line("DynamoDB on-demand writes", orders_per_hour, "write units",
             orders_per_hour / 1e6 * DYNAMODB_WRITES_PER_MILLION),
        Line("EventBridge Pipes requests", batches, "requests",
             batches / 1e6 * PIPES_REQUESTS_PER_MILLION),
        Line("Firehose ingestion", firehose_gb * len(hoses), f"GB ({len(hoses)} streams, 5 KB)",
             firehose_gb * len(hoses) * FIREHOSE_PER_GB),
        Line("Firehose Parquet conversion", firehose_gb * converting, "GB",
             firehose_gb * converting * FIREHOSE_CONVERSION_PER_GB),
        Line("Lambda transformer", calls, "invocations",
             calls / 1e6 * LAMBDA_REQUESTS_PER_MILLION
             + calls * LAMBDA_SECONDS_PER_CALL * memory_gb * LAMBDA_GB_SECOND),
        Line("S3 PUT requests", math.ceil(flushes), "objects",
             math.ceil(flushes) / 1000 * S3_PUTS_PER_THOUSAND),
        Line("Athena data scanned", queries_per_hour, "queries (10 MB min)",
             scanned_tb * ATHENA_PER_TB),
        Line("S3 LIST requests (Athena)", lists, "LISTs (1/partition)",
             lists / 1000 * S3_LISTS_PER_THOUSAND),
    )
    return Estimate(lines=lines, orders_per_hour=orders_per_hour)
