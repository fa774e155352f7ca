"""Athena partition projection: the partition values a table's `projection.*` properties make.

For a projected table Athena computes the partitions from the table's properties instead of
asking Glue, keeps those a query's predicates allow, and lists S3 under each one; "if a projected
partition does not exist in Amazon S3, Athena will still project the partition"
(https://docs.aws.amazon.com/athena/latest/ug/partition-projection.html). This module reads the
properties as Athena does, for the types of
https://docs.aws.amazon.com/athena/latest/ug/partition-projection-supported-types.html: integer,
enum, date (injected values come from the query alone, so nothing is enumerated for them). The
local engine uses it to decide which objects a query may read and how many partitions it
enumerates, the doctor to name keys Athena never reads, and the cost estimate to count S3 LISTs.

A date projection is read as Trino's port of Athena's (trino-hive, `projection/DateProjection`):
each bound, `NOW` (UTC, at query time) or a date in the column's format, is cut to the format's
precision (formatted, then parsed back); the values start at the lower bound and step by
`interval` `interval.unit` up to and including the upper bound. So `NOW-7DAYS,NOW` by 1 HOURS
over `yyyy-MM-dd-HH` is the current hour and the 168 before it: 169 values, none in the future.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from workshop.errors import WorkshopError

# Java DateTimeFormatter letters the local engine reads, as strftime directives. Others (e.g.
# `yy`, whose base year differs from strftime's %y) are refused rather than misread.
JAVA_TO_STRFTIME = {"yyyy": "%Y", "uuuu": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M",
                    "ss": "%S"}
FIXED_UNITS = {"WEEKS": timedelta(weeks=1), "DAYS": timedelta(days=1),
               "HOURS": timedelta(hours=1), "MINUTES": timedelta(minutes=1),
               "SECONDS": timedelta(seconds=1)}
CALENDAR_UNITS = {"YEARS": 12, "MONTHS": 1}  # in months
RELATIVE_BOUND = re.compile(
    r"^\s*NOW\s*(?:([+-])\s*(\d+)\s*(YEAR|MONTH|WEEK|DAY|HOUR|MINUTE|SECOND)S?\s*)?$",
    re.IGNORECASE)


class ProjectionError(WorkshopError, ValueError):
    """A table's projection.* properties cannot be read as Athena reads them."""


def enabled(params: Mapping[str, str]) -> bool:
    """Is partition projection on for the table (`projection.enabled` = true)?"""
    return str(params.get("projection.enabled", "false")).strip().lower() == "true"


def kind(params: Mapping[str, str], name: str) -> str:
    """The projection type of a partition column: integer, enum, date, injected (or "")."""
    return str(params.get(f"projection.{name}.type", "")).strip().lower()


def java_to_strftime(pattern: str) -> str:
    """A Java DateTimeFormatter pattern as a strftime format, e.g. yyyy-MM-dd-HH -> %Y-%m-%d-%H.

    Letters run together (`yyyy`); text in single quotes is literal; anything else is literal.
    """
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            end = pattern.find("'", i + 1)
            if end < 0:
                raise ProjectionError(f"date format {pattern!r} has an unclosed quote")
            out.append(pattern[i + 1:end].replace("%", "%%") if end > i + 1 else "'")
            i = end + 1
        elif char.isalpha():
            run = re.match(f"{re.escape(char)}+", pattern[i:]).group()  # type: ignore[union-attr]
            if run not in JAVA_TO_STRFTIME:
                raise ProjectionError(
                    f"date format {pattern!r}: the letters {run!r} are not read here (only "
                    f"{', '.join(JAVA_TO_STRFTIME)}); use those in the template's format")
            out.append(JAVA_TO_STRFTIME[run])
            i += len(run)
        else:
            out.append("%%" if char == "%" else char)
            i += 1
    return "".join(out)


def _parse(value: str, fmt: str) -> datetime | None:
    """The UTC time a value spells in the format, or None; exact: '2026-1-05' is not yyyy-MM-dd."""
    try:
        parsed = datetime.strptime(value, fmt)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.strftime(fmt) == value else None


def _add_months(when: datetime, months: int) -> datetime:
    """`when` plus whole months, the day cut to the month's last (as java.time does)."""
    year, month = divmod(when.month - 1 + months, 12)
    year += when.year
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)


def _shift(when: datetime, amount: int, unit: str) -> datetime:
    if unit in CALENDAR_UNITS:
        return _add_months(when, amount * CALENDAR_UNITS[unit])
    return when + amount * FIXED_UNITS[unit]


@dataclass(frozen=True)
class DateRange:
    """The values of a date projection at one moment: from `first` to `last`, every step."""

    first: datetime  # the lower bound, cut to the format's precision
    last: datetime  # the upper bound, likewise
    interval: int
    unit: str  # YEARS, MONTHS, WEEKS, DAYS, HOURS, MINUTES or SECONDS
    fmt: str  # the column's format, as strftime

    def times(self) -> Iterator[datetime]:
        """Every projected time, oldest first (months accumulate as java.time's plus does)."""
        current = self.first
        while current <= self.last:
            yield current
            current = _shift(current, self.interval, self.unit)

    def count(self) -> int:
        """How many values the range projects."""
        if self.unit in FIXED_UNITS:
            return (self.last - self.first) // (self.interval * FIXED_UNITS[self.unit]) + 1
        return sum(1 for _ in self.times())

    def contains(self, value: str) -> bool:
        """Is `value` one of the values: spelled in the format, in range, on the grid?"""
        when = _parse(value, self.fmt)
        if when is None or not self.first <= when <= self.last:
            return False
        if self.unit in FIXED_UNITS:
            return (when - self.first) % (self.interval * FIXED_UNITS[self.unit]) == timedelta(0)
        return any(t == when for t in self.times())


