"""The Parquet copy: the local Firehose converts each transformed record by the Glue table's
columns, as the OpenX JSON SerDe reads them, into one Snappy Parquet object per flush; a record
that does not fit goes to the error output as format-conversion-failed, with its raw data."""

from __future__ import annotations

import base64
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import wait_for
from tests.test_local_functions import wrapped
from tests.test_local_pipeline import make_orders, write_burst
from workshop import config, stack
from workshop.delivered import object_keys, read_lines
from workshop.local.hops import conversion

GLUE = [{"Name": "orderid", "Type": "string"}, {"Name": "quantity", "Type": "int"},
        {"Name": "price", "Type": "double"}, {"Name": "gift", "Type": "boolean"}]
COLUMNS = conversion.columns(GLUE)


def test_keys_match_columns_without_regard_to_case_and_missing_ones_are_null():
    line = b'{"OrderId": "a1", "QUANTITY": 2, "price": 3, "unknown": [1]}'
    assert conversion.row(line, COLUMNS) == {"orderid": "a1", "quantity": 2, "price": 3.0,
                                             "gift": None}


@pytest.mark.parametrize(("line", "why"), [
    (b'{"orderid": "a1", "quantity": "2"}', "quantity: '2' is not an integer (int)"),
    (b'{"orderid": "a1", "quantity": 2.5}', "quantity: 2.5 is not an integer (int)"),
    (b'{"orderid": "a1", "quantity": 3000000000}', "quantity: 3000000000 does not fit int"),
    (b'{"orderid": "a1", "price": "9.99"}', "price: '9.99' is not a number (double)"),
    (b'{"orderid": "a1", "gift": "yes"}', "gift: 'yes' is not a boolean"),
    (b'{"orderid": 7}', "orderid: 7 is not a string"),
    (b'[1, 2]', "not a JSON object"),
    (b'{"orderid": ', "not JSON"),
])
def test_a_value_that_does_not_fit_its_column_fails_the_record(line, why):
    with pytest.raises(ValueError, match=why.replace("(", r"\(").replace(")", r"\)")):
        conversion.row(line, COLUMNS)


def test_the_rows_become_one_snappy_parquet_file_typed_as_the_table_says():
    rows = [conversion.row(b'{"orderid": "a1", "quantity": 2, "price": 3.5}', COLUMNS)]
    data = conversion.parquet(rows, COLUMNS, "SNAPPY")
    file = pq.ParquetFile(io.BytesIO(data))
    assert file.schema_arrow == pa.schema([("orderid", pa.string()), ("quantity", pa.int32()),
                                           ("price", pa.float64()), ("gift", pa.bool_())])
    assert file.metadata.row_group(0).column(0).compression == "SNAPPY"
    assert file.read().to_pylist() == [{"orderid": "a1", "quantity": 2, "price": 3.5,
                                        "gift": None}]


def test_a_type_the_local_conversion_does_not_write_is_refused_by_name():
    with pytest.raises(conversion.ConversionError, match="column placed is timestamp"):
        conversion.columns([{"Name": "placed", "Type": "timestamp"}])


def parquet_rows(s, bucket: str) -> list[dict]:
    s3 = config.client("s3", s)
    rows = []
    for key in object_keys(bucket, "parquet/", s):
        assert key.endswith(".parquet")  # the destination's FileExtension
        rows += pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                              ).to_pylist()
    return rows


def test_every_order_lands_in_the_parquet_copy_as_in_the_json_one(fresh_stack):
    s, found = fresh_stack
    write_burst(s, found["TableName"], make_orders(12, start=100))
    def json_lines() -> list[dict]:
        return list(read_lines(found["BucketName"], object_keys(found["BucketName"], "orders/", s),
                               s))

    wait_for(lambda: len(parquet_rows(s, found["BucketName"])) == len(json_lines()) == 12, 60,
             "12 rows in each copy")
    assert sorted(parquet_rows(s, found["BucketName"]), key=lambda r: r["orderid"]) == sorted(
        json_lines(), key=lambda r: r["orderid"])


def test_records_that_do_not_fit_the_table_go_to_format_conversion_failed(fresh_stack,
                                                                           own_lambda):
    s, found = fresh_stack
    # A transformer that writes quantity as text: fine for JSON, not for the int column.
    own_lambda(wrapped(
        "import base64\n"
        "    answer = original(event, context)\n"
        "    for entry in answer['records']:\n"
        "        item = json.loads(base64.b64decode(entry['data']))\n"
        "        item['quantity'] = str(item['quantity'])\n"
        "        entry['data'] = base64.b64encode((json.dumps(item) + '\\n').encode()).decode()\n"
        "    return answer"))
    stack.deploy(s=s)
    write_burst(s, found["TableName"], make_orders(4, start=200))
    bucket = found["BucketName"]
    failed_prefix = "parquet-errors/format-conversion-failed/"
    wait_for(lambda: len(list(read_lines(bucket, object_keys(bucket, failed_prefix, s), s))) == 4,
             60, "4 records in format-conversion-failed")
    errors = list(read_lines(bucket, object_keys(bucket, failed_prefix, s), s))
    assert {e["ErrorCode"] for e in errors} == {"DataFormatConversion.MalformedData"}
    assert all("quantity" in e["ErrorMessage"] for e in errors)
    assert {e["dataCatalogTable"]["tableName"] for e in errors} == {found["ParquetTableName"]}
    raw = sorted(json.loads(base64.b64decode(e["rawData"]))["orderid"] for e in errors)
    assert raw == [f"o{n:06d}" for n in range(200, 204)]
    assert parquet_rows(s, bucket) == []
    # The JSON copy has no types to break: every order is delivered there.
    wait_for(lambda: len(list(read_lines(bucket, object_keys(bucket, "orders/", s), s))) == 4,
             30, "the JSON copy")
