"""Time the project's Firehose transformer against the seed's, on one batch of 20,000 orders.

Run: ``.venv/bin/python benchmarks/bench_transformer.py``. Target: ours >= 3x the seed's.
Both handlers run in this one process, on the same batch, best of a few rounds each. Logging is
configured as on Lambda, where the root logger's lines go to CloudWatch: the seed sets INFO
itself and logs twice per record, so its lines are formatted and written for real, into an
in-memory stream instead of the terminal.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, List  # noqa: UP035 - the seed's handler is kept as written

RECORDS = 20_000
ROUNDS = 9
PRODUCTS = ["Laptop", "Phone", "Tablet", "Headphones", "Charger", "Smartwatch"]
TRANSFORMER = Path(__file__).resolve().parent.parent / "lambda" / "transformer.py"


def load_transformer() -> Any:
    """Import lambda/transformer.py by path (it is a Lambda file, not a package module)."""
    spec = importlib.util.spec_from_file_location("transformer", TRANSFORMER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the seed's handler as the seed writes it (baseline; comments trimmed, code unchanged) ---

logger = logging.getLogger()
logger.setLevel(logging.INFO)


# fmt: off
def seed_lambda_handler(event: Dict[str, Any], context: Any) -> Dict[str, List[Dict[str, str]]]:  # noqa: UP006
    output_records = []
    for record in event['records']:
        try:
            payload = base64.b64decode(record['data'])
            payload_json = json.loads(payload)
            logger.info(f"Raw payload: {payload_json}")
            dynamodb_data = payload_json['dynamodb']
            new_image = dynamodb_data['NewImage']
            transformed_data = {
                'orderid': new_image['orderid']['S'],
                'product_name': new_image['product_name']['S'],
                'quantity': int(new_image['quantity']['N']),
                'price': float(new_image['price']['N'])
            }
            transformed_data['event_type'] = payload_json.get('eventName', 'UNKNOWN')
            transformed_data['event_time'] = payload_json.get('dynamodb', {}).get('ApproximateCreationDateTime', '')  # noqa: E501
            logger.info(f"Transformed data: {transformed_data}")
            transformed_data_str = json.dumps(transformed_data) + '\n'
            transformed_data_encoded = base64.b64encode(
                transformed_data_str.encode('utf-8')
            ).decode('utf-8')
            output_records.append({
                'recordId': record['recordId'],
                'result': 'Ok',
                'data': transformed_data_encoded
            })
        except Exception as e:
            logger.error(f"Error processing record {record['recordId']}: {str(e)}")  # noqa: RUF010
            output_records.append({
                'recordId': record['recordId'],
                'result': 'ProcessingFailed',
                'data': record['data']
            })
    return {
        'records': output_records
    }
# fmt: on


# --- the batch -------------------------------------------------------------------------------


def typed(order: dict[str, Any]) -> dict[str, Any]:
    """An order as a DynamoDB stream image."""
    return {
        "orderid": {"S": order["orderid"]},
        "product_name": {"S": order["product_name"]},
        "quantity": {"N": str(order["quantity"])},
        "price": {"N": str(order["price"])},
        "placed_at": {"S": order["placed_at"]},
    }


def orders(rng: random.Random) -> Iterator[dict[str, Any]]:
    """Orders like the seed's generator makes, with unique ids and a placement time."""
    start = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    for number in range(RECORDS):
        yield {
            "orderid": f"{number:06d}-{rng.getrandbits(32):08x}",
            "product_name": rng.choice(PRODUCTS),
            "quantity": rng.randint(1, 10),
            "price": Decimal(str(round(rng.uniform(10.99, 999.99), 2))),
            "placed_at": (start + timedelta(milliseconds=150 * number)).isoformat(),
        }


