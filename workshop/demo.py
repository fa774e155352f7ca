"""`make demo`: the whole pipeline, locally, in one command.

Starts the local AWS, deploys the template, writes a seeded burst of orders, waits until every
order is queryable, prints the seed's query and a reconciliation line, saves two charts, and
stops what it started. Every step is a call into the package, as the notebooks make them.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from workshop import athena, generator, local_aws, stack
from workshop.config import PROJECT_ROOT, Settings, settings
from workshop.doctor import diagnose
from workshop.errors import WorkshopError
from workshop.reconcile import DeliveryTimeout, Reconciliation, wait_for_delivery

OUTPUT_DIR = PROJECT_ROOT / "output" / "demo"
DEMO_BUFFER_SECONDS = 1.0  # local Firehose buffering for the demo (the template says 60 s)


class DemoError(WorkshopError, RuntimeError):
    """The demo could not finish; the message says which stage stalled."""


@dataclass
class DemoResult:
    """What the demo measured and wrote."""

    reconciliation: Reconciliation
    units: object  # the units-per-product DataFrame
    charts: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _wait_until_queryable(count: int, timeout: float) -> int:
    """Poll the query engine until it sees `count` distinct placed orders."""
    sql = "SELECT COUNT(DISTINCT orderid) AS n FROM orders WHERE event_type = 'INSERT'"
    deadline = time.monotonic() + timeout
    while True:
        seen = int(athena.query(sql)["n"].iloc[0])
        if seen >= count or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def run(count: int = 2000, seed: int = 42, timeout: float = 180.0,
        output_dir: Path = OUTPUT_DIR, s: Settings | None = None) -> DemoResult:
    """Run the pipeline end to end on the local target and report what arrived."""
    s = s or settings()
    if not s.is_local:
        raise DemoError("The demo runs on the local target; unset WORKSHOP_TARGET or set it "
                        "to local. On AWS, follow the notebooks.")
    started = time.monotonic()
    was_running = local_aws.status(s).up
    if not was_running and s.local_buffer_seconds is None:
        s = dataclasses.replace(s, local_buffer_seconds=DEMO_BUFFER_SECONDS)
    _step("Local AWS")
    print(local_aws.start(s))
    try:
        _step("Deploy cloudformation/pipeline.yaml")
        found = stack.deploy(s=s, on_status=print)
        _step(f"Generate {count} orders (seed {seed}, burst)")
        report = generator.generate(count, seed=seed, burst=True, progress=True)
        _step("Wait until every order has reached S3")
        try:
            result = wait_for_delivery(report.orderids, found["BucketName"], timeout, s)
        except DeliveryTimeout as error:
            raise DemoError(f"{error}\nWhere the data is now:\n{diagnose(s)}") from None
        queryable = _wait_until_queryable(result.delivered, timeout=30)
        print(f"queryable in Athena SQL: {queryable} orders")
        _step("Units per product today (the seed's query)")
        units = athena.run("units_per_product_today")
        print(units.to_string(index=False))
        _step("Reconciliation")
        print(result)
        if not result.complete:
            raise DemoError(f"Orders were lost or invented: {result}\n{diagnose(s)}")
        _step("Charts")
        paths = _save_charts(units, output_dir)
        for path in paths:
            print(path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path)
    finally:
        if not was_running:
            _step("Stop local AWS")
            print(local_aws.stop(s))
    return DemoResult(result, units, paths, time.monotonic() - started)


def _save_charts(units: object, output_dir: Path) -> list[Path]:
    """Save the demo's two charts as PNG files.

    matplotlib is imported here, not with the module: the CLI imports this module for DemoError
    on every command, and matplotlib slowed even `workshop local status`
    (measured: docs/performance.md#the-command-lines-start-up)."""
    import matplotlib

    matplotlib.use("Agg")  # the demo saves files; it never opens a window
    from workshop import charts

    return [
        charts.save(charts.units_per_product(units), output_dir / "units_per_product.png"),
        charts.save(charts.revenue_per_minute(athena.run("revenue_per_minute")),
                    output_dir / "revenue_per_minute.png"),
    ]
