"""Read cloudformation/pipeline.yaml as data, so a notebook can walk through its resources.

CloudFormation's short tags (`!Ref`, `!Sub`, `!GetAtt` ...) are turned into their long form
(`{"Ref": ...}`, `{"Fn::Sub": ...}`), so what the template says is shown as it is written, never
typed again in Python. Needs only PyYAML: the environment check reads the template through here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workshop.config import TEMPLATE_PATH
from workshop.errors import WorkshopError

NAME_PROPERTIES = ("BucketName", "TableName", "Name", "FunctionName", "DeliveryStreamName",
                   "LogStreamName", "LogGroupName", "PolicyName")  # the first one present names it


class TemplateError(WorkshopError, ValueError):
    """The template cannot be read or lacks what is asked of it."""


class _Loader(yaml.SafeLoader):
    """A safe loader that knows CloudFormation's short tags."""


def _short_tag(loader: _Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)  # !GetAtt Res.Attr is ["Res", "Attr"] in the long form
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _short_tag)


@dataclass(frozen=True)
class Resource:
    """One resource of the template, as a reader sees it."""

    logical_id: str
    type: str
    name: str  # the name property as written, e.g. "${Prefix}-OrderTable", or ""
    description: str  # the resource's own Description, when it has one
    depends_on: tuple[str, ...]


def load(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as a dict, short tags in their long form."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TemplateError(f"Cannot read the template {path.name}: {error.strerror}. "
                            "Is the checkout complete?") from None
    data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader: no arbitrary objects
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path.name} has no Resources section: is it a CloudFormation "
                            "template?")
    return data


def _text(value: Any) -> str:
    """A property value as the template writes it: `${Prefix}-OrderTable` for a !Sub."""
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Sub":
            return argument if isinstance(argument, str) else str(argument[0])
        if function == "Ref":
            return f"${{{argument}}}"
    return "" if value is None else str(value)


def _description(properties: dict[str, Any]) -> str:
    for holder in (properties, properties.get("DatabaseInput"), properties.get("TableInput")):
        if isinstance(holder, dict) and holder.get("Description"):
            return " ".join(str(holder["Description"]).split())
    return ""


def _name(properties: dict[str, Any]) -> str:
    for holder in (properties, properties.get("DatabaseInput"), properties.get("TableInput")):
        if not isinstance(holder, dict):
            continue
        for key in NAME_PROPERTIES:
            if key in holder:
                return _text(holder[key])
    return ""


def resources(path: Path = TEMPLATE_PATH) -> list[Resource]:
    """Every resource of the template, in the template's order."""
    found = []
    for logical_id, body in load(path)["Resources"].items():
        properties = body.get("Properties") or {}
        depends = body.get("DependsOn") or ()
        found.append(Resource(
            logical_id=logical_id,
            type=body.get("Type", ""),
            name=_name(properties),
            description=_description(properties),
            depends_on=(depends,) if isinstance(depends, str) else tuple(depends),
        ))
    return found


def resource(logical_id: str, path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """One resource's body (Type, Properties, ...), e.g. resource("PipeRolePolicy")."""
    found = load(path)["Resources"]
    if logical_id not in found:
        raise TemplateError(f"The template has no resource {logical_id!r}; it has: "
                            f"{', '.join(found)}.")
    return found[logical_id]


class ParameterError(TemplateError):
    """A deploy parameter is not one the template declares, or breaks the template's rule."""


def check_parameters(values: Mapping[str, Any], path: Path = TEMPLATE_PATH) -> None:
    """Refuse parameter values as CloudFormation would, before anything is deployed: names the
    template does not declare, and values against each parameter's Type, AllowedValues,
    AllowedPattern, MinLength/MaxLength and MinValue/MaxValue.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html
    """
    declared = load(path).get("Parameters") or {}
    unknown = [name for name in values if name not in declared]
    if unknown:
        hints = [f"{name} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(
            name, declared, n=1)) else name for name in unknown]
        raise ParameterError(
            f"Parameters: [{', '.join(hints)}] do not exist in the template; it declares "
            f"{', '.join(declared)}.")
    for name, value in values.items():
        problem = _parameter_problem(declared[name], str(value))
        if problem:
            rule = declared[name].get("ConstraintDescription")
            raise ParameterError(
                f"Parameter {name!r} is {str(value)!r}: {problem}"
                + (f" ({' '.join(str(rule).split()).rstrip('.')})" if rule else "")
                + f". Pass another value, e.g. -p {name}={declared[name].get('Default', '...')}.")


def _parameter_problem(rule: Mapping[str, Any], value: str) -> str:
    """What is wrong with a value under one parameter's rule, or "" when nothing is."""
    kind = str(rule.get("Type", "String"))
    if "AllowedValues" in rule and value not in [str(v) for v in rule["AllowedValues"]]:
        return f"it must be one of {', '.join(str(v) for v in rule['AllowedValues'])}"
    if kind == "Number":
        try:
            number = float(value)
        except ValueError:
            return "it must be a number"
        if "MinValue" in rule and number < float(rule["MinValue"]):
            return f"it must be a number not less than {rule['MinValue']}"
        if "MaxValue" in rule and number > float(rule["MaxValue"]):
            return f"it must be a number not greater than {rule['MaxValue']}"
        return ""
    if "AllowedPattern" in rule and not re.fullmatch(str(rule["AllowedPattern"]), value):
        return f"it must match pattern {rule['AllowedPattern']}"
    if "MinLength" in rule and len(value) < int(rule["MinLength"]):
        return f"it must contain at least {rule['MinLength']} characters"
    if "MaxLength" in rule and len(value) > int(rule["MaxLength"]):
        return f"it must contain at most {rule['MaxLength']} characters"
    return ""
