"""Athena's answers on the local engine: the examples of Trino's documentation, run locally.

Each case is an example the Trino documentation prints with its result (the page and function are
named in the case), or an edge case derived from a sentence of those pages (quoted in `why`); a
few, whose source is a file of Trino's own code (TRINO_SOURCE), pin down what the pages leave
unsaid, where the engine had to choose. Run as `athena.query` runs a query locally, every case
must give the documented rows, or be refused with UnsupportedQuery naming the function or
construct: never other rows (issue 17).

Results are compared as the DataFrame gives them: a DATE comes as a midnight Timestamp, a DECIMAL
as a float, a NULL in a float or string column as NaN, a ROW as a dict of its fields.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from workshop import config
from workshop.athena import QueryError, UnsupportedQuery
from workshop.local.athena import sql
from workshop.local.athena.engine import LocalAthena

AREAS = ("date/time", "strings", "numbers", "conditionals", "json", "arrays and maps", "windows",
         "unnest", "grouping")
DOC = Path(__file__).resolve().parent.parent / "docs" / "local-sql.md"


class Row(tuple):
    """A ROW value as Trino prints it, by position: it matches a dict of the same values."""


@dataclass(frozen=True)
class Fails:
    """Athena fails the query (the docs say so): locally it must fail too, or be refused."""

    why: str


@dataclass(frozen=True)
class Case:
    """One query, Athena's answer to it, and where the answer is written down."""

    area: str
    source: str  # the Trino docs page (docs/src/main/sphinx/...), or TRINO_SOURCE + its class
    name: str  # the function or construct: a refusal must name it
    sql: str
    rows: list[tuple] | Fails
    ordered: bool = False  # the query's ORDER BY fixes the row order
    why: str = ""  # for a derived edge case: the sentence of the docs it follows from
    id: str = field(default="", compare=False)


SHIPPING = ("(VALUES ('California', 94131, 'New Jersey', 8648, 13), "
            "('California', 94131, 'New Jersey', 8540, 42), "
            "('New Jersey', 7081, 'Connecticut', 6708, 225), "
            "('California', 90210, 'Connecticut', 6927, 1337), "
            "('California', 94131, 'Colorado', 80302, 5), "
            "('New York', 10002, 'New Jersey', 8540, 3)) "
            "AS shipping(origin_state, origin_zip, destination_state, destination_zip, "
            "package_weight)")
SHIPPING_ROWS = [("California", 94131, "New Jersey", 13),
                 ("California", 94131, "New Jersey", 42),
                 ("New Jersey", 7081, "Connecticut", 225),
                 ("California", 90210, "Connecticut", 1337),
                 ("California", 94131, "Colorado", 5),
                 ("New York", 10002, "New Jersey", 3)]
TIES = "(VALUES 10, 20, 20, 30) AS t(x)"
LA = ZoneInfo("America/Los_Angeles")
PLUS_ONE = timezone(timedelta(hours=1))
DATETIME, STRING, MATH, CONDITIONAL = ("functions/datetime.md", "functions/string.md",
                                       "functions/math.md", "functions/conditional.md")
COMPARISON, REGEXP, JSON, ARRAY = ("functions/comparison.md", "functions/regexp.md",
                                   "functions/json.md", "functions/array.md")
MAP, WINDOW, SELECT, AGGREGATE = ("functions/map.md", "functions/window.md", "sql/select.md",
                                  "functions/aggregate.md")
TYPES, CONVERSION = "language/types.md", "functions/conversion.md"
DECIMAL = "functions/decimal.md"
TRINO_SOURCE = "trinodb/trino core/trino-main: "  # a case read from Trino's code, not its docs


def shipping_sums(*sets: tuple[int, ...]) -> list[tuple]:
    """sum(package_weight) per grouping set over SHIPPING, as the UNION ALL of GROUP BYs that
    sql/select.md says a GROUPING SETS query is equivalent to; columns are the indexes into
    (origin_state, origin_zip, destination_state), the others NULL."""
    rows = []
    for columns in sets:
        sums: Counter = Counter()
        for row in SHIPPING_ROWS:
            sums[tuple(row[i] if i in columns else None for i in range(3))] += row[3]
        rows += [(*key, total) for key, total in sums.items()]
    return rows


