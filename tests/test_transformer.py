"""Behaviour of the Firehose transformer in lambda/transformer.py."""

from __future__ import annotations

import base64
import copy
import json
import logging
from decimal import Decimal
from typing import Any

import pytest
import transformer
from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeSerializer
from helpers import firehose_event, load_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SEED_LINE = (
    b'{"orderid":"7421","product_name":"Laptop","quantity":3,"price":429.99,'
    b'"event_type":"INSERT","event_time":"2026-11-28T12:34:56Z"}\n'
)
FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def stream_record(image: dict[str, Any], **dynamodb: Any) -> dict[str, Any]:
    """The seed's Pipe-shaped INSERT with the given typed image and dynamodb fields."""
    record = load_event("firehose_pipe_insert")["records"][0]["data"]
    record = json.loads(base64.b64decode(record))
    record["dynamodb"]["NewImage"] = image
    record["dynamodb"].update(dynamodb)
    return record


def run(*payloads: Any) -> list[dict[str, Any]]:
    """Send payloads through the handler as one Firehose batch; return the response entries."""
    return transformer.lambda_handler(firehose_event(*payloads), None)["records"]


def line_of(entry: dict[str, Any]) -> bytes:
    """The output line of an Ok entry, checked to be exactly one line."""
    assert entry["result"] == "Ok"
    line = base64.b64decode(entry["data"], validate=True)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    return line


def item_of(entry: dict[str, Any]) -> dict[str, Any]:
    """The plain item written for an Ok entry."""
    return json.loads(line_of(entry))


