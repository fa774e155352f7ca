"""Teach moto's CloudFormation the resource types it skips, so the one template deploys locally.

moto 5.2 creates buckets, tables, streams, roles and functions from a template but skips Firehose
delivery streams, EventBridge Pipes, Glue databases and tables, and Athena work groups and named
queries. Each class below is a moto CloudFormation model (moto finds them as direct subclasses of
`CloudFormationModel`) that creates the resource through moto's own backend, with every Ref,
GetAtt and Sub already resolved by moto. Importing this module registers them; it must be
imported in the local AWS process before the first stack is parsed. These are moto internals:
pyproject pins moto to a tested range and tests/test_local_models.py guards them.
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from moto.athena.models import athena_backends
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.firehose.models import firehose_backends
from moto.glue.models import glue_backends
from moto.pipes.models import pipes_backends

from workshop.errors import WorkshopError
from workshop.local.aws import updates
from workshop.local.aws.realism import take_fault


class ResourceFailure(WorkshopError):
    """A resource could not be created or deleted: its stack fails as CloudFormation's does."""


class _LocalResource:
    """Mixin: a resource created by a moto backend on the template's behalf; Ref gives its name."""

    attributes: ClassVar[dict[str, str]] = {}
    resource_type: ClassVar[str]  # the CloudFormation type this class creates
    name_property: ClassVar[str] = ""  # the property that names it, if the template may

    def __init__(self, name: str, account_id: str, region_name: str, **attrs: str) -> None:
        self.physical_resource_id = name
        self.account_id = account_id
        self.region_name = region_name
        self._attrs = attrs

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.attributes

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self._attrs:
            raise ValueError(f"{self.cloudformation_type()} has no attribute {attribute_name}")
        return self._attrs[attribute_name]

    def is_created(self) -> bool:
        return True

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.resource_type

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.name_property


class LocalDeliveryStream(_LocalResource, CloudFormationModel):
    """AWS::KinesisFirehose::DeliveryStream, stored in moto's Firehose backend."""

    attributes: ClassVar[dict[str, str]] = {"Arn": "Arn"}

    resource_type: ClassVar[str] = "AWS::KinesisFirehose::DeliveryStream"
    name_property: ClassVar[str] = "DeliveryStreamName"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> LocalDeliveryStream:
        props = cloudformation_json["Properties"]
        arn = firehose_backends[account_id][region_name].create_delivery_stream(
            region=region_name,
            delivery_stream_name=resource_name,
            delivery_stream_type=props.get("DeliveryStreamType", "DirectPut"),
            kinesis_stream_source_configuration=props.get("KinesisStreamSourceConfiguration"),
            delivery_stream_encryption_configuration_input=props.get(
                "DeliveryStreamEncryptionConfigurationInput"
            ),
            s3_destination_configuration=props.get("S3DestinationConfiguration"),
            extended_s3_destination_configuration=props.get("ExtendedS3DestinationConfiguration"),
            redshift_destination_configuration=None,
            elasticsearch_destination_configuration=None,
            splunk_destination_configuration=None,
            http_endpoint_destination_configuration=None,
            snowflake_destination_configuration=None,
            iceberg_destination_configuration=None,
            tags=props.get("Tags"),
        )
        return cls(resource_name, account_id, region_name, Arn=arn)

    def delete(self, account_id: str, region_name: str) -> None:
        # A delivery stream deleted before the stack (teardown stops the flow first) is gone
        # already: CloudFormation counts a resource not found on delete as deleted.
        backend = firehose_backends[account_id][region_name]
        if self.physical_resource_id in backend.delivery_streams:
            backend.delete_delivery_stream(self.physical_resource_id)


