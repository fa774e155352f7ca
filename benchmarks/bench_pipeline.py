"""Push orders through the local pipeline and print throughput, latency and memory.

Starts its own local AWS (free port, temporary state folder, 1 s local buffering), deploys the
template, then in one process, writing with the workshop's generator (`workshop generate --burst`):
  baseline: batch-writes N orders into a bare DynamoDB table (the write ceiling of the server);
  pipeline: batch-writes N orders into OrderTable and waits until every one is in S3.
Prints the CPU the local AWS spends idle (stack deployed, nothing written, 10 s), orders/s for
both and their ratio, p50/p95/max latency from an order's write to the moment its S3 object was
first seen (polled every 0.1 s) for the burst and for a steady 200 orders/s (one put per
order, as `workshop generate --rate 200`), and the local AWS
processes' resident memory (after --memory-orders in total, with the local
retention set by WORKSHOP_LOCAL_RETENTION_SECONDS / _RECORDS, see workshop/local/aws/retention.py).
The local AWS is realistic unless WORKSHOP_LOCAL_REALISTIC=off: then the pipeline is bound by
Kinesis's 1,000 records/s per shard, as on AWS; with it off, by this machine.

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
from datetime import datetime
from pathlib import Path

from workshop import config, delivered, generator, stack
from workshop.delivered import object_keys, orders_prefix
from workshop.local.aws import process, retention
from workshop.local.aws.ports import free_port
from workshop.local.aws.s3bulk import BulkReader

IDLE_SECONDS = 10.0


def orders(count: int, start: int) -> list[dict]:
    """`count` seeded orders of the workshop's generator; rounds use different starts."""
    return generator.make_orders(count, seed="bench", start=start)


def write(table: str, items: list[dict], rate: float | None = None) -> None:
    """Write with the workshop's generator, as `workshop generate` does: a burst of 25-order
    batch writes, or one put per order at `rate` per second. Each order's placed_at is stamped
    just before its request is built, so it is the order's write time."""
    report = generator.write_orders(items, table, burst=rate is None, rate=rate, progress=False)
    if report.written != len(items):
        raise SystemExit(f"the generator wrote {report.written} of {len(items)} orders")


def baseline(s: config.Settings, count: int) -> float:
    """Orders/s of plain batch writes into a table with no stream: the server's ceiling."""
    ddb = config.client("dynamodb", s)
    ddb.create_table(TableName="bench-baseline", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}])
    items = orders(count, 0)
    started = time.perf_counter()
    write("bench-baseline", items)
    elapsed = time.perf_counter() - started
    ddb.delete_table(TableName="bench-baseline")
    return count / elapsed


def deliver(s: config.Settings, outputs: dict[str, str], count: int, start: int,
            timeout: float, rate: float | None = None) -> tuple[float, list[float]]:
    """Write `count` orders and poll S3 until all arrived; return orders/s and latencies
    (from each order's placed_at, its write time, to the poll that first saw it in S3).

    S3 is watched through the local AWS's bulk routes (workshop.local.aws.s3bulk): one list and one
    read per poll; with WORKSHOP_LOCAL_PATCHES=off, through boto3 (workshop.delivered). Watched
    with boto3 (ListObjectsV2 and a GetObject per object), the watcher cost the server ~5.5 ms per
    list and its own XML parsing competed with the writer for this process: 756-814 orders/s
    against 849-1,108 in interleaved runs (same pipeline).
    """
    bulk = BulkReader(s)
    bucket = outputs["BucketName"]
    seen_keys = set(object_keys(bucket, orders_prefix(), s))  # earlier rounds' objects
    plain = delivered.BucketReader(bucket, s)  # WORKSHOP_LOCAL_PATCHES=off: no bulk routes
    plain.bodies.update(dict.fromkeys(seen_keys, b""))

    def new_objects() -> list[tuple[str, bytes | None]]:
        if s.local_patches:
            new = [key for key, _ in bulk.list(bucket, orders_prefix()) if key not in seen_keys]
            return list(bulk.get(bucket, new)) if new else []
        return [(obj["Key"], plain.bodies[obj["Key"]])
                for obj in plain.new_objects(orders_prefix())]

    latency: dict[str, float] = {}
    items = orders(count, start)
    wanted = {item["orderid"] for item in items}
    started = time.perf_counter()
    writer = threading.Thread(target=write, args=(outputs["TableName"], items, rate))
    writer.start()  # S3 is watched while the orders are written, so latency is not inflated
    deadline = time.monotonic() + timeout
    while len(latency) < count and time.monotonic() < deadline:
        fresh = new_objects()
        now = time.time()
        for key, body in fresh:
            seen_keys.add(key)
            for line in (body or b"").splitlines():
                record = json.loads(line)
                if record["orderid"] in wanted and record["orderid"] not in latency:
                    placed = datetime.fromisoformat(record["placed_at"])  # 3.11 reads the Z
                    latency[record["orderid"]] = now - placed.timestamp()
        if len(latency) < count:
            time.sleep(0.1)
    elapsed = time.perf_counter() - started
    writer.join()
    if len(latency) < count:
        raise SystemExit(f"only {len(latency)} of {count} orders arrived within {timeout} s")
    return count / elapsed, list(latency.values())


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
        print(f"orders: {args.orders}, local AWS " + (
            "realistic (AWS's limits: 1,000 records/s per Kinesis shard caps the pipeline)"
            if s.realistic else "with realism off (WORKSHOP_LOCAL_REALISTIC=off)") + (
            "" if s.local_patches else "; moto's own code (WORKSHOP_LOCAL_PATCHES=off)"))
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
            policy = retention.policy_of(s)
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
