"""The pipeline doctor: count what sits at every stage, name where data stops, and why.

Used when a wait times out (the demo, the notebooks) and by `workshop doctor`: instead of
"timed out", the learner reads "the table holds 2,000 orders, Kinesis 0 records: the pipe is
STOPPED", with the fix. Each cause is found from evidence (the pipe's state, the age of the
records still waiting, the object keys against the table's projection template, the bytes of
the objects, the error records' messages, the work group's settings), never guessed.

Counts come from the same APIs on both targets. One does not: what Firehose has taken in is
the local runtime's checkpoint locally, and CloudWatch's `DataReadFromKinesisStream.Records`
on AWS (minutes behind, and absent until Firehose has read something). A count that cannot be
had is shown as "unknown", never as a number that might be wrong.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from workshop import delivered, local_aws
from workshop.config import Settings, client, settings
from workshop.records.formats import Buffering
from workshop.records.projection import projected
from workshop.records.shards import read_kinesis, read_table_stream
from workshop.stack import outputs

TABLE = "items in the table"
STREAM = "records in the table's stream"
KINESIS = "records in Kinesis"
FIREHOSE = "records Firehose took in"
OBJECTS = "objects under orders/"
LINES = "records under orders/"
ERRORS = "records under errors/"
ROWS = "rows Athena returns"
FLOW = (TABLE, STREAM, KINESIS, FIREHOSE, LINES, ROWS)  # the data's path, in order
FLUSH_SLACK_SECONDS = 30.0  # beyond the buffering intervals, before "not flushing" is said
MAX_RECORDS = 100_000  # stop counting a stream's records here (a workshop holds far fewer)


@dataclass(frozen=True)
class Stage:
    """One stage of the journey and how many records it holds (None: unknown)."""

    name: str
    count: int | None
    note: str = ""  # where the count comes from, or why it is unknown
    failed: bool = False  # the stage refused to answer (a query error): data stops here


@dataclass(frozen=True)
class Finding:
    """A cause found from evidence, at a stage, with its fix."""

    stage: str
    cause: str
    fix: str
    evidence: str

    def __str__(self) -> str:
        return f"{self.cause}\n    evidence: {self.evidence}\n    fix: {self.fix}"


@dataclass
class Diagnosis:
    """Every stage's count, where data stops (if it does), and the causes found."""

    stages: list[Stage]
    findings: list[Finding] = field(default_factory=list)
    stopped_at: str | None = None

    def count(self, name: str) -> int | None:
        """The count of a stage by its name (None when unknown)."""
        return next(stage.count for stage in self.stages if stage.name == name)

    @property
    def causes(self) -> list[str]:
        """The causes found, most likely first."""
        return [finding.cause for finding in self.findings]

    def __str__(self) -> str:
        width = max(len(str(stage.count)) for stage in self.stages)
        lines = [f"  {'unknown' if stage.count is None else stage.count:>{max(width, 7)}} "
                 f"{stage.name}" + (f" ({stage.note})" if stage.note else "")
                 for stage in self.stages]
        if self.stopped_at:
            lines.append(f"Data stops before '{self.stopped_at}'.")
        elif not self.findings:
            lines.append("Data reaches every stage.")
        lines += [f"- {finding}" for finding in self.findings]
        return "\n".join(lines)


# --- counting ----------------------------------------------------------------------------------


@dataclass
class _Evidence:
    """What the checks found beyond the counts."""

    pipe_state: str | None = None
    runtime_up: bool | None = None  # local target only
    pending_since: float | None = None  # epoch seconds of the oldest record Firehose still holds
    flush_seconds: float | None = None
    objects: list[dict[str, Any]] = field(default_factory=list)
    bodies: dict[str, bytes] = field(default_factory=dict)
    error_records: list[dict[str, Any]] = field(default_factory=list)
    query_error: str | None = None
    output_location: str | None = None
    work_group: str | None = None
    template: str | None = None  # the orders table's storage.location.template
    projection: dict[str, str] = field(default_factory=dict)
    stream_enabled: bool | None = None


def _kinesis_records(stream: str, s: Settings) -> list[dict[str, Any]]:
    found = read_kinesis(client("kinesis", s), stream)
    return [dict(record, ShardId=shard_id) for shard_id, record in islice(found, MAX_RECORDS)]


def _stream_count(table: str, s: Settings, evidence: _Evidence) -> int:
    description = client("dynamodb", s).describe_table(TableName=table)["Table"]
    spec = description.get("StreamSpecification") or {}
    evidence.stream_enabled = bool(spec.get("StreamEnabled"))
    arn = description.get("LatestStreamArn")
    if not arn:
        return 0
    records = read_table_stream(client("dynamodbstreams", s), arn)
    return sum(1 for _ in islice(records, MAX_RECORDS))