def cases() -> list[Case]:
    """Every case of the suite, grouped by area."""
    found: list[Case] = []

    def case(area: str, source: str, name: str, query: str, rows: list[tuple] | Fails,
             ordered: bool = False, why: str = "") -> None:
        number = sum(c.area == area for c in found) + 1
        label = re.sub(r"\W+", "_", name)
        ident = f"{area.split()[0].replace('/', '')}-{number:02d}-{label}"
        found.append(Case(area, source, name, query, rows, ordered, why, ident))

    # --- date/time ------------------------------------------------------------------------------
    d = "date/time"
    case(d, DATETIME, "+", "SELECT date '2012-08-08' + interval '2' day", [(date(2012, 8, 10),)])
    case(d, DATETIME, "+", "SELECT time '01:00' + interval '3' hour", [(time(4, 0),)])
    case(d, DATETIME, "+", "SELECT timestamp '2012-08-08 01:00' + interval '29' hour",
         [(datetime(2012, 8, 9, 6, 0),)])
    case(d, DATETIME, "+", "SELECT timestamp '2012-10-31 01:00' + interval '1' month",
         [(datetime(2012, 11, 30, 1, 0),)])
    case(d, DATETIME, "-", "SELECT date '2012-08-08' - interval '2' day", [(date(2012, 8, 6),)])
    case(d, DATETIME, "-", "SELECT time '01:00' - interval '3' hour", [(time(22, 0),)])
    case(d, DATETIME, "-", "SELECT timestamp '2012-08-08 01:00' - interval '29' hour",
         [(datetime(2012, 8, 6, 20, 0),)])
    case(d, DATETIME, "-", "SELECT timestamp '2012-10-31 01:00' - interval '1' month",
         [(datetime(2012, 9, 30, 1, 0),)])
    case(d, DATETIME, "AT TIME ZONE",
         "SELECT timestamp '2012-10-31 01:00 UTC' AT TIME ZONE 'America/Los_Angeles'",
         [(datetime(2012, 10, 30, 18, 0, tzinfo=LA),)])
    case(d, DATETIME, "AT TIME ZONE",
         "SELECT hour(timestamp '2012-10-31 01:00 UTC' AT TIME ZONE 'America/Los_Angeles')",
         [(18,)], why="AT TIME ZONE sets the time zone (the docs print 18:00 in Los Angeles); "
         "hour(x) returns the hour of the day from x")
    case(d, DATETIME, "AT TIME ZONE", "SELECT timestamp '2012-10-31 01:00 UTC' AT TIME ZONE 'UTC'",
         [(datetime(2012, 10, 31, 1, 0, tzinfo=UTC),)], why="the docs' example, to UTC itself")
    case(d, DATETIME, "from_iso8601_timestamp",
         "SELECT from_iso8601_timestamp('2020-05-11T11:15:05.055+01:00')",
         [(datetime(2020, 5, 11, 11, 15, 5, 55000, tzinfo=PLUS_ONE),)])
    case(d, DATETIME, "from_iso8601_timestamp",
         "SELECT hour(from_iso8601_timestamp('2020-05-11T11:15:05.055+01:00'))", [(11,)],
         why="the docs print 11:15:05.055 +01:00; hour(x) returns the hour of the day from x")
    case(d, DATETIME, "from_iso8601_timestamp",
         "SELECT from_iso8601_timestamp('2020-05-11T11:15:05')",
         [(datetime(2020, 5, 11, 11, 15, 5, tzinfo=UTC),)],
         why="the time zone defaults to the session time zone, UTC on Athena")
    case(d, DATETIME, "from_iso8601_date", "SELECT from_iso8601_date('2020-05-11')",
         [(date(2020, 5, 11),)])
    case(d, DATETIME, "from_iso8601_date", "SELECT from_iso8601_date('2020-W10')",
         [(date(2020, 3, 2),)])
    case(d, DATETIME, "from_iso8601_date", "SELECT from_iso8601_date('2020-123')",
         [(date(2020, 5, 2),)])
    case(d, TRINO_SOURCE + "DateTimeFunctions.fromISO8601Date", "from_iso8601_date",
         "SELECT from_iso8601_date('2020-05'), from_iso8601_date('2020-W10-3')",
         [(date(2020, 5, 1), date(2020, 3, 4))],
         why="Joda's dateElementParser: yyyy['-'MM['-'dd]], or a week date with its day")
    case(d, DATETIME, "date_trunc", "SELECT date_trunc('day', TIMESTAMP '2022-10-20 05:10:00')",
         [(datetime(2022, 10, 20),)])
    case(d, DATETIME, "date_trunc", "SELECT date_trunc('month', TIMESTAMP '2022-10-20 05:10:00')",
         [(datetime(2022, 10, 1),)])
    case(d, DATETIME, "date_trunc", "SELECT date_trunc('year', TIMESTAMP '2022-10-20 05:10:00')",
         [(datetime(2022, 1, 1),)])
    case(d, DATETIME, "date_trunc",
         "SELECT date_trunc('week', TIMESTAMP '2001-08-22 03:04:05.321'), "
         "date_trunc('quarter', TIMESTAMP '2001-08-22 03:04:05.321'), "
         "date_trunc('second', TIMESTAMP '2001-08-22 03:04:05.321')",
         [(datetime(2001, 8, 20), datetime(2001, 7, 1), datetime(2001, 8, 22, 3, 4, 5))])
    case(d, DATETIME, "date_add", "SELECT date_add('second', 86, TIMESTAMP '2020-03-01 00:00:00')",
         [(datetime(2020, 3, 1, 0, 1, 26),)])
    case(d, DATETIME, "date_add", "SELECT date_add('hour', 9, TIMESTAMP '2020-03-01 00:00:00')",
         [(datetime(2020, 3, 1, 9, 0),)])
    case(d, DATETIME, "date_add",
         "SELECT date_add('day', -1, TIMESTAMP '2020-03-01 00:00:00 UTC')",
         [(datetime(2020, 2, 29, tzinfo=UTC),)])
    case(d, DATETIME, "date_diff", "SELECT date_diff('second', TIMESTAMP '2020-03-01 00:00:00', "
         "TIMESTAMP '2020-03-02 00:00:00')", [(86400,)])
    case(d, DATETIME, "date_diff", "SELECT date_diff('hour', TIMESTAMP '2020-03-01 00:00:00 UTC', "
         "TIMESTAMP '2020-03-02 00:00:00 UTC')", [(24,)])
    case(d, DATETIME, "date_diff", "SELECT date_diff('day', DATE '2020-03-01', DATE '2020-03-02')",
         [(1,)])
    case(d, DATETIME, "date_diff", "SELECT date_diff('millisecond', "
         "TIMESTAMP '2020-06-01 12:30:45.000000000', TIMESTAMP '2020-06-02 12:30:45.123456789')",
         [(86400123,)])
    case(d, DATETIME, "date_diff", "SELECT date_diff('day', TIMESTAMP '2020-03-01 23:00:00', "
         "TIMESTAMP '2020-03-02 01:00:00')", [(0,)],
         why="returns timestamp2 - timestamp1 expressed in terms of unit: two hours are 0 days")
    case(d, DATETIME, "date_diff", "SELECT date_diff('day', DATE '2020-03-02', DATE '2020-03-01')",
         [(-1,)], why="returns timestamp2 - timestamp1 expressed in terms of unit")
    case(d, DATETIME, "date_format",
         "SELECT date_format(TIMESTAMP '2022-10-20 05:10:00', '%m-%d-%Y %H')", [("10-20-2022 05",)])
    case(d, DATETIME, "date_format",
         "SELECT date_format(TIMESTAMP '2001-08-22 03:04:05.321', "
         "'%a %b %c %d %e %H %h %i %j %k %l %M %p %S %W %Y %y %f %T %r %s')",
         [("Wed Aug 8 22 22 03 03 04 234 3 3 August AM 05 Wednesday 2001 01 321000 03:04:05 "
           "03:04:05 AM 05",)], why="the table of MySQL format specifiers")
    case(d, DATETIME, "date_parse", "SELECT date_parse('2022/10/20/05', '%Y/%m/%d/%H')",
         [(datetime(2022, 10, 20, 5, 0),)])
    case(d, DATETIME, "extract", "SELECT extract(YEAR FROM TIMESTAMP '2022-10-20 05:10:00')",
         [(2022,)])
    case(d, DATETIME, "day_of_week", "SELECT day_of_week(DATE '2024-06-02'), "
         "dow(DATE '2024-06-03')", [(7, 1)],
         why="the ISO day of the week, from 1 (Monday) to 7 (Sunday); 2024-06-02 is a Sunday")
    case(d, DATETIME, "extract", "SELECT extract(DOW FROM DATE '2024-06-02')", [(7,)],
         why="DOW is day_of_week: 7 for Sunday")
    case(d, DATETIME, "week", "SELECT week(DATE '2021-01-03'), year_of_week(DATE '2021-01-03')",
         [(53, 2020)], why="the ISO week: Sunday 2021-01-03 ends week 53 of 2020")
    case(d, DATETIME, "day_of_year", "SELECT day_of_year(DATE '2001-08-22'), "
         "quarter(DATE '2001-08-22'), day(DATE '2001-08-22')", [(234, 3, 22)],
         why="day of the year from 1 to 366; quarter from 1 to 4")
    case(d, DATETIME, "last_day_of_month", "SELECT last_day_of_month(DATE '2024-02-10')",
         [(date(2024, 2, 29),)], why="returns the last day of the month")
    case(d, DATETIME, "from_unixtime", "SELECT from_unixtime(0), "
         "to_unixtime(TIMESTAMP '1970-01-01 00:01:00 UTC')",
         [(datetime(1970, 1, 1, tzinfo=UTC), 60.0)],
         why="unixtime is the number of seconds since 1970-01-01 00:00:00 UTC")
    case(d, DATETIME, "with_timezone",
         "SELECT with_timezone(TIMESTAMP '2022-11-01 09:08:07.321', 'America/Los_Angeles')",
         [(datetime(2022, 11, 1, 9, 8, 7, 321000, tzinfo=LA),)])
    case(d, DATETIME, "parse_duration", "SELECT parse_duration('5m')", [(timedelta(minutes=5),)])
    case(d, DATETIME, "human_readable_seconds", "SELECT human_readable_seconds(96)",
         [("1 minute, 36 seconds",)])
    case(d, TYPES, "CAST to TIMESTAMP(p)",
         "SELECT cast(TIMESTAMP '2020-06-10 15:55:23.383345' as TIMESTAMP(1))",
         [(datetime(2020, 6, 10, 15, 55, 23, 400000),)])
    case(d, TYPES, "CAST to TIMESTAMP(p)",
         "SELECT cast(TIMESTAMP '2020-06-10 15:55:23.383345' as TIMESTAMP)",
         [(datetime(2020, 6, 10, 15, 55, 23, 383000),)],
         why="TIMESTAMP is an alias for TIMESTAMP(3); casting to lower precision rounds")
    case(d, TYPES, "typeof", "SELECT typeof(TIMESTAMP '2020-06-10 15:55:23.383345')",
         [("timestamp(6)",)])

    # --- strings --------------------------------------------------------------------------------
    s = "strings"
    case(s, STRING, "chr", "SELECT chr(65), codepoint('A')", [("A", 65)],
         why="chr returns the Unicode code point n as a character; codepoint its inverse")
    case(s, STRING, "concat_ws", "SELECT concat_ws(',', 'a', NULL, 'b')", [("a,b",)],
         why="null values provided in the arguments after the separator are skipped")
    case(s, STRING, "concat_ws", "SELECT concat_ws(NULL, 'a', 'b')", [(None,)],
         why="if separator is null, then the return value is null")
    case(s, STRING, "concat_ws", "SELECT concat_ws(',', ARRAY['a', NULL, 'b'])", [("a,b",)],
         why="any null values in the array are skipped")
    case(s, STRING, "length", "SELECT length('Trino'), length('')", [(5, 0)])
    case(s, STRING, "length", "SELECT length('Palhoça'), upper('Palhoça'), reverse('Palhoça'), "
         "substr('Palhoça', 6, 1)", [(7, "PALHOÇA", "açohlaP", "ç")],
         why="the functions operate on Unicode code points")
    case(s, STRING, "lpad", "SELECT lpad('abc', 5, '*'), lpad('abcdef', 3, '*'), "
         "rpad('abcdef', 3, '*'), rpad('ab', 5, 'xy')", [("**abc", "abc", "abc", "abxyx")],
         why="if size is less than the length of string, the result is truncated")
    case(s, STRING, "luhn_check", "SELECT luhn_check('79927398713'), luhn_check('79927398714')",
         [(True, False)])
    case(s, STRING, "overlay", "SELECT overlay('Txxxxas' PLACING 'hom' FROM 2 FOR 4)",
         [("Thomas",)])
    case(s, STRING, "overlay", "SELECT overlay('abc' PLACING 'XYZ' FROM 3)", [("abXYZ",)])
    case(s, STRING, "position", "SELECT position('b' IN 'abc'), strpos('abc', 'd')", [(2, 0)],
         why="positions start with 1; if not found, 0 is returned")
    case(s, STRING, "strpos", "SELECT strpos('abcabc', 'c', 2), strpos('abcabc', 'a', -1)",
         [(6, 4)], why="the N-th instance; a negative instance searches from the end")
    case(s, STRING, "replace", "SELECT replace('abcb', 'b'), replace('abc', 'b', 'x')",
         [("ac", "axc")], why="replace(string, search) removes all instances of search")
    case(s, STRING, "reverse", "SELECT reverse('abc')", [("cba",)])
    case(s, STRING, "split", "SELECT split('a,b,c', ',')", [(["a", "b", "c"],)])
    case(s, STRING, "split", "SELECT split('a,b,c', ',', 2)", [(["a", "b,c"],)],
         why="the last element in the array always contains everything left in the string")
    case(s, STRING, "split_part", "SELECT split_part('a,b,c', ',', 2)", [("b",)])
    case(s, STRING, "split_part", "SELECT split_part('a,b,c', ',', 4)", [(None,)],
         why="if the index is larger than the number of fields, then null is returned")
    case(s, STRING, "split_to_map", "SELECT split_to_map('a=1,b=2', ',', '=')",
         [({"a": "1", "b": "2"},)])
    case(s, STRING, "substring", "SELECT substring('Trino', -3), substr('Trino', -3, 2), "
         "substr('Trino', 2, 3)", [("ino", "in", "rin")],
         why="a negative starting position is interpreted as relative to the end")
    case(s, TRINO_SOURCE + "StringFunctions.substr", "substr",
         "SELECT substr('Trino', 0), substr('Trino', -10), substr('Trino', 2, 0), "
         "substr('Trino', 10)", [("", "", "", "")],
         why="a start of 0, a length of 0, or a start outside the string give ''")
    case(s, STRING, "translate", "SELECT translate('abcd', '', ''), translate('abcda', 'a', 'z'), "
         "translate('abcd', 'a', ''), translate('abcd', 'a', 'zy'), translate('abcd', 'ac', 'z'), "
         "translate('abcd', 'aac', 'zq')", [("abcd", "zbcdz", "bcd", "zbcd", "zbd", "zbd")])
    case(s, STRING, "trim", "SELECT trim('!' FROM '!foo!'), trim(LEADING FROM '  abcd'), "
         "trim(BOTH '$' FROM '$var$'), trim(TRAILING 'ER' FROM upper('worker'))",
         [("foo", "abcd", "var", "WORK")])
    case(s, STRING, "starts_with", "SELECT starts_with('abc', 'ab'), ends_with('abc', 'ab')",
         [(True, False)], why="tests whether substring is a prefix (suffix) of string")
    case(s, STRING, "hamming_distance", "SELECT hamming_distance('abc', 'abd'), "
         "levenshtein_distance('kitten', 'sitting')", [(1, 3)],
         why="positions that differ; minimum number of single-character edits")
    case(s, TYPES, "from_utf8", "SELECT from_utf8(x'65683F')", [("eh?",)])
    case(s, REGEXP, "regexp_count", r"SELECT regexp_count('1a 2b 14m', '\s*[a-z]+\s*')", [(3,)])
    case(s, REGEXP, "regexp_extract_all", r"SELECT regexp_extract_all('1a 2b 14m', '\d+')",
         [(["1", "2", "14"],)])
    case(s, REGEXP, "regexp_extract_all",
         r"SELECT regexp_extract_all('1a 2b 14m', '(\d+)([a-z]+)', 2)", [(["a", "b", "m"],)])
    case(s, REGEXP, "regexp_extract", r"SELECT regexp_extract('1a 2b 14m', '\d+')", [("1",)])
    case(s, REGEXP, "regexp_extract",
         r"SELECT regexp_extract('1a 2b 14m', '(\d+)([a-z]+)', 2)", [("a",)])
    case(s, REGEXP, "regexp_extract", r"SELECT regexp_extract('abc', '\d+')", [(None,)],
         why="returns the first substring matched: nothing matched, nothing (NULL) returned; "
         "Trino's regexpExtract is @SqlNullable and returns null when the search fails")
    case(s, REGEXP, "regexp_like", r"SELECT regexp_like('1a 2b 14m', '\d+b')", [(True,)])
    case(s, REGEXP, "regexp_position", r"SELECT regexp_position("
         r"'I have 23 apples, 5 pears and 13 oranges', '\b\d+\b', 12, 2)", [(31,)])
    case(s, REGEXP, "regexp_replace", r"SELECT regexp_replace('1a 2b 14m', '\d+[ab] ')",
         [("14m",)])
    case(s, REGEXP, "regexp_replace",
         r"SELECT regexp_replace('1a 2b 14m', '(\d+)([ab]) ', '3c$2 ')", [("3ca 3cb 14m",)])
    case(s, REGEXP, "regexp_replace",
         r"SELECT regexp_replace('new york', '(\w)(\w*)', x -> upper(x[1]) || lower(x[2]))",
         [("New York",)])
    case(s, REGEXP, "regexp_split", r"SELECT regexp_split('1a 2b 14m', '\s*[a-z]+\s*')",
         [(["1", "2", "14", ""],)], why="trailing empty strings are preserved")
    case(s, COMPARISON, "LIKE", "SELECT continent FROM (VALUES 'America', 'Asia', 'Africa', "
         "'Europe', 'Australia', 'Antarctica') AS t (continent) WHERE continent LIKE 'E%'",
         [("Europe",)])
    case(s, COMPARISON, "LIKE", r"SELECT 'South_America' LIKE 'South\_America' ESCAPE '\'",
         [(True,)])
    case(s, CONVERSION, "format", "SELECT format('%s%%', 123), format('%03d', 8)",
         [("123%", "008")])
    case(s, CONVERSION, "format_number", "SELECT format_number(123456)", [("123K",)])
    case(s, CONVERSION, "typeof", "SELECT typeof('cat')", [("varchar(3)",)])

    # --- numbers --------------------------------------------------------------------------------
    n = "numbers"
    case(n, MATH, "/", "SELECT 5 / 2, -5 / 2", [(2, -2)],
         why="integer division performs truncation")
    case(n, MATH, "%", "SELECT 5 % 3, -5 % 3, mod(-5, 3)", [(2, -2, -2)],
         why="modulus (remainder) of the truncating division")
    case(n, MATH, "abs", "SELECT abs(-3), abs(DOUBLE '-2.5')", [(3, 2.5)])
    case(n, MATH, "ceiling", "SELECT ceiling(DOUBLE '-1.5'), floor(DOUBLE '-1.5')", [(-1.0, -2.0)],
         why="rounded up (down) to the nearest integer, of the input's type")
    case(n, MATH, "round", "SELECT round(DOUBLE '2.5')", [(3.0,)],
         why="round(x) returns x rounded to the nearest integer, [same as input]: a double")
    case(n, MATH, "truncate", "SELECT truncate(DOUBLE '-1.7')", [(-1.0,)],
         why="rounded to integer by dropping digits after decimal point")
    case(n, MATH, "sign", "SELECT sign(-5), sign(0), sign(DOUBLE '2.5')", [(-1, 0, 1.0)])
    case(n, MATH, "power", "SELECT power(2, 10), sqrt(16), cbrt(27)", [(1024.0, 4.0, 3.0)])
    case(n, MATH, "log", "SELECT log2(8), log10(1000), log(2, 8), ln(1), exp(0)",
         [(3.0, 3.0, 3.0, 0.0, 1.0)], why="log(b, x) is the base b logarithm of x")
    case(n, MATH, "pi", "SELECT pi(), e(), degrees(pi()), radians(180)",
         [(math.pi, math.e, 180.0, math.pi)])
    case(n, MATH, "is_nan", "SELECT is_nan(nan()), is_infinite(infinity()), "
         "is_finite(DOUBLE '1')", [(True, True, True)])
    case(n, MATH, "from_base", "SELECT from_base('ff', 16)", [(255,)],
         why="the value of string interpreted as a base-radix number")
    case(n, MATH, "to_base", "SELECT to_base(255, 16)", [("ff",)],
         why="the base-radix representation of x")
    case(n, MATH, "width_bucket", "SELECT width_bucket(5.3, 0.2, 10.6, 5)", [(3,)],
         why="the bin of x in 5 equal-width buckets between 0.2 and 10.6")
    case(n, DECIMAL, "/", "SELECT 1 / 3.0, 5 / 2.0, 1 / 4.0, x / 2.0 FROM (VALUES 3) AS t(x)",
         [(0.3, 2.5, 0.3, 1.5)], why="x / y of decimals has the scale max(xs, ys); 1.1 is a "
         "DECIMAL literal, an integer a decimal of scale 0")
    case(n, TYPES, "DECIMAL", "SELECT 0.1 + 0.2 = 0.3, DOUBLE '0.1' + DOUBLE '0.2' = DOUBLE '0.3'",
         [(True, False)], why="DECIMAL is exact; DOUBLE is inexact (IEEE 754)")
    case(n, TRINO_SOURCE + "DoubleOperators.castToInteger", "CAST",
         "SELECT CAST(DOUBLE '2.5' AS INTEGER), CAST(DOUBLE '-2.5' AS INTEGER), "
         "CAST(DOUBLE '3.5' AS BIGINT)", [(3, -3, 4)],
         why="the cast rounds with MathFunctions.round: half away from zero")
    case(n, TRINO_SOURCE + "MathFunctions.round", "round", "SELECT round(DOUBLE '-2.5')", [(-3.0,)],
         why="a negative number rounds as its opposite, half away from zero")
    case(n, AGGREGATE, "avg", "SELECT avg(x), sum(x), count(x) FROM (VALUES 1, 2) AS t(x)",
         [(1.5, 3, 2)], why="avg(x) -> double; sum(x) -> [same as input]")
    case(n, CONVERSION, "typeof", "SELECT typeof(123), typeof(cos(2) + 1.5)",
         [("integer", "double")])

    # --- conditionals ---------------------------------------------------------------------------
    c = "conditionals"
    case(c, CONDITIONAL, "CASE", "SELECT a, CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' "
         "ELSE 'many' END FROM (VALUES 1, 2, 3) AS t(a)", [(1, "one"), (2, "two"), (3, "many")])
    case(c, CONDITIONAL, "CASE", "SELECT CASE WHEN a = 1 THEN 'aaa' WHEN b = 2 THEN 'bbb' "
         "ELSE 'ccc' END FROM (VALUES (1, 0), (0, 2), (0, 0)) AS t(a, b)",
         [("aaa",), ("bbb",), ("ccc",)])
    case(c, CONDITIONAL, "if", "SELECT if(1 > 2, 'a'), if(true, 'yes', 'no')", [(None, "yes")],
         why="if(condition, true_value): otherwise null is returned")
    case(c, CONDITIONAL, "coalesce", "SELECT coalesce(NULL, 2, 3), nullif(1, 1), nullif(1, 2)",
         [(2, None, 1)])
    case(c, CONDITIONAL, "try", "SELECT try(CAST(origin_zip AS BIGINT)) "
         "FROM (VALUES '94131', 'P332a', '08544') AS shipping(origin_zip)",
         [(94131,), (None,), (8544,)])
    case(c, CONDITIONAL, "try", "SELECT COALESCE(TRY(total_cost / packages), 0) AS per_package "
         "FROM (VALUES (100, 25), (72, 5), (155, 0)) AS shipping(total_cost, packages)",
         [(4,), (14,), (0,)], why="the docs' shipping rows: division by zero is NULL in TRY")
    case(c, COMPARISON, "BETWEEN", "SELECT NULL BETWEEN 2 AND 4, 2 BETWEEN NULL AND 6, "
         "2 BETWEEN 3 AND NULL, 8 BETWEEN NULL AND 6, 'Paul' BETWEEN 'John' AND 'Ringo'",
         [(None, None, False, False, True)])
    case(c, COMPARISON, "IS DISTINCT FROM", "SELECT NULL IS DISTINCT FROM NULL, "
         "NULL IS NOT DISTINCT FROM NULL, 1 IS DISTINCT FROM NULL, 1 = NULL",
         [(False, True, True, None)])
    case(c, COMPARISON, "greatest", "SELECT greatest(1, NULL, 3), least('b', 'a')", [(None, "a")],
         why="they return null if any argument is null")
    case(c, COMPARISON, "ANY", "SELECT 'hello' = ANY (VALUES 'hello', 'world')", [(True,)])
    case(c, COMPARISON, "ALL", "SELECT 21 < ALL (VALUES 19, 20, 21)", [(False,)])
    case(c, COMPARISON, "SOME",
         "SELECT 42 >= SOME (SELECT 41 UNION ALL SELECT 42 UNION ALL SELECT 43)", [(True,)])
    case(c, COMPARISON, "IS NULL", "SELECT NULL IS NULL, 3.0 IS NULL", [(True, False)])
    case(c, SELECT, "IN", "SELECT 3 IN (SELECT x FROM (VALUES 1, NULL) AS t(x))", [(None,)],
         why="the result of IN follows the standard rules for nulls")

    # --- json -----------------------------------------------------------------------------------
    j = "json"
    case(j, JSON, "is_json_scalar", "SELECT is_json_scalar('1'), is_json_scalar('[1, 2, 3]')",
         [(True, False)])
    case(j, JSON, "json_array_contains", "SELECT json_array_contains('[1, 2, 3]', 2)", [(True,)])
    case(j, JSON, "json_array_get", "SELECT json_array_get('[\"a\", [3, 9], \"c\"]', 1)",
         [("[3,9]",)])
    case(j, JSON, "json_array_length", "SELECT json_array_length('[1, 2, 3]')", [(3,)])
    case(j, JSON, "json_extract_scalar", "SELECT json_extract_scalar('[1, 2, 3]', '$[2]')",
         [("3",)])
    case(j, JSON, "json_extract", "SELECT json_extract('{\"store\": {\"book\": [1, 2]}}', "
         "'$.store.book'), json_extract('{\"store\": {\"book name\": 1}}', "
         "'$.store[\"book name\"]')", [("[1,2]", "1")],
         why="evaluates the JSONPath-like expression and returns the result as a JSON string")
    case(j, JSON, "json_size", "SELECT json_size('{\"x\": {\"a\": 1, \"b\": 2}}', '$.x')", [(2,)])
    case(j, JSON, "json_format", "SELECT json_format(JSON '[1, 2, 3]'), json_format(JSON '\"a\"'),"
         " json_format(JSON '{\"a\": 1, \"b\": 2}')", [("[1,2,3]", '"a"', '{"a":1,"b":2}')])
    case(j, JSON, "json_parse", "SELECT json_parse('[1, 2, 3]'), json_parse('\"abc\"')",
         [("[1,2,3]", '"abc"')])
    case(j, JSON, "CAST(json AS VARCHAR)", "SELECT CAST(JSON '\"abc\"' AS VARCHAR), "
         "CAST(JSON '42' AS VARCHAR), CAST(JSON 'null' AS VARCHAR), CAST(JSON 'true' AS VARCHAR)",
         [("abc", "42", None, "true")])
    case(j, JSON, "CAST(json AS VARCHAR)", "SELECT CAST(JSON '[1, 2, 3]' AS VARCHAR)",
         Fails("JSON object and JSON array cannot be cast to VARCHAR"))
    case(j, JSON, "CAST from JSON", "SELECT CAST(JSON '1' AS INTEGER), "
         "CAST(JSON 'true' AS BOOLEAN), CAST(JSON '1.234' AS DOUBLE)", [(1, True, 1.234)])
    case(j, JSON, "CAST from JSON", "SELECT CAST(JSON '[1,23,456]' AS ARRAY(INTEGER)), "
         "CAST(JSON '[1,null,456]' AS ARRAY(INTEGER))", [([1, 23, 456], [1, None, 456])])
    case(j, JSON, "CAST from JSON",
         "SELECT CAST(JSON '{\"k1\":1,\"k2\":23,\"k3\":456}' AS MAP(VARCHAR, INTEGER))",
         [({"k1": 1, "k2": 23, "k3": 456},)])
    case(j, JSON, "CAST to JSON", "SELECT CAST(ARRAY[1, 23, 456] AS JSON), "
         "CAST(ARRAY[1, NULL, 456] AS JSON), CAST(1 AS JSON), CAST(true AS JSON)",
         [("[1,23,456]", "[1,null,456]", "1", "true")])
    case(j, JSON, "CAST to JSON", "SELECT CAST('abc' AS JSON), CAST('[1, 2, 3]' AS JSON)",
         [('"abc"', '"[1, 2, 3]"')])
    case(j, JSON, "CAST to JSON",
         "SELECT CAST(MAP(ARRAY['k1', 'k2', 'k3'], ARRAY[1, 23, 456]) AS JSON)",
         [('{"k1":1,"k2":23,"k3":456}',)])
    case(j, JSON, "json_object", "SELECT json_object('key1' : 1, 'key2' : true)",
         [('{"key1":1,"key2":true}',)])
    case(j, JSON, "json_array", "SELECT json_array(true, null, 1)", [("[true,1]",)])
    case(j, JSON, "json_query",
         "SELECT json_query('{\"key\" : [  \"value\"  ]}', 'lax $.key')", [('["value"]',)])

    # --- arrays and maps ------------------------------------------------------------------------
    a = "arrays and maps"
    case(a, ARRAY, "ARRAY", "SELECT ARRAY[1, 2, NULL, -4, NULL]", [([1, 2, None, -4, None],)])
    case(a, ARRAY, "[]", "SELECT ARRAY[1, 1.2, 4][2]", [(1.2,)])
    case(a, ARRAY, "[]", "SELECT a[i] FROM (VALUES (ARRAY[10, 20, 30], 2)) AS t(a, i)", [(20,)],
         why="the [] operator accesses an element of an array, indexed starting from one")
    case(a, ARRAY, "[]", "SELECT ARRAY[1, 2, 3][5]", Fails("the subscript operator would fail"))
    case(a, ARRAY, "[]", "SELECT split('a,b,c', ',')[2], reverse(split('a,b', ','))",
         [("b", ["b", "a"])], why="split returns an array: [] and reverse(x) read it as one")
    case(a, ARRAY, "||", "SELECT ARRAY[1] || ARRAY[2], ARRAY[1] || 2, 2 || ARRAY[1]",
         [([1, 2], [1, 2], [2, 1])])
    case(a, ARRAY, "array_join", "SELECT array_join(ARRAY['a', NULL, 'b'], ','), "
         "array_join(ARRAY['a', NULL, 'b'], ',', 'x')", [("a,b", "a,x,b")],
         why="null elements are omitted in the result, or replaced by null_replacement")
    case(a, ARRAY, "array_position", "SELECT array_position(ARRAY[10, 20], 20), "
         "array_position(ARRAY[10, 20], 30)", [(2, 0)], why="(or 0 if not found)")
    case(a, ARRAY, "array_remove", "SELECT array_remove(ARRAY[1, 2, 1], 1)", [([2],)])
    case(a, ARRAY, "array_sort", "SELECT array_sort(ARRAY[3, NULL, 1])", [([1, 3, None],)],
         why="null elements will be placed at the end of the returned array")
    case(a, ARRAY, "array_sort", "SELECT array_sort(ARRAY[3, 2, 5, 1, 2], "
         "(x, y) -> IF(x < y, 1, IF(x = y, 0, -1)))", [([5, 3, 2, 2, 1],)])
    case(a, ARRAY, "array_distinct", "SELECT cardinality(array_distinct(ARRAY[1, NULL, NULL, 1]))",
         [(2,)], why="remove duplicate values from the array: 1 and NULL remain")
    case(a, ARRAY, "array_max", "SELECT array_max(ARRAY[1, 3, 2]), array_min(ARRAY[1, 3, 2])",
         [(3, 1)])
    case(a, ARRAY, "arrays_overlap", "SELECT arrays_overlap(ARRAY[1, 2], ARRAY[2, 3]), "
         "arrays_overlap(ARRAY[1, NULL], ARRAY[3]), arrays_overlap(ARRAY[1], ARRAY[3])",
         [(True, None, False)], why="null if there are no non-null elements in common but "
         "either array contains null")
    case(a, ARRAY, "cardinality", "SELECT cardinality(ARRAY[1, 2, 3]), "
         "concat(ARRAY[1], ARRAY[2, 3]), contains(ARRAY[1, 2, 3], 2)", [(3, [1, 2, 3], True)])
    case(a, ARRAY, "element_at", "SELECT element_at(ARRAY[1, 2, 3], 5), "
         "element_at(ARRAY[1, 2, 3], -1)", [(None, 3)],
         why="NULL past the length; a negative index accesses elements from the last")
    case(a, ARRAY, "filter", "SELECT filter(ARRAY[5, -6, NULL, 7], x -> x > 0), "
         "filter(ARRAY[5, NULL, 7, NULL], x -> x IS NOT NULL)", [([5, 7], [5, 7])])
    case(a, ARRAY, "transform", "SELECT transform(ARRAY[5, NULL, 6], x -> coalesce(x, 0) + 1), "
         "transform(ARRAY['x', 'abc', 'z'], x -> x || '0')", [([6, 1, 7], ["x0", "abc0", "z0"])])
    case(a, ARRAY, "reduce", "SELECT reduce(ARRAY[5, 20, 50], 0, (s, x) -> s + x, s -> s)",
         [(75,)])
    case(a, ARRAY, "flatten", "SELECT flatten(ARRAY[ARRAY[1, 2], ARRAY[3]])", [([1, 2, 3],)],
         why="flattens an array(array(T)) by concatenating the contained arrays")
    case(a, ARRAY, "repeat", "SELECT repeat('ab', 3)", [(["ab", "ab", "ab"],)],
         why="repeat(element, count) -> array: repeat element for count times")
    case(a, ARRAY, "reverse", "SELECT reverse(ARRAY[1, 2, 3])", [([3, 2, 1],)],
         why="an array which has the reversed order of array x")
    case(a, ARRAY, "sequence", "SELECT sequence(1, 5), sequence(5, 1), sequence(1, 10, 3)",
         [([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], [1, 4, 7, 10])],
         why="incrementing by 1 if start is less than or equal to stop, otherwise -1")
    case(a, ARRAY, "sequence", "SELECT sequence(DATE '2020-01-01', DATE '2020-01-03')",
         [([date(2020, 1, 1), date(2020, 1, 2), date(2020, 1, 3)],)],
         why="a sequence of dates, incrementing by 1 day")
    case(a, ARRAY, "slice", "SELECT slice(ARRAY[1, 2, 3, 4], 2, 2), "
         "slice(ARRAY[1, 2, 3, 4], -2, 2)", [([2, 3], [3, 4])],
         why="starting from index start (or from the end if start is negative), length length")
    case(a, TRINO_SOURCE + "ArraySliceFunction", "slice",
         "SELECT slice(ARRAY[1, 2, 3, 4], -10, 2), slice(ARRAY[1, 2, 3, 4], 3, 10)",
         [([], [3, 4])], why="a start before the first element gives an empty array; the "
         "length stops at the last element")
    case(a, ARRAY, "trim_array", "SELECT trim_array(ARRAY[1, 2, 3, 4], 1)", [([1, 2, 3],)])
    case(a, ARRAY, "zip", "SELECT zip(ARRAY[1, 2], ARRAY['1b', null, '3b'])",
         [([Row((1, "1b")), Row((2, None)), Row((None, "3b"))],)])
    case(a, ARRAY, "zip_with", "SELECT zip_with(ARRAY[1, 2], ARRAY[3, 4], (x, y) -> x + y)",
         [([4, 6],)])
    case(a, MAP, "[]", "SELECT MAP(ARRAY['key1', 'key2', 'key3'], ARRAY['v1', 'v2', 'v3'])['key2']",
         [("v2",)])
    case(a, MAP, "[]", "SELECT MAP(ARRAY['a'], ARRAY[1])['b']",
         Fails("this operator throws an error if the key is not contained in the map"))
    case(a, MAP, "element_at", "SELECT element_at(MAP(ARRAY['a'], ARRAY[1]), 'b')", [(None,)],
         why="NULL if the key is not contained in the map")
    case(a, MAP, "cardinality", "SELECT cardinality(MAP(ARRAY['a', 'b'], ARRAY[1, 2]))", [(2,)],
         why="the cardinality (size) of the map")
    case(a, MAP, "map", "SELECT map(), map(ARRAY[1, 3], ARRAY[2, 4])", [({}, {1: 2, 3: 4})])
    case(a, MAP, "map_from_entries", "SELECT map_from_entries(ARRAY[(1, 'x'), (2, 'y')])",
         [({1: "x", 2: "y"},)])
    case(a, MAP, "map_entries", "SELECT map_entries(MAP(ARRAY[1, 2], ARRAY['x', 'y']))",
         [([Row((1, "x")), Row((2, "y"))],)])
    case(a, MAP, "map_concat", "SELECT map_concat(MAP(ARRAY['a', 'b'], ARRAY[1, 2]), "
         "MAP(ARRAY['b'], ARRAY[3]))", [({"a": 1, "b": 3},)],
         why="that key's value in the resulting map comes from the last one of those maps")
    case(a, MAP, "map_filter", "SELECT map_filter(MAP(ARRAY[10, 20, 30], ARRAY['a', NULL, 'c']), "
         "(k, v) -> v IS NOT NULL)", [({10: "a", 30: "c"},)])
    case(a, MAP, "map_keys", "SELECT array_sort(map_keys(MAP(ARRAY['b', 'a'], ARRAY[1, 2]))), "
         "array_sort(map_values(MAP(ARRAY['b', 'a'], ARRAY[1, 2])))", [(["a", "b"], [1, 2])],
         why="all the keys (values) in the map")
    case(a, MAP, "transform_values", "SELECT transform_values(MAP(ARRAY [1, 2, 3], "
         "ARRAY [10, 20, 30]), (k, v) -> v + k)", [({1: 11, 2: 22, 3: 33},)])
    case(a, MAP, "multimap_from_entries",
         "SELECT multimap_from_entries(ARRAY[(1, 'x'), (2, 'y'), (1, 'z')])",
         [({1: ["x", "z"], 2: ["y"]},)])

    # --- windows --------------------------------------------------------------------------------
    w = "windows"
    case(w, WINDOW, "rank", f"SELECT x, rank() OVER (ORDER BY x), dense_rank() OVER (ORDER BY x),"
         f" row_number() OVER (ORDER BY x) FROM {TIES}",
         [(10, 1, 1, 1), (20, 2, 2, 2), (20, 2, 2, 3), (30, 4, 3, 4)],
         why="tie values produce gaps (rank), no gaps (dense_rank)")
    case(w, WINDOW, "ntile", "SELECT x, ntile(4) OVER (ORDER BY x) "
         "FROM (VALUES 1, 2, 3, 4, 5, 6) AS t(x)",
         [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (6, 4)])
    case(w, WINDOW, "percent_rank", f"SELECT x, percent_rank() OVER (ORDER BY x), "
         f"cume_dist() OVER (ORDER BY x) FROM {TIES}",
         [(10, 0.0, 0.25), (20, 1 / 3, 0.75), (20, 1 / 3, 0.75), (30, 1.0, 1.0)],
         why="(r - 1) / (n - 1); rows preceding or peer with the row divided by the total")
    case(w, SELECT, "window frame", f"SELECT x, sum(x) OVER (ORDER BY x), "
         f"count(*) OVER (ORDER BY x) FROM {TIES}",
         [(10, 10, 1), (20, 50, 3), (20, 50, 3), (30, 80, 4)],
         why="the default frame RANGE UNBOUNDED PRECEDING reaches the last peer of the row")
    case(w, SELECT, "window frame", "SELECT x, sum(x) OVER (ORDER BY x ROWS BETWEEN 1 PRECEDING "
         "AND CURRENT ROW), avg(x) OVER () FROM (VALUES 1, 2, 3, 4) AS t(x)",
         [(1, 1, 2.5), (2, 3, 2.5), (3, 5, 2.5), (4, 7, 2.5)])
    case(w, WINDOW, "nth_value", "SELECT x, nth_value(x, 2) OVER (ORDER BY x ROWS BETWEEN "
         "UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), nth_value(x, 5) OVER (ORDER BY x ROWS "
         "BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM (VALUES 10, 20, 30) AS t(x)",
         [(10, 20, None), (20, 20, None), (30, 20, None)],
         why="null if the offset is greater than the number of values in the window")
    case(w, WINDOW, "lead", "SELECT x, lead(x) OVER (ORDER BY x), lag(x, 1, 0) OVER (ORDER BY x),"
         " lead(x, 2, -1) OVER (ORDER BY x) FROM (VALUES 10, 20, 30) AS t(x)",
         [(10, 20, 0, 30), (20, 30, 10, -1), (30, None, 20, -1)],
         why="default_value, or null, when the offset is not within the partition")
    case(w, WINDOW, "IGNORE NULLS", "SELECT n, last_value(x) IGNORE NULLS OVER (ORDER BY n ROWS "
         "BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), lag(x) IGNORE NULLS OVER (ORDER BY n) "
         "FROM (VALUES (1, 10), (2, NULL), (3, 30), (4, NULL)) AS t(n, x)",
         [(1, 10, None), (2, 10, 10), (3, 30, 10), (4, 30, 30)],
         why="if IGNORE NULLS is specified, all rows where x is null are excluded")
    case(w, SELECT, "ORDER BY", "SELECT x, row_number() OVER (ORDER BY x DESC) "
         "FROM (VALUES 1, NULL, 2) AS t(x)", [(2, 1), (1, 2), (None, 3)],
         why="the default null ordering is NULLS LAST, regardless of the ordering direction")
    case(w, SELECT, "ORDER BY", "SELECT x FROM (VALUES 1, NULL, 2) AS t(x) ORDER BY x DESC",
         [(2,), (1,), (None,)], ordered=True,
         why="the default null ordering is NULLS LAST, regardless of the ordering direction")
    case(w, SELECT, "WINDOW", "SELECT g, x, rank() OVER w FROM (VALUES ('a', 1), ('a', 2), "
         "('b', 3)) AS t(g, x) WINDOW w AS (PARTITION BY g ORDER BY x DESC)",
         [("a", 2, 1), ("a", 1, 2), ("b", 3, 1)])

    # --- unnest ---------------------------------------------------------------------------------
    u = "unnest"
    case(u, SELECT, "UNNEST", "SELECT * FROM UNNEST(ARRAY[1,2]) AS t(number)", [(1,), (2,)])
    case(u, SELECT, "UNNEST of a map", "SELECT * FROM UNNEST(map_from_entries(ARRAY[('SQL', 1974),"
         " ('Java', 1995)])) AS t(language, first_appeared_year)", [("SQL", 1974), ("Java", 1995)])
    case(u, SELECT, "UNNEST of an array of rows", "SELECT * FROM UNNEST(ARRAY[ROW('Java', 1995), "
         "ROW('SQL', 1974)], ARRAY[ROW(false), ROW(true)]) AS t(language, first_appeared_year, "
         "declarative)", [("Java", 1995, False), ("SQL", 1974, True)])
    case(u, SELECT, "UNNEST of several arrays", "SELECT a, b, rownumber FROM UNNEST(ARRAY[2, 5], "
         "ARRAY[7, 8, 9]) WITH ORDINALITY AS t(a, b, rownumber)",
         [(2, 7, 1), (5, 8, 2), (None, 9, 3)])
    case(u, SELECT, "UNNEST", "SELECT * FROM UNNEST(ARRAY[]) AS t(value)", [])
    case(u, SELECT, "UNNEST", "SELECT * FROM UNNEST(CAST(null AS ARRAY(integer))) AS t(number)",
         [])
    case(u, SELECT, "UNNEST", "SELECT student, score FROM (VALUES ('John', ARRAY[7, 10, 9]), "
         "('Mary', ARRAY[4, 8, 9])) AS tests (student, scores) CROSS JOIN UNNEST(scores) "
         "AS t(score)", [("John", 7), ("John", 10), ("John", 9), ("Mary", 4), ("Mary", 8),
                         ("Mary", 9)])
    case(u, SELECT, "UNNEST of several arrays", "SELECT n, a FROM (VALUES (ARRAY[2, 5], "
         "ARRAY['dog', 'cat', 'bird']), (ARRAY[7, 8, 9], ARRAY['cow', 'pig'])) "
         "AS x (numbers, animals) CROSS JOIN UNNEST(numbers, animals) AS t (n, a)",
         [(2, "dog"), (5, "cat"), (None, "bird"), (7, "cow"), (8, "pig"), (9, None)])
    case(u, SELECT, "UNNEST", "SELECT runner, checkpoint FROM (VALUES ('Joe', ARRAY[10, 20, 30, "
         "42]), ('Roger', ARRAY[10]), ('Dave', ARRAY[]), ('Levi', NULL)) AS marathon (runner, "
         "checkpoints) LEFT JOIN UNNEST(checkpoints) AS t(checkpoint) ON TRUE",
         [("Joe", 10), ("Joe", 20), ("Joe", 30), ("Joe", 42), ("Roger", 10), ("Dave", None),
          ("Levi", None)])
    case(u, SELECT, "WITH ORDINALITY", "SELECT x, n FROM UNNEST(ARRAY['a', 'b', 'c']) "
         "WITH ORDINALITY AS t(x, n)", [("a", 1), ("b", 2), ("c", 3)],
         why="an additional ordinality column is added to the end")
    case(u, SELECT, "WITH ORDINALITY", "SELECT student, score, i FROM (VALUES ('John', "
         "ARRAY[7, 10]), ('Mary', ARRAY[4])) AS tests (student, scores) CROSS JOIN "
         "UNNEST(scores) WITH ORDINALITY AS t(score, i)",
         [("John", 7, 1), ("John", 10, 2), ("Mary", 4, 1)],
         why="the ordinality counts the elements of each array UNNEST expands")
    case(u, SELECT, "UNNEST", "SELECT x FROM UNNEST(ARRAY[1, NULL]) AS t(x)", [(1,), (None,)],
         why="arrays are expanded into a single column: a NULL element is a row")
    case(u, SELECT, "UNNEST", "SELECT sum(n) FROM UNNEST(sequence(1, 4)) AS t(n)", [(10,)],
         why="the docs' WITH RECURSIVE example sums 1 to 4 to 10")

    # --- grouping -------------------------------------------------------------------------------
    g = "grouping"
    case(g, SELECT, "GROUPING SETS", "SELECT origin_state, origin_zip, destination_state, "
         f"sum(package_weight) FROM {SHIPPING} GROUP BY GROUPING SETS ((origin_state), "
         "(origin_state, origin_zip), (destination_state))",
         [("New Jersey", None, None, 225), ("California", None, None, 1397),
          ("New York", None, None, 3), ("California", 90210, None, 1337),
          ("California", 94131, None, 60), ("New Jersey", 7081, None, 225),
          ("New York", 10002, None, 3), (None, None, "Colorado", 5),
          (None, None, "New Jersey", 58), (None, None, "Connecticut", 1562)])
    case(g, SELECT, "CUBE", "SELECT origin_state, destination_state, sum(package_weight) "
         f"FROM {SHIPPING} GROUP BY CUBE (origin_state, destination_state)",
         [("California", "New Jersey", 55), ("California", "Colorado", 5),
          ("New York", "New Jersey", 3), ("New Jersey", "Connecticut", 225),
          ("California", "Connecticut", 1337), ("California", None, 1397),
          ("New York", None, 3), ("New Jersey", None, 225), (None, "New Jersey", 58),
          (None, "Connecticut", 1562), (None, "Colorado", 5), (None, None, 1625)])
    case(g, SELECT, "ROLLUP", "SELECT origin_state, origin_zip, sum(package_weight) "
         f"FROM {SHIPPING} GROUP BY ROLLUP (origin_state, origin_zip)",
         [("California", 94131, 60), ("California", 90210, 1337), ("New Jersey", 7081, 225),
          ("New York", 10002, 3), ("California", None, 1397), ("New York", None, 3),
          ("New Jersey", None, 225), (None, None, 1625)])
    case(g, SELECT, "grouping", "SELECT origin_state, origin_zip, destination_state, "
         "sum(package_weight), grouping(origin_state, origin_zip, destination_state) "
         f"FROM {SHIPPING} GROUP BY GROUPING SETS ((origin_state), (origin_state, origin_zip), "
         "(destination_state))",
         [("California", None, None, 1397, 3), ("New Jersey", None, None, 225, 3),
          ("New York", None, None, 3, 3), ("California", 94131, None, 60, 1),
          ("New Jersey", 7081, None, 225, 1), ("California", 90210, None, 1337, 1),
          ("New York", 10002, None, 3, 1), (None, None, "New Jersey", 58, 6),
          (None, None, "Connecticut", 1562, 6), (None, None, "Colorado", 5, 6)])
    case(g, SELECT, "GROUPING SETS", "SELECT origin_state, destination_state, origin_zip, "
         f"sum(package_weight) FROM {SHIPPING} GROUP BY GROUPING SETS ((origin_state, "
         "destination_state)), ROLLUP (origin_zip)",
         [("New York", "New Jersey", 10002, 3), ("California", "New Jersey", 94131, 55),
          ("New Jersey", "Connecticut", 7081, 225), ("California", "Connecticut", 90210, 1337),
          ("California", "Colorado", 94131, 5), ("New York", "New Jersey", None, 3),
          ("New Jersey", "Connecticut", None, 225), ("California", "Colorado", None, 5),
          ("California", "Connecticut", None, 1337), ("California", "New Jersey", None, 55)])
    case(g, SELECT, "GROUP BY DISTINCT", "SELECT origin_state, origin_zip, destination_state, "
         f"sum(package_weight) FROM {SHIPPING} GROUP BY DISTINCT CUBE (origin_state, "
         "destination_state), ROLLUP (origin_state, origin_zip)",
         shipping_sums((0, 1, 2), (0, 1), (0, 2), (0,), (2,), ()),
         why="only unique grouping sets are generated")
    case(g, SELECT, "GROUP BY ALL", "SELECT origin_state, origin_zip, destination_state, "
         f"sum(package_weight) FROM {SHIPPING} GROUP BY ALL CUBE (origin_state, "
         "destination_state), ROLLUP (origin_state, origin_zip)",
         shipping_sums((0, 1, 2), (0, 1), (0, 1, 2), (0, 1), (0, 2), (0,), (0, 2), (0,), (0, 2),
                       (0,), (2,), ()),
         why="is equivalent to the twelve grouping sets listed, repeats included")
    case(g, SELECT, "GROUP BY", f"SELECT count(*), origin_state FROM {SHIPPING} GROUP BY 2",
         [(4, "California"), (1, "New Jersey"), (1, "New York")],
         why="an ordinal number selects an output column by position")
    case(g, SELECT, "HAVING", f"SELECT origin_state, sum(package_weight) FROM {SHIPPING} "
         "GROUP BY origin_state HAVING sum(package_weight) > 100",
         [("California", 1397), ("New Jersey", 225)])
    case(g, AGGREGATE, "listagg", "SELECT listagg(value, ',') WITHIN GROUP (ORDER BY value) "
         "csv_value FROM (VALUES 'a', 'c', 'b') t(value)", [("a,b,c",)])
    case(g, AGGREGATE, "listagg", "SELECT id, listagg(value, ',') WITHIN GROUP (ORDER BY o) "
         "csv_value FROM (VALUES (100, 1, 'a'), (200, 3, 'c'), (200, 2, 'b')) t(id, o, value) "
         "GROUP BY id ORDER BY id", [(100, "a"), (200, "b,c")], ordered=True)
    case(g, AGGREGATE, "listagg", "SELECT country, listagg(city, ',') WITHIN GROUP (ORDER BY "
         "population DESC) FILTER (WHERE population >= 10000000) megacities FROM (VALUES "
         "('India', 'Bangalore', 13700000), ('India', 'Chennai', 12200000), ('India', 'Ranchi', "
         "1547000), ('Austria', 'Vienna', 1897000), ('Poland', 'Warsaw', 1765000)) "
         "t(country, city, population) GROUP BY country ORDER BY country",
         [("Austria", None), ("India", "Bangalore,Chennai"), ("Poland", None)], ordered=True)
    case(g, AGGREGATE, "FILTER", "SELECT species, count(*) FILTER (WHERE petal > 4) FROM (VALUES "
         "('setosa', 1), ('virginica', 5), ('virginica', 6), ('versicolor', 3), "
         "('versicolor', 5)) t(species, petal) GROUP BY species",
         [("setosa", 0), ("virginica", 2), ("versicolor", 1)],
         why="FILTER removes rows from the aggregation; the group stays, with count 0")
    case(g, AGGREGATE, "count_if", "SELECT count_if(x > 1), bool_and(x > 0), every(x > 1), "
         "bool_or(x > 2), max_by(y, x), min_by(y, x) FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c')) "
         "t(x, y)", [(2, True, False, True, "c", "a")])
    case(g, AGGREGATE, "sum", "SELECT sum(x), count(x), count(*), max(x) FROM (VALUES 1) t(x) "
         "WHERE x > 5", [(None, 0, 0, None)],
         why="sum returns null rather than zero for no input rows; count returns 0")
    case(g, AGGREGATE, "avg", "SELECT avg(x) FROM (VALUES 1, NULL, 3) t(x)", [(2.0,)],
         why="avg does not include null values in the count")
    case(g, AGGREGATE, "array_agg", "SELECT array_agg(x ORDER BY y DESC) "
         "FROM (VALUES (1, 'a'), (2, 'c'), (3, 'b')) AS t(x, y)", [([2, 3, 1],)])
    case(g, AGGREGATE, "max", "SELECT max(x, 2), min(x, 2), max_by(y, x, 2) "
         "FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c')) t(x, y)", [([3, 2], [1, 2], ["c", "b"])],
         why="the n largest (smallest) values; x of the n largest y in descending order of y")
    case(g, AGGREGATE, "histogram", "SELECT histogram(x) FROM (VALUES 1, 1, 2) t(x)",
         [({1: 2, 2: 1},)], why="the count of the number of times each input value occurs")
    case(g, SELECT, "UNION", "SELECT 13 UNION SELECT 42", [(13,), (42,)])
    case(g, SELECT, "UNION ALL", "SELECT 13 UNION ALL SELECT * FROM (VALUES 42, 13)",
         [(13,), (42,), (13,)])
    case(g, SELECT, "INTERSECT", "SELECT * FROM (VALUES 13, 42) INTERSECT SELECT 13", [(13,)])
    case(g, SELECT, "EXCEPT", "SELECT * FROM (VALUES 13, 42) EXCEPT SELECT 13", [(42,)])
    case(g, SELECT, "OFFSET", "SELECT * FROM (VALUES 5, 2, 4, 1, 3) t(x) ORDER BY x "
         "OFFSET 2 LIMIT 2", [(3,), (4,)], ordered=True)
    case(g, SELECT, "FETCH FIRST ... WITH TIES", "SELECT name, regionkey FROM (VALUES "
         "('ETHIOPIA', 0), ('PERU', 1), ('KENYA', 0), ('CHINA', 2)) AS nation(name, regionkey) "
         "ORDER BY regionkey FETCH FIRST ROW WITH TIES", [("ETHIOPIA", 0), ("KENYA", 0)],
         why="the leading rows and all of the rows in the same peer group as the last of them")
    return found