class LocalPipe(_LocalResource, CloudFormationModel):
    """AWS::Pipes::Pipe, stored in moto's Pipes backend (the local runtime moves its data)."""

    attributes: ClassVar[dict[str, str]] = {"Arn": "Arn", "CurrentState": "CurrentState"}

    resource_type: ClassVar[str] = "AWS::Pipes::Pipe"
    name_property: ClassVar[str] = "Name"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> LocalPipe:
        props = cloudformation_json["Properties"]
        fault = take_fault("pipe-create")
        if fault is not None:  # armed by a test: AWS's intermittent failure on a new stream
            raise ResourceFailure(fault or (
                f"Input parameter is invalid from the request due to : Cannot access stream "
                f"{props['Source']}. Please ensure the role can perform actions on source "
                "stream"))
        pipe = pipes_backends[account_id][region_name].create_pipe(
            name=resource_name,
            description=props.get("Description"),
            desired_state=props.get("DesiredState"),
            source=props["Source"],
            source_parameters=props.get("SourceParameters"),
            enrichment=props.get("Enrichment"),
            enrichment_parameters=props.get("EnrichmentParameters"),
            target=props["Target"],
            target_parameters=props.get("TargetParameters"),
            role_arn=props["RoleArn"],
            tags=props.get("Tags"),
            log_configuration=props.get("LogConfiguration"),
            kms_key_identifier=props.get("KmsKeyIdentifier"),
        )
        # CloudFormation waits for a new pipe to stabilize (CREATING, then RUNNING) before the
        # resource is complete: "... did not stabilize" is how the race above surfaces.
        deadline = time.monotonic() + 30
        while pipe.current_state == "CREATING" and time.monotonic() < deadline:
            pipe.advance()
            time.sleep(0.05)
        return cls(resource_name, account_id, region_name, Arn=pipe.arn,
                   CurrentState=pipe.current_state or "RUNNING")

    def delete(self, account_id: str, region_name: str) -> None:
        backend = pipes_backends[account_id][region_name]
        if self.physical_resource_id in backend.pipes:
            backend.delete_pipe(self.physical_resource_id)


