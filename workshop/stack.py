"""Deploy, read and remove the pipeline's CloudFormation stack, on either target.

The same template (`cloudformation/pipeline.yaml`) and the same calls serve both targets: the
transformer is zipped from `lambda/`, uploaded to an artifacts bucket, and the stack is created
with boto3 waiters. Locally the CloudFormation service is moto, taught by
`workshop.local.aws.models` to create the resource types it would otherwise skip.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, WaiterError
from botocore.parsers import ResponseParserError

from workshop import leftovers, template
from workshop.config import LAMBDA_DIR, TEMPLATE_PATH, Settings, client, settings
from workshop.cost import Estimate, estimate
from workshop.errors import WorkshopError


class StackError(WorkshopError, RuntimeError):
    """The pipeline stack could not be deployed, read or removed."""


class StackNotDeployed(StackError):
    """The pipeline stack does not exist yet."""


class DeployNotConfirmed(StackError):
    """The aws deploy was not confirmed, so nothing was created."""


# States a stack cannot be updated from: only deleting it helps. (UPDATE_ROLLBACK_COMPLETE is
# not one: the stack is back as it was and takes the next update.)
# The template names no IAM resource (roles get generated names), so CAPABILITY_IAM is enough:
# CAPABILITY_NAMED_IAM is for templates that name their roles
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/control-access-with-iam.html).
CAPABILITIES = ["CAPABILITY_IAM"]

# Every stack of the workshop carries these tags: the class view finds participants by them.
WORKSHOP_TAG = ("workshop", "gadget-sales")
PARTICIPANT_TAG = "participant"  # its value is the participant's prefix
FAILED_STATES = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "ROLLBACK_IN_PROGRESS",
                 "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"}


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


def lambda_key(digest: str) -> str:
    """The artifacts key of a transformer zip: named by its content, so a change is a new key."""
    return f"lambda/transformer-{digest[:16]}.zip"


def upload_lambda(s: Settings | None = None) -> tuple[str, str]:
    """Upload the transformer zip under a content-addressed key; return (bucket, key)."""
    s = s or settings()
    data, digest = package_lambda()
    bucket = _ensure_artifacts_bucket(s)
    key = lambda_key(digest)
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
    except ResponseParserError as error:
        if not s.is_local:
            raise
        # moto cannot describe a stack whose creation stopped part way (it retries the failed
        # resource and answers in JSON): report it as AWS would, a failed creation.
        return {"StackName": s.stack_name, "StackStatus": "CREATE_FAILED",
                "StackStatusReason": _reason(error), "Outputs": [], "Parameters": []}
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
    return _outputs_of(stack)


def _outputs_of(stack: dict[str, Any]) -> dict[str, str]:
    """The Outputs of a stack description as a dict."""
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _parameters(values: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in sorted(values.items())]


def first_failure(s: Settings | None = None) -> str:
    """The first resource that failed in the stack's events, with its reason.

    Events come newest first, a page at a time: every page is read, so the first failure of a
    long deploy is found however many events followed it.
    """
    s = s or settings()
    try:
        pages = client("cloudformation", s).get_paginator("describe_stack_events").paginate(
            StackName=s.stack_name)
        events = [event for page in pages for event in page["StackEvents"]]
    except ClientError:
        return "no stack events are available"
    failed = [e for e in reversed(events) if e.get("ResourceStatus", "").endswith("FAILED")]
    if not failed:
        return "no resource reported a failure"
    e = failed[0]
    return (f"{e['LogicalResourceId']} ({e['ResourceType']}): "
            f"{e.get('ResourceStatusReason', 'no reason given')}")


@dataclass(frozen=True)
class DeployPlan:
    """What a deploy is about to do, where, and what it will cost: shown before anything is made."""

    target: str
    account: str
    region: str
    stack_name: str
    action: str  # "create", "update" or "none"
    parameters: dict[str, str]
    cost: Estimate | None  # None on the local target: nothing is billed

    def __str__(self) -> str:
        verb = {"create": "Create", "update": "Update", "none": "Leave unchanged"}[self.action]
        lines = [f"{verb} stack {self.stack_name}",
                 f"  target   {self.target}",
                 f"  account  {self.account}",
                 f"  region   {self.region}"]
        if self.cost is None:
            lines.append("  cost     nothing: the local target runs on this machine")
        else:
            lines.append(str(self.cost))
        return "\n".join(lines)


# Parameters the deploy sets itself: the prefix from WORKSHOP_PREFIX, the code it uploads.
MANAGED_PARAMETERS = {"Prefix": "set WORKSHOP_PREFIX instead",
                      "LambdaCodeBucket": "the deploy uploads the transformer itself",
                      "LambdaCodeKey": "the deploy uploads the transformer itself"}


def check_parameters(parameters: Mapping[str, Any] | None) -> None:
    """Refuse a parameter the deploy sets itself, an undeclared one, or a value the template's
    rule does not allow (as CloudFormation would), before anything is asked of AWS."""
    for name in parameters or {}:
        if name in MANAGED_PARAMETERS:
            raise template.ParameterError(
                f"Parameter {name!r} is set by the deploy, not by -p: "
                f"{MANAGED_PARAMETERS[name]}.")
    template.check_parameters(parameters or {})


def _wanted(parameters: Mapping[str, Any] | None, s: Settings) -> dict[str, str]:
    _data, digest = package_lambda()
    wanted = {"Prefix": s.prefix, "LambdaCodeBucket": artifacts_bucket_name(s),
              "LambdaCodeKey": lambda_key(digest), **(parameters or {})}
    return {key: str(value) for key, value in wanted.items()}


def plan(parameters: Mapping[str, Any] | None = None, s: Settings | None = None) -> DeployPlan:
    """What `deploy(parameters)` would do, in which account and region, at what hourly cost."""
    s = s or settings()
    check_parameters(parameters)
    return _plan(parameters, s, describe(s))


def _plan(parameters: Mapping[str, Any] | None, s: Settings,
          existing: dict[str, Any] | None) -> DeployPlan:
    """The plan against the stack as `existing` describes it (None: there is none)."""
    wanted = _wanted(parameters, s)
    if existing is None:
        action = "create"
    else:
        current = {p["ParameterKey"]: p["ParameterValue"] for p in existing.get("Parameters", [])}
        body = client("cloudformation", s).get_template(StackName=s.stack_name)["TemplateBody"]
        unchanged = body == TEMPLATE_PATH.read_text() and all(
            current.get(k) == v for k, v in wanted.items())
        action = "none" if unchanged else "update"
    return DeployPlan(target=s.target, account=account_id(s), region=s.region,
                      stack_name=s.stack_name, action=action, parameters=wanted,
                      cost=None if s.is_local else estimate(parameters))


def ask(deploy_plan: DeployPlan) -> bool:
    """Ask at the terminal (or the notebook's input box) whether to go ahead; yes means yes."""
    try:
        answer = input(f"{deploy_plan.action.capitalize()} these resources in account "
                       f"{deploy_plan.account} ({deploy_plan.region})? Type yes to go on: ")
    except (EOFError, OSError, NotImplementedError):
        raise DeployNotConfirmed(
            "The aws target needs your confirmation before it creates anything, and nothing "
            "can be asked here. Read the plan above, then run `workshop deploy --yes` "
            "(or stack.deploy(..., confirm=True) in a notebook)."
        ) from None
    return answer.strip().lower() in ("yes", "y")


def deploy(
    parameters: Mapping[str, Any] | None = None,
    s: Settings | None = None,
    on_status: Callable[[str], None] | None = None,
    confirm: bool | Callable[[DeployPlan], bool] = ask,
) -> dict[str, str]:
    """Create the stack (or leave it as it is when nothing changed) and return its Outputs.

    `parameters` overrides template parameters, e.g. {"BufferIntervalSeconds": 10}. On the aws
    target the plan (account, region, stack, hourly cost) is shown first and `confirm` must
    approve it: True, or a function of the plan (by default a question at the prompt).
    """
    s = s or settings()
    report = on_status or (lambda _msg: None)
    check_parameters(parameters)
    existing = describe(s)
    if existing is not None:
        # moto never finishes a stack it left in progress: only a teardown helps.
        stuck = s.is_local and existing["StackStatus"].endswith("IN_PROGRESS")
        if existing["StackStatus"] in FAILED_STATES or stuck:
            why = existing.get("StackStatusReason") or first_failure(s)
            raise StackError(
                f"Stack {s.stack_name} is {existing['StackStatus']} ({why}): "
                "run `workshop teardown`, then deploy again."
            )
    intended = _plan(parameters, s, existing)
    if intended.action == "none":
        report(f"Stack {s.stack_name} is up to date")
        return _outputs_of(existing)  # "none" means it exists, as described above
    if not s.is_local:
        report(str(intended))
        approved = confirm(intended) if callable(confirm) else confirm
        if not approved:
            raise DeployNotConfirmed(
                f"Deploy of {s.stack_name} cancelled: nothing was created or changed.")
    bucket, key = upload_lambda(s)
    wanted = {**intended.parameters, "LambdaCodeBucket": bucket, "LambdaCodeKey": key}
    body = TEMPLATE_PATH.read_text()
    cfn = client("cloudformation", s)
    if intended.action == "update":
        return _update(cfn, s, body, wanted, report)
    report(f"Creating stack {s.stack_name}")
    _create(cfn, s, body, wanted, report)
    made = describe(s) or {}
    report(f"Stack {s.stack_name} is {made.get('StackStatus')}")
    return _outputs_of(made)


# A pipe created on a brand-new table stream can fail to reach it (aws-cdk#31211,
# terraform-provider-aws#40572): "Cannot access stream ... Please ensure the role can perform
# actions on source stream". It passes once the stream and the role's policy have settled.
PIPE_RACE = "Cannot access stream"
CREATE_ATTEMPTS = 3


def _create(cfn: Any, s: Settings, body: str, wanted: Mapping[str, Any],
            report: Callable[[str], None]) -> None:
    """Create the stack, keeping what was made if a resource fails (DisableRollback), and
    resume the creation with an update when the failure is the pipe's known race.

    "If you choose the Preserve successfully provisioned resources option, CloudFormation
    preserves the state of resources that were successfully created and leaves the failed ones
    in a failed state until the next update operation is performed."
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stack-failure-options.html
    """
    try:
        cfn.create_stack(StackName=s.stack_name, TemplateBody=body,
                         Parameters=_parameters(wanted), Capabilities=CAPABILITIES,
                         DisableRollback=True,
                         Tags=[{"Key": WORKSHOP_TAG[0], "Value": WORKSHOP_TAG[1]},
                               {"Key": PARTICIPANT_TAG, "Value": s.prefix}])
    except (ClientError, ResponseParserError) as error:
        raise _create_failed(s, _reason(error)) from error
    waiter, attempt = "stack_create_complete", 1
    while True:
        try:
            _wait(cfn, waiter, s)
            return
        except StackError as error:
            failure = first_failure(s)
            if PIPE_RACE not in failure or attempt >= CREATE_ATTEMPTS:
                raise _create_failed(s, failure) from error
        attempt += 1
        pause = 1.0 if s.is_local else PIPE_RACE_WAIT_SECONDS
        report(f"The pipe could not read the new table stream yet ({PIPE_RACE}, a known AWS "
               f"race on new streams): waiting {pause:.0f} s, then resuming the creation "
               f"(attempt {attempt} of {CREATE_ATTEMPTS}); the table and roles are kept")
        _sleep(pause)
        cfn.update_stack(StackName=s.stack_name, TemplateBody=body,
                         Parameters=_parameters(wanted), Capabilities=CAPABILITIES,
                         DisableRollback=True)
        waiter = "stack_update_complete"


PIPE_RACE_WAIT_SECONDS = 60.0  # terraform-provider-aws#40572: the race passes within a minute or so
_sleep = time.sleep  # replaced by tests that must not wait


def _create_failed(s: Settings, why: str) -> StackError:
    return StackError(
        f"Creating stack {s.stack_name} failed: {why}. The resources made so far are kept: "
        "fix the cause, run `workshop teardown`, then deploy again.")


def _reason(error: ClientError | ResponseParserError) -> str:
    """The service's own words: moto's CloudFormation answers a failed resource in JSON."""
    if isinstance(error, ClientError):
        return str(error.response["Error"].get("Message") or error)
    found = re.search(r'"__type": "(\w+)", "message": "([^"]*)"', str(error))
    return f"{found[1]}: {found[2]}" if found else str(error)


def _update(cfn: Any, s: Settings, body: str, wanted: Mapping[str, Any],
            report: Callable[[str], None]) -> dict[str, str]:
    report(f"Updating stack {s.stack_name}")
    try:
        cfn.update_stack(StackName=s.stack_name, TemplateBody=body,
                         Parameters=_parameters(wanted),
                         Capabilities=CAPABILITIES)
    except ClientError as error:
        if "No updates are to be performed" in str(error):
            report(f"Stack {s.stack_name} is up to date")
            return outputs(s)
        raise StackError(f"Updating stack {s.stack_name} failed: {error}") from error
    _wait(cfn, "stack_update_complete", s)
    report(f"Stack {s.stack_name} is UPDATE_COMPLETE")
    return outputs(s)


def _wait(cfn: Any, waiter_name: str, s: Settings) -> None:
    delay = 1 if s.is_local else 10
    try:
        cfn.get_waiter(waiter_name).wait(
            StackName=s.stack_name, WaiterConfig={"Delay": delay, "MaxAttempts": 360})
    except WaiterError as error:
        step = {
            "stack_delete_complete": "Look at the resource above in the CloudFormation console, "
                                     "remove what holds it, then run `workshop teardown` again.",
            "stack_update_complete": "The update was rolled back: the stack and its data are as "
                                     "they were. Change the template or parameters as the reason "
                                     "says, then deploy again.",
        }.get(waiter_name, "Run `workshop teardown`, fix the cause, then deploy again.")
        raise StackError(f"Stack {s.stack_name} did not finish ({waiter_name}): "
                         f"{first_failure(s).rstrip('.')}. {step}") from error


EMPTY_ATTEMPTS = 3


def empty_bucket(bucket: str, s: Settings | None = None) -> int:
    """Delete every object version and delete marker in `bucket`; return how many went.

    DeleteObjects names each key it could not delete in `Errors`, even in quiet mode
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html): those are tried
    again, and a key that still fails is an error naming it, never silence.
    """
    s3 = client("s3", s)
    removed = 0
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
        for page in pages:
            doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                      for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            for start in range(0, len(doomed), 1000):
                removed += _delete_versions(s3, bucket, doomed[start:start + 1000])
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchBucket":
            raise
    return removed


def _delete_versions(s3: Any, bucket: str, chunk: list[dict[str, str]]) -> int:
    """Delete up to 1,000 object versions, trying failed ones again; return how many went."""
    pending = chunk
    for attempt in range(1, EMPTY_ATTEMPTS + 1):
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": pending, "Quiet": True})
        errors = answer.get("Errors", [])
        if not errors:
            return len(chunk)
        failed = {(e.get("Key"), e.get("VersionId")) for e in errors}
        pending = [v for v in pending if (v["Key"], v["VersionId"]) in failed]
        if attempt == EMPTY_ATTEMPTS:
            first = errors[0]
            raise StackError(
                f"Could not delete {len(errors)} object version(s) from s3://{bucket}, e.g. "
                f"{first.get('Key')} ({first.get('Code')}: {first.get('Message')}). Check the "
                "bucket's policy and object lock, then run `workshop teardown` again.")
        _sleep(2 ** attempt * 0.5)
    raise AssertionError("unreachable")


def stack_buckets(s: Settings | None = None) -> list[str]:
    """The buckets the stack created, read from its resources (a half-made stack has no Outputs)."""
    return [r["PhysicalResourceId"] for r in _stack_resources(s or settings())
            if r["ResourceType"] == "AWS::S3::Bucket"]


DELETE_ATTEMPTS = 3


def _stack_resources(s: Settings) -> list[dict[str, Any]]:
    """The stack's resources that still exist (a half-made stack has no Outputs)."""
    try:
        pages = client("cloudformation", s).get_paginator("list_stack_resources").paginate(
            StackName=s.stack_name)
        return [r for page in pages for r in page["StackResourceSummaries"]
                if r.get("PhysicalResourceId") and r.get("ResourceStatus") != "DELETE_COMPLETE"]
    except (ClientError, ResponseParserError):
        return []


def stop_delivery(s: Settings | None = None,
                  on_status: Callable[[str], None] | None = None) -> None:
    """Delete the stack's delivery streams, waiting until they are gone: after that nothing more
    is written to the bucket, so emptying it is final.

    Firehose holds buffered records and writes them when its buffer is due, also while the
    bucket is being emptied; an object that lands then fails the stack's delete. "While the
    delivery stream is in the DELETING state, the service might continue to accept records":
    so the wait is until it is gone (CloudFormation counts a resource already deleted as deleted).
    https://docs.aws.amazon.com/firehose/latest/APIReference/API_DeleteDeliveryStream.html
    """
    s = s or settings()
    report = on_status or (lambda _msg: None)
    firehose = client("firehose", s)
    names = [r["PhysicalResourceId"] for r in _stack_resources(s)
             if r["ResourceType"] == "AWS::KinesisFirehose::DeliveryStream"]
    for name in names:
        try:
            firehose.delete_delivery_stream(DeliveryStreamName=name, AllowForceDelete=True)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            continue
        deadline = time.monotonic() + (30 if s.is_local else 600)
        while time.monotonic() < deadline:
            try:
                firehose.describe_delivery_stream(DeliveryStreamName=name)
            except ClientError as error:
                if error.response["Error"]["Code"] == "ResourceNotFoundException":
                    break
                raise
            _sleep(0.2 if s.is_local else 5)
        else:
            raise StackError(f"Delivery stream {name} is still being deleted after "
                             f"{'30 s' if s.is_local else '10 minutes'}; run `workshop teardown` "
                             "again in a minute.")
        report(f"Deleted delivery stream {name}: nothing more is written to the bucket")


def delete_stack(s: Settings | None = None,
                 on_status: Callable[[str], None] | None = None) -> None:
    """Stop the delivery, empty the stack's buckets and delete the stack, waiting until it is
    gone (if it exists); a delete that fails on a bucket written to meanwhile is tried again."""
    s = s or settings()
    report = on_status or (lambda _msg: None)
    if describe(s) is None:
        report(f"Stack {s.stack_name} does not exist on the {s.target} target: nothing to delete")
        return
    stop_delivery(s, report)
    cfn = client("cloudformation", s)
    for attempt in range(1, DELETE_ATTEMPTS + 1):
        # CloudFormation cannot delete a bucket that holds objects (DELETE_FAILED): empty it.
        for bucket in stack_buckets(s):
            report(f"Emptied s3://{bucket}: {empty_bucket(bucket, s)} object versions deleted")
        report(f"Deleting stack {s.stack_name}")
        cfn.delete_stack(StackName=s.stack_name)
        try:
            _wait(cfn, "stack_delete_complete", s)
        except StackError:
            stuck = describe(s)
            if stuck is None or stuck["StackStatus"] != "DELETE_FAILED" or (
                    attempt == DELETE_ATTEMPTS):
                raise
            report(f"Stack {s.stack_name} is DELETE_FAILED ({first_failure(s)}): something "
                   "wrote to a bucket after it was emptied; emptying it again and deleting "
                   f"again (attempt {attempt + 1} of {DELETE_ATTEMPTS})")
            continue
        report(f"Stack {s.stack_name} deleted")
        return


def remove_artifacts_bucket(s: Settings | None = None) -> str:
    """Empty and delete the bucket the deploy step uploads the transformer to (not in the stack)."""
    s = s or settings()
    name = artifacts_bucket_name(s)
    removed = empty_bucket(name, s)
    try:
        client("s3", s).delete_bucket(Bucket=name)
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchBucket":
            return f"s3://{name} does not exist: nothing to remove"
        raise
    return f"Deleted s3://{name} and its {removed} object version(s)"


def teardown(s: Settings | None = None,
             on_status: Callable[[str], None] | None = None) -> list[str]:
    """Delete the stack and the artifacts bucket, then list what is still named for the prefix.

    Works on a half-created stack and on one that is already gone; it only ever deletes this
    prefix's stack and artifacts bucket. Returns the leftovers (empty when all is gone).
    """
    s = s or settings()
    report = on_status or (lambda _msg: None)
    delete_stack(s, report)
    report(remove_artifacts_bucket(s))
    left = leftovers.find(s)
    report(leftovers.summary(left, s))
    return left