@pytest.fixture
def json_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the transformer as if orjson were not installed."""
    monkeypatch.setattr(transformer, "_orjson", None)


# --- the seed's record and the three event names ---------------------------------------------


def test_seed_record_becomes_one_plain_json_line() -> None:
    event = load_event("firehose_pipe_insert")
    (entry,) = transformer.lambda_handler(event, None)["records"]
    assert entry["recordId"] == event["records"][0]["recordId"]
    assert line_of(entry) == SEED_LINE


def test_seed_record_gives_the_same_bytes_without_orjson(json_only: None) -> None:
    (entry,) = transformer.lambda_handler(load_event("firehose_pipe_insert"), None)["records"]
    assert line_of(entry) == SEED_LINE


def test_modify_writes_the_new_image() -> None:
    (entry,) = run(load_event("pipe_modify"))
    assert item_of(entry) == {
        "orderid": "7421",
        "product_name": "Laptop",
        "quantity": 4,
        "price": 429.99,
        "event_type": "MODIFY",
        "event_time": "2026-11-28T12:35:57Z",
    }


def test_remove_writes_the_old_image() -> None:
    (entry,) = run(load_event("pipe_remove"))
    assert item_of(entry) == {
        "orderid": "7421",
        "product_name": "Laptop",
        "quantity": 4,
        "price": 429.99,
        "event_type": "REMOVE",
        "event_time": "2026-11-28T12:36:58Z",
    }


def test_remove_without_old_image_writes_the_keys() -> None:
    record = load_event("pipe_remove")
    del record["dynamodb"]["OldImage"]
    record["dynamodb"]["StreamViewType"] = "KEYS_ONLY"
    (entry,) = run(record)
    assert line_of(entry) == (
        b'{"orderid":"7421","event_type":"REMOVE","event_time":"2026-11-28T12:36:58Z"}\n'
    )


def test_item_keys_keep_the_image_order_then_event_fields() -> None:
    image = {"z": {"S": "1"}, "a": {"N": "2"}, "m": {"BOOL": True}}
    (entry,) = run(stream_record(image))
    assert list(item_of(entry)) == ["z", "a", "m", "event_type", "event_time"]


# --- the native Kinesis Data Streams for DynamoDB shape and event_time -----------------------


def test_native_shape_in_microseconds_is_read() -> None:
    (entry,) = run(load_event("native_insert_micro"))
    assert line_of(entry) == SEED_LINE.replace(b'56Z"', b'56.123Z"')


@pytest.mark.parametrize(
    ("stamp", "precision", "expected"),
    [
        (1795869296123456, "MICROSECOND", "2026-11-28T12:34:56.123Z"),
        (1795869296123456, None, "2026-11-28T12:34:56.123Z"),
        (1795869296123, "MILLISECOND", "2026-11-28T12:34:56.123Z"),
        (1795869296123, None, "2026-11-28T12:34:56.123Z"),
        (1795869296000, "MILLISECOND", "2026-11-28T12:34:56.000Z"),
        (1795869296, None, "2026-11-28T12:34:56Z"),
        (1795869296.0, None, "2026-11-28T12:34:56Z"),
        (1795869296.5, None, "2026-11-28T12:34:56.500Z"),
        (1.795869296e9, None, "2026-11-28T12:34:56Z"),
    ],
)
def test_event_time_is_iso_utc_with_the_source_precision(
    stamp: float, precision: str | None, expected: str
) -> None:
    record = load_event("native_insert_micro")
    record["dynamodb"]["ApproximateCreationDateTime"] = stamp
    if precision is None:
        del record["dynamodb"]["ApproximateCreationDateTimePrecision"]
    else:
        record["dynamodb"]["ApproximateCreationDateTimePrecision"] = precision
    (entry,) = run(record)
    assert item_of(entry)["event_time"] == expected


# --- DynamoDB types --------------------------------------------------------------------------


def test_every_dynamodb_type_converts_to_its_plain_form() -> None:
    image = {
        "s": {"S": "text"},
        "n_int": {"N": "42"},
        "n_float": {"N": "-0.5"},
        "b": {"B": "AAEC"},
        "bool": {"BOOL": False},
        "null": {"NULL": True},
        "m": {"M": {"inner": {"L": [{"N": "1"}, {"S": "x"}]}}},
        "l": {"L": [{"NULL": True}, {"M": {}}, {"BOOL": True}]},
        "ss": {"SS": ["pear", "apple", "fig"]},
        "ns": {"NS": ["10", "-2.5", "3"]},
        "bs": {"BS": ["Yg==", "YQ=="]},
    }
    (entry,) = run(stream_record(image))
    item = item_of(entry)
    del item["event_type"], item["event_time"]
    assert item == {
        "s": "text",
        "n_int": 42,
        "n_float": -0.5,
        "b": "AAEC",
        "bool": False,
        "null": None,
        "m": {"inner": [1, "x"]},
        "l": [None, {}, True],
        "ss": ["apple", "fig", "pear"],
        "ns": [-2.5, 3, 10],
        "bs": ["YQ==", "Yg=="],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", b"3"),
        ("-7", b"-7"),
        ("1E+2", b"100"),
        ("2.50", b"2.5"),
        ("429.00", b"429"),
        ("0.00001", b"1e-05"),
        ("12345678901234567890", b"12345678901234567890"),
        ("-98765432109876543210987654321", b"-98765432109876543210987654321"),
        ("9.9999999999999999999999999999999999999E+125", b"9" * 38 + b"0" * 88),
    ],
)
def test_numbers_are_exact_ints_or_floats(text: str, expected: bytes) -> None:
    (entry,) = run(stream_record({"n": {"N": text}}))
    assert line_of(entry).startswith(b'{"n":' + expected + b',"event_type"')


def test_twenty_digit_id_is_not_rounded() -> None:
    (entry,) = run(stream_record({"id": {"N": "12345678901234567891"}}))
    assert item_of(entry)["id"] == 12345678901234567891


def test_unicode_and_newlines_in_strings_stay_on_one_line() -> None:
    text = 'Zoë\'s 😀 laptop\nsecond line\r\n\u2028\t"quoted" \\ \x00'
    (entry,) = run(stream_record({"note": {"S": text}, "ss": {"SS": ["b\n", "a\n"]}}))
    line = line_of(entry)
    assert "Zoë's 😀".encode() in line  # not \u-escaped: ensure_ascii=False
    assert json.loads(line)["note"] == text


# --- failures --------------------------------------------------------------------------------


def test_seed_error_example_comes_back_failed_and_untouched() -> None:
    response = transformer.lambda_handler(load_event("firehose_seed_error"), None)
    assert response == {
        "records": [
            {"recordId": "err-123", "result": "ProcessingFailed", "data": "invalid_data_here"}
        ]
    }


def _b64(payload: Any) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.b64encode(raw).decode()


def _seed() -> dict[str, Any]:
    return copy.deepcopy(stream_record({"orderid": {"S": "7421"}, "quantity": {"N": "3"}}))


def _without(path: str) -> dict[str, Any]:
    record = _seed()
    *parents, last = path.split(".")
    target = record
    for name in parents:
        target = target[name]
    del target[last]
    return record


def _with(path: str, value: Any) -> dict[str, Any]:
    record = _seed()
    *parents, last = path.split(".")
    target = record
    for name in parents:
        target = target[name]
    target[last] = value
    return record


def _remove_without_images() -> dict[str, Any]:
    record = _with("eventName", "REMOVE")
    del record["dynamodb"]["NewImage"], record["dynamodb"]["Keys"]
    return record


FAILURES = {
    "bad base64": ("not base64!", "data is not base64"),
    "base64 with whitespace": ("eyJ9 \n", "data is not base64"),
    "not JSON": (_b64(b"orderid=7421"), "data is not UTF-8 JSON"),
    "not UTF-8": (_b64(b'"\xff"'), "data is not UTF-8 JSON"),
    "JSON list": (_b64([1, 2]), "not a DynamoDB stream record"),
    "no dynamodb block": (_b64(_without("dynamodb")), "not a DynamoDB stream record"),
    "unknown eventName": (_b64(_with("eventName", "UPSERT")), "unknown or missing eventName"),
    "no eventName": (_b64(_without("eventName")), "unknown or missing eventName"),
    "INSERT without NewImage": (_b64(_without("dynamodb.NewImage")), "INSERT without NewImage"),
    "REMOVE without images": (_b64(_remove_without_images()), "REMOVE without OldImage or Keys"),
    "unknown type tag": (
        _b64(_with("dynamodb.NewImage.quantity", {"X": "3"})),
        "unknown type tag",
    ),
    "two type tags": (
        _b64(_with("dynamodb.NewImage.quantity", {"N": "3", "S": "3"})),
        "attribute value is not a one-key object",
    ),
    "N that is not a number": (
        _b64(_with("dynamodb.NewImage.quantity", {"N": "three"})),
        "N value is not a number",
    ),
    "N beyond DynamoDB's range": (
        _b64(_with("dynamodb.NewImage.quantity", {"N": "1E+999999999"})),
        "N value is out of DynamoDB's range",
    ),
    "S that is not a string": (
        _b64(_with("dynamodb.NewImage.orderid", {"S": 7421})),
        "S/B value is not a string",
    ),
    "no creation time": (
        _b64(_without("dynamodb.ApproximateCreationDateTime")),
        "no numeric ApproximateCreationDateTime",
    ),
    "creation time out of range": (
        _b64(_with("dynamodb.ApproximateCreationDateTime", 10**30)),
        "OverflowError",
    ),
    "attribute named event_type": (
        _b64(_with("dynamodb.NewImage.event_type", {"S": "x"})),
        "item attribute clashes with event_type/event_time",
    ),
    "empty data": ("", "data is missing, empty or not a string"),
    "data not a string": (12, "data is missing, empty or not a string"),
}


@pytest.mark.parametrize("kind", list(FAILURES))
def test_a_bad_record_fails_alone_with_its_data_untouched(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    data, reason = FAILURES[kind]
    event = firehose_event(load_event("pipe_modify"), load_event("pipe_remove"))
    event["records"].insert(1, {"recordId": "bad-1", "data": data})
    caplog.set_level(logging.DEBUG, logger="transformer")
    entries = transformer.lambda_handler(event, None)["records"]
    assert [entry["result"] for entry in entries] == ["Ok", "ProcessingFailed", "Ok"]
    assert entries[1] == {"recordId": "bad-1", "result": "ProcessingFailed", "data": data}
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", f"ProcessingFailed recordId='bad-1': {reason}")
    ]


def test_missing_data_is_answered_with_empty_data() -> None:
    entries = transformer.lambda_handler({"records": [{"recordId": "r1"}]}, None)["records"]
    assert entries == [{"recordId": "r1", "result": "ProcessingFailed", "data": ""}]


def test_entries_that_are_not_records_still_get_an_entry_in_place(
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = firehose_event(load_event("pipe_modify"))
    event["records"] = ["junk", event["records"][0], {"data": "abc"}, None]
    caplog.set_level(logging.DEBUG, logger="transformer")
    entries = transformer.lambda_handler(event, None)["records"]
    assert [(e["recordId"], e["result"], e["data"]) for e in entries] == [
        (None, "ProcessingFailed", ""),
        ("record-0000", "Ok", entries[1]["data"]),
        (None, "ProcessingFailed", "abc"),
        (None, "ProcessingFailed", ""),
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "ProcessingFailed recordId=None: record is not an object",
        "ProcessingFailed recordId=None: record has no recordId",
        "ProcessingFailed recordId=None: record is not an object",
    ]


def test_one_entry_per_record_id_in_input_order() -> None:
    good = [load_event("pipe_modify"), load_event("pipe_remove"), load_event("native_insert_micro")]
    payloads = [good[i % 3] if i % 4 else b"not json" for i in range(40)]
    event = firehose_event(*payloads)
    event["records"].reverse()
    entries = transformer.lambda_handler(event, None)["records"]
    assert [e["recordId"] for e in entries] == [r["recordId"] for r in event["records"]]
    assert [e["result"] for e in entries].count("ProcessingFailed") == 10


@pytest.mark.parametrize("event", [{}, {"records": None}, {"Records": []}, [], None])
def test_an_event_without_a_records_list_is_refused(event: Any) -> None:
    with pytest.raises(ValueError) as refused:
        transformer.lambda_handler(event, None)
    assert str(refused.value) == (
        "Not a Firehose transformation event: expected a 'records' list "
        "(see tests/events/firehose_pipe_insert.json for the shape)."
    )


def test_success_logs_nothing_and_failures_never_log_the_payload(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = {"orderid": {"S": "card-4111111111111111"}, "event_time": {"S": "x"}}
    caplog.set_level(logging.DEBUG, logger="transformer")
    run(*[load_event("pipe_modify")] * 5, stream_record(secret))
    assert len(caplog.records) == 1
    assert "4111" not in caplog.text and caplog.records[0].levelno == logging.WARNING


# --- properties ------------------------------------------------------------------------------


def _representable(value: Decimal) -> bool:
    """True for numbers DynamoDB stores: 1E-130 to 9.99..E+125 in size, as boto3 accepts them."""
    if value and not -130 <= value.adjusted() <= 125:
        return False
    try:
        DYNAMODB_CONTEXT.create_decimal(value)
    except ArithmeticError:
        return False
    return True


numbers = st.builds(
    lambda digits, exponent: Decimal(f"{digits}E{exponent}"),
    st.integers(-(10**38) + 1, 10**38 - 1),
    st.integers(-160, 88),
).filter(_representable)
names = st.text(min_size=1, max_size=8).filter(lambda name: name not in transformer.ADDED_FIELDS)
scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=20), numbers, st.binary(max_size=12),
    st.frozensets(st.text(max_size=6), min_size=1, max_size=4),
    st.frozensets(numbers, min_size=1, max_size=4),
    st.frozensets(st.binary(max_size=6), min_size=1, max_size=4),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
    max_leaves=12,
)
items = st.dictionaries(names, values, max_size=6)


def _stream_json(attribute: dict[str, Any]) -> dict[str, Any]:
    """Turn TypeSerializer output into stream JSON (binary as base64 text)."""
    ((tag, raw),) = attribute.items()
    if tag == "B":
        return {"B": base64.b64encode(bytes(raw)).decode()}
    if tag == "BS":
        return {"BS": [base64.b64encode(bytes(member)).decode() for member in raw]}
    if tag == "M":
        return {"M": {name: _stream_json(value) for name, value in raw.items()}}
    if tag == "L":
        return {"L": [_stream_json(value) for value in raw]}
    return attribute


def _plain(value: Any) -> Any:
    """What a Python value should come back as after the round trip."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, frozenset):
        return sorted(_plain(member) for member in value)
    if isinstance(value, list):
        return [_plain(member) for member in value]
    if isinstance(value, dict):
        return {name: _plain(member) for name, member in value.items()}
    return value