class LocalGlueDatabase(_LocalResource, CloudFormationModel):
    """AWS::Glue::Database, stored in moto's Glue catalog."""

    resource_type: ClassVar[str] = "AWS::Glue::Database"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> LocalGlueDatabase:
        database_input = cloudformation_json["Properties"]["DatabaseInput"]
        name = database_input["Name"]
        glue_backends[account_id][region_name].create_database(name, database_input)
        return cls(name, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        glue_backends[account_id][region_name].delete_database(self.physical_resource_id)


class LocalGlueTable(_LocalResource, CloudFormationModel):
    """AWS::Glue::Table, stored in moto's Glue catalog: the local query engine reads it back."""

    resource_type: ClassVar[str] = "AWS::Glue::Table"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> LocalGlueTable:
        props = cloudformation_json["Properties"]
        table_input = props["TableInput"]
        glue_backends[account_id][region_name].create_table(
            props["DatabaseName"], table_input["Name"], table_input
        )
        table = cls(table_input["Name"], account_id, region_name)
        table.database_name = props["DatabaseName"]
        return table

    def delete(self, account_id: str, region_name: str) -> None:
        backend = glue_backends[account_id][region_name]
        if self.database_name in backend.databases:
            backend.delete_table(self.database_name, self.physical_resource_id)


class LocalAthenaWorkGroup(_LocalResource, CloudFormationModel):
    """AWS::Athena::WorkGroup, stored in moto's Athena backend."""

    resource_type: ClassVar[str] = "AWS::Athena::WorkGroup"
    name_property: ClassVar[str] = "Name"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> LocalAthenaWorkGroup:
        props = cloudformation_json["Properties"]
        athena_backends[account_id][region_name].create_work_group(
            name=resource_name,
            configuration=props.get("WorkGroupConfiguration", {}),
            description=props.get("Description", ""),
            tags=props.get("Tags", []),
        )
        return cls(resource_name, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        athena_backends[account_id][region_name].delete_work_group(self.physical_resource_id)


class LocalAthenaNamedQuery(_LocalResource, CloudFormationModel):
    """AWS::Athena::NamedQuery, stored in moto's Athena backend: Ref gives the query id."""

    attributes: ClassVar[dict[str, str]] = {"NamedQueryId": "NamedQueryId"}

    resource_type: ClassVar[str] = "AWS::Athena::NamedQuery"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> LocalAthenaNamedQuery:
        props = cloudformation_json["Properties"]
        query_id = athena_backends[account_id][region_name].create_named_query(
            name=props.get("Name", resource_name),
            description=props.get("Description", ""),
            database=props["Database"],
            query_string=props["QueryString"],
            workgroup=props.get("WorkGroup", "primary"),
        )
        return cls(query_id, account_id, region_name, NamedQueryId=query_id)

    def delete(self, account_id: str, region_name: str) -> None:
        athena_backends[account_id][region_name].named_queries.pop(
            self.physical_resource_id, None
        )


LOCAL_MODELS = (
    LocalDeliveryStream, LocalPipe, LocalGlueDatabase, LocalGlueTable,
    LocalAthenaWorkGroup, LocalAthenaNamedQuery,
)


def _bucket_as_the_template_says() -> None:
    """moto's CloudFormation makes a bucket with its encryption and tags only: apply versioning
    and the public access block too, so cleanup meets versions locally as it does on AWS."""
    from moto.s3.models import FakeBucket, s3_backends

    create = FakeBucket.create_from_cloudformation_json.__func__
    if getattr(create, "_workshop", False):
        return

    def create_as_written(cls: type, resource_name: str, cloudformation_json: Any,
                          account_id: str, region_name: str, **kwargs: Any) -> Any:
        bucket = create(cls, resource_name, cloudformation_json, account_id, region_name,
                        **kwargs)
        properties = cloudformation_json.get("Properties", {})
        backend = s3_backends[account_id][bucket.partition]
        status = properties.get("VersioningConfiguration", {}).get("Status")
        if status:
            backend.put_bucket_versioning(bucket.name, status)
        block = properties.get("PublicAccessBlockConfiguration")
        if block:
            backend.put_public_access_block(bucket.name, {k: str(v).lower()
                                                          for k, v in block.items()})
        return bucket

    create_as_written._workshop = True  # type: ignore[attr-defined]
    FakeBucket.create_from_cloudformation_json = classmethod(create_as_written)  # type: ignore


def _reason(error: Exception) -> str:
    return str(getattr(error, "message", "") or error) or type(error).__name__


def _event(stack: Any, logical_id: str, physical_id: str, resource_type: str, status: str,
           reason: str | None) -> None:
    from moto.cloudformation.models import Event

    stack.events.append(Event(stack_id=stack.stack_id, stack_name=stack.name,
                              logical_resource_id=logical_id, physical_resource_id=physical_id,
                              resource_type=resource_type, resource_status=status,
                              resource_status_reason=reason, resource_properties=None))


def _update_in_place(stack: Any, template: str, role_arn: str | None,
                     parameters: dict[str, Any], tags: dict[str, str] | None) -> None:
    """UpdateStack as CloudFormation does it (workshop.local.aws.updates): every change checked
    first; then resources added, removed and changed in place, each with its events. A refused
    change leaves everything as it was: UPDATE_FAILED, then UPDATE_ROLLBACK_COMPLETE."""
    from moto.cloudformation.parsing import clean_json

    stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
    rmap = stack.resource_map
    new = stack.parse_template(template)
    old_values = updates.parameter_values(stack.template_dict, stack.parameters or {})
    new_values = updates.parameter_values(new, parameters)
    found = updates.changes(stack.template_dict, new, old_values, new_values)
    try:
        updates.check(found)
    except updates.UpdateRefused as refused:
        logical_id, kind = refused.workshop_resource
        _event(stack, logical_id, "", kind, "UPDATE_FAILED", str(refused))
        stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=(
            f"The following resource(s) failed to update: [{logical_id}]."))
        stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        stack.status = "UPDATE_ROLLBACK_COMPLETE"
        return
    removed = {c.logical_id: rmap._resource_json_map[c.logical_id] for c in found
               if c.action == "Remove"}
    # The new template and parameters in force: Refs and Subs resolve to the new values.
    rmap._template, rmap.input_parameters = new, parameters
    rmap.load_mapping()
    rmap.load_parameters()
    rmap.load_conditions()
    rmap._resource_json_map = new["Resources"]
    current = ""
    try:
        for change in found:
            current = change.logical_id
            resource = rmap._parsed_resources.get(change.logical_id)
            physical = str(getattr(resource, "physical_resource_id", "") or "")
            if change.action == "Remove":
                _event(stack, current, physical, change.resource_type, "DELETE_IN_PROGRESS", None)
                if resource is not None:
                    rmap._delete_resource(resource, removed[current])
                    rmap._parsed_resources.pop(current, None)
                _event(stack, current, physical, change.resource_type, "DELETE_COMPLETE", None)
                continue
            if change.resource_type in updates.NOT_MODELLED:
                continue
            _event(stack, current, physical, change.resource_type, "UPDATE_IN_PROGRESS"
                   if change.action == "Modify" else "CREATE_IN_PROGRESS", None)
            if change.action == "Add":
                resource = rmap[current]  # moto makes a resource when it is first asked for
            else:
                props = clean_json(new["Resources"][current].get("Properties") or {}, rmap)
                resource = updates.apply(rmap, change, props)
                rmap._parsed_resources[current] = resource
            physical = str(getattr(resource, "physical_resource_id", "") or physical)
            _event(stack, current, physical, change.resource_type, "UPDATE_COMPLETE"
                   if change.action == "Modify" else "CREATE_COMPLETE", None)
    except Exception as error:  # the local AWS cannot undo a half-applied update
        _event(stack, current, "", "", "UPDATE_FAILED", _reason(error))
        stack._add_stack_event("UPDATE_ROLLBACK_FAILED", resource_status_reason=_reason(error))
        stack.status = "UPDATE_ROLLBACK_FAILED"
        return
    stack.template = template
    stack._parse_template()
    stack.output_map = stack._create_output_map()
    stack.role_arn = role_arn
    stack.parameters = parameters
    if tags is not None:
        stack.tags = tags
    stack._add_stack_event("UPDATE_COMPLETE")
    stack.status = "UPDATE_COMPLETE"


def _stacks_fail_as_on_aws() -> None:
    """moto leaves a stack whose resource failed CREATE_IN_PROGRESS (its half-made resources
    behind, an HTTP 500 answer), and deletes a stack whose bucket still holds objects while
    keeping the bucket. CloudFormation does neither: a failed resource is CREATE_FAILED with its
    reason, the stack rolls back to ROLLBACK_COMPLETE; a bucket that is not empty fails the
    delete (DELETE_FAILED) and the stack stays, holding it. A creation with DisableRollback
    stops at CREATE_FAILED, keeping what was made, and the next update resumes it. And moto
    creates any resource it is asked about, so a failed stack's Outputs and resource list must
    not ask for the resources it never made.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stack-failure-options.html
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeleteStack.html"""
    from moto.cloudformation.models import CloudFormationBackend, Stack
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.s3.models import FakeBucket, s3_backends

    if getattr(Stack.create_resources, "_workshop", False):
        return
    create_resource = parsing.parse_and_create_resource
    create_resources = Stack.create_resources
    outputs = Stack.outputs
    delete_bucket = FakeBucket.delete_from_cloudformation_json.__func__
    delete_stack = CloudFormationBackend.delete_stack
    create_call = CloudFormationResponse.create_stack
    different_update = CloudFormationResponse._validate_different_update
    asked = threading.local()  # DisableRollback of the CreateStack call being answered

    def create_call_noting_rollback(self: Any) -> Any:
        asked.disable_rollback = self._get_bool_param("DisableRollback", False)
        try:
            return create_call(self)
        finally:
            asked.disable_rollback = False

    def resume_is_an_update(self: Any, incoming_params: Any, stack_body: Any,
                            stack: Any) -> None:
        if stack.status != "CREATE_FAILED":  # resuming a failed creation changes nothing else
            different_update(self, incoming_params, stack_body, stack)

    def made(self: Any) -> list[Any]:
        """The resources that exist: moto's lazy map would create any other it is asked for."""
        resources = self.resource_map
        return [resources._parsed_resources[name] for name in resources._resource_json_map
                if name in resources._parsed_resources]

    def outputs_once_complete(self: Any) -> Any:
        if self.status in ("CREATE_FAILED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE",
                           "ROLLBACK_FAILED"):
            return None  # an Output would make moto create the resource it names
        return outputs.fget(self)

    def update_resuming(self: Any, template: str, role_arn: str | None = None,
                        parameters: Any = None, tags: Any = None) -> None:
        if self.status == "CREATE_FAILED":
            self._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
            try:
                self.resource_map.create(self.template_dict)
            except Exception as error:
                logical_id, kind = getattr(error, "workshop_resource", (self.name, ""))
                _event(self, logical_id, "", kind, "UPDATE_FAILED", _reason(error))
                self.status = "UPDATE_FAILED"
                self._add_stack_event("UPDATE_FAILED", resource_status_reason=(
                    f"The following resource(s) failed to create: [{logical_id}]."))
                return
        _update_in_place(self, template, role_arn, parameters or {}, tags)

    def create_naming_the_resource(logical_id: str, resource_json: dict[str, Any],
                                   *args: Any, **kwargs: Any) -> Any:
        try:
            return create_resource(logical_id, resource_json, *args, **kwargs)
        except Exception as error:
            if not hasattr(error, "workshop_resource"):
                error.workshop_resource = (logical_id, resource_json.get("Type", ""))
            raise

    def create_or_roll_back(self: Any) -> None:
        try:
            create_resources(self)
        except Exception as error:
            logical_id, kind = getattr(error, "workshop_resource", (self.name, ""))
            _event(self, logical_id, "", kind, "CREATE_FAILED", _reason(error))
            if getattr(asked, "disable_rollback", False):  # keep what was made, as asked
                self.status = "CREATE_FAILED"
                self._add_stack_event("CREATE_FAILED", resource_status_reason=(
                    f"The following resource(s) failed to create: [{logical_id}]."))
                return
            self.status = "ROLLBACK_IN_PROGRESS"
            self._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=(
                f"The following resource(s) failed to create: [{logical_id}]. Rollback "
                "requested by user."))
            try:
                self.resource_map.delete()
            except Exception as failure:  # reported as CloudFormation reports it
                self.status = "ROLLBACK_FAILED"
                self._add_stack_event("ROLLBACK_FAILED", resource_status_reason=_reason(failure))
                return
            self.status = "ROLLBACK_COMPLETE"
            self._add_stack_event("ROLLBACK_COMPLETE")

    def delete_only_if_empty(cls: type, resource_name: str, cloudformation_json: Any,
                             account_id: str, region_name: str) -> None:
        from moto.utilities.utils import get_partition

        bucket = s3_backends[account_id][get_partition(region_name)].buckets.get(resource_name)
        if bucket is not None and bucket.keys:
            error = ResourceFailure(
                "The bucket you tried to delete is not empty. You must delete all versions in "
                f"the bucket. (Service: S3, Status Code: 409, Bucket: {resource_name})")
            error.workshop_resource = (resource_name, "AWS::S3::Bucket")
            raise error
        delete_bucket(cls, resource_name, cloudformation_json, account_id, region_name)

    def delete_or_fail(self: Any, name_or_stack_id: str) -> None:
        stack = self.stacks.get(name_or_stack_id) or next(
            (st for st in self.stacks.values() if st.name == name_or_stack_id), None)
        try:
            delete_stack(self, name_or_stack_id)
        except ResourceFailure as error:
            if stack is None:
                raise
            bucket, kind = getattr(error, "workshop_resource", ("", ""))
            logical_id = next((logical for logical, resource in
                               stack.resource_map._parsed_resources.items()
                               if getattr(resource, "physical_resource_id", None) == bucket),
                              bucket)
            _event(stack, logical_id, bucket, kind, "DELETE_FAILED", _reason(error))
            stack.status = "DELETE_FAILED"
            stack._add_stack_event("DELETE_FAILED", resource_status_reason=(
                f"The following resource(s) failed to delete: [{logical_id}]."))
            self.stacks[stack.stack_id] = stack  # moto had let go of it: AWS keeps it
            self.deleted_stacks.pop(stack.stack_id, None)

    create_or_roll_back._workshop = True  # type: ignore[attr-defined]
    parsing.parse_and_create_resource = create_naming_the_resource
    Stack.create_resources = create_or_roll_back
    Stack.update = update_resuming
    Stack.outputs = property(outputs_once_complete)
    Stack.stack_resources = property(made)
    CloudFormationResponse.create_stack = create_call_noting_rollback
    CloudFormationResponse._validate_different_update = resume_is_an_update
    FakeBucket.delete_from_cloudformation_json = classmethod(delete_only_if_empty)  # type: ignore
    CloudFormationBackend.delete_stack = delete_or_fail


