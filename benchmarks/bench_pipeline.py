"""Push orders through the local pipeline and print throughput, latency and memory.

Starts its own local AWS (free port, temporary state folder, 1 s local buffering), deploys the
template, then in one process:
  baseline: batch-writes N orders into a bare DynamoDB table (the write ceiling of the server);
  pipeline: batch-writes N orders into OrderTable and waits until every one is in S3.
Prints the CPU the local AWS spends idle (stack deployed, nothing written, 10 s), orders/s for
both and their ratio, p50/p95/max latency from an order's write to the moment its S3 object was
first seen (polled every 0.1 s) for the burst and for a steady 200 orders/s, and the local AWS
processes' resident memory (after --memory-orders in total, with the local
retention set by WORKSHOP_LOCAL_RETENTION_SECONDS / _RECORDS, see workshop/local/retention.py).

    .venv/bin/python benchmarks/bench_pipeline.py [--orders 10000] [--memory-orders 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from workshop import config, stack
from workshop.local import process, retention
from workshop.local.ports import free_port
from workshop.local.s3bulk import BulkReader
from workshop.reconcile import ORDERS_PREFIX, object_keys

IDLE_SECONDS = 10.0
PRODUCTS = ["Laptop", "Phone", "Tablet", "Headphones", "Charger", "Smartwatch"]


def orders(count: int, start: int) -> list[dict]:
    return [{"orderid": f"b{n:08d}", "product_name": PRODUCTS[n % 6], "quantity": 1 + n % 10,
             "price": Decimal(f"{10.99 + n % 989:.2f}")} for n in range(start, start + count)]


def write(s: config.Settings, table: str, items: list[dict], rate: float | None = None,
          written: dict[str, float] | None = None) -> dict[str, float]:
    """Batch-write items (at most `rate` per second when given), stamping each with the time it
    was written into `written` (id -> epoch) as it goes, so a reader can watch concurrently."""
    ddb = config.session(s).resource("dynamodb", endpoint_url=s.endpoint_url)
    written = {} if written is None else written
    started = time.time()
    with ddb.Table(table).batch_writer() as batch:
        for index, item in enumerate(items):
            if rate:
                time.sleep(max(0.0, started + index / rate - time.time()))
            now = time.time()
            iso = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
            batch.put_item(Item={**item, "placed_at": iso})
            written[item["orderid"]] = now
    return written


def baseline(s: config.Settings, count: int) -> float:
    """Orders/s of plain batch writes into a table with no stream: the server's ceiling."""
    ddb = config.client("dynamodb", s)
    ddb.create_table(TableName="bench-baseline", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}])
    started = time.perf_counter()
    write(s, "bench-baseline", orders(count, 0))
    elapsed = time.perf_counter() - started
    ddb.delete_table(TableName="bench-baseline")
    return count / elapsed


