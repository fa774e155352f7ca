"""What is left of a participant's pipeline after cleanup, asked of each service by name.

Deleting the stack deletes what the stack created, but not what was made beside it (the
artifacts bucket holding the zipped transformer) nor anything created by hand while
experimenting. Each finder lists, by the participant's prefix, what still exists and may
still cost money; 99_cleanup runs them after the teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from workshop.config import Settings, client, settings


def _pages(service: str, operation: str, key: str, s: Settings, **kwargs: Any) -> Iterator[Any]:
    api = client(service, s)
    if api.can_paginate(operation):
        for page in api.get_paginator(operation).paginate(**kwargs):
            yield from page.get(key, [])
    else:
        yield from getattr(api, operation)(**kwargs).get(key, [])


def _stack(s: Settings) -> list[str]:
    try:
        stacks = client("cloudformation", s).describe_stacks(StackName=s.stack_name)["Stacks"]
    except ClientError:
        return []
    return [f"{s.stack_name} ({st['StackStatus']})" for st in stacks
            if st["StackStatus"] != "DELETE_COMPLETE"]


def _named(prefix: str, names: Iterator[str]) -> list[str]:
    return sorted(name for name in names if name.startswith(prefix))


FINDERS: dict[str, Callable[[Settings], list[str]]] = {
    "CloudFormation stack": _stack,
    "S3 bucket": lambda s: _named(f"{s.prefix}-", (
        b["Name"] for b in client("s3", s).list_buckets().get("Buckets", []))),
    "DynamoDB table": lambda s: _named(f"{s.prefix}-", _pages(
        "dynamodb", "list_tables", "TableNames", s)),
    "Kinesis stream": lambda s: _named(f"{s.prefix}-", _pages(
        "kinesis", "list_streams", "StreamNames", s)),
    "Firehose stream": lambda s: _named(f"{s.prefix}-", iter(client("firehose", s)
        .list_delivery_streams(Limit=100).get("DeliveryStreamNames", []))),
    "EventBridge Pipe": lambda s: _named(f"{s.prefix}-", (
        p["Name"] for p in _pages("pipes", "list_pipes", "Pipes", s, NamePrefix=s.prefix))),
    "Lambda function": lambda s: _named(f"{s.prefix}-", (
        f["FunctionName"] for f in _pages("lambda", "list_functions", "Functions", s))),
    "Glue database": lambda s: _named(f"{s.prefix}_", (
        d["Name"] for d in _pages("glue", "get_databases", "DatabaseList", s))),
    "Athena work group": lambda s: _named(f"{s.prefix}-", (
        w["Name"] for w in _pages("athena", "list_work_groups", "WorkGroups", s))),
}


def find(s: Settings | None = None) -> list[str]:
    """Every resource still named for this participant, as "kind: name" lines."""
    s = s or settings()
    found = []
    for kind, finder in FINDERS.items():
        try:
            names = finder(s)
        except (ClientError, BotoCoreError) as error:
            found.append(f"{kind}: could not list ({error}); check it in the console")
            continue
        found.extend(f"{kind}: {name}" for name in names)
    return found


def report(s: Settings | None = None) -> str:
    """A short text: nothing left, or the list of what is left."""
    s = s or settings()
    return summary(find(s), s)


def summary(left: list[str], s: Settings | None = None) -> str:
    """Say that nothing is left, or list what `find` found."""
    s = s or settings()
    if not left:
        return f"Nothing named for {s.prefix!r} is left on the {s.target} target."
    return (f"{len(left)} resource(s) named for {s.prefix!r} are left on the {s.target} "
            "target:\n" + "\n".join(f"  {line}" for line in left))