def _firehose_local(name: str, records: list[dict[str, Any]], s: Settings) -> int:
    """Kinesis records at or before the local runtime's checkpoint: read and flushed."""
    checkpoint = local_aws.hop_position(s, "firehose", name)
    return sum(1 for r in records if (last := checkpoint.get(r["ShardId"])) is not None
               and int(r["SequenceNumber"]) <= int(last))


def _firehose_cloudwatch(name: str, s: Settings) -> int | None:
    now = datetime.now(UTC)
    answer = client("cloudwatch", s).get_metric_statistics(
        Namespace="AWS/Firehose", MetricName="DataReadFromKinesisStream.Records",
        Dimensions=[{"Name": "DeliveryStreamName", "Value": name}],
        StartTime=now - timedelta(hours=24), EndTime=now, Period=86_400, Statistics=["Sum"])
    points = answer.get("Datapoints", [])
    return int(sum(p["Sum"] for p in points)) if points else None


def _flush_seconds(name: str, s: Settings) -> float:
    """The longest a record may wait in Firehose: the processor's and the S3 intervals."""
    destination = client("firehose", s).describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]
    override = s.local_buffer_seconds if s.is_local else None
    return override if override is not None else Buffering.of(destination).longest_wait


def _count_json(body: bytes) -> int:
    """JSON records in an object, also when lines hold several (no newline between them)."""
    decoder = json.JSONDecoder()
    total = 0
    for line in body.decode("utf-8", errors="replace").splitlines():
        text, position = line.strip(), 0
        while position < len(text):
            try:
                _, end = decoder.raw_decode(text, position)
            except ValueError:
                break
            total += 1
            position = end
            while position < len(text) and text[position].isspace():
                position += 1
    return total


def census(s: Settings | None = None, evidence: _Evidence | None = None) -> list[Stage]:
    """How many items, records, objects and rows each stage holds right now, in order."""
    from workshop import athena

    s = s or settings()
    evidence = evidence if evidence is not None else _Evidence()
    found = outputs(s)
    bucket = found["BucketName"]
    stages = [Stage(TABLE, _table_count(found["TableName"], s))]
    stages.append(Stage(STREAM, _stream_count(found["TableName"], s, evidence)))
    records = _kinesis_records(found["KinesisStreamName"], s)
    stages.append(Stage(KINESIS, len(records)))
    hose = found["DeliveryStreamName"]
    if s.is_local:
        taken = _firehose_local(hose, records, s)
        stages.append(Stage(FIREHOSE, taken, "flushed, from the local runtime's checkpoint"))
        pending = _pending_local(hose, records, s)
    else:
        try:
            taken = _firehose_cloudwatch(hose, s)
        except (ClientError, BotoCoreError) as error:
            taken, why = None, f"CloudWatch: {error}"
        else:
            why = ("CloudWatch, minutes behind" if taken is not None
                   else "CloudWatch has no data point yet")
        stages.append(Stage(FIREHOSE, taken, why))
        pending = []
    reader = delivered.BucketReader(bucket, s)
    keys = reader.under(delivered.orders_prefix())
    evidence.objects = [reader.listed[key] for key in keys]
    evidence.bodies = {key: reader.bodies[key] for key in keys}
    if not s.is_local:
        newest = max((o["LastModified"].timestamp() for o in evidence.objects), default=0.0)
        pending = [r for r in records if r["ApproximateArrivalTimestamp"].timestamp() > newest]
    if pending:
        evidence.pending_since = min(r["ApproximateArrivalTimestamp"].timestamp()
                                     for r in pending)
    evidence.flush_seconds = _flush_seconds(hose, s)
    stages.append(Stage(OBJECTS, len(evidence.objects)))
    stages.append(Stage(LINES, sum(_count_json(b) for b in evidence.bodies.values())))
    for key in reader.under(delivered.errors_prefix()):
        for line in reader.bodies[key].splitlines():
            try:
                evidence.error_records.append(json.loads(line))
            except ValueError:
                continue
    stages.append(Stage(ERRORS, len(evidence.error_records)))
    try:
        rows = int(athena.query("SELECT COUNT(*) AS n FROM orders", s)["n"].iloc[0])
        stages.append(Stage(ROWS, rows))
    except athena.QueryError as error:
        evidence.query_error = str(error)
        stages.append(Stage(ROWS, None, "the query failed", failed=True))
    _catalog_evidence(found, s, evidence)
    _process_evidence(found, s, evidence)
    return stages