CASES = cases()


# --- comparing a frame with Athena's answer --------------------------------------------------

def plain(value: Any) -> Any:
    """A DataFrame cell as a plain Python value (lists, dicts, datetimes, None for NULL)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):  # pandas shows a NULL as NaN
        return None
    if isinstance(value, np.ma.MaskedArray):
        return [None if masked else plain(item)
                for item, masked in zip(value.data, np.ma.getmaskarray(value), strict=True)]
    if isinstance(value, np.ndarray | list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, pd.Timedelta):
        return value.to_pytimedelta()
    return value


def same(got: Any, expected: Any) -> bool:
    """Is the local value Athena's, of the same kind (an int is no float, a date no string)?"""
    if expected is None:
        return got is None
    if isinstance(expected, Row):
        return isinstance(got, dict) and len(got) == len(expected) and all(
            same(g, e) for g, e in zip(got.values(), expected, strict=True))
    if type(expected) is date:  # a DATE column comes as a midnight Timestamp
        if type(got) is datetime and got.tzinfo is None and got.time() == time():
            got = got.date()
        return type(got) is date and got == expected
    if isinstance(expected, datetime):
        return (isinstance(got, datetime) and (got.tzinfo is None) == (expected.tzinfo is None)
                and got == expected)
    if isinstance(expected, float):
        return type(got) is float and math.isclose(got, expected, rel_tol=1e-12)
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(
            same(g, e) for g, e in zip(got, expected, strict=True))
    if isinstance(expected, dict):
        return isinstance(got, dict) and set(got) == set(expected) and all(
            same(got[k], v) for k, v in expected.items())
    return type(got) is type(expected) and got == expected