def _bound(text: str, fmt: str, now: datetime, column: str) -> datetime:
    """One bound of a date range: NOW, NOW-3DAYS, ... or a date in the column's format."""
    if match := RELATIVE_BOUND.match(text):
        sign, amount, unit = match.groups()
        if amount is None:
            return now
        return _shift(now, int(amount) * (1 if sign == "+" else -1), unit.upper() + "S")
    parsed = _parse(text.strip(), fmt)
    if parsed is None:
        raise ProjectionError(f"projection.{column}.range bound {text!r} is neither NOW[+-]n"
                              "UNITS nor a date in the column's format")
    return parsed


def date_range(params: Mapping[str, str], name: str, now: datetime | None = None) -> DateRange:
    """The values a date projection makes at `now` (default: the current time, in UTC)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    pattern = str(params.get(f"projection.{name}.format", ""))
    if not pattern:
        raise ProjectionError(f"projection.{name}.format is required for a date projection")
    fmt = java_to_strftime(pattern)
    bounds = str(params.get(f"projection.{name}.range", "")).split(",")
    if len(bounds) != 2:
        raise ProjectionError(f"projection.{name}.range must be two bounds separated by a comma, "
                              "not a hyphen (e.g. NOW-7DAYS,NOW)")
    # Cut to the format's precision: NOW at 17:42 is the value of hour 17.
    first, last = (_parse(_bound(b, fmt, now, name).strftime(fmt), fmt) for b in bounds)
    if first is None or last is None or not first < last:
        raise ProjectionError(f"projection.{name}.range {','.join(bounds)!r} must go from an "
                              "earlier date to a later one")
    unit = str(params.get(f"projection.{name}.interval.unit", "")).strip().upper()
    if not unit:  # Athena's default, for dates at single-day or single-month precision only
        letters = re.sub(r"'[^']*'", "", pattern)
        if any(c in letters for c in "Hms"):
            raise ProjectionError(f"projection.{name}.interval.unit is required: the format "
                                  f"{pattern!r} is finer than a day")
        unit = "DAYS" if "d" in letters else "MONTHS"
    if unit not in FIXED_UNITS and unit not in CALENDAR_UNITS:
        raise ProjectionError(f"projection.{name}.interval.unit {unit!r} is not one of "
                              f"{', '.join([*CALENDAR_UNITS, *FIXED_UNITS])}")
    interval = _positive(params, f"projection.{name}.interval")
    return DateRange(first, last, interval, unit, fmt)


def _positive(params: Mapping[str, str], key: str) -> int:
    text = str(params.get(key, "1")).strip() or "1"
    if not text.isdigit() or int(text) < 1:
        raise ProjectionError(f"{key} must be a positive integer, not {text!r}")
    return int(text)


def _integer_range(params: Mapping[str, str], name: str) -> tuple[int, int, int, int] | None:
    """(low, high, interval, digits) of an integer projection; None without a range."""
    low, _, high = str(params.get(f"projection.{name}.range", "")).partition(",")
    if not (low.strip() and high.strip()):
        return None
    try:
        bounds = int(low), int(high)
    except ValueError:
        raise ProjectionError(f"projection.{name}.range must be two integers") from None
    digits = str(params.get(f"projection.{name}.digits", "0")).strip() or "0"
    return (*bounds, _positive(params, f"projection.{name}.interval"), int(digits))


def values(params: Mapping[str, str], name: str, now: datetime | None = None) -> list[str] | None:
    """Every value the projection makes for a column, as the key spells it; None if injected."""
    projection = kind(params, name)
    if projection == "date":
        found = date_range(params, name, now)
        return [t.strftime(found.fmt) for t in found.times()]
    if projection == "integer":
        found_range = _integer_range(params, name)
        if found_range is None:
            return []
        low, high, interval, digits = found_range
        return [str(n).zfill(digits) for n in range(low, high + 1, interval)]
    if projection == "enum":
        return str(params.get(f"projection.{name}.values", "")).split(",")
    if projection == "injected":
        return None
    raise ProjectionError(f"projection.{name}.type {projection!r} is not enum, integer, date or "
                          "injected")


def count(params: Mapping[str, str], name: str, now: datetime | None = None) -> int | None:
    """How many values the projection makes for a column (None: injected, from the query)."""
    projection = kind(params, name)
    if projection == "date":
        return date_range(params, name, now).count()
    if projection == "integer":
        found = _integer_range(params, name)
        return 0 if found is None else len(range(found[0], found[1] + 1, found[2]))
    found_values = values(params, name, now)
    return None if found_values is None else len(found_values)


def partitions(params: Mapping[str, str], names: list[str],
               now: datetime | None = None) -> int | None:
    """How many partitions the projection makes: the product over the partition columns."""
    total = 1
    for name in names:
        column = count(params, name, now)
        if column is None:
            return None
        total *= column
    return total


def projected(params: Mapping[str, str], name: str, value: str,
              now: datetime | None = None) -> bool:
    """Is `value` one of the values Athena's partition projection makes for column `name`?"""
    projection = kind(params, name)
    if projection == "date":
        return date_range(params, name, now).contains(value)
    if projection == "integer":
        found = _integer_range(params, name)
        if found is None or not value.lstrip("-").isdigit():
            return False
        low, high, interval, digits = found
        number = int(value)
        return (low <= number <= high and (number - low) % interval == 0
                and value == str(number).zfill(digits))
    if projection == "enum":
        return value in str(params.get(f"projection.{name}.values", "")).split(",")
    return True  # injected: whatever the query names