def _table_count(table: str, s: Settings) -> int:
    pages = client("dynamodb", s).get_paginator("scan").paginate(TableName=table, Select="COUNT")
    return sum(page["Count"] for page in pages)


def _pending_local(name: str, records: list[dict[str, Any]], s: Settings) -> list[dict[str, Any]]:
    checkpoint = local_aws.hop_position(s, "firehose", name)
    return [r for r in records if (last := checkpoint.get(r["ShardId"])) is None
            or int(r["SequenceNumber"]) > int(last)]


def _catalog_evidence(found: dict[str, str], s: Settings, evidence: _Evidence) -> None:
    table = client("glue", s).get_table(DatabaseName=found["GlueDatabaseName"],
                                        Name=found["OrdersTableName"])["Table"]
    parameters = table.get("Parameters") or {}
    evidence.template = parameters.get("storage.location.template")
    evidence.projection = {k: str(v) for k, v in parameters.items() if k.startswith("projection.")}
    evidence.work_group = found.get("AthenaWorkGroupName")
    if evidence.work_group:
        group = client("athena", s).get_work_group(WorkGroup=evidence.work_group)["WorkGroup"]
        result = (group.get("Configuration") or {}).get("ResultConfiguration") or {}
        evidence.output_location = result.get("OutputLocation")


def _process_evidence(found: dict[str, str], s: Settings, evidence: _Evidence) -> None:
    try:
        pipe = client("pipes", s).describe_pipe(Name=found["PipeName"])
        evidence.pipe_state = pipe.get("CurrentState")
    except (ClientError, BotoCoreError, KeyError):
        evidence.pipe_state = None
    if s.is_local:
        # the pid file's process, if it is the runtime and no zombie (a killed one can be)
        evidence.runtime_up = "runtime" in local_aws.status(s).running


# --- evidence checks ---------------------------------------------------------------------------


def projection_misses(keys: list[str], template: str, projection: dict[str, str],
                      bucket: str, now: datetime | None = None) -> list[str]:
    """The keys Athena's partition projection would never read at `now` (default: the current
    time): not in the template's layout, or a value the projection does not make (outside its
    range, e.g. older than a date range relative to NOW, off its format or digits).

    A projection Athena itself would refuse judges no key: the query's own error says why."""
    location = template.removeprefix(f"s3://{bucket}/")
    names = re.findall(r"\$\{(\w+)\}", location)
    pattern = re.escape(location)
    for name in names:
        pattern = pattern.replace(re.escape("${" + name + "}"), f"(?P<{name}>[^/]+)", 1)
    compiled = re.compile(f"^{pattern}[^/]+$")
    now = now or datetime.now(UTC)
    misses = []
    try:
        for key in keys:
            match = compiled.match(key)
            if match is None or not all(projected(projection, n, match.group(n), now)
                                        for n in names):
                misses.append(key)
    except ValueError:  # workshop.records.projection.ProjectionError: properties Athena refuses
        return []
    return misses


def newline_misses(bodies: dict[str, bytes]) -> list[str]:
    """The objects whose records are not one per line, each ending in a newline."""
    return [key for key, body in bodies.items()
            if body and (not body.endswith(b"\n") or _count_json(body) > len(body.splitlines()))]


def _first_stop(stages: list[Stage]) -> str | None:
    """The first stage of the flow holding nothing (or failing) after one that holds data."""
    by_name = {stage.name: stage for stage in stages}
    previous: int | None = None
    for name in FLOW:
        stage = by_name[name]
        if previous and (stage.failed or stage.count == 0):
            return name
        if stage.count is not None:
            previous = stage.count
    return None