def rows_of(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(plain(v) for v in row) for row in frame.itertuples(index=False)]


def same_row(got: tuple, expected: tuple) -> bool:
    return len(got) == len(expected) and all(
        same(g, e) for g, e in zip(got, expected, strict=True))


def matches(got: list[tuple], expected: list[tuple], ordered: bool) -> bool:
    """The same rows; in the same order only if the query's ORDER BY fixes it."""
    if len(got) != len(expected):
        return False
    if ordered:
        return all(same_row(g, e) for g, e in zip(got, expected, strict=True))
    left = list(expected)
    for row in got:  # Athena promises no order without ORDER BY: each row matches one of its
        index = next((i for i, e in enumerate(left) if same_row(row, e)), None)
        if index is None:
            return False
        del left[index]
    return True


@pytest.fixture(scope="module")
def engine(moto_local: config.Settings) -> Iterator[LocalAthena]:
    """The local engine over a Glue database without tables: enough for constant SELECTs."""
    database = f"fidelity_{uuid.uuid4().hex[:8]}"
    config.client("glue").create_database(DatabaseInput={"Name": database})
    engine = LocalAthena(database, moto_local)
    yield engine
    engine.close()


# --- the suite -----------------------------------------------------------------------------------

def test_the_suite_covers_every_area_with_enough_cases() -> None:
    per_area = Counter(case.area for case in CASES)
    assert set(per_area) == set(AREAS)
    assert len(CASES) >= 80 and min(per_area.values()) >= 5
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_athena_sql_gives_athenas_rows_or_is_refused_by_name(engine: LocalAthena,
                                                            case: Case) -> None:
    try:
        frame = engine.query(case.sql)
    except UnsupportedQuery as refusal:
        message = str(refusal)
        assert case.name.lower() in message.lower(), f"the refusal does not name {case.name}"
        assert "WORKSHOP_TARGET=aws" in message and "\n" not in message
        return
    except QueryError as error:
        assert isinstance(case.rows, Fails), f"{case.sql} failed locally: {error}"
        return
    assert not isinstance(case.rows, Fails), f"Athena fails ({case.rows.why}); locally it ran"
    got = rows_of(frame)
    assert matches(got, case.rows, case.ordered), f"{case.sql}\nlocal:  {got}\nAthena: {case.rows}"


