"""The order generator: gadget orders written into the DynamoDB OrderTable, the pipeline's source.

Orders follow the seed's specification (six products, 1-10 units, prices 10.99-999.99 as
Decimal) with two fixes: an order id is 16 hex digits from the generator's RNG, so ids never
collide (the seed's 4-digit ids overwrote earlier orders after a few hundred), and a seed makes
the same orders again. `placed_at` is the time an order is written, in UTC.

Three ways to write: a burst (`batch_write_item`, 25 per request, as fast as it goes), a paced
stream (`put_item` every `interval` seconds, 3 s like the seed, or at `rate` orders/s), and
`change_orders`, which updates and deletes orders on purpose so MODIFY and REMOVE events flow
down the pipeline too. Every write path returns a report that counts only confirmed writes.

`history` makes a past of sales to analyse without waiting for it: `minutes` whole minutes of
orders, `per_minute` each, ending an hour ago (so they never mix with live orders), with a
**spike** (SPIKE_FACTOR times the orders) or a **lull** (LULL_FACTOR times) injected on purpose
at a chosen minute: `workshop generate --history 30 --spike 20 --lull 10`. Those orders keep the
placed_at of their minute (written as a burst with `stamp=False`); the anomaly alerts
(`workshop.anomaly`) must flag exactly those minutes.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from workshop.config import client, settings
from workshop.errors import InvalidValue, WorkshopError
from workshop.records.formats import iso_utc

log = logging.getLogger("workshop.generator")

PRODUCTS = ("Laptop", "Phone", "Tablet", "Headphones", "Charger", "Smartwatch")
QUANTITY_RANGE = (1, 10)  # units per order, inclusive
PRICE_CENTS_RANGE = (1099, 99999)  # 10.99-999.99, inclusive, drawn in whole cents
DEFAULT_INTERVAL = 3.0  # seconds between orders in continuous mode, as in the seed
BATCH_SIZE = 25  # the most items one batch_write_item request accepts
MAX_ATTEMPTS = 10  # tries per request before giving up on throttling or unprocessed items
BACKOFF_BASE, BACKOFF_CAP = 0.05, 5.0  # seconds: exponential backoff with jitter
SPIKE_FACTOR = 4.0  # a spike minute of `history` has this many times the usual orders
LULL_FACTOR = 0.1  # a lull minute of `history` has this fraction of the usual orders
HISTORY_GAP = timedelta(hours=1)  # a history ends this long before now, away from live orders
THROTTLING_CODES = {"ProvisionedThroughputExceededException", "ThrottlingException",
                    "RequestLimitExceeded"}

_sleep = time.sleep  # replaced by tests that must not wait
_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize


class GeneratorError(WorkshopError, RuntimeError):
    """The generator could not write, change or find orders; the message says what to do."""

    def __init__(self, message: str, report: WriteReport | None = None) -> None:
        super().__init__(message)
        self.report = report  # what was written before the failure, when anything was


@dataclass
class WriteReport:
    """What a write run really did: only writes DynamoDB confirmed are counted."""

    table: str
    mode: str  # "burst" or "paced"
    written: int = 0
    orderids: list[str] = field(default_factory=list)  # the confirmed ones, in write order
    unconfirmed: int = 0  # in flight when Ctrl+C came: they may or may not be in the table
    retries: int = 0  # requests repeated after throttling or unprocessed items
    interrupted: bool = False
    seconds: float = 0.0
    changes: ChangeReport | None = None

    @property
    def rate(self) -> float:
        """Confirmed orders per second over the run."""
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        text = (f"Wrote {self.written} orders to {self.table} in {self.seconds:.1f} s "
                f"({self.rate:.0f}/s, {self.mode}, {self.retries} retries)")
        if self.unconfirmed:
            text += f"; {self.unconfirmed} more were in flight when stopped and may exist too"
        if self.interrupted:
            text += "; stopped by Ctrl+C"
        if self.changes is not None:
            text += f"; {self.changes}"
        return text


@dataclass(frozen=True)
class Change:
    """One deliberate update: which order, which attribute, from what to what."""

    orderid: str
    attribute: str  # "quantity" or "price"
    old: int | Decimal
    new: int | Decimal


@dataclass
class ChangeReport:
    """What `change_orders` updated (MODIFY events) and deleted (REMOVE events)."""

    updated: list[Change] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # chosen ids no longer in the table

    def __str__(self) -> str:
        text = f"updated {len(self.updated)} and deleted {len(self.deleted)} orders"
        return text + (f" ({len(self.missing)} were already gone)" if self.missing else "")


def now_iso() -> str:
    """Now in UTC as ISO 8601 with microseconds and a Z, e.g. 2026-11-28T12:34:56.123456Z."""
    return iso_utc()


def _price(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(*PRICE_CENTS_RANGE)).scaleb(-2)


def iter_orders(seed: int | str | None = None, start: int = 0) -> Iterator[dict[str, Any]]:
    """Endless orders; with a seed, the same ids, products, quantities and prices every time.

    `start` skips that many orders of the sequence, so a seeded run can be continued.
    """
    rng = random.Random(seed)  # seed=None draws from the OS: ids then differ on every run
    seen: set[str] = set()
    index = 0
    while True:
        orderid = f"{rng.getrandbits(64):016x}"
        product, quantity, price = (rng.choice(PRODUCTS), rng.randint(*QUANTITY_RANGE),
                                    _price(rng))
        if orderid in seen:  # 1 in 2**64 per pair, but "never collides" is a promise
            continue
        seen.add(orderid)
        if index >= start:
            yield {"orderid": orderid, "product_name": product, "quantity": quantity,
                   "price": price, "placed_at": now_iso()}
        index += 1


def make_orders(count: int, seed: int | str | None = None, start: int = 0) -> list[dict[str, Any]]:
    """`count` orders (see `iter_orders`); `placed_at` is set again when each is written."""
    if count < 0:
        raise InvalidValue(f"count is {count}; ask for 0 or more orders")
    return list(islice(iter_orders(seed, start), count))


def _iso(when: datetime) -> str:
    return iso_utc(when)


def history_counts(minutes: int, per_minute: int, spike: int | None = None,
                   lull: int | None = None, seed: int | str | None = None) -> list[int]:
    """Orders in each minute of a history: about `per_minute` (give or take its square root, as
    real traffic varies), times SPIKE_FACTOR or LULL_FACTOR at the spike and lull minutes
    (0 is the oldest minute)."""
    if minutes < 1 or per_minute < 1:
        raise InvalidValue(f"a history needs at least 1 minute and 1 order per minute; got "
                         f"{minutes} minutes of {per_minute}")
    for name, minute in (("spike", spike), ("lull", lull)):
        if minute is not None and not 0 <= minute < minutes:
            raise InvalidValue(f"{name} minute {minute} is outside the history: choose 0 to "
                             f"{minutes - 1} (0 is the oldest minute)")
    if spike is not None and spike == lull:
        raise InvalidValue(f"the spike and the lull are both at minute {spike}: pick two minutes")
    rng = random.Random(f"{seed}-counts" if seed is not None else None)
    counts = [max(1, round(rng.gauss(per_minute, per_minute ** 0.5))) for _ in range(minutes)]
    if spike is not None:
        counts[spike] = round(counts[spike] * SPIKE_FACTOR)
    if lull is not None:
        counts[lull] = round(counts[lull] * LULL_FACTOR)
    return counts


def history_start(minutes: int, now: datetime | None = None) -> datetime:
    """The first minute of a `minutes`-long history that ends HISTORY_GAP before `now`."""
    now = now or datetime.now(UTC)
    end = now.replace(second=0, microsecond=0) - HISTORY_GAP
    return end - timedelta(minutes=minutes)


def history(
    minutes: int = 30,
    per_minute: int = 20,
    *,
    spike: int | None = None,  # minute (0 = oldest) with SPIKE_FACTOR times the orders
    lull: int | None = None,  # minute with LULL_FACTOR times the orders
    seed: int | str | None = None,
    start: datetime | None = None,  # first minute; default: `minutes` before an hour ago
) -> list[dict[str, Any]]:
    """Orders placed over past minutes, with a spike or a lull on purpose: sales to analyse.

    Write them with `write_orders(orders, burst=True, stamp=False)` so they keep their
    placed_at. A seed gives the same products, quantities, prices and seconds every time;
    order ids also depend on the start minute, so a later history never overwrites an earlier one.
    """
    counts = history_counts(minutes, per_minute, spike, lull, seed)
    start = (start or history_start(minutes)).astimezone(UTC).replace(second=0, microsecond=0)
    rng = random.Random(f"{seed}-seconds" if seed is not None else None)
    orders = make_orders(sum(counts), seed)
    placed = []
    for minute, count in enumerate(counts):
        offsets = sorted(rng.uniform(0, 60) for _ in range(count))
        placed += [start + timedelta(minutes=minute, seconds=o) for o in offsets]
    salt = start.isoformat().encode()
    return [dict(order, placed_at=_iso(when),
                 orderid=hashlib.blake2b(order["orderid"].encode() + salt,
                                         digest_size=8).hexdigest())
            for order, when in zip(orders, placed, strict=True)]


def default_table() -> str:
    """The OrderTable of the deployed stack (its TableName output)."""
    from workshop import stack

    return stack.outputs()["TableName"]


def _missing_table(table: str, report: WriteReport | None = None) -> GeneratorError:
    s = settings()
    return GeneratorError(
        f"DynamoDB table {table} does not exist on the {s.target} target: "
        "deploy the stack first: workshop deploy", report)


def _error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _backoff(attempt: int) -> None:
    _sleep(min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt) * random.uniform(0.5, 1.0))


def _call(table: str, report: WriteReport | None, operation: str, **kwargs: Any) -> Any:
    """One DynamoDB call, retried with backoff while it is throttled.

    The requests are built here from TypeSerializer's output, so botocore's client-side model
    check is skipped (DynamoDB still validates them): a burst writes more orders a second, on
    less of this process's CPU (measured: docs/performance.md#the-generator).
    """
    dynamodb = client("dynamodb", validate=False)
    for attempt in range(MAX_ATTEMPTS):
        try:
            return getattr(dynamodb, operation)(**kwargs)
        except ClientError as error:
            code = _error_code(error)
            if code == "ResourceNotFoundException":
                raise _missing_table(table, report) from error
            if code not in THROTTLING_CODES or attempt == MAX_ATTEMPTS - 1:
                raise
            log.warning("%s on %s throttled (%s); retrying", operation, table, code)
            if report is not None:
                report.retries += 1
            _backoff(attempt)
    raise AssertionError("unreachable")


def _to_item(order: dict[str, Any]) -> dict[str, Any]:
    return {name: _serialize(value) for name, value in order.items()}


def _write_batch(table: str, orders: list[dict[str, Any]], report: WriteReport) -> None:
    """Write up to 25 orders, resending unprocessed items until all are confirmed."""
    pending = {order["orderid"]: order for order in orders}
    for attempt in range(MAX_ATTEMPTS):
        report.unconfirmed = len(pending)  # what Ctrl+C would leave uncertain right now
        requests = [{"PutRequest": {"Item": _to_item(o)}} for o in pending.values()]
        response = _call(table, report, "batch_write_item", RequestItems={table: requests})
        left = response.get("UnprocessedItems", {}).get(table, [])
        left_ids = {r["PutRequest"]["Item"]["orderid"]["S"] for r in left}
        for orderid in [i for i in pending if i not in left_ids]:
            report.orderids.append(orderid)
            del pending[orderid]
        report.written = len(report.orderids)
        report.unconfirmed = 0
        if not pending:
            return
        log.info("%d of %d items unprocessed by %s; retrying", len(pending), len(orders), table)
        report.retries += 1
        _backoff(attempt)
    raise GeneratorError(
        f"{len(pending)} orders stayed unprocessed by {table} after {MAX_ATTEMPTS} attempts; "
        "the table is throttled: wait a minute, or write with --rate instead of --burst", report)


def _stamped(order: dict[str, Any], stamp: bool) -> dict[str, Any]:
    return dict(order, placed_at=now_iso()) if stamp else dict(order)


def _write_burst(orders: Iterable[dict[str, Any]], report: WriteReport, bar: tqdm,
                 deadline: float | None, stamp: bool = True) -> None:
    iterator = iter(orders)
    while deadline is None or time.monotonic() < deadline:
        batch = [_stamped(o, stamp) for o in islice(iterator, BATCH_SIZE)]
        if not batch:
            return
        before = report.written
        _write_batch(report.table, batch, report)
        bar.update(report.written - before)


def _write_paced(orders: Iterable[dict[str, Any]], report: WriteReport, bar: tqdm,
                 interval: float, deadline: float | None, stamp: bool = True) -> None:
    start = time.monotonic()
    for index, order in enumerate(orders):
        due = start + index * interval  # a schedule, not a sleep per order, so it never drifts
        if deadline is not None and due >= deadline:
            return
        _sleep(max(0.0, due - time.monotonic()))
        order = _stamped(order, stamp)
        report.unconfirmed = 1
        _call(report.table, report, "put_item", TableName=report.table, Item=_to_item(order))
        report.unconfirmed = 0
        report.orderids.append(order["orderid"])
        report.written = len(report.orderids)
        bar.update(1)
        log.info("Inserted order %s: %d x %s at %s", order["orderid"], order["quantity"],
                 order["product_name"], order["price"])


def _pace(rate: float | None, interval: float | None) -> float:
    if rate is not None and interval is not None:
        raise InvalidValue("give either rate (orders per second) or interval (seconds), not both")
    if rate is not None:
        if rate <= 0:
            raise InvalidValue(f"rate is {rate}; it must be above 0 orders per second")
        return 1.0 / rate
    interval = DEFAULT_INTERVAL if interval is None else interval
    if interval < 0:
        raise InvalidValue(f"interval is {interval}; it must be 0 seconds or more")
    return interval


def _console_loggers() -> list[logging.Logger]:
    """The loggers printing to the console, whose lines must not break the progress bar."""
    return [logger for logger in (logging.getLogger(), log)
            if any(type(h) is logging.StreamHandler for h in logger.handlers)]


def write_orders(
    orders: Iterable[dict[str, Any]],
    table: str | None = None,
    *,
    rate: float | None = None,  # paced: orders per second
    interval: float | None = None,  # paced: seconds between orders (default 3, as the seed)
    burst: bool = False,  # batch_write_item, 25 per request, as fast as DynamoDB takes them
    progress: bool = True,  # a tqdm bar when the number of orders is known
    duration: float | None = None,  # stop after this many seconds
    stamp: bool = True,  # set placed_at to the write time; False keeps the orders' own (history)
) -> WriteReport:
    """Write orders to the OrderTable and report exactly how many DynamoDB confirmed.

    Ctrl+C stops cleanly and returns the report so far. Throttling and unprocessed items are
    retried with exponential backoff (https://docs.aws.amazon.com/amazondynamodb/latest/
    developerguide/Programming.Errors.html#Programming.Errors.RetryAndBackoff).
    """
    pause = 0.0 if burst else _pace(rate, interval)
    table = table or default_table()
    report = WriteReport(table=table, mode="burst" if burst else "paced")
    total = len(orders) if isinstance(orders, Sequence) else None
    deadline = time.monotonic() + duration if duration is not None else None
    started = time.monotonic()
    bar = tqdm(total=total, unit="order", desc=f"Writing to {table}",
               disable=not progress or total is None)
    try:
        with logging_redirect_tqdm(loggers=_console_loggers()):
            if burst:
                _write_burst(orders, report, bar, deadline, stamp)
            else:
                _write_paced(orders, report, bar, pause, deadline, stamp)
    except KeyboardInterrupt:
        report.interrupted = True
        log.info("Stopped by Ctrl+C")
    except GeneratorError as error:
        error.report = report
        raise
    finally:
        bar.close()
        report.seconds = time.monotonic() - started
    log.info("%s", report)
    return report


def run_continuous(
    interval: float = DEFAULT_INTERVAL,
    *,
    rate: float | None = None,
    table: str | None = None,
    seed: int | str | None = None,
    max_orders: int | None = None,
    duration: float | None = None,
) -> WriteReport:
    """The seed's continuous mode: one order every `interval` seconds until Ctrl+C (or a limit)."""
    orders: Iterable[dict[str, Any]] = iter_orders(seed)
    if max_orders is not None:
        orders = islice(orders, max_orders)
    pause = _pace(rate, None) if rate is not None else _pace(None, interval)
    log.info("Writing an order every %.2f s; press Ctrl+C to stop", pause)
    return write_orders(orders, table, interval=pause, progress=False, duration=duration)


def _key_name(table: str) -> str:
    """The table's partition key attribute (the template says orderid; DynamoDB is asked)."""
    try:
        schema = client("dynamodb").describe_table(TableName=table)["Table"]["KeySchema"]
    except ClientError as error:
        if _error_code(error) == "ResourceNotFoundException":
            raise _missing_table(table) from error
        raise
    return next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")


def _new_value(rng: random.Random, attribute: str, old: Any) -> int | Decimal:
    while True:
        new = rng.randint(*QUANTITY_RANGE) if attribute == "quantity" else _price(rng)
        if new != old:
            return new


def _update_one(table: str, key: str, orderid: str, rng: random.Random) -> Change | None:
    item = _call(table, None, "get_item", TableName=table, Key={key: {"S": orderid}},
                 ConsistentRead=True).get("Item")
    if item is None:
        return None
    attribute = rng.choice(("quantity", "price"))
    old = _deserialize(item[attribute])
    new = _new_value(rng, attribute, old)
    try:
        _call(table, None, "update_item", TableName=table, Key={key: {"S": orderid}},
              UpdateExpression="SET #a = :v", ConditionExpression="attribute_exists(#k)",
              ExpressionAttributeNames={"#a": attribute, "#k": key},
              ExpressionAttributeValues={":v": _serialize(new)})
    except ClientError as error:
        if _error_code(error) == "ConditionalCheckFailedException":
            return None  # deleted meanwhile; an update would have created a half order
        raise
    log.info("Updated order %s: %s %s -> %s", orderid, attribute, old, new)
    return Change(orderid, attribute, int(old) if attribute == "quantity" else old, new)


def _delete_one(table: str, key: str, orderid: str) -> bool:
    try:
        _call(table, None, "delete_item", TableName=table, Key={key: {"S": orderid}},
              ConditionExpression="attribute_exists(#k)", ExpressionAttributeNames={"#k": key})
    except ClientError as error:
        if _error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    log.info("Deleted order %s", orderid)
    return True


def change_orders(
    orderids: Iterable[str],
    *,
    update: int = 0,
    delete: int = 0,
    seed: int | str | None = None,
    table: str | None = None,
) -> ChangeReport:
    """Update `update` of the given orders (quantity or price) and delete `delete` others.

    This makes the MODIFY and REMOVE events that the pipeline and the queries must handle.
    Only existing orders are changed: an id that is gone is reported as missing.
    """
    ids = list(dict.fromkeys(orderids))
    if update < 0 or delete < 0:
        raise InvalidValue("update and delete count orders: use 0 or more")
    if update + delete > len(ids):
        raise GeneratorError(
            f"Cannot update {update} and delete {delete} of {len(ids)} orders: ask for at most "
            f"{len(ids)} changes in all, or write more orders first")
    table = table or default_table()
    key = _key_name(table)
    rng = random.Random(seed)
    chosen = rng.sample(ids, update + delete)
    report = ChangeReport()
    for orderid in chosen[:update]:
        change = _update_one(table, key, orderid, rng)
        if change is None:
            report.missing.append(orderid)
        else:
            report.updated.append(change)
    for orderid in chosen[update:]:
        (report.deleted if _delete_one(table, key, orderid) else report.missing).append(orderid)
    return report


def existing_orderids(table: str | None = None) -> list[str]:
    """Every order id in the table, sorted (a scan: fine for a workshop-sized table)."""
    table = table or default_table()
    key = _key_name(table)
    ids: list[str] = []
    pages = client("dynamodb").get_paginator("scan").paginate(
        TableName=table, ProjectionExpression="#k", ExpressionAttributeNames={"#k": key})
    for page in pages:
        ids.extend(item[key]["S"] for item in page.get("Items", []))
    return sorted(ids)


def _ensure_log_output() -> None:
    """Show the generator's log lines with timestamps when nothing else set up logging."""
    if not logging.getLogger().handlers and not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def generate(
    count: int | None = None,
    *,
    seed: int | str | None = None,
    burst: bool = False,
    rate: float | None = None,
    interval: float | None = DEFAULT_INTERVAL,
    update: int = 0,
    delete: int = 0,
    progress: bool = True,
    table: str | None = None,
    history_minutes: int | None = None,
    per_minute: int = 20,
    spike: int | None = None,
    lull: int | None = None,
) -> WriteReport:
    """What `workshop generate` does: write orders, then update and delete some of them.

    count=None writes one order every `interval` s (or at `rate`/s) until Ctrl+C; count=0 with
    update/delete changes orders already in the table; otherwise `count` orders are written
    (burst or paced) and `update`/`delete` of those are then changed. `history_minutes` writes
    a past of that many minutes instead (`per_minute` orders each, a `spike` and/or a `lull`
    at the minutes given, 0 the oldest), as a burst, keeping each order's placed_at.
    """
    _ensure_log_output()
    if history_minutes is not None:
        if count is not None:
            raise GeneratorError("Give either a count or a history in minutes, not both: a "
                                 "history's size is its minutes times the orders per minute")
        try:
            orders = history(history_minutes, per_minute, spike=spike, lull=lull, seed=seed)
        except ValueError as error:
            raise GeneratorError(f"Cannot make that history: {error}") from None
        return write_orders(orders, table, burst=True, progress=progress, stamp=False)
    if spike is not None or lull is not None:
        raise GeneratorError("A spike or a lull is injected into a history: add "
                             "--history MINUTES (e.g. --history 30 --spike 20)")
    if rate is not None:
        interval = None
    table = table or default_table()
    if count is None and not (update or delete):
        pause = DEFAULT_INTERVAL if interval is None else interval
        return run_continuous(pause, rate=rate, table=table, seed=seed)
    if count is not None and update + delete > count > 0:
        raise GeneratorError(
            f"Cannot update {update} and delete {delete} of {count} new orders: ask for at "
            f"most {count} changes, or a larger --count")
    if not count:
        report = WriteReport(table=table, mode="changes")
        ids = existing_orderids(table)
    else:
        report = write_orders(make_orders(count, seed), table, rate=rate, interval=interval,
                              burst=burst, progress=progress)
        ids = report.orderids
    if (update or delete) and not report.interrupted:
        wanted = min(update + delete, len(ids))
        if wanted < update + delete:
            log.warning("Only %d orders to change: changing %d, not %d",
                        len(ids), wanted, update + delete)
        keep_update = min(update, wanted)
        report.changes = change_orders(ids, update=keep_update, delete=wanted - keep_update,
                                       seed=seed, table=table)
        log.info("%s", report.changes)
    return report
