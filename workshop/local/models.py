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

from typing import Any, ClassVar

from moto.athena.models import athena_backends
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.firehose.models import firehose_backends
from moto.glue.models import glue_backends
from moto.pipes.models import pipes_backends


class _LocalResource:
    """Mixin: a resource created by a moto backend on the template's behalf; Ref gives its name."""

    attributes: ClassVar[dict[str, str]] = {}

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

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""


class LocalDeliveryStream(_LocalResource, CloudFormationModel):
    """AWS::KinesisFirehose::DeliveryStream, stored in moto's Firehose backend."""

    attributes: ClassVar[dict[str, str]] = {"Arn": "Arn"}

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::KinesisFirehose::DeliveryStream"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DeliveryStreamName"

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
        firehose_backends[account_id][region_name].delete_delivery_stream(
            self.physical_resource_id
        )


class LocalPipe(_LocalResource, CloudFormationModel):
    """AWS::Pipes::Pipe, stored in moto's Pipes backend (the local runtime moves its data)."""

    attributes: ClassVar[dict[str, str]] = {"Arn": "Arn", "CurrentState": "CurrentState"}

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Pipes::Pipe"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> LocalPipe:
        props = cloudformation_json["Properties"]
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
        return cls(resource_name, account_id, region_name, Arn=pipe.arn, CurrentState="RUNNING")

    def delete(self, account_id: str, region_name: str) -> None:
        pipes_backends[account_id][region_name].delete_pipe(self.physical_resource_id)


class LocalGlueDatabase(_LocalResource, CloudFormationModel):
    """AWS::Glue::Database, stored in moto's Glue catalog."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Glue::Database"

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

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Glue::Table"

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

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Athena::WorkGroup"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

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

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Athena::NamedQuery"

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


def register() -> None:
    """Make moto's template parser see the models above (its model map is cached on first use)."""
    _bucket_as_the_template_says()
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    missing = [m.cloudformation_type() for m in LOCAL_MODELS
               if parsing.get_model_map().get(m.cloudformation_type()) is not m]
    if missing:
        raise RuntimeError(f"moto did not accept local models for {missing}; check the moto pin.")
