"""CloudFormation's stack update on the local AWS: in place where AWS updates in place, refused
in CloudFormation's words where it would replace a named resource or where the local AWS cannot.

moto applies few property changes on update_stack and leaves a resource it cannot update as
nothing. CloudFormation compares each resource's properties with the template's and parameters'
new values, and each changed property's reference entry says what happens: "Update requires: No
interruption" (or "Some interruptions"), the resource keeps its identity and data, or
"Replacement", a new resource is made and the old one deleted
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html).
A resource with a custom name cannot be replaced: "CloudFormation cannot update a stack when a
custom-named resource requires replacing". Every resource of the workshop's template is named
from the Prefix, so an update keeps the table and its items, the bucket and every object in it.

The local update checks every change before it applies any: a replacement of a named resource,
or a property the local AWS cannot change in place (UPDATABLE lists those it can), fails the
update with the resource and the reason, as UPDATE_FAILED then UPDATE_ROLLBACK_COMPLETE, and
nothing has changed. Properties the local AWS keeps but does not act on (an S3 lifecycle rule:
objects never expire locally) are taken as they are at creation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from workshop.errors import WorkshopError

# Properties whose change CloudFormation answers with a replacement, per resource type (the
# "Update requires: Replacement" entries of each type's reference page).
REPLACED_BY = {
    "AWS::S3::Bucket": {"BucketName"},
    "AWS::DynamoDB::Table": {"TableName", "KeySchema", "LocalSecondaryIndexes"},
    "AWS::Kinesis::Stream": {"Name"},
    "AWS::IAM::Role": {"RoleName", "Path"},
    "AWS::Pipes::Pipe": {"Name", "Source"},
    "AWS::Logs::LogGroup": {"LogGroupName"},
    "AWS::Logs::LogStream": {"LogGroupName", "LogStreamName"},
    "AWS::Lambda::Function": {"FunctionName", "PackageType"},
    "AWS::KinesisFirehose::DeliveryStream": {"DeliveryStreamName", "DeliveryStreamType",
                                             "KinesisStreamSourceConfiguration"},
    "AWS::Glue::Database": {"CatalogId"},
    "AWS::Glue::Table": {"CatalogId", "DatabaseName"},
    "AWS::Athena::WorkGroup": {"Name"},
    "AWS::Athena::NamedQuery": {"Database", "Description", "Name", "QueryString", "WorkGroup"},
    "AWS::IAM::Policy": set(),  # every property: "Update requires: No interruption"
}
# The property that names a resource of the type (its physical name), where it has one.
NAMED_BY = {
    "AWS::S3::Bucket": "BucketName", "AWS::DynamoDB::Table": "TableName",
    "AWS::Kinesis::Stream": "Name", "AWS::IAM::Role": "RoleName", "AWS::Pipes::Pipe": "Name",
    "AWS::Logs::LogGroup": "LogGroupName", "AWS::Logs::LogStream": "LogStreamName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
    "AWS::Athena::WorkGroup": "Name",
}
# Resource types moto's CloudFormation does not model: skipped at creation, so at update too.
NOT_MODELLED = {"AWS::S3::BucketPolicy"}


class UpdateRefused(WorkshopError):
    """A stack update the local AWS does not apply: CloudFormation would refuse it, or the local
    AWS cannot change that property in place."""

    def __init__(self, logical_id: str, resource_type: str, reason: str) -> None:
        super().__init__(reason)
        self.workshop_resource = (logical_id, resource_type)


@dataclass(frozen=True)
class Change:
    """One resource an update touches."""

    logical_id: str
    resource_type: str
    action: str  # "Add", "Remove" or "Modify"
    properties: tuple[str, ...] = ()  # the top-level properties that change (Modify)


# --- what changes -----------------------------------------------------------------------------

def _referenced(value: Any) -> Iterator[str]:
    """The names a property value refers to: Ref targets and ${Name} in Fn::Sub."""
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            yield value["Ref"]
        sub = value.get("Fn::Sub")
        if sub is not None:
            text = sub if isinstance(sub, str) else sub[0]
            yield from re.findall(r"\$\{([^}!.]+)\}", text)
        for item in value.values():
            yield from _referenced(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced(item)


def parameter_values(template: dict[str, Any], given: dict[str, Any]) -> dict[str, str]:
    """Every parameter's value as text: the given ones over the template's defaults."""
    declared = template.get("Parameters") or {}
    values = {name: str(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
    values.update({name: str(value) for name, value in given.items() if name in declared})
    return values


def changes(old: dict[str, Any], new: dict[str, Any], old_values: dict[str, str],
            new_values: dict[str, str]) -> list[Change]:
    """The resources an update adds, removes and modifies, with the properties that change: as
    written, or through a parameter whose value changes."""
    moved = {name for name in set(old_values) | set(new_values)
             if old_values.get(name) != new_values.get(name)}
    before, after = old.get("Resources") or {}, new.get("Resources") or {}
    found = [Change(name, after[name]["Type"], "Add") for name in after if name not in before]
    found += [Change(name, before[name]["Type"], "Remove") for name in before
              if name not in after]
    for name in after:
        if name not in before:
            continue
        was, now = before[name].get("Properties") or {}, after[name].get("Properties") or {}
        changed = tuple(sorted(p for p in set(was) | set(now) if was.get(p) != now.get(p)
                               or moved & set(_referenced(now.get(p)))))
        if changed:
            found.append(Change(name, after[name]["Type"], "Modify", changed))
    return found


def check(found: list[Change]) -> None:
    """Refuse, before anything changes, what CloudFormation or the local AWS would not do."""
    for change in found:
        if change.action != "Modify" or change.resource_type in NOT_MODELLED:
            continue
        replaced = sorted(set(change.properties) & REPLACED_BY.get(change.resource_type, set()))
        if replaced and change.resource_type in NAMED_BY:
            raise UpdateRefused(
                change.logical_id, change.resource_type,
                f"CloudFormation cannot update a stack when a custom-named resource requires "
                f"replacing. Rename {change.logical_id} and update the stack again (changing "
                f"{', '.join(replaced)} replaces it).")
        if replaced:
            continue  # replaced: deleted and made again under a new physical id
        unsupported = sorted(set(change.properties)
                             - UPDATABLE.get(change.resource_type, set()))
        if unsupported:
            raise UpdateRefused(
                change.logical_id, change.resource_type,
                f"The local AWS cannot change {change.resource_type} "
                f"{', '.join(unsupported)} of {change.logical_id} in place (AWS updates it "
                "without replacing it). To apply it locally, run `workshop teardown` and deploy "
                "again: that deletes the pipeline's data.")


# --- applying a change in place -----------------------------------------------------------------

Updater = Callable[[Any, dict[str, Any], tuple[str, ...], str, str], Any]


def _lambda(resource: Any, props: dict[str, Any], changed: tuple[str, ...], account: str,
            region: str) -> Any:
    config = {key: props[key] for key in changed if key != "Code" and key in props}
    if config:
        resource.update_configuration(config)
    if "Code" in changed:
        resource.update_function_code(props["Code"])  # a new zip: a new CodeSha256
    from moto.core.utils import iso_8601_datetime_with_nanoseconds

    resource.last_modified = iso_8601_datetime_with_nanoseconds()  # as Lambda's LastModified
    return resource


def _delivery_stream(resource: Any, props: dict[str, Any], changed: tuple[str, ...],
                     account: str, region: str) -> Any:
    from moto.firehose.models import firehose_backends

    backend = firehose_backends[account][region]
    stream = backend.delivery_streams[resource.physical_resource_id]
    backend.update_destination(  # a new VersionId: the local runtime's hop reads it again
        delivery_stream_name=stream.delivery_stream_name,
        current_delivery_stream_version_id=stream.version_id,
        destination_id=stream.destinations[0]["destination_id"],
        s3_destination_update=None,
        extended_s3_destination_update=props["ExtendedS3DestinationConfiguration"],
        s3_backup_mode=None, redshift_destination_update=None,
        elasticsearch_destination_update=None, splunk_destination_update=None,
        http_endpoint_destination_update=None, snowflake_destination_configuration=None,
        iceberg_destination_update=None)
    return resource


def _pipe(resource: Any, props: dict[str, Any], changed: tuple[str, ...], account: str,
          region: str) -> Any:
    from moto.pipes.models import pipes_backends

    pipes_backends[account][region].update_pipe(
        name=resource.physical_resource_id, role_arn=props["RoleArn"],
        description=props.get("Description"), desired_state=props.get("DesiredState"),
        source_parameters=props.get("SourceParameters"), enrichment=props.get("Enrichment"),
        enrichment_parameters=props.get("EnrichmentParameters"), target=props["Target"],
        target_parameters=props.get("TargetParameters"),
        log_configuration=props.get("LogConfiguration"),
        kms_key_identifier=props.get("KmsKeyIdentifier"))
    return resource


def _glue_table(resource: Any, props: dict[str, Any], changed: tuple[str, ...], account: str,
                region: str) -> Any:
    from moto.glue.models import glue_backends

    table_input = props["TableInput"]
    if table_input["Name"] != resource.physical_resource_id:
        raise UpdateRefused(resource.physical_resource_id, "AWS::Glue::Table",
                            "Renaming a Glue table replaces it; the local AWS does not.")
    glue_backends[account][region].update_table(props["DatabaseName"], table_input["Name"],
                                                table_input)
    return resource


def _glue_database(resource: Any, props: dict[str, Any], changed: tuple[str, ...],
                   account: str, region: str) -> Any:
    from moto.glue.models import glue_backends

    glue_backends[account][region].update_database(resource.physical_resource_id,
                                                   props["DatabaseInput"])
    return resource


def _work_group(resource: Any, props: dict[str, Any], changed: tuple[str, ...], account: str,
                region: str) -> Any:
    from moto.athena.models import athena_backends

    group = athena_backends[account][region].work_groups[resource.physical_resource_id]
    group.description = props.get("Description", "")
    group.configuration = props.get("WorkGroupConfiguration", {})
    return resource


def _kinesis_stream(resource: Any, props: dict[str, Any], changed: tuple[str, ...],
                    account: str, region: str) -> Any:
    if "ShardCount" in changed:
        resource.update_shard_count(int(props["ShardCount"]))
    if "RetentionPeriodHours" in changed:
        resource.retention_period_hours = int(props["RetentionPeriodHours"])
    return resource


def _role(resource: Any, props: dict[str, Any], changed: tuple[str, ...], account: str,
          region: str) -> Any:
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    backend = iam_backends[account][get_partition(region)]
    if "AssumeRolePolicyDocument" in changed:
        backend.update_assume_role_policy(resource.name,
                                          json.dumps(props["AssumeRolePolicyDocument"]))
    if "Description" in changed:
        resource.description = props.get("Description", "")
    if "Policies" in changed:
        wanted = {p["PolicyName"]: p["PolicyDocument"] for p in props.get("Policies", [])}
        for name in set(resource.policies) - set(wanted):
            backend.delete_role_policy(resource.name, name)
        for name, document in wanted.items():
            backend.put_role_policy(resource.name, name, json.dumps(document))
    return resource


def _inline_policy(resource: Any, props: dict[str, Any], changed: tuple[str, ...],
                   account: str, region: str) -> Any:
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    return iam_backends[account][get_partition(region)].update_inline_policy(
        resource.name, props["PolicyName"], props["PolicyDocument"], props.get("Groups"),
        props.get("Roles"), props.get("Users"))


def _bucket(resource: Any, props: dict[str, Any], changed: tuple[str, ...], account: str,
            region: str) -> Any:
    from moto.s3.cloud_formation import cfn_to_api_encryption
    from moto.s3.models import s3_backends

    backend = s3_backends[account][resource.partition]
    if "VersioningConfiguration" in changed:
        status = props.get("VersioningConfiguration", {}).get("Status")
        if status:
            backend.put_bucket_versioning(resource.name, status)
    if "PublicAccessBlockConfiguration" in changed:
        block = props.get("PublicAccessBlockConfiguration") or {}
        backend.put_public_access_block(resource.name,
                                        {k: str(v).lower() for k, v in block.items()})
    if "BucketEncryption" in changed and props.get("BucketEncryption"):
        backend.put_bucket_encryption(resource.name,
                                      cfn_to_api_encryption(props["BucketEncryption"]))
    return resource  # LifecycleConfiguration, OwnershipControls: kept, not acted on locally


def _table(resource: Any, props: dict[str, Any], changed: tuple[str, ...], account: str,
           region: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    dynamodb_backends[account][region].update_table(
        name=resource.name, attr_definitions=[], global_index=[],
        throughput=props.get("ProvisionedThroughput") or {},
        billing_mode=props.get("BillingMode", ""), stream_spec={},
        deletion_protection_enabled=None, warm_throughput=None)
    return resource


def _log_group(resource: Any, props: dict[str, Any], changed: tuple[str, ...], account: str,
               region: str) -> Any:
    from moto.logs.models import logs_backends

    logs_backends[account][region].put_retention_policy(resource.name,
                                                        props.get("RetentionInDays"))
    return resource


# Per type: the updater, and the properties it changes in place (the others are refused).
UPDATERS: dict[str, tuple[Updater, set[str]]] = {
    "AWS::Lambda::Function": (_lambda, {"Code", "Description", "Handler", "MemorySize", "Role",
                                        "Runtime", "Timeout", "Environment"}),
    "AWS::KinesisFirehose::DeliveryStream": (_delivery_stream,
                                             {"ExtendedS3DestinationConfiguration"}),
    "AWS::Pipes::Pipe": (_pipe, {"Description", "DesiredState", "RoleArn", "SourceParameters",
                                 "Target", "TargetParameters"}),
    "AWS::Glue::Table": (_glue_table, {"TableInput"}),
    "AWS::Glue::Database": (_glue_database, {"DatabaseInput"}),
    "AWS::Athena::WorkGroup": (_work_group, {"Description", "WorkGroupConfiguration",
                                             "RecursiveDeleteOption"}),
    "AWS::Kinesis::Stream": (_kinesis_stream, {"ShardCount", "RetentionPeriodHours"}),
    "AWS::IAM::Role": (_role, {"AssumeRolePolicyDocument", "Description", "Policies"}),
    "AWS::IAM::Policy": (_inline_policy, {"PolicyDocument", "PolicyName", "Roles"}),
    "AWS::S3::Bucket": (_bucket, {"VersioningConfiguration", "PublicAccessBlockConfiguration",
                                  "BucketEncryption", "LifecycleConfiguration",
                                  "OwnershipControls"}),
    "AWS::DynamoDB::Table": (_table, {"BillingMode", "ProvisionedThroughput"}),
    "AWS::Logs::LogGroup": (_log_group, {"RetentionInDays"}),
}
UPDATABLE = {kind: properties for kind, (_, properties) in UPDATERS.items()}


def apply(resource_map: Any, change: Change, props: dict[str, Any]) -> Any:
    """Apply one Modify change; the resource afterwards (a new one when it is replaced)."""
    account, region = resource_map._account_id, resource_map._region_name
    resource = resource_map._parsed_resources[change.logical_id]
    if set(change.properties) & REPLACED_BY.get(change.resource_type, set()):
        from moto.cloudformation.parsing import parse_and_create_resource

        resource_map._delete_resource(resource, {"Type": change.resource_type})
        return parse_and_create_resource(change.logical_id,
                                         resource_map._resource_json_map[change.logical_id],
                                         resource_map, account, region)
    updater, _ = UPDATERS[change.resource_type]
    return updater(resource, props, change.properties, account, region)
