"""workshop.template: the template read as data for the notebooks (tests/test_template.py checks
the template itself)."""

from __future__ import annotations

import pytest

from workshop import template
from workshop.template import TemplateError


def test_every_resource_is_listed_in_the_templates_order_with_its_type():
    found = template.resources()
    ids = [r.logical_id for r in found]
    assert ids[0] == "DataBucket"
    assert ids.index("OrderTable") < ids.index("OrderPipe") < ids.index("DeliveryStream")
    assert len(ids) == len(set(ids)) == len(template.load()["Resources"])
    assert all(r.type.startswith("AWS::") for r in found)


def test_names_are_shown_as_the_template_writes_them():
    by_id = {r.logical_id: r for r in template.resources()}
    assert by_id["OrderTable"].name == "${Prefix}-OrderTable"
    assert by_id["GlueDatabase"].name == "${Prefix}_sales"
    assert by_id["OrdersTable"].name == "orders"
    assert by_id["FirehoseLogStream"].name == "DestinationDelivery"
    assert by_id["PipeRole"].name == ""


def test_descriptions_and_dependencies_come_along():
    by_id = {r.logical_id: r for r in template.resources()}
    assert by_id["OrderPipe"].depends_on == ("PipeRolePolicy", "DeliveryStream",
                                             "ParquetDeliveryStream")
    assert by_id["PipeRole"].description.startswith("Lets the orders pipe read")
    assert by_id["OrdersTable"].description.startswith("One JSON line per order change")


def test_short_tags_become_their_long_form():
    policy = template.resource("PipeRolePolicy")["Properties"]
    assert policy["Roles"] == [{"Ref": "PipeRole"}]
    statement = policy["PolicyDocument"]["Statement"][0]
    assert statement["Resource"] == {"Fn::GetAtt": ["OrderTable", "StreamArn"]}
    assert template.resource("OrderTable")["Properties"]["TableName"] == {
        "Fn::Sub": "${Prefix}-OrderTable"}


def test_an_unknown_resource_is_refused_with_the_known_ones():
    with pytest.raises(TemplateError, match="no resource 'Nope'; it has: DataBucket, "):
        template.resource("Nope")


def test_a_missing_template_says_so(tmp_path):
    with pytest.raises(TemplateError, match=r"Cannot read the template pipeline.yaml: .*checkout"):
        template.load(tmp_path / "pipeline.yaml")


def test_a_yaml_file_that_is_no_template_is_refused(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text("just: a mapping\n")
    with pytest.raises(TemplateError, match="has no Resources section"):
        template.load(path)
