"""The instructor's rehearsal: the whole learner's path on one account, then nothing left.

`make rehearse` (tests/test_rehearsal.py, opted in with WORKSHOP_REHEARSE=yes) runs it on the
aws target before a class; `make test` runs the very same path on the realistic local AWS. It
shows the plan and its cost, deploys a stack under a prefix of its own, writes orders, waits
until every one is in S3, runs every workshop query, reconciles, tears down, and fails if
anything named with its prefix is left.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from workshop import athena, generator, leftovers, reconcile, stack
from workshop.config import Settings, settings
from workshop.errors import WorkshopError

# Short buffers, as notebook 01 deploys them: a rehearsal waits seconds, not minutes, for S3.
PARAMETERS = {"BufferIntervalSeconds": 10, "ProcessorBufferIntervalSeconds": 10}
ORDERS = 200
DELIVERY_SECONDS = {"local": 120.0, "aws": 600.0}


class RehearsalFailed(WorkshopError, RuntimeError):
    """A step of the rehearsal did not do what the learner's path needs."""


@dataclass
class Rehearsal:
    """What each step took, what the queries answered and what was left."""

    prefix: str
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds
    rows: dict[str, int] = field(default_factory=dict)  # workshop query -> rows
    reconciliation: reconcile.Reconciliation | None = None
    left: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"Rehearsal under prefix {self.prefix}:"]
        lines += [f"  {step:<28} {seconds:7.1f} s" for step, seconds in self.steps.items()]
        lines += [f"  query {name:<22} {rows:7d} rows" for name, rows in self.rows.items()]
        if self.reconciliation is not None:
            lines.append(f"  {self.reconciliation}")
        lines.append("  nothing left" if not self.left else f"  LEFT: {', '.join(self.left)}")
        return "\n".join(lines)


def rehearsal_prefix() -> str:
    """A prefix no participant uses: rh + 8 hex digits."""
    return f"rh{uuid.uuid4().hex[:8]}"


def rehearse(s: Settings | None = None, orders: int = ORDERS,
             on_status: Callable[[str], None] = print) -> Rehearsal:
    """Run the learner's path end to end under a fresh prefix; raise RehearsalFailed if a step
    fails or anything is left. The aws target deploys without asking: opting in is the consent.
    """
    s = dataclasses.replace(s or settings(), prefix=rehearsal_prefix())
    result = Rehearsal(prefix=s.prefix)
    on_status(str(stack.plan(PARAMETERS, s)))
    try:
        _rehearse(s, orders, result, on_status)
    finally:
        started = time.monotonic()
        stack.teardown(s, on_status)
        result.left = leftovers.find(s)
        result.steps["teardown"] = time.monotonic() - started
    on_status(str(result))
    if result.left:
        raise RehearsalFailed(f"Left after the teardown: {', '.join(result.left)}")
    return result


def _rehearse(s: Settings, orders: int, result: Rehearsal,
              on_status: Callable[[str], None]) -> None:
    started = time.monotonic()
    found = stack.deploy(PARAMETERS, s=s, on_status=on_status, confirm=True)
    result.steps["deploy"] = time.monotonic() - started

    started = time.monotonic()
    report = generator.write_orders(generator.make_orders(orders, seed=s.prefix),
                                    found["TableName"], burst=True, progress=False)
    result.steps[f"write {orders} orders"] = time.monotonic() - started
    if report.written != orders:
        raise RehearsalFailed(f"The generator wrote {report.written} of {orders} orders.")

    started = time.monotonic()
    result.reconciliation = reconcile.wait_for_delivery(
        report.orderids, found["BucketName"], DELIVERY_SECONDS[s.target], s, progress=False)
    result.steps["every order in S3"] = time.monotonic() - started
    if not result.reconciliation.complete or result.reconciliation.delivered != orders:
        raise RehearsalFailed(f"Not every order was delivered: {result.reconciliation}")

    started = time.monotonic()
    for name in athena.QUERIES:
        result.rows[name] = len(athena.run(name, s))
    result.steps["every workshop query"] = time.monotonic() - started
    empty = [name for name, rows in result.rows.items() if rows == 0]
    if empty:
        raise RehearsalFailed(f"Workshop queries answered no rows: {', '.join(empty)}")
    latest = result.rows.get("latest_state_per_order")
    if latest != orders:
        raise RehearsalFailed(f"latest_state_per_order has {latest} rows for {orders} orders.")
    on_status(f"Every workshop query ran: {result.rows}")