def _stopped_pipes_stay_stopped() -> None:
    """moto's pipe states go STOPPED -> STARTING -> RUNNING by themselves, so a stopped pipe
    starts again at the next look. On AWS a pipe stays STOPPED until StartPipe, which moto's
    start_pipe models by setting STARTING itself."""
    from moto.pipes.models import Pipe

    if getattr(Pipe._get_next_status, "_workshop", False):
        return
    original = Pipe._get_next_status

    def next_status(self: Any, previous: str | None) -> str | None:
        if previous == "STOPPED":
            return previous
        return original(self, previous)

    next_status._workshop = True  # type: ignore[attr-defined]
    Pipe._get_next_status = next_status


def _athena_answers_rest_json() -> None:
    """botocore 1.44.18 calls Athena in rest-json (POST /workgroups, GET /workgroups/{name}, ...);
    moto 5.2.6 maps only Athena's "/" (its json protocol). moto's router already finds the
    operation and path parameters from botocore's model, so every path goes to its handler.
    Before the first Athena request: moto builds a service's URL map once."""
    from moto.athena import urls
    from moto.athena.responses import AthenaResponse

    urls.url_paths.setdefault("{0}/.*", AthenaResponse.dispatch)


def register() -> None:
    """Make moto's template parser see the models above (its model map is cached on first use)."""
    _athena_answers_rest_json()
    _bucket_as_the_template_says()
    _stacks_fail_as_on_aws()
    _stopped_pipes_stay_stopped()
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    missing = [m.cloudformation_type() for m in LOCAL_MODELS
               if parsing.get_model_map().get(m.cloudformation_type()) is not m]
    if missing:
        raise RuntimeError(f"moto did not accept local models for {missing}; check the moto pin.")