def _findings(stages: list[Stage], evidence: _Evidence, s: Settings, found: dict[str, str],
              now: float) -> tuple[str | None, list[Finding]]:
    counts = {stage.name: stage.count for stage in stages}
    stop = _first_stop(stages)
    findings: list[Finding] = []
    if not any(counts[name] for name in (*FLOW, ERRORS)):
        findings.append(Finding(TABLE, "No orders have been written yet.",
                                "run `workshop generate --count 100 --burst` (or notebook 02)",
                                "every stage is empty"))
    if evidence.stream_enabled is False:
        findings.append(Finding(STREAM, "The table has no stream, so no change leaves it.",
                                "keep StreamSpecification (NEW_AND_OLD_IMAGES) in the template "
                                "and run `workshop deploy`", "describe_table shows no stream"))
    if evidence.pipe_state not in (None, "RUNNING"):
        findings.append(Finding(
            KINESIS, f"The EventBridge Pipe is not running (state {evidence.pipe_state}).",
            f"start it: client('pipes').start_pipe(Name='{found['PipeName']}')",
            f"describe_pipe says CurrentState {evidence.pipe_state}"))
    if s.is_local and evidence.runtime_up is False and (counts[STREAM] or counts[KINESIS]):
        findings.append(Finding(
            KINESIS if stop == KINESIS else FIREHOSE,
            "The local runtime, which runs the pipe and Firehose hops, is not running.",
            "`workshop local stop`, then `workshop local start`; see .workshop/local/runtime.log",
            "`workshop local status` lists no runtime process"))
    errors = evidence.error_records
    if errors and not counts[LINES]:
        codes = Counter(f"{e.get('errorCode')}: {e.get('errorMessage')}" for e in errors)
        reason, seen = codes.most_common(1)[0]
        marked = reason.startswith("Lambda.ProcessingFailedStatus")
        findings.append(Finding(
            LINES, "The transformer fails every record: all of them went to errors/.",
            ("fix the producer or the transformer (lambda/transformer.py), then replay the raw "
             "data of the error records") if marked else
            ("the function itself failed (it raised, ran past its Timeout or answered out of "
             "Firehose's contract): `workshop logs` shows why; fix lambda/transformer.py, "
             "`workshop deploy`, then replay the raw data of the error records"),
            f"{len(errors)} error records, {seen} with '{reason}'"
            f"; first raw data: {_raw_sample(errors[0])}"))
    if evidence.pending_since is not None and evidence.flush_seconds is not None:
        age = now - evidence.pending_since
        limit = evidence.flush_seconds + FLUSH_SLACK_SECONDS
        waiting = f"the oldest record not yet delivered reached Kinesis {age:.0f} s ago"
        if age <= limit:
            findings.append(Finding(
                FIREHOSE, "Firehose's buffer has not been flushed yet: the data is on its way.",
                f"wait up to {evidence.flush_seconds:.0f} s (the buffering interval); lower "
                "BufferIntervalSeconds for faster delivery", waiting))
        else:
            findings.append(Finding(
                FIREHOSE, "Firehose is not delivering: records wait longer than its buffer.",
                "check the delivery stream's CloudWatch log (DestinationDelivery) and its role's "
                "S3 and Lambda permissions" + ("; locally `workshop local status`"
                                               if s.is_local else ""),
                f"{waiting}; the buffer holds records {evidence.flush_seconds:.0f} s at most"))
    keys = [o["Key"] for o in evidence.objects]
    if evidence.template and keys:
        misses = projection_misses(keys, evidence.template, evidence.projection,
                                   found["BucketName"])
        if misses:
            findings.append(Finding(
                ROWS, "Object keys do not match the table's partition projection, so Athena "
                "never reads them.",
                "write keys as the template's Firehose Prefix says, and keep that Prefix and the "
                "table's storage.location.template the same layout",
                f"{len(misses)} of {len(keys)} objects, e.g. {misses[0]}, do not fit "
                f"{evidence.template}"))
    broken = newline_misses(evidence.bodies)
    if broken:
        findings.append(Finding(
            ROWS, "Records without newlines: objects hold several JSON records on one line, "
            "which Athena reads as one row (or fails on).",
            "end every record the transformer returns with '\\n'",
            f"{len(broken)} of {len(keys)} objects, e.g. {broken[0]}"))
    if evidence.work_group and not evidence.output_location:
        findings.append(Finding(
            ROWS, "The Athena work group has no result location: on AWS every query fails "
            "with 'No output location provided'.",
            "set WorkGroupConfiguration.ResultConfiguration.OutputLocation (enforced) in the "
            "template and run `workshop deploy`",
            f"work group {evidence.work_group} has no OutputLocation"))
    if evidence.query_error:
        findings.append(Finding(ROWS, "The query over the orders table failed.",
                                "read the reason above; fix the data or the table",
                                evidence.query_error))
    # the cause at the stage where data stops goes first
    order = {name: i for i, name in enumerate(FLOW)}
    findings.sort(key=lambda f: (f.stage != stop, order.get(f.stage, 99)))
    return stop, findings


def _raw_sample(error: dict[str, Any]) -> str:
    import base64
    import binascii

    try:
        raw = base64.b64decode(error.get("rawData", ""), validate=True)
    except (binascii.Error, ValueError):
        return "(not base64)"
    text = raw[:60].decode("utf-8", errors="replace")
    return repr(text + ("..." if len(raw) > 60 else ""))


def diagnose(s: Settings | None = None, now: float | None = None) -> Diagnosis:
    """Count every stage, find where data stops and the causes; print it for a report."""
    s = s or settings()
    evidence = _Evidence()
    stages = census(s, evidence)
    stop, findings = _findings(stages, evidence, s, outputs(s),
                               time.time() if now is None else now)
    return Diagnosis(stages, findings, stop)

