"""Deploy, read and remove the pipeline's CloudFormation stack, on either target.

The same template (`cloudformation/pipeline.yaml`) and the same calls serve both targets: the
transformer is zipped from `lambda/`, uploaded to an artifacts bucket, and the stack is created
with boto3 waiters. Locally the CloudFormation service is moto, taught by `workshop.local.models`
to create the resource types it would otherwise skip.
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from workshop.config import LAMBDA_DIR, TEMPLATE_PATH, Settings, client, settings


class StackError(RuntimeError):
    """The pipeline stack could not be deployed, read or removed."""


class StackNotDeployed(StackError):
    """The pipeline stack does not exist yet."""


FAILED_STATES = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "ROLLBACK_IN_PROGRESS",
                 "DELETE_FAILED", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED"}


def package_lambda() -> tuple[bytes, str]:
    """Zip the transformer's .py files (and nothing else) reproducibly; return bytes and sha256."""
    sources = sorted(p for p in LAMBDA_DIR.glob("*.py") if p.is_file())
    if not sources:
        raise StackError(f"No Lambda source found in {LAMBDA_DIR}; is the checkout complete?")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sources:
            info = zipfile.ZipInfo(path.name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def account_id(s: Settings | None = None) -> str:
    """The account the target runs in (moto's fixed 123456789012 locally)."""
    return client("sts", s).get_caller_identity()["Account"]


def artifacts_bucket_name(s: Settings | None = None) -> str:
    """The bucket that holds the zipped transformer for this participant."""
    s = s or settings()
    return f"{s.prefix}-artifacts-{account_id(s)}-{s.region}"


def _ensure_artifacts_bucket(s: Settings) -> str:
    s3 = client("s3", s)
    name = artifacts_bucket_name(s)
    try:
        s3.head_bucket(Bucket=name)
        return name
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
            raise StackError(f"Cannot use artifacts bucket {name}: {error}") from error
    kwargs: dict[str, Any] = {"Bucket": name}
    if s.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": s.region}
    s3.create_bucket(**kwargs)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    return name


def upload_lambda(s: Settings | None = None) -> tuple[str, str]:
    """Upload the transformer zip under a content-addressed key; return (bucket, key)."""
    s = s or settings()
    data, digest = package_lambda()
    bucket = _ensure_artifacts_bucket(s)
    key = f"lambda/transformer-{digest[:16]}.zip"
    client("s3", s).put_object(Bucket=bucket, Key=key, Body=data)
    return bucket, key


def describe(s: Settings | None = None) -> dict[str, Any] | None:
    """The stack's description, or None when it does not exist."""
    s = s or settings()
    try:
        stacks = client("cloudformation", s).describe_stacks(StackName=s.stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    live = [st for st in stacks if st["StackStatus"] != "DELETE_COMPLETE"]
    return live[0] if live else None


def outputs(s: Settings | None = None) -> dict[str, str]:
    """Every Output of the deployed stack as a dict, e.g. outputs()["BucketName"]."""
    s = s or settings()
    stack = describe(s)
    if stack is None:
        raise StackNotDeployed(
            f"Stack {s.stack_name} is not deployed on the {s.target} target: run `workshop deploy` "
            "(or stack.deploy() in a notebook) first."
        )
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _parameters(values: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in sorted(values.items())]


def first_failure(s: Settings | None = None) -> str:
    """The first resource that failed in the stack's events, with its reason."""
    s = s or settings()
    try:
        events = client("cloudformation", s).describe_stack_events(StackName=s.stack_name)
    except ClientError:
        return "no stack events are available"
    failed = [e for e in reversed(events["StackEvents"])
              if e.get("ResourceStatus", "").endswith("FAILED")]
    if not failed:
        return "no resource reported a failure"
    e = failed[0]
    return (f"{e['LogicalResourceId']} ({e['ResourceType']}): "
            f"{e.get('ResourceStatusReason', 'no reason given')}")


def deploy(
    parameters: Mapping[str, Any] | None = None,
    s: Settings | None = None,
    on_status: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """Create the stack (or leave it as it is when nothing changed) and return its Outputs.

    `parameters` overrides template parameters, e.g. {"BufferIntervalSeconds": 10}.
    """
    s = s or settings()
    report = on_status or (lambda _msg: None)
    bucket, key = upload_lambda(s)
    wanted = {"Prefix": s.prefix, "LambdaCodeBucket": bucket, "LambdaCodeKey": key,
              **(parameters or {})}
    body = TEMPLATE_PATH.read_text()
    cfn = client("cloudformation", s)
    existing = describe(s)
    if existing is not None:
        # moto never finishes a stack it left in progress: only a teardown helps.
        stuck = s.is_local and existing["StackStatus"].endswith("IN_PROGRESS")
        if existing["StackStatus"] in FAILED_STATES or stuck:
            raise StackError(
                f"Stack {s.stack_name} is {existing['StackStatus']} "
                f"({first_failure(s)}): run `workshop teardown`, then deploy again."
            )
        current = {p["ParameterKey"]: p["ParameterValue"] for p in existing.get("Parameters", [])}
        same_params = all(current.get(k) == str(v) for k, v in wanted.items())
        same_template = cfn.get_template(StackName=s.stack_name)["TemplateBody"] == body
        if same_params and same_template:
            report(f"Stack {s.stack_name} is up to date")
            return outputs(s)
        if s.is_local:
            # moto's update_stack reports success without applying anything: recreate instead.
            report(f"Stack {s.stack_name} changed: recreating it on the local AWS")
            teardown(s, report)
        else:
            return _update(cfn, s, body, wanted, report)
    report(f"Creating stack {s.stack_name}")
    try:
        cfn.create_stack(StackName=s.stack_name, TemplateBody=body,
                         Parameters=_parameters(wanted),
                         Capabilities=["CAPABILITY_NAMED_IAM", "CAPABILITY_IAM"],
                         Tags=[{"Key": "workshop", "Value": "gadget-sales"},
                               {"Key": "participant", "Value": s.prefix}])
        _wait(cfn, "stack_create_complete", s)
    except ClientError as error:
        raise StackError(
            f"Creating stack {s.stack_name} failed: {error.response['Error'].get('Message')} "
            f"[{first_failure(s)}]. Fix the template or parameters, run `workshop teardown`, "
            "then deploy again."
        ) from error
    report(f"Stack {s.stack_name} is CREATE_COMPLETE")
    return outputs(s)


def _update(cfn: Any, s: Settings, body: str, wanted: Mapping[str, Any],
            report: Callable[[str], None]) -> dict[str, str]:
    report(f"Updating stack {s.stack_name}")
    try:
        cfn.update_stack(StackName=s.stack_name, TemplateBody=body,
                         Parameters=_parameters(wanted),
                         Capabilities=["CAPABILITY_NAMED_IAM", "CAPABILITY_IAM"])
    except ClientError as error:
        if "No updates are to be performed" in str(error):
            report(f"Stack {s.stack_name} is up to date")
            return outputs(s)
        raise StackError(f"Updating stack {s.stack_name} failed: {error}") from error
    _wait(cfn, "stack_update_complete", s)
    return outputs(s)


def _wait(cfn: Any, waiter_name: str, s: Settings) -> None:
    delay = 1 if s.is_local else 10
    try:
        cfn.get_waiter(waiter_name).wait(
            StackName=s.stack_name, WaiterConfig={"Delay": delay, "MaxAttempts": 360})
    except WaiterError as error:
        raise StackError(
            f"Stack {s.stack_name} did not finish ({waiter_name}): {first_failure(s)}. "
            "Run `workshop teardown`, fix the cause, then deploy again."
        ) from error


def empty_bucket(bucket: str, s: Settings | None = None) -> int:
    """Delete every object version and delete marker in `bucket`; return how many went."""
    s3 = client("s3", s)
    removed = 0
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
        for page in pages:
            doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                      for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            for start in range(0, len(doomed), 1000):
                chunk = doomed[start:start + 1000]
                s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
                removed += len(chunk)
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchBucket":
            raise
    return removed


def teardown(s: Settings | None = None, on_status: Callable[[str], None] | None = None) -> None:
    """Empty the stack's bucket and delete the stack, waiting until it is gone."""
    s = s or settings()
    report = on_status or (lambda _msg: None)
    stack = describe(s)
    if stack is None:
        report(f"Stack {s.stack_name} does not exist on the {s.target} target: nothing to do")
        return
    bucket = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}.get("BucketName")
    if bucket:
        report(f"Emptied s3://{bucket}: {empty_bucket(bucket, s)} object versions deleted")
    cfn = client("cloudformation", s)
    cfn.delete_stack(StackName=s.stack_name)
    deadline = time.monotonic() + (60 if s.is_local else 1800)
    while describe(s) is not None:
        if time.monotonic() > deadline:
            raise StackError(f"Stack {s.stack_name} is still being deleted: {first_failure(s)}")
        time.sleep(0.2 if s.is_local else 10)
    report(f"Stack {s.stack_name} deleted")
