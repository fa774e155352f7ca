"""workshop.records.projection: the partition values Athena's partition projection makes, read as
Athena reads a table's projection.* properties (enum, integer, date; NOW in UTC at query time)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workshop.records import projection
from workshop.records.projection import ProjectionError

NOW = datetime(2026, 12, 3, 17, 42, 9, tzinfo=UTC)
HOURLY = {"projection.enabled": "true", "projection.datehour.type": "date",
          "projection.datehour.format": "yyyy-MM-dd-HH",
          "projection.datehour.range": "NOW-7DAYS,NOW", "projection.datehour.interval": "1",
          "projection.datehour.interval.unit": "HOURS"}


def date(column_format: str, bounds: str, **more: str) -> dict[str, str]:
    return {"projection.d.type": "date", "projection.d.format": column_format,
            "projection.d.range": bounds, **{f"projection.d.{k}": v for k, v in more.items()}}


def test_a_week_relative_to_now_is_the_current_hour_and_the_168_before_it():
    values = projection.values(HOURLY, "datehour", NOW)
    assert (values[0], values[-1], len(values)) == ("2026-11-26-17", "2026-12-03-17", 169)
    assert projection.count(HOURLY, "datehour", NOW) == 169
    assert len(set(values)) == 169  # one value per hour, none twice


@pytest.mark.parametrize(("value", "projected"), [
    ("2026-12-03-17", True),  # now's hour: NOW at 17:42 is cut to the hour
    ("2026-11-26-17", True),  # NOW-7DAYS, cut likewise
    ("2026-11-26-16", False),  # older than the range
    ("2026-12-03-18", False),  # the future is never projected
    ("2026-12-3-17", False),  # not zero-padded: not how yyyy-MM-dd-HH spells it
    ("2026-12-03 17", False),
    ("2026-12-03-17-00", False),
    ("year=2026", False),
])
def test_a_value_is_projected_only_as_the_format_spells_it_inside_the_range(value, projected):
    assert projection.projected(HOURLY, "datehour", value, NOW) is projected


def test_the_range_moves_with_now():
    later = NOW.replace(day=4, hour=0)
    assert projection.projected(HOURLY, "datehour", "2026-11-26-17", NOW)
    assert not projection.projected(HOURLY, "datehour", "2026-11-26-17", later)
    assert projection.projected(HOURLY, "datehour", "2026-12-04-00", later)


def test_values_step_by_the_interval_from_the_lower_bound():
    params = date("yyyy-MM-dd-HH", "2026-12-01-00,2026-12-01-10", interval="3",
                  **{"interval.unit": "HOURS"})
    assert projection.values(params, "d", NOW) == ["2026-12-01-00", "2026-12-01-03",
                                                   "2026-12-01-06", "2026-12-01-09"]
    assert not projection.projected(params, "d", "2026-12-01-01", NOW)  # off the grid
    assert projection.count(params, "d", NOW) == 4


def test_athenas_firehose_example_projects_every_hour_since_its_start():
    params = date("yyyy/MM/dd/HH", "2021/01/01/00,NOW", interval="1",
                  **{"interval.unit": "HOURS"})
    hours = (NOW.replace(minute=0, second=0) - datetime(2021, 1, 1, tzinfo=UTC)).days * 24 + 17
    assert projection.count(params, "d", NOW) == hours + 1
    assert projection.projected(params, "d", "2021/01/01/00", NOW)


def test_a_monthly_range_defaults_to_one_month_steps_and_a_daily_one_to_days():
    months = date("yyyy-MM", "2026-01,2026-12")
    assert projection.values(months, "d", NOW)[:3] == ["2026-01", "2026-02", "2026-03"]
    assert projection.count(months, "d", NOW) == 12
    assert projection.count(date("yyyy-MM-dd", "NOW-2DAYS,NOW"), "d", NOW) == 3
    quoted = date("yyyy-MM-dd'T'HH", "NOW-1HOURS,NOW", **{"interval.unit": "HOURS"})
    assert projection.values(quoted, "d", NOW) == ["2026-12-03T16", "2026-12-03T17"]


@pytest.mark.parametrize(("params", "message"), [
    (date("yyyy-MM-dd-HH", "NOW-7DAYS,NOW"), "interval.unit is required"),
    (date("yyyy-MM-dd-HH", "NOW-7DAYS-NOW", **{"interval.unit": "HOURS"}), "separated by a comma"),
    (date("yy-MM-dd", "NOW-7DAYS,NOW"), "the letters 'yy' are not read here"),
    (date("yyyy-MM-dd", "NOW,NOW-1DAYS"), "from an earlier date to a later one"),
    (date("yyyy-MM-dd", "yesterday,NOW"), "neither NOW"),
    (date("yyyy-MM-dd-HH", "NOW-1DAYS,NOW", **{"interval.unit": "FORTNIGHTS"}),
     "is not one of"),
])
def test_properties_athena_would_refuse_are_named(params, message):
    with pytest.raises(ProjectionError, match=message):
        projection.values(params, "d", NOW)


def test_integer_projections_pad_to_their_digits_and_step_by_their_interval():
    params = {"projection.h.type": "integer", "projection.h.range": "0,23",
              "projection.h.digits": "2", "projection.h.interval": "6"}
    assert projection.values(params, "h") == ["00", "06", "12", "18"]
    assert [projection.projected(params, "h", v) for v in ("06", "6", "07", "24")] == [
        True, False, False, False]


def test_enum_values_are_taken_as_written_and_injected_ones_from_the_query_alone():
    params = {"projection.r.type": "enum", "projection.r.values": "eu-west-1,us-east-1",
              "projection.i.type": "injected"}
    assert projection.values(params, "r") == ["eu-west-1", "us-east-1"]
    assert not projection.projected(params, "r", "us-east-2")
    assert projection.values(params, "i") is None and projection.count(params, "i") is None
    assert projection.partitions(params, ["r", "i"]) is None


def test_the_partitions_of_several_columns_are_every_combination():
    params = {**HOURLY, "projection.r.type": "enum", "projection.r.values": "a,b,c"}
    assert projection.partitions(params, ["datehour", "r"], NOW) == 169 * 3
