"""Benchmark: the local Athena engine against a plain pandas baseline, on one million records.

Writes 1,000,000 transformed records in 2,000 objects in Firehose's layout into a local S3 (the
moto server of workshop.local.aws.server, started in a child process as `workshop local
start` runs it apart from the notebooks), creates the Glue tables exactly as
cloudformation/pipeline.yaml declares them, then prints for each workshop query the local time
cold (empty query cache, new engine), warm (same engine again) and in a second kernel (cache on
disk, nothing in memory), beside a pandas baseline in the same process (download the same
objects, pd.read_json(lines=True), concat, groupby) and the fsspec alternative (DuckDB reading
the local S3 through pyathena's S3FileSystem, no cache).

    .venv/bin/python benchmarks/bench_query.py            # the full run, several minutes
    .venv/bin/python benchmarks/bench_query.py --objects 200 --per-object 100   # a quick look
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from workshop import athena, config
from workshop.generator import PRODUCTS
from workshop.local.athena.engine import LocalAthena
from workshop.local.aws.ports import free_port

TARGET_COLD_SECONDS = 3.0
TARGET_SPEEDUP = 5.0
DATABASE = "benchdb"
STREAM = "bench-orders"  # names objects as Firehose does: <stream>-<version>-<time>-<uuid>


def serve(port: int, ready: Any) -> None:
    """Child process: the local AWS's moto server, as `workshop local start` runs it, until
    terminated (moto's module listing is cached by workshop.local.aws.patches)."""
    import logging

    from workshop.local.aws.server import collect_less, start_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    start_server(port)
    collect_less()
    ready.set()
    while True:
        time.sleep(3600)


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML: a short-form tag becomes {"Fn": value}."""


_CfnLoader.add_multi_constructor("!", lambda loader, tag, node: {tag: (
    loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode)
    else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
    else loader.construct_mapping(node))})


def _resolve(value: Any, bucket: str) -> Any:
    """Resolve the !Sub strings of a Glue TableInput: the bucket, and ${!x} -> ${x}."""
    if isinstance(value, dict) and set(value) == {"Sub"}:
        return value["Sub"].replace("${DataBucket}", bucket).replace("${!", "${")
    if isinstance(value, dict):
        return {k: _resolve(v, bucket) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, bucket) for v in value]
    return value


def template_tables(bucket: str) -> list[dict[str, Any]]:
    """Every AWS::Glue::Table TableInput of the template, for the given bucket."""
    template = yaml.load(config.TEMPLATE_PATH.read_text(), Loader=_CfnLoader)
    return [_resolve(r["Properties"]["TableInput"], bucket)
            for r in template["Resources"].values() if r["Type"] == "AWS::Glue::Table"]


def make_objects(objects: int, per_object: int, start: datetime) -> Iterator[tuple[str, bytes]]:
    """Firehose-style objects of transformed records over the 24 hours from `start` (the day
    before now: the tables project the past week's hours, none in the future); ~10 % of the
    records change an earlier order (MODIFY) and ~3 % cancel one (REMOVE)."""
    rng = random.Random(1)
    placed: list[tuple[str, str, int, float, str]] = []
    for n in range(objects):
        arrival = start + timedelta(seconds=int(n * 86400 / objects))
        lines = []
        for _ in range(per_object):
            at = arrival.strftime("%Y-%m-%dT%H:%M:%SZ")
            roll = rng.random()
            if placed and roll < 0.13:
                orderid, product, quantity, price, placed_at = rng.choice(placed)
                kind = "REMOVE" if roll < 0.03 else "MODIFY"
                quantity = quantity if kind == "REMOVE" else rng.randint(1, 10)
            else:
                orderid = f"{rng.getrandbits(64):016x}"
                product, quantity = rng.choice(PRODUCTS), rng.randint(1, 10)
                price = rng.randint(1099, 99999) / 100
                placed_at = (arrival - timedelta(microseconds=rng.randint(0, 10**6))).strftime(
                    "%Y-%m-%dT%H:%M:%S.%fZ")
                kind = "INSERT"
                placed.append((orderid, product, quantity, price, placed_at))
            lines.append(f'{{"orderid":"{orderid}","product_name":"{product}",'
                         f'"quantity":{quantity},"price":{price},"placed_at":"{placed_at}",'
                         f'"event_type":"{kind}","event_time":"{at}"}}\n')
        key = (f"orders/datehour={arrival:%Y-%m-%d-%H}/"
               f"{STREAM}-1-{arrival:%Y-%m-%d-%H-%M-%S}-{uuid.UUID(int=rng.getrandbits(128))}")
        yield key, "".join(lines).encode()


def setup(bucket: str, objects: int, per_object: int) -> list[str]:
    """Create the bucket, the Glue tables of the template and the objects; return the keys."""
    s3, glue = config.client("s3"), config.client("glue")
    s3.create_bucket(Bucket=bucket)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    for table in template_tables(bucket):
        glue.create_table(DatabaseName=DATABASE, TableInput=table)
    start = datetime.now(UTC) - timedelta(days=1)
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1])
                             and kv[0], make_objects(objects, per_object, start)))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def bench_local(s: config.Settings) -> dict[str, dict[str, float]]:
    """Each workshop query cold (empty cache, new engine) then warm (same engine again)."""
    cache = s.state_dir / "query-cache"
    results: dict[str, dict[str, float]] = {}
    for name, sql in athena.QUERIES.items():
        shutil.rmtree(cache, ignore_errors=True)
        engine = LocalAthena(DATABASE, s)
        cold, frame = timed(lambda e=engine, q=sql: e.query(q))
        fetch, requests = engine.last_fetch.seconds, engine.last_fetch.requests
        bulk = engine.cache.bulk is not None  # False: the GetObject fallback was used
        warm = min(timed(lambda e=engine, q=sql: e.query(q))[0] for _ in range(3))
        kernel = LocalAthena(DATABASE, s)  # a second notebook: cache on disk, nothing in memory
        disk, _ = timed(lambda e=kernel, q=sql: e.query(q))
        results[name] = {"cold": cold, "fetch": fetch, "warm": warm, "disk": disk,
                         "rows": len(frame), "requests": requests, "bulk": bulk}
    return results


def bench_pandas(bucket: str, keys: list[str], cache: Path) -> dict[str, float]:
    """The baseline: download, pd.read_json(lines=True) per object, concat, groupby."""
    s3 = config.client("s3")
    download, bodies = timed(lambda: list(ThreadPoolExecutor(8).map(
        lambda k: s3.get_object(Bucket=bucket, Key=k)["Body"].read(), keys)))
    parse, frame = timed(lambda: pd.concat(
        [pd.read_json(io.BytesIO(b), lines=True) for b in bodies], ignore_index=True))
    group, _ = timed(lambda: frame.groupby("product_name")["quantity"].sum())
    return {"download": download, "parse": parse, "groupby": group,
            "total": download + parse + group}


def bench_fsspec(bucket: str, port: int, sql: str) -> tuple[float, float]:
    """The alternative to the cache: DuckDB reads the local S3 through pyathena's fsspec."""
    import duckdb
    from pyathena.filesystem.s3 import S3FileSystem

    fs = S3FileSystem(endpoint_url=f"http://127.0.0.1:{port}", key="testing", secret="testing",
                      region_name="us-east-1")
    con = duckdb.connect()
    con.register_filesystem(fs)
    columns = ("{'orderid':'VARCHAR','product_name':'VARCHAR','quantity':'INTEGER',"
               "'price':'DOUBLE','placed_at':'VARCHAR','event_type':'VARCHAR',"
               "'event_time':'VARCHAR'}")
    hive = "{'datehour':'VARCHAR'}"
    query = (f"SELECT product_name, SUM(quantity) FROM read_json('s3://{bucket}/orders/*/*',"
             f" format='newline_delimited', columns={columns}, hive_partitioning=true, "
             f"hive_types={hive}) GROUP BY 1")
    first, _ = timed(lambda: con.execute(query).fetchall())
    second, _ = timed(lambda: con.execute(query).fetchall())
    del sql
    return first, second


def report(local: dict[str, dict[str, float]], baseline: dict[str, float],
           fsspec: tuple[float, float] | None, records: int, objects: int) -> bool:
    """Print the table; True when every target is met."""
    print(f"\n{records:,} records in {objects:,} objects. pandas baseline: "
          f"{baseline['total']:.2f} s (download {baseline['download']:.2f}, read_json+concat "
          f"{baseline['parse']:.2f}, groupby {baseline['groupby']:.2f})")
    if fsspec:
        print(f"fsspec (DuckDB over pyathena S3FileSystem, no cache): first query "
              f"{fsspec[0]:.2f} s, second {fsspec[1]:.2f} s")
    first = next(iter(local.values()))
    print(f"local S3 read {'in bulk' if first['bulk'] else 'by GetObject'}: "
          f"{first['requests']:.0f} requests for a cold query; '(fetch)' is listing and "
          "fetching, done before loading")
    print(f"\n{'query':<26}{'rows':>8}{'cold s':>9}{'(fetch)':>9}{'warm s':>9}"
          f"{'new kernel':>11}{'x cold':>8}{'x warm':>8}")
    met = True
    for name, r in local.items():
        cold_x, warm_x = baseline["total"] / r["cold"], baseline["total"] / r["warm"]
        ok = r["cold"] < TARGET_COLD_SECONDS and cold_x >= TARGET_SPEEDUP
        met &= ok
        print(f"{name:<26}{r['rows']:>8.0f}{r['cold']:>9.2f}{r['fetch']:>9.2f}{r['warm']:>9.2f}"
              f"{r['disk']:>11.2f}{cold_x:>8.1f}{warm_x:>8.1f}{'' if ok else '  (target missed)'}")
    print(f"\ntargets: cold < {TARGET_COLD_SECONDS:.0f} s and >= {TARGET_SPEEDUP:.0f}x the "
          f"pandas baseline: {'met' if met else 'NOT met'}")
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--per-object", type=int, default=500)
    parser.add_argument("--skip-fsspec", action="store_true")
    args = parser.parse_args(argv)
    port = free_port()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    server = context.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    state = Path(tempfile.mkdtemp(prefix="bench-query-"))
    try:
        if not ready.wait(60):
            raise SystemExit("the moto server did not start within 60 s")
        s = config.configure(target="local", local_port=port, state_dir=state)
        bucket = f"bench-sales-{uuid.uuid4().hex[:8]}"
        seconds, keys = timed(lambda: setup(bucket, args.objects, args.per_object))
        print(f"wrote {len(keys)} objects to s3://{bucket}/orders/ in {seconds:.1f} s")
        local = bench_local(s)
        baseline = bench_pandas(bucket, keys, state)
        fsspec = None if args.skip_fsspec else bench_fsspec(
            bucket, port, athena.QUERIES["units_per_product_today"])
        met = report(local, baseline, fsspec, args.objects * args.per_object, len(keys))
        print(json.dumps({"local": local, "pandas": baseline, "fsspec": fsspec}))
        return 0 if met else 1
    finally:
        server.terminate()
        shutil.rmtree(state, ignore_errors=True)
        config.reset()


if __name__ == "__main__":
    raise SystemExit(main())
