"""A deploy of a changed template updates the local stack as CloudFormation updates a stack: in
place, keeping the table, its items, the bucket and every object; what AWS would refuse, or the
local AWS cannot do in place, is refused with the resource and the reason, and nothing changes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import wait_for
from tests.test_local_functions import ADD_TOTAL, deliver, edited
from workshop import athena, config, stack, template
from workshop.config import TEMPLATE_PATH
from workshop.local.aws import updates

pytestmark = pytest.mark.timeout(180)
ORIGINAL = TEMPLATE_PATH.read_text()
EVENT_TIME = ("            - { Name: event_time, Type: string, Comment: when the table recorded "
              "the change }\n")
TOTAL_COLUMN = (EVENT_TIME,
                EVENT_TIME + "            - { Name: total, Type: double, Comment: quantity times "
                             "price }\n")


@pytest.fixture
def own_template(tmp_path, monkeypatch) -> Callable[..., None]:
    """Deploy from a copy of the template, edited by (old, new) text replacements."""
    path = tmp_path / "pipeline.yaml"
    path.write_text(ORIGINAL)
    monkeypatch.setattr(stack, "TEMPLATE_PATH", path)

    def write(*replacements: tuple[str, str]) -> None:
        text = ORIGINAL
        for old, new in replacements:
            assert old in text
            text = text.replace(old, new, 1)
        path.write_text(text)

    return write


def last_update(s) -> set[str]:
    """The resources the stack's last update changed, from its events (newest first)."""
    changed = set()
    events = config.client("cloudformation", s).describe_stack_events(
        StackName=s.stack_name)["StackEvents"]
    for event in events:
        if event["LogicalResourceId"] == s.stack_name:
            if event["ResourceStatus"] == "UPDATE_IN_PROGRESS":
                return changed
            continue
        if event["ResourceStatus"] == "UPDATE_COMPLETE":
            changed.add(event["LogicalResourceId"])
    return changed


def table_items(s, found) -> int:
    return config.client("dynamodb", s).scan(TableName=found["TableName"], Select="COUNT")["Count"]


def test_a_new_glue_column_and_transformer_field_are_deployed_in_place_and_queryable(
        fresh_stack, own_template, own_lambda):
    s, found = fresh_stack
    before = deliver(s, found, 8, 100)
    own_lambda(edited(ADD_TOTAL))
    own_template(TOTAL_COLUMN)
    again = stack.deploy(s=s)
    assert again == found  # the same resources: nothing was made again
    assert last_update(s) == {"OrdersTable", "TransformerFunction"}
    after = deliver(s, found, 4, 200)
    frame = athena.query("SELECT orderid, total, quantity * price AS product FROM orders", s)
    totals = dict(zip(frame["orderid"], frame["total"], strict=True))
    assert all(totals[oid] != totals[oid] for oid in before)  # NULL (NaN): before the change
    assert all(totals[oid] > 0 for oid in after)
    assert table_items(s, found) == 12  # the table and its items stayed


def test_a_parameter_change_updates_only_what_refers_to_it(fresh_stack, own_template):
    s, found = fresh_stack
    stack.deploy({"BufferIntervalSeconds": 30}, s=s)
    assert last_update(s) == {"DeliveryStream", "ParquetDeliveryStream"}  # both buffer by it
    hints = config.client("firehose", s).describe_delivery_stream(
        DeliveryStreamName=found["DeliveryStreamName"])["DeliveryStreamDescription"][
        "Destinations"][0]["ExtendedS3DestinationDescription"]["BufferingHints"]
    assert hints["IntervalInSeconds"] == 30


def test_more_shards_in_place_and_the_pipeline_still_delivers_every_order(fresh_stack):
    s, found = fresh_stack
    first = deliver(s, found, 5, 100)
    assert stack.deploy({"ShardCount": 2}, s=s) == found
    assert last_update(s) == {"OrderStream"}
    kinesis = config.client("kinesis", s)
    wait_for(lambda: len(kinesis.list_shards(StreamName=found["KinesisStreamName"])["Shards"])
             >= 2, 10, "two shards")
    second = deliver(s, found, 20, 200)
    frame = athena.query("SELECT DISTINCT orderid FROM orders", s)
    assert set(first + second) <= set(frame["orderid"])


def test_replacing_a_named_resource_is_refused_as_cloudformation_refuses_it(
        fresh_stack, own_template):
    s, found = fresh_stack
    deliver(s, found, 3, 100)
    own_template(("      KeySchema:\n        - AttributeName: orderid\n",
                  "      KeySchema:\n        - AttributeName: order_id\n"),
                 ("        - AttributeName: orderid\n          AttributeType: S",
                  "        - AttributeName: order_id\n          AttributeType: S"))
    with pytest.raises(stack.StackError) as refused:
        stack.deploy(s=s)
    message = str(refused.value)
    assert "CloudFormation cannot update a stack when a custom-named resource requires " \
           "replacing. Rename OrderTable" in message
    assert "rolled back: the stack and its data are as they were" in message
    assert stack.describe(s)["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert table_items(s, found) == 3
    deliver(s, found, 2, 200)  # the pipeline runs on


def test_a_change_the_local_aws_cannot_make_in_place_says_so_and_changes_nothing(
        fresh_stack, own_template):
    s, _ = fresh_stack
    own_template(("StreamViewType: NEW_AND_OLD_IMAGES", "StreamViewType: NEW_IMAGE"))
    with pytest.raises(stack.StackError, match="The local AWS cannot change AWS::DynamoDB::Table "
                       "StreamSpecification of OrderTable in place"):
        stack.deploy(s=s)
    own_template()
    assert stack.plan(s=s).action == "none"  # the stack kept the template it had


# --- what changes, read from the templates and parameters --------------------------------------

def test_a_parameter_changes_the_resources_that_refer_to_it_through_ref_and_sub():
    body = template.load()
    values = updates.parameter_values(body, {"Prefix": "alice"})
    found = updates.changes(body, body, values, {**values, "ShardCount": "2"})
    assert [(c.logical_id, c.action, c.properties) for c in found] == [
        ("OrderStream", "Modify", ("ShardCount",))]
    code = updates.changes(body, body, values, {**values, "LambdaCodeKey": "lambda/new.zip"})
    assert [(c.logical_id, c.properties) for c in code] == [("TransformerFunction", ("Code",))]


def test_added_and_removed_resources_are_named():
    body = template.load()
    values = updates.parameter_values(body, {})
    smaller = {**body, "Resources": {k: v for k, v in body["Resources"].items()
                                     if k != "UnitsPerProductQuery"}}
    assert [(c.logical_id, c.action) for c in updates.changes(body, smaller, values, values)] == [
        ("UnitsPerProductQuery", "Remove")]
    assert [(c.logical_id, c.action) for c in updates.changes(smaller, body, values, values)] == [
        ("UnitsPerProductQuery", "Add")]


def test_every_resource_type_of_the_template_has_its_replacement_rules():
    kinds = {r.type for r in template.resources()}
    assert kinds - set(updates.REPLACED_BY) - updates.NOT_MODELLED == set()