def _typed_image(item: dict[str, Any]) -> dict[str, Any]:
    serializer = TypeSerializer()
    return {name: _stream_json(serializer.serialize(value)) for name, value in item.items()}


@FAST
@given(items)
def test_any_dynamodb_item_comes_back_as_its_plain_form(item: dict[str, Any]) -> None:
    (entry,) = run(stream_record(_typed_image(item)))
    expected = _plain(item) | {"event_type": "INSERT", "event_time": "2026-11-28T12:34:56Z"}
    assert item_of(entry) == expected


@FAST
@given(st.binary())
def test_arbitrary_bytes_fail_with_their_data_untouched(payload: bytes) -> None:
    (entry,) = run(payload)
    assert entry["result"] == "ProcessingFailed"
    assert entry["data"] == base64.b64encode(payload).decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=15,
)


@FAST
@given(json_values)
def test_arbitrary_json_fails_with_its_data_untouched(value: Any) -> None:
    event = firehose_event(value)
    (entry,) = transformer.lambda_handler(event, None)["records"]
    assert entry == {
        "recordId": "record-0000",
        "result": "ProcessingFailed",
        "data": event["records"][0]["data"],
    }


@FAST
@given(st.data(), json_values)
def test_a_damaged_stream_record_never_raises(data: st.DataObject, value: Any) -> None:
    record: Any = load_event("pipe_modify")
    parent, name, target = None, "", record
    while isinstance(target, dict) and target and data.draw(st.integers(0, 3)):
        name = data.draw(st.sampled_from(sorted(target)))
        parent, target = target, target[name]
    if parent is None:
        record = value
    else:
        parent[name] = value
    (entry,) = run(record)
    assert entry["result"] in {"Ok", "ProcessingFailed"}
    if entry["result"] == "Ok":
        line_of(entry)