# --- names, types and the refusal list ---------------------------------------------------------

def test_unnamed_columns_are_named_by_position_as_athena_names_them(engine: LocalAthena) -> None:
    """sql/select.md: anonymous columns are _col0, _col1...; a column keeps its name."""
    frame = engine.query("SELECT (CAST(ROW(1, true) AS ROW(field1 bigint, field2 boolean))).field1,"
                         " json_extract('{\"a\": 1}', '$.a'), ARRAY[1, 2][1], x, x + 1 AS y "
                         "FROM (VALUES 5) AS t(x)")
    assert list(frame.columns) == ["field1", "_col1", "_col2", "x", "y"]


def test_results_have_athenas_types(engine: LocalAthena) -> None:
    """Integer division stays integer, round of a double is a double, date_diff a bigint."""
    frame = engine.query("SELECT 5 / 2 AS q, round(DOUBLE '2.5') AS r, "
                         "date_diff('day', DATE '2020-03-01', DATE '2020-03-02') AS d, "
                         "array_position(ARRAY[1], 1) AS p, length('ab') AS n")
    assert [str(t) for t in frame.dtypes] == ["int64", "float64", "int64", "int64", "int64"]


def test_a_query_athena_fails_fails_locally_with_athenas_reason(engine: LocalAthena) -> None:
    with pytest.raises(QueryError) as caught:
        engine.query("SELECT ARRAY[1, 2, 3][5]")
    assert str(caught.value) == (
        "The query fails, as it does on Athena: Array subscript must be less than or equal to "
        "array length: 5 > 3. Fix the query, then run it again.")


def test_a_refusal_at_run_time_names_what_was_refused(engine: LocalAthena) -> None:
    with pytest.raises(UnsupportedQuery, match=r"^from_iso8601_date of this form is not avail"):
        engine.query("SELECT from_iso8601_date(x) FROM (VALUES '2020-05-11', '11/05/2020') t(x)")


def test_every_refusal_of_the_engine_is_in_the_learners_list() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert sql.markdown() in text, "regenerate it: python -m workshop.local.athena.sql"
    for refusal in sql.REFUSALS:
        assert refusal.name in text


def test_the_workshop_queries_stay_out_of_the_refusals() -> None:
    from workshop import athena
    from workshop.local.athena import engine as local_engine

    for name, text in athena.QUERIES.items():
        statement = local_engine.parse(text)
        sql.refuse(statement)  # raises if refused
        assert not local_engine.unsupported_functions(statement), name
