"""An instructor's view of the whole class: every participant's pipeline in the account and
region, one row each, and one command that removes them all (`workshop class`).

Participants are found as the deploy tags their stacks: `workshop=gadget-sales` and
`participant=<prefix>`, on a stack named `<prefix>-sales-pipeline`. Each row counts the
participant's data with the pipeline doctor (workshop.doctor: the orders in the table, the
lines delivered, the records in errors/, the first stage where data stops and why) and
estimates what the stack has cost since it was created (workshop.cost, at the participant's own
pace of orders).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from workshop import cost, doctor, stack
from workshop.config import Settings, client, settings
from workshop.errors import WorkshopError

WORKERS = 4  # participants diagnosed at once
STACK_SUFFIX = "-sales-pipeline"  # Settings.stack_name: <prefix>-sales-pipeline


@dataclass(frozen=True)
class Participant:
    """One participant's pipeline, as the class view shows it."""

    prefix: str
    state: str  # the stack's status
    created: datetime
    orders: int | None = None  # items in the table
    delivered: int | None = None  # lines under orders/
    errors: int | None = None  # records under errors/
    last_activity: datetime | None = None  # the newest object in the bucket
    cost_usd: float | None = None  # estimated since the stack was created
    problem: str = ""  # where data stops and why; "" when it reaches every stage

    def row(self) -> list[str]:
        """The row's cells as text."""
        def number(value: int | None) -> str:
            return "?" if value is None else str(value)

        last = "-" if self.last_activity is None else f"{self.last_activity:%H:%M:%S}"
        spent = "?" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        return [self.prefix, self.state, number(self.orders), number(self.delivered),
                number(self.errors), last, spent, self.problem or "ok"]


HEADERS = ["prefix", "stack", "orders", "delivered", "errors", "last activity", "cost so far",
           "first problem"]


def table(rows: list[Participant]) -> str:
    """The class as a text table, one participant a line, sorted by prefix."""
    cells = [HEADERS] + [p.row() for p in sorted(rows, key=lambda p: p.prefix)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
             + "  " + row[-1] for row in cells]
    return "\n".join(lines) + f"\n{len(rows)} participant(s)"


def stacks(s: Settings | None = None) -> list[dict[str, Any]]:
    """Every stack of this workshop in the account and region (not deleted), by its tags."""
    s = s or settings()
    found = []
    pages = client("cloudformation", s).get_paginator("describe_stacks").paginate()
    for page in pages:
        for description in page["Stacks"]:
            tags = {t["Key"]: t["Value"] for t in description.get("Tags", [])}
            prefix = tags.get(stack.PARTICIPANT_TAG)
            if (tags.get(stack.WORKSHOP_TAG[0]) == stack.WORKSHOP_TAG[1] and prefix
                    and description["StackName"] == f"{prefix}{STACK_SUFFIX}"
                    and description["StackStatus"] != "DELETE_COMPLETE"):
                found.append(description)
    return found


def _participant(description: dict[str, Any], s: Settings, now: datetime) -> Participant:
    """One participant's row: its stack, the doctor's counts, its cost so far."""
    tags = {t["Key"]: t["Value"] for t in description.get("Tags", [])}
    mine = dataclasses.replace(s, prefix=tags[stack.PARTICIPANT_TAG])
    created = description["CreationTime"]
    base = Participant(mine.prefix, description["StackStatus"], created)
    if not description["StackStatus"].endswith("_COMPLETE") or "ROLLBACK" in \
            description["StackStatus"]:
        return dataclasses.replace(base, problem=f"stack {description['StackStatus']}")
    try:
        found = doctor.diagnose(mine)
    except (WorkshopError, ClientError, BotoCoreError) as error:
        return dataclasses.replace(base, problem=f"cannot look: {error}")
    hours = max((now - created).total_seconds() / 3600, 1 / 60)
    orders = found.count(doctor.TABLE)
    parameters = {p["ParameterKey"]: p["ParameterValue"]
                  for p in description.get("Parameters", [])}
    hourly = cost.estimate(parameters, orders_per_hour=(orders or 0) / hours).per_hour
    problem = ""
    if found.stopped_at or found.findings:
        where = f"stops before '{found.stopped_at}'" if found.stopped_at else ""
        problem = "; ".join(part for part in (where, *found.causes[:1]) if part)
    return dataclasses.replace(
        base, orders=orders, delivered=found.count(doctor.LINES),
        errors=found.count(doctor.ERRORS), last_activity=_last_object(mine),
        cost_usd=hourly * hours, problem=problem)


def _last_object(s: Settings) -> datetime | None:
    """When the participant's bucket last received an object."""
    try:
        bucket = stack.outputs(s)["BucketName"]
        pages = client("s3", s).get_paginator("list_objects_v2").paginate(Bucket=bucket)
        times = [o["LastModified"] for page in pages for o in page.get("Contents", [])]
    except (WorkshopError, ClientError, BotoCoreError, KeyError):
        return None
    return max(times) if times else None


def status(s: Settings | None = None) -> list[Participant]:
    """Every participant's row, looked at a few at a time."""
    s = s or settings()
    now = datetime.now(UTC)
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda d: _participant(d, s, now), stacks(s)))


def teardown(s: Settings | None = None,
             on_status: Callable[[str], None] | None = None) -> dict[str, list[str]]:
    """Tear down every participant's stack and artifacts; what is left, by prefix (a prefix
    with nothing left is not listed)."""
    s = s or settings()
    report = on_status or (lambda _msg: None)
    left = {}
    for description in stacks(s):
        prefix = {t["Key"]: t["Value"] for t in description["Tags"]}[stack.PARTICIPANT_TAG]
        report(f"== {prefix}")
        remaining = stack.teardown(dataclasses.replace(s, prefix=prefix), report)
        if remaining:
            left[prefix] = remaining
    return left
