"""workshop.athena on the aws target: pyathena's PandasCursor, called as the stack says."""

from __future__ import annotations

import pandas as pd
import pytest
from pyathena.error import OperationalError

from workshop import athena, config, stack

OUTPUTS = {"AthenaWorkGroupName": "alice-workgroup", "GlueDatabaseName": "alice_sales"}


class FakeCursor:
    """Records what pyathena's cursor is asked; answers like PandasCursor, or fails like Athena."""

    def __init__(self, calls: list, failure: str | None) -> None:
        self.calls, self.failure = calls, failure

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.calls.append(("cursor closed",))

    def execute(self, sql: str) -> FakeCursor:
        self.calls.append(("execute", sql))
        if self.failure:
            raise OperationalError(self.failure)  # as pyathena does with the StateChangeReason
        return self

    def as_pandas(self) -> pd.DataFrame:
        return pd.DataFrame({"product_name": ["Laptop"], "units": [3]})


@pytest.fixture
def athena_calls(monkeypatch):
    calls: list = []
    failure: dict[str, str | None] = {"reason": None}

    class FakeConnection:
        def cursor(self) -> FakeCursor:
            return FakeCursor(calls, failure["reason"])

        def close(self) -> None:
            calls.append(("connection closed",))

    def connect(**kwargs):
        calls.append(("connect", kwargs))
        return FakeConnection()

    monkeypatch.setattr("pyathena.connect", connect)
    monkeypatch.setattr(stack, "outputs", lambda s=None: OUTPUTS)
    config.reset()
    yield calls, failure
    config.reset()


def test_queries_run_in_the_stacks_workgroup_and_database_with_pandas_cursor(athena_calls):
    from pyathena.pandas.cursor import PandasCursor

    calls, _ = athena_calls
    s = config.Settings(target="aws", region="eu-west-1", prefix="alice")
    frame = athena.query("SELECT 1", s)
    assert frame.to_dict("list") == {"product_name": ["Laptop"], "units": [3]}
    (name, kwargs), *rest = calls
    assert name == "connect"
    assert kwargs["work_group"] == "alice-workgroup"
    assert kwargs["schema_name"] == "alice_sales"
    assert kwargs["region_name"] == "eu-west-1"
    assert kwargs["cursor_class"] is PandasCursor
    assert kwargs["session"].region_name == "eu-west-1"
    assert rest == [("execute", "SELECT 1"), ("cursor closed",), ("connection closed",)]


def test_the_workshop_queries_go_to_athena_unchanged(athena_calls):
    calls, _ = athena_calls
    s = config.Settings(target="aws", prefix="alice")
    athena.run("units_per_product_today", s)
    assert ("execute", athena.sql_of("units_per_product_today")) in calls


def test_a_failed_query_shows_athenas_own_reason_and_the_next_step(athena_calls):
    calls, failure = athena_calls
    failure["reason"] = "COLUMN_NOT_FOUND: line 1:8: Column 'prce' cannot be resolved"
    s = config.Settings(target="aws", prefix="alice")
    with pytest.raises(athena.QueryError) as caught:
        athena.query("SELECT prce FROM orders", s)
    message = str(caught.value)
    assert "Column 'prce' cannot be resolved" in message
    assert "Fix the SQL" in message
    assert calls[-1] == ("connection closed",)