def deliver(s: config.Settings, outputs: dict[str, str], count: int, start: int,
            timeout: float, rate: float | None = None) -> tuple[float, list[float]]:
    """Write `count` orders and poll S3 until all arrived; return orders/s and latencies.

    S3 is watched through the local AWS's bulk routes (workshop.local.s3bulk): one list and one
    read per poll. Watched with boto3 (ListObjectsV2 and a GetObject per object), the watcher
    cost the server ~5.5 ms per list and its own XML parsing competed with the writer for this
    process: 756-814 orders/s against 849-1,108 in interleaved runs (same pipeline).
    """
    bulk = BulkReader(s)
    bucket = outputs["BucketName"]
    seen_keys = set(object_keys(bucket, ORDERS_PREFIX, s))  # earlier rounds' objects
    arrival: dict[str, float] = {}
    started = time.perf_counter()
    written: dict[str, float] = {}
    items = orders(count, start)
    wanted = {item["orderid"] for item in items}
    writer = threading.Thread(target=write, args=(s, outputs["TableName"], items, rate, written))
    writer.start()  # S3 is watched while the orders are written, so latency is not inflated
    deadline = time.monotonic() + timeout
    while len(arrival) < count and time.monotonic() < deadline:
        new = [key for key, _ in bulk.list(bucket, ORDERS_PREFIX) if key not in seen_keys]
        now = time.time()
        for key, body in bulk.get(bucket, new) if new else ():
            seen_keys.add(key)
            for line in (body or b"").splitlines():
                orderid = json.loads(line)["orderid"]
                if orderid in wanted:
                    arrival.setdefault(orderid, now)
        if len(arrival) < count:
            time.sleep(0.1)
    elapsed = time.perf_counter() - started
    writer.join()
    if len(arrival) < count:
        raise SystemExit(f"only {len(arrival)} of {count} orders arrived within {timeout} s")
    return count / elapsed, [arrival[o] - written[o] for o in written]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--memory-orders", type=int, default=0,
                        help="also push this many orders in total and report memory after")
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="bench-pipeline-")
    os.environ.update({"WORKSHOP_LOCAL_PORT": str(free_port()), "WORKSHOP_STATE_DIR": state,
                       "WORKSHOP_LOCAL_BUFFER_SECONDS": "1", "WORKSHOP_TARGET": "local"})
    s = config.settings()
    process.start(s)
    try:
        outputs = stack.deploy(s=s)
        running = process.status(s).running
        time.sleep(3)  # the runtime discovers the new pipe and delivery stream
        idle = {name: cpu_seconds(pid) for name, pid in running.items()}
        time.sleep(IDLE_SECONDS)
        print(f"CPU seconds idle ({IDLE_SECONDS:.0f} s, stack deployed): " + ", ".join(
            f"{name} {cpu_seconds(pid) - idle[name]:.2f}" for name, pid in running.items()))
        pids = {**running, "this process": os.getpid()}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        base = baseline(s, args.orders)
        middle = {name: cpu_seconds(pid) for name, pid in pids.items()}
        rate, latencies = deliver(s, outputs, args.orders, 0, timeout=600)
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        q = statistics.quantiles(latencies, n=100)
        print(f"orders: {args.orders}")
        print(f"baseline  batch writes only: {base:8.0f} orders/s")
        print(f"pipeline  write -> S3:       {rate:8.0f} orders/s  ({rate / base:.2f}x baseline)")
        print(f"latency write -> S3 object (burst): p50 {q[49]:.2f} s  p95 {q[94]:.2f} s  "
              f"max {max(latencies):.2f} s")
        for phase, start, end, seconds in (("baseline", before, middle, args.orders / base),
                                           ("pipeline", middle, after, args.orders / rate)):
            print(f"CPU seconds, {phase} ({seconds:.1f} s on {os.cpu_count()} cores): " + ", ".join(
                f"{name} {end[name] - start[name]:.1f}" for name in pids))
        _, paced = deliver(s, outputs, 2000, args.orders, timeout=600, rate=200)
        q = statistics.quantiles(paced, n=100)
        print(f"latency at a steady 200 orders/s (2000 orders): p50 {q[49]:.2f} s  "
              f"p95 {q[94]:.2f} s  max {max(paced):.2f} s")
        print("resident memory: " + ", ".join(
            f"{name} {rss_mb(pid):.0f} MB" for name, pid in running.items()))
        done = args.orders + 2000
        growth = []
        while done < args.memory_orders:
            batch = min(10_000, args.memory_orders - done)
            deliver(s, outputs, batch, done, timeout=600)
            done += batch
            growth.append(f"{done // 1000}k {rss_mb(running['server']):.0f}")
        if args.memory_orders:
            policy = retention.policy_from_env()
            kept = ("everything (retention off)" if policy.keeps_everything else
                    f"consumed records {policy.seconds:.0f} s, at most {policy.records} per shard")
            print(f"local retention: {kept}")
            print(f"server MB by orders pushed: {', '.join(growth)}")
            print(f"resident memory after {done} orders: " + ", ".join(
                f"{name} {rss_mb(pid):.0f} MB" for name, pid in running.items()))
    finally:
        process.stop(s)


if __name__ == "__main__":
    main()