def stream_record(order: dict[str, Any], number: int, rng: random.Random) -> dict[str, Any]:
    """A Pipe-shaped stream record: mostly INSERT, some MODIFY and REMOVE."""
    image = typed(order)
    keys = {"orderid": image["orderid"]}
    stamp = 1795867200 + number // 7  # about 7 orders a second
    dynamodb: dict[str, Any] = {"ApproximateCreationDateTime": stamp, "Keys": keys}
    roll = rng.random()
    if roll < 0.90:
        name, dynamodb["NewImage"] = "INSERT", image
    elif roll < 0.97:
        old = dict(image, quantity={"N": str(max(1, order["quantity"] - 1))})
        name, dynamodb["NewImage"], dynamodb["OldImage"] = "MODIFY", image, old
    else:
        name, dynamodb["OldImage"] = "REMOVE", image
    dynamodb |= {
        "SequenceNumber": f"{10**20 + number:d}",
        "SizeBytes": 120,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    return {
        "eventID": f"{rng.getrandbits(128):032x}",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/OrderTable/stream/x",
    }


def firehose_event() -> dict[str, Any]:
    """One Firehose transformation event holding the whole batch."""
    rng = random.Random(7421)
    records = []
    for number, order in enumerate(orders(rng)):
        data = json.dumps(stream_record(order, number, rng), separators=(",", ":")).encode()
        arrival = 1795867200000 + number * 150
        records.append(
            {
                "recordId": f"{number:056d}",
                "approximateArrivalTimestamp": arrival,
                "data": base64.b64encode(data).decode(),
                "kinesisRecordMetadata": {
                    "shardId": "shardId-000000000000",
                    "partitionKey": order["orderid"],
                    "approximateArrivalTimestamp": arrival,
                    "sequenceNumber": f"{number:056d}",
                    "subsequenceNumber": 0,
                },
            }
        )
    return {
        "invocationId": "bench",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/bench",
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/bench",
        "region": "us-east-1",
        "records": records,
    }


# --- timing ----------------------------------------------------------------------------------


def records_per_second(
    handlers: dict[str, Callable[[], Any]], count: int, sink: io.StringIO
) -> dict[str, float]:
    """Best of ROUNDS runs of each handler, interleaved so machine load hits all alike."""
    best = dict.fromkeys(handlers, float("inf"))
    for _ in range(ROUNDS):
        for name, run in handlers.items():
            sink.seek(0)
            sink.truncate()
            began = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - began)
    return {name: count / seconds for name, seconds in best.items()}


@contextmanager
def json_only(module: Any) -> Iterator[None]:
    """Run the transformer as if orjson were not installed."""
    saved, module._orjson = module._orjson, None
    try:
        yield
    finally:
        module._orjson = saved


@contextmanager
def boto3_deserializer(module: Any) -> Iterator[None]:
    """Swap the hand-written image conversion for one built on boto3's TypeDeserializer."""
    from boto3.dynamodb.types import Binary, TypeDeserializer

    deserialize = TypeDeserializer().deserialize

    def with_bytes(attribute: dict[str, Any]) -> dict[str, Any]:
        # stream JSON carries B as base64 text; TypeDeserializer wants bytes
        ((tag, raw),) = attribute.items()
        if tag == "B":
            return {"B": base64.b64decode(raw)}
        if tag == "BS":
            return {"BS": [base64.b64decode(member) for member in raw]}
        if tag == "M":
            return {"M": {name: with_bytes(value) for name, value in raw.items()}}
        if tag == "L":
            return {"L": [with_bytes(value) for value in raw]}
        return attribute

    def plain(value: Any) -> Any:
        if isinstance(value, str | bool) or value is None:
            return value
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, Binary):
            return base64.b64encode(value.value).decode()
        if isinstance(value, dict):
            return {name: plain(member) for name, member in value.items()}
        members = [plain(member) for member in value]
        return sorted(members) if isinstance(value, set) else members

    def image(typed: dict[str, Any]) -> dict[str, Any]:
        return {name: plain(deserialize(with_bytes(value))) for name, value in typed.items()}

    saved, module._map = module._map, image
    try:
        yield
    finally:
        module._map = saved


def main() -> None:
    """Build the batch, time both handlers, print records/s and the ratios."""
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(message)s"))
    logging.getLogger().addHandler(handler)
    ours = load_transformer()
    event = firehose_event()
    answer = ours.lambda_handler(event, None)["records"]
    assert all(entry["result"] == "Ok" for entry in answer), "the batch must transform cleanly"
    orjson = ours._orjson is not None

    def run(orjson_on: bool, boto3: bool) -> Callable[[], Any]:
        def go() -> Any:
            with ExitStack() as stack:
                if not orjson_on:
                    stack.enter_context(json_only(ours))
                if boto3:
                    stack.enter_context(boto3_deserializer(ours))
                return ours.lambda_handler(event, None)

        return go

    handlers = {
        "seed": lambda: seed_lambda_handler(event, None),
        "project": run(orjson, False),
        "project, boto3 TypeDeserializer": run(orjson, True),
    }
    if orjson:
        handlers |= {
            "project, orjson disabled": run(False, False),
            "project, boto3 TypeDeserializer, orjson disabled": run(False, True),
        }
    rate = records_per_second(handlers, len(event["records"]), sink)
    seed = rate.pop("seed")
    print(f"batch: {len(event['records']):,} records, best of {ROUNDS} interleaved rounds")
    print(f"orjson: {'installed, used' if orjson else 'not installed (json path)'}")
    print(f"{'seed handler (INFO logging)':<50}{seed:>8,.0f} records/s")
    for name, value in rate.items():
        print(f"{name:<50}{value:>8,.0f} records/s {value / seed:6.2f}x the seed")
    print(f"target: project >= 3x the seed; measured {rate['project'] / seed:.2f}x")


if __name__ == "__main__":
    main()
