"""The transformer's own log, where a learner looks for it, on either target (`workshop logs`).

On aws, Lambda writes a function's output to the log group `/aws/lambda/<function name>`
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html): what the handler
prints or logs, and its START, END and REPORT lines; this reads it as `aws logs tail` does
(FilterLogEvents, newest events as they come with `follow`). Locally the function runs in the
local Lambda (workshop.local.hops.functions), which writes the same lines to a file per function.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.exceptions import ClientError

from workshop import local_aws, stack
from workshop.config import Settings, client, settings
from workshop.errors import InvalidValue

FOLLOW_SECONDS = {"local": 0.5, "aws": 2.0}  # how often `follow` looks for new lines
SINCE = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def since(text: str) -> timedelta:
    """A look-back such as 10m, 2h, 30s or 1d, as `aws logs tail --since` takes it."""
    match = SINCE.match(text.strip())
    if match is None:
        raise InvalidValue(f"--since {text!r} is not a duration; use a number and s, m, h or d, "
                           "e.g. --since 10m")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


def function_name(s: Settings | None = None) -> str:
    """The transformer function of the participant's stack."""
    return stack.outputs(s)["TransformerFunctionName"]


def log_group(s: Settings | None = None) -> str:
    """The function's CloudWatch log group, named by Lambda's convention."""
    return f"/aws/lambda/{function_name(s)}"


def _local_lines(path: Path, start: datetime, offset: int) -> tuple[list[str], int]:
    """The lines of a local log file from byte `offset` stamped at or after `start`."""
    if not path.exists():
        return [], offset
    with path.open("rb") as file:
        file.seek(offset)
        data = file.read()
    complete = data[:data.rfind(b"\n") + 1]  # a line being written waits for the next look
    lines = []
    for line in complete.decode("utf-8", errors="replace").splitlines():
        stamp = line.split(" ", 1)[0]
        try:
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            when = start  # a continuation line: kept with its entry
        if when >= start:
            lines.append(line)
    return lines, offset + len(complete)


def _aws_lines(group: str, start_ms: int, seen: set[str], s: Settings) -> tuple[list[str], int]:
    """Events of the log group since `start_ms`, not already `seen`, as `<time> <stream> <text>`."""
    logs = client("logs", s)
    lines = []
    newest = start_ms
    try:
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, startTime=start_ms, interleaved=True)
        for page in pages:
            for event in page.get("events", []):
                if event["eventId"] in seen:
                    continue
                seen.add(event["eventId"])
                when = datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
                lines.append(f"{when.isoformat(timespec='milliseconds')} "
                             f"{event.get('logStreamName', '')} {event['message'].rstrip()}")
                newest = max(newest, event["timestamp"])
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    return lines, newest


def tail(look_back: timedelta = timedelta(minutes=10), follow: bool = False,
         s: Settings | None = None, out: Callable[[str], None] = print,
         stop: Callable[[], bool] = lambda: False) -> int:
    """Print the transformer's log lines of the last `look_back`; with `follow`, go on printing
    new ones until interrupted (or `stop()` says so). Returns how many lines were printed."""
    s = s or settings()
    start = datetime.now(UTC) - look_back
    printed = 0
    for lines in _batches(start, follow, s, stop):
        for line in lines:
            out(line)
        printed += len(lines)
    return printed


def _batches(start: datetime, follow: bool, s: Settings,
             stop: Callable[[], bool]) -> Iterator[list[str]]:
    if s.is_local:
        path, offset = local_aws.function_log(s, function_name(s)), 0
        while True:
            lines, offset = _local_lines(path, start, offset)
            yield lines
            if not follow or stop():
                return
            time.sleep(FOLLOW_SECONDS["local"])
    group, start_ms, seen = log_group(s), int(start.timestamp() * 1000), set()
    while True:
        lines, start_ms = _aws_lines(group, start_ms, seen, s)
        yield lines
        if not follow or stop():
            return
        time.sleep(FOLLOW_SECONDS["aws"])