@FAST
@given(st.lists(st.one_of(json_values, st.builds(dict)), max_size=5))
def test_any_records_list_gets_one_entry_per_record(records: list[Any]) -> None:
    assert len(transformer.lambda_handler({"records": records}, None)["records"]) == len(records)


# --- orjson and json give the same bytes -----------------------------------------------------

needs_orjson = pytest.mark.skipif(transformer._orjson is None, reason="orjson is not installed")

VARIED_IMAGES = [
    {"unicode": {"S": "Zoë 😀 \u2028 \x7f \x00 \n \"q\" \\"}, "ß": {"SS": ["é", "e", "z"]}},
    {"big": {"N": str(2**64)}, "neg": {"N": str(-(2**63) - 1)}, "id": {"N": "1" * 20}},
    {"edge": {"NS": [str(2**63 - 1), str(-(2**63)), str(2**64 - 1)]}},
    {f"f{i}": {"N": text} for i, text in enumerate(
        ["429.99", "0.1", "1E-5", "0.0001", "0.00012", "-1.5E-9", "1E+16", "1.5E+125",
         "1E-130", "123456789.123456789", "-0.0", "3.14159265358979323846264338327950288"]
    )},
    {"nested": {"M": {"a": {"L": [{"M": {"b": {"N": "1e-7"}}}, {"NS": ["0.00001", "2"]}]}}}},
]  # fmt: skip


@needs_orjson
@pytest.mark.parametrize("image", VARIED_IMAGES, ids=["unicode", "bigint", "i64", "floats", "nest"])
def test_orjson_and_json_give_identical_bytes(
    image: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    record = stream_record(image)
    with_orjson = line_of(run(record)[0])
    monkeypatch.setattr(transformer, "_orjson", None)
    assert line_of(run(record)[0]) == with_orjson


@needs_orjson
@FAST
@given(items)
def test_orjson_and_json_give_identical_bytes_for_any_item(item: dict[str, Any]) -> None:
    event = firehose_event(stream_record(_typed_image(item)))
    with_orjson = transformer.lambda_handler(event, None)
    saved, transformer._orjson = transformer._orjson, None
    try:
        assert transformer.lambda_handler(event, None) == with_orjson
    finally:
        transformer._orjson = saved
