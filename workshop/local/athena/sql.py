"""Athena's SQL on DuckDB where the two differ: what the local engine rewrites, and what it refuses.

sqlglot translates Athena's dialect (Trino's) to DuckDB's, and most functions mean the same in
both. Where they do not, DuckDB would answer with other rows than Athena: split_part past the
last field is '' in DuckDB and NULL in Trino, sequence(5, 1) is empty in DuckDB and counts down in
Trino, `a[i]` of an integer column read the next element. This module rewrites such calls into
DuckDB macros that keep Trino's semantics (MACROS, created on the engine's connection), and
refuses by name what it cannot run faithfully (REFUSALS): a query is answered as Athena answers
it, or not at all. tests/test_sql_fidelity.py holds both to the examples of Trino's documentation;
docs/local-sql.md lists them, generated from this module by `python -m workshop.local.athena.sql`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.dialects.athena import Athena
from sqlglot.dialects.trino import Trino
from sqlglot.parsers.athena import AthenaParser

from workshop.errors import UnsupportedQuery

T = exp.DataType.Type
INTEGERS = exp.DataType.INTEGER_TYPES
TEXT = {T.VARCHAR, T.CHAR, T.TEXT, T.NVARCHAR, T.NCHAR}
ATHENA = "run the query on Athena (WORKSHOP_TARGET=aws)"
RUNTIME = "local engine refuses: "  # a macro's failing text that names a refusal
RUNTIME_TEXT = re.compile(re.escape(RUNTIME) + r"([^'\"]+)")
FAILS = "Athena fails too: "  # a macro's failing text where Athena's query fails as well
FAILS_TEXT = re.compile(re.escape(FAILS) + r"([^'\"]+)")
ANONYMOUS = "athena_anonymous"  # meta flag: a projection Athena names _colN


@dataclass(frozen=True)
class Refusal:
    """A function or construct the local engine will not run, why, and what to write instead."""

    name: str  # as a learner writes it: a function name, or a construct such as "AT TIME ZONE"
    reason: str  # one line: what DuckDB would do otherwise
    instead: str = "rewrite the query without it"
    function: bool = True  # a function (named with "()"), or a construct


_UTC_ONLY = "the local engine keeps every timestamp with time zone in UTC"
_NO_TRANSLATION = "the translator (sqlglot) has no DuckDB equivalent for it"
REFUSALS = (
    Refusal("format_datetime", "it takes Java (Joda) date patterns, which DuckDB does not read",
            "use date_format(ts, '%Y-%m-%d %H:%i') (MySQL-style pattern) instead"),
    Refusal("parse_datetime", "it takes Java (Joda) date patterns, which DuckDB does not read",
            "use date_parse(text, '%Y-%m-%d %H:%i:%s') (MySQL-style pattern) instead"),
    Refusal("to_iso8601", _NO_TRANSLATION,
            "use date_format(ts, '%Y-%m-%dT%H:%i:%sZ') instead"),
    Refusal("with_timezone", _UTC_ONLY, "keep the timestamps in UTC locally"),
    Refusal("at_timezone", _UTC_ONLY, "keep the timestamps in UTC locally"),
    Refusal("timezone_hour", _UTC_ONLY, "keep the timestamps in UTC locally"),
    Refusal("timezone_minute", _UTC_ONLY, "keep the timestamps in UTC locally"),
    Refusal("human_readable_seconds", _NO_TRANSLATION),
    Refusal("parse_duration", _NO_TRANSLATION),
    Refusal("typeof", "DuckDB names types its own way (INTEGER, VARCHAR where Athena says "
            "integer, varchar(3))"),
    Refusal("format", "it takes Java format strings (%s, %03d, %,.2f), which DuckDB's format "
            "does not read", "build the text with concat, lpad and round instead"),
    Refusal("format_number", _NO_TRANSLATION),
    Refusal("luhn_check", _NO_TRANSLATION),
    Refusal("regexp_position", _NO_TRANSLATION, "use strpos, or regexp_like, instead"),
    Refusal("split_to_map", "DuckDB has no function that splits text into a map"),
    Refusal("width_bucket", _NO_TRANSLATION),
    Refusal("from_base", _NO_TRANSLATION),
    Refusal("to_base", _NO_TRANSLATION),
    Refusal("json_value", "its SQL/JSON path modes (lax, strict) are not DuckDB's JSON paths",
            "use json_extract_scalar(json, '$.key') instead"),
    Refusal("json_query", "its SQL/JSON path modes (lax, strict) are not DuckDB's JSON paths",
            "use json_extract(json, '$.key') instead"),
    Refusal("json_exists", "its SQL/JSON path modes (lax, strict) are not DuckDB's JSON paths",
            "use json_extract(json, '$.key') IS NOT NULL instead"),
    Refusal("json_array", _NO_TRANSLATION, "use CAST(ARRAY[...] AS JSON) instead"),
    Refusal("json_array_contains", "DuckDB has no json_array_contains",
            "use contains(CAST(json_parse(text) AS ARRAY(BIGINT)), 2) instead"),
    Refusal("json_array_get", _NO_TRANSLATION, "use json_extract(json, '$[0]') instead"),
    Refusal("json_size", _NO_TRANSLATION, "use json_array_length(json_extract(...)) instead"),
    Refusal("reduce", "DuckDB's list_reduce differs in its initial state and output function",
            "UNNEST the array and aggregate instead"),
    Refusal("zip_with", _NO_TRANSLATION),
    Refusal("any_match", _NO_TRANSLATION, "use cardinality(filter(array, x -> ...)) > 0 instead"),
    Refusal("all_match", _NO_TRANSLATION),
    Refusal("none_match", _NO_TRANSLATION),
    Refusal("array_union", _NO_TRANSLATION),
    Refusal("combinations", _NO_TRANSLATION),
    Refusal("ngrams", _NO_TRANSLATION),
    Refusal("map_filter", _NO_TRANSLATION),
    Refusal("transform_keys", _NO_TRANSLATION),
    Refusal("transform_values", _NO_TRANSLATION),
    Refusal("map_zip_with", _NO_TRANSLATION),
    Refusal("multimap_from_entries", _NO_TRANSLATION),
    Refusal("map_agg", _NO_TRANSLATION),
    Refusal("AT TIME ZONE", f"{_UTC_ONLY}, so a value in another zone would show other hours "
            "and dates", "write AT TIME ZONE 'UTC', or convert the column in pandas "
            "(frame[column].dt.tz_convert(...))", function=False),
    Refusal("TIMESTAMP literal in a time zone other than UTC", _UTC_ONLY,
            "write the time in UTC (TIMESTAMP '2024-01-01 09:00:00 UTC')", function=False),
    Refusal("from_iso8601_timestamp of a time with a UTC offset other than +00:00",
            f"{_UTC_ONLY}, so its hour, day and date_format would differ from Athena's",
            "keep the times in UTC (2024-01-01T09:00:00Z)", function=False),
    Refusal("from_iso8601_date of this form", "the local engine reads YYYY-MM-DD, YYYY-MM, "
            "YYYY, YYYY-Www, YYYY-Www-D and YYYY-DDD only", "write the date as YYYY-MM-DD",
            function=False),
    Refusal("CAST to TIMESTAMP(p)", "DuckDB keeps timestamps in seconds, milliseconds, "
            "microseconds or nanoseconds only, so it cannot round to p digits as Athena does",
            "cast to TIMESTAMP(0), TIMESTAMP(3) or TIMESTAMP(6)", function=False),
    Refusal("sequence of timestamps, or with an interval step", _NO_TRANSLATION,
            "use sequence of integers with date_add", function=False),
    Refusal("FETCH FIRST ... WITH TIES", "DuckDB's LIMIT drops the ties",
            "number the rows with rank() OVER (ORDER BY ...) in a subquery and keep rank <= n",
            function=False),
    Refusal("UNNEST of a map", "DuckDB's UNNEST does not split a map into key and value "
            "columns", "write CROSS JOIN UNNEST(map_keys(m)) AS t(k) and read element_at(m, k)",
            function=False),
    Refusal("UNNEST of an array of rows", "DuckDB's UNNEST keeps each row in one column instead "
            "of one column per field", function=False),
    Refusal("strpos with an instance argument", "DuckDB's strpos finds the first occurrence "
            "only", function=False),
    Refusal("array_sort with a comparator", "DuckDB's list_sort takes no comparator function",
            "use array_sort(x), reversed with reverse(array_sort(x)) for descending order",
            function=False),
    Refusal("regexp_replace with a lambda or a computed replacement", "Java's $1 group "
            "references become DuckDB's \\1 only in a replacement written as a string literal",
            "write the replacement as a string literal", function=False),
    Refusal("regexp_replace with ${name} or $10 group references", "DuckDB refers to groups 0 "
            "to 9 by number only", "name groups 1 to 9 by number ($1)", function=False),
)
REFUSED = {refusal.name.lower(): refusal for refusal in REFUSALS}

# Functions sqlglot does not know, run through a DuckDB function or macro of the same meaning.
TRANSLATED = {  # Athena's name -> (DuckDB function or macro, what differs in DuckDB's own)
    "every": ("bool_and", "DuckDB's name for it"),
    "e": ("trino_e", "DuckDB has no e()"),
    "nan": ("trino_nan", "DuckDB has no nan()"),
    "infinity": ("trino_infinity", "DuckDB has no infinity()"),
    "is_infinite": ("isinf", "DuckDB's name for it"),
    "is_finite": ("isfinite", "DuckDB's name for it"),
    "codepoint": ("trino_codepoint", "an error unless one character, as in Athena"),
    "hamming_distance": ("hamming", "DuckDB's name for it"),
    "arrays_overlap": ("trino_arrays_overlap", "NULL, not false, when only NULLs could match"),
    "map_values": ("map_values", "DuckDB's own"),
    "map_entries": ("map_entries", "DuckDB's own"),
    "json_array_length": ("trino_json_array_length", "NULL for a JSON value that is no array"),
    "is_json_scalar": ("trino_is_json_scalar", "DuckDB has no is_json_scalar"),
    "trim_array": ("trino_trim_array", "an error for more elements than the array has"),
    "zip": ("list_zip", "DuckDB's name for it"),
    "map_concat": ("map_concat", "DuckDB's own: the last map's value wins"),
    "histogram": ("histogram", "DuckDB's own"),
}
# Calls sqlglot translates to a DuckDB function of other semantics, rewritten into macros.
REWRITTEN = {  # Athena's function or construct -> what Athena does that DuckDB's would not
    "a[i] (array subscript)": "fails past the end and below 1; the index is read as written",
    "m[k] (map subscript)": "fails for a key not in the map",
    "element_at(array, 0)": "fails: SQL array indices start at 1",
    "array || element": "appends (element || array prepends) the element",
    "array_distinct": "keeps the first of each value, NULL included, in order",
    "array_position": "0, not NULL, when the element is not found",
    "cardinality(map)": "counts the entries",
    "date_diff": "counts whole units elapsed, not unit boundaries crossed",
    "day_of_week, extract(DOW)": "1 (Monday) to 7 (Sunday)",
    "from_iso8601_date": "reads week dates (2020-W10) and ordinal dates (2020-123)",
    "from_iso8601_timestamp": "milliseconds, as Athena's timestamp(3)",
    "CAST to TIMESTAMP": "rounds to milliseconds, as Athena's TIMESTAMP(3)",
    "CAST(json AS VARCHAR)": "the text of a JSON string, NULL for JSON null",
    "CAST(varchar AS JSON)": "a JSON string of the text",
    "json_extract_scalar": "NULL for an object or array",
    "regexp_extract": "NULL, not '', when nothing matches",
    "regexp_replace": "$1 in the replacement is group 1",
    "repeat": "an array of the element repeated",
    "reverse(array)": "reverses the elements",
    "sequence": "counts down when stop < start; dates by the day",
    "slice": "takes a start and a length, negative starts from the end",
    "split(string, delimiter, limit)": "keeps the rest of the string in the last element",
    "split_part": "NULL past the last field",
    "substr, substring": "'' from a start of 0, a length below 1, or before the beginning",
    "x / y of decimals (1 / 3.0)": "the larger scale of the two, rounded half up (0.3), "
                                   "not a double",
    "CAST(double AS integer)": "rounds half away from zero (2.5 is 3)",
    "sign(double)": "a double, as its argument",
    "AT TIME ZONE 'UTC'": "a timestamp with time zone",
    "GROUP BY ALL / DISTINCT grouping sets": "keeps or drops repeated grouping sets",
    "UNNEST(a, b, ...)": "the arrays side by side, the shorter ones padded with NULLs",
    "x < ALL (VALUES ...)": "the quantified comparison over a VALUES list",
    "unnamed columns": "named _col0, _col1, ... by position",
}


def _checked(value: str, *checks: tuple[str, str]) -> str:
    """DuckDB SQL for `value`, unless a condition holds: then the query fails with its message.

    The failure is a CAST of the message to INTEGER that cannot succeed, not DuckDB's error():
    error() is volatile, and DuckDB keeps a volatile expression out of a window's ORDER BY and
    does not push it down into scans.
    """
    cases = " ".join(f"WHEN {condition} THEN '{FAILS}' || {message}"
                     for condition, message in checks)
    return f"[{value}][1 + CAST(CASE {cases} ELSE '0' END AS INTEGER)]"


_AT_ONE = ("i = 0", "'SQL array indices start at 1'")
_START = "CASE WHEN s > 0 THEN s ELSE len(a) + s + 1 END"  # slice's start, negative from the end
MACROS = (
    "CREATE OR REPLACE MACRO trino_subscript(a, i) AS " + _checked(
        "a[i]", ("i < 1", "'SQL array indices start at 1'"),
        ("i > len(a)", "'Array subscript must be less than or equal to array length: ' || i "
         "|| ' > ' || len(a)")),
    "CREATE OR REPLACE MACRO trino_element_at(a, i) AS " + _checked("a[i]", _AT_ONE),
    "CREATE OR REPLACE MACRO trino_map_subscript(m, k) AS " + _checked(
        "m[k]", ("m IS NOT NULL AND k IS NOT NULL AND NOT map_contains(m, k)",
                 "'Key not present in map: ' || CAST(k AS VARCHAR)")),
    "CREATE OR REPLACE MACRO trino_array_position(a, x) AS CASE "
    "WHEN a IS NULL OR x IS NULL THEN NULL ELSE CAST(coalesce(list_position(a, x), 0) AS BIGINT) "
    "END",
    "CREATE OR REPLACE MACRO trino_array_distinct(a) AS "
    "list_filter(a, lambda x, i: list_position(a, x) = i)",
    # Trino's ArraySliceFunction: a negative start counts from the end; before the first
    # element, or past the last, the slice is empty.
    "CREATE OR REPLACE MACRO trino_slice(a, s, n) AS " + _checked(
        f"CASE WHEN ({_START}) < 1 THEN list_slice(a, 1, 0) "
        f"ELSE list_slice(a, {_START}, ({_START}) + n - 1) END",
        ("n < 0", "'length must be greater than or equal to 0'"),
        ("s = 0", "'SQL array indices start at 1'")),
    "CREATE OR REPLACE MACRO trino_sequence(a, b) AS "
    "generate_series(a, b, CASE WHEN a <= b THEN 1 ELSE -1 END), (a, b, s) AS " + _checked(
        "generate_series(a, b, s)", ("s = 0", "'step must not be zero'"),
        ("(a < b AND s < 0) OR (a > b AND s > 0)", "'sequence stop value should be greater "
         "than or equal to start value if step is greater than zero otherwise stop should be "
         "less than or equal to start'")),
    "CREATE OR REPLACE MACRO trino_date_sequence(a, b) AS list_transform(generate_series("
    "CAST(a AS TIMESTAMP), CAST(b AS TIMESTAMP), CASE WHEN a <= b THEN INTERVAL 1 DAY "
    "ELSE INTERVAL (-1) DAY END), lambda d: CAST(d AS DATE))",
    "CREATE OR REPLACE MACRO trino_repeat(x, n) AS " + _checked(
        "repeat([x], n)", ("n < 0", "'count argument of repeat function must be greater than "
                           "or equal to 0'")),
    # Trino's StringFunctions.substr: a start of 0, a length below 1, or a negative start
    # before the beginning give ''; DuckDB reads 0 as 1 and clips the others.
    "CREATE OR REPLACE MACRO trino_substr(s, i) AS CASE WHEN i = 0 OR -i > length(s) THEN '' "
    "ELSE substring(s, i) END, (s, i, n) AS CASE WHEN i = 0 OR n <= 0 OR -i > length(s) "
    "THEN '' ELSE substring(s, i, n) END",
    "CREATE OR REPLACE MACRO trino_split_part(s, d, i) AS " + _checked(
        "CASE WHEN i > len(string_split(s, d)) THEN NULL ELSE split_part(s, d, i) END",
        ("i < 1", "'Index must be greater than zero'")),
    "CREATE OR REPLACE MACRO trino_split(s, d, n) AS " + _checked(
        "CASE WHEN len(string_split(s, d)) <= n THEN string_split(s, d) "
        "ELSE list_append(string_split(s, d)[1:n - 1], "
        "array_to_string(string_split(s, d)[n:], d)) END",
        ("n < 1", "'Limit must be positive'")),
    # Athena parses with Joda, to milliseconds (timestamp(3)), digits past them dropped; a time
    # in another zone fails the CAST with the refusal's name (refused at run time).
    "CREATE OR REPLACE MACRO trino_from_iso8601_timestamp(s) AS date_trunc('millisecond', "
    "CAST(CASE WHEN ends_with(s, 'Z') OR NOT regexp_matches(s, 'T[^+-]*[+-]') "
    "OR regexp_matches(s, '[+-]00(:?00)?$') THEN s ELSE "
    f"'{RUNTIME}from_iso8601_timestamp of a time with a UTC offset other than +00:00' END "
    "AS TIMESTAMPTZ))",
    r"CREATE OR REPLACE MACRO trino_from_iso8601_date(s) AS CASE WHEN s IS NULL THEN NULL "
    r"WHEN regexp_matches(s, '^\d{4}-\d{2}-\d{2}$') THEN CAST(s AS DATE) "
    r"WHEN regexp_matches(s, '^\d{4}-W\d{2}(-\d)?$') THEN "
    "make_date(CAST(s[1:4] AS INTEGER), 1, 4) "
    "- CAST(isodow(make_date(CAST(s[1:4] AS INTEGER), 1, 4)) - 1 AS INTEGER) "
    "+ CAST(7 * (CAST(s[7:8] AS INTEGER) - 1) + coalesce(CAST(nullif(s[10:10], '') AS INTEGER), "
    "1) - 1 AS INTEGER) "
    r"WHEN regexp_matches(s, '^\d{4}-\d{3}$') THEN "
    "make_date(CAST(s[1:4] AS INTEGER), 1, 1) + CAST(CAST(s[6:8] AS INTEGER) - 1 AS INTEGER) "
    r"WHEN regexp_matches(s, '^\d{4}-\d{2}$') THEN "
    "make_date(CAST(s[1:4] AS INTEGER), CAST(s[6:7] AS INTEGER), 1) "
    r"WHEN regexp_matches(s, '^\d{4}$') THEN make_date(CAST(s AS INTEGER), 1, 1) "
    f"ELSE CAST('{RUNTIME}from_iso8601_date of this form' AS DATE) END",
    "CREATE OR REPLACE MACRO trino_json_to_varchar(j) AS " + _checked(
        "CASE json_type(j) WHEN 'VARCHAR' THEN j ->> '$' WHEN 'NULL' THEN NULL "
        "ELSE CAST(j AS VARCHAR) END",
        ("json_type(j) IN ('OBJECT', 'ARRAY')",
         "'Cannot cast JSON ' || lower(json_type(j)) || ' to varchar'")),
    "CREATE OR REPLACE MACRO trino_json_scalar(j) AS CASE "
    "WHEN json_type(j) IN ('OBJECT', 'ARRAY') THEN NULL ELSE j ->> '$' END",
    "CREATE OR REPLACE MACRO trino_json_array_length(j) AS CASE "
    "WHEN json_type(CAST(j AS JSON)) = 'ARRAY' THEN json_array_length(CAST(j AS JSON)) END",
    "CREATE OR REPLACE MACRO trino_codepoint(s) AS " + _checked(
        "unicode(s)", ("length(s) <> 1", "'Input string must be a single character string'")),
    "CREATE OR REPLACE MACRO trino_arrays_overlap(a, b) AS CASE "
    "WHEN a IS NULL OR b IS NULL THEN NULL "
    "WHEN list_has_any(list_filter(a, lambda x: x IS NOT NULL), b) THEN true "
    "WHEN list_position(a, NULL) IS NOT NULL OR list_position(b, NULL) IS NOT NULL THEN NULL "
    "ELSE false END",
    "CREATE OR REPLACE MACRO trino_is_json_scalar(s) AS "
    "json_type(json(s)) NOT IN ('OBJECT', 'ARRAY')",
    "CREATE OR REPLACE MACRO trino_trim_array(a, n) AS " + _checked(
        "list_slice(a, 1, len(a) - n)", ("n < 0 OR n > len(a)",
                                         "'size must not exceed array cardinality ' || len(a)")),
    "CREATE OR REPLACE MACRO trino_e() AS exp(1)",
    "CREATE OR REPLACE MACRO trino_nan() AS CAST('NaN' AS DOUBLE)",
    "CREATE OR REPLACE MACRO trino_infinity() AS CAST('Infinity' AS DOUBLE)",
)

_REFUSED_NODES = {  # sqlglot's node for an Athena function -> the name Athena knows it by
    exp.Typeof: "typeof", exp.Format: "format", exp.JSONValue: "json_value",
    exp.StrToMap: "split_to_map", exp.Reduce: "reduce",
}
_UTC_ZONES = {"utc", "z", "gmt", "ut", "+00:00", "-00:00", "+00", "etc/utc"}
_LITERAL_ZONE = re.compile(r"\d(?:\.\d*)?\s*([A-Za-z][\w/+\-:]*|[+-]\d{1,2}(?::?\d{2})?)$")
_DUCKDB_TIMESTAMP_DIGITS = {0, 3, 6, 9}  # seconds, TIMESTAMP_MS, TIMESTAMP, TIMESTAMP_NS


class _IndexAsWritten(Trino):
    """Trino's dialect with subscripts kept as written (1-based): see _Parsing."""

    INDEX_OFFSET = 0


class _Parsing(Athena):
    """Athena's dialect whose parser keeps `a[i]` as written.

    sqlglot's Trino parser takes one off an integer index it can type while parsing (a literal)
    and leaves the others, then adds one back on output to DuckDB to every index typed as
    integer by then: `a[i]` of an integer column came out as `a[i + 1]`. Parsed as written, each
    subscript is marked 1-based (prepare) and goes out unchanged.
    """

    def parser(self, **opts: object) -> AthenaParser:
        """The Athena parser, with the Trino parser inside it keeping subscripts as written."""
        return AthenaParser(dialect=self, trino=_IndexAsWritten(), **opts)


PARSE_DIALECT = _Parsing()


def refusal(name: str) -> UnsupportedQuery:
    """The refusal of a function or construct, with the reason and the next step."""
    known = REFUSED.get(name.lower())
    if known is None:  # a function sqlglot does not know: nothing more to say about it
        return UnsupportedQuery(
            f"Function {name}() is not available in the local engine: it has no faithful DuckDB "
            "translation, so it is refused rather than risk wrong rows. Rewrite the query "
            f"without it, or {ATHENA}.", function=name)
    what = f"Function {name}()" if known.function else known.name
    return UnsupportedQuery(
        f"{what} is not available in the local engine: {known.reason}. It is refused rather "
        f"than risk wrong rows; {known.instead}, or {ATHENA}.",
        function=name if known.function else None)


def runtime_refusal(text: str) -> UnsupportedQuery | None:
    """The refusal a macro raised while the query ran (its failing text names it), if any."""
    match = RUNTIME_TEXT.search(text)
    return refusal(match.group(1).strip()) if match else None


def runtime_failure(text: str) -> str | None:
    """Athena's own error, where a macro failed the query as Athena fails it, if so."""
    match = FAILS_TEXT.search(text)
    return match.group(1).strip() if match else None


def prepare(statement: exp.Expression) -> exp.Expression:
    """Before qualifying: subscripts marked 1-based, ALL/ANY over VALUES made subqueries, and
    the projections Athena names _colN named so; refuses what no translation can keep."""
    for node in list(statement.walk()):
        if isinstance(node, exp.Bracket) and not node.args.get("offset") \
                and not node.args.get("json_access"):
            node.set("offset", 1)  # as written: Athena's subscripts start at 1, as DuckDB's
        elif isinstance(node, exp.Anonymous) and node.name.upper() in ("ALL", "ANY", "SOME") \
                and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Values):
            quantifier = exp.All if node.name.upper() == "ALL" else exp.Any
            node.replace(quantifier(this=exp.Subquery(this=node.expressions[0])))
    for select in statement.find_all(exp.Select):
        # Athena names a projection that is not a column _colN, N its position; sqlglot names
        # some by what they read (json_extract(x, '$.a') became "a"). Where a * leaves the
        # positions to qualify, the outermost SELECT is renamed after it (qualified_names).
        starred = any(p.is_star for p in select.expressions)
        for position, projection in enumerate(select.expressions):
            if not isinstance(projection, exp.Alias | exp.Column | exp.Dot) \
                    and not projection.is_star:
                if starred:
                    projection.meta[ANONYMOUS] = True
                else:
                    projection.replace(exp.alias_(projection.copy(), f"_col_{position}"))
    refuse(statement)
    return statement


def refuse(statement: exp.Expression) -> None:
    """Raise UnsupportedQuery for the first function or construct the engine must not run."""
    for node in statement.walk():
        name = _refused_name(node)
        if name:
            raise refusal(name)


def _refused_name(node: exp.Expression) -> str | None:
    """The refusal a node calls for, by the name REFUSED knows it by, or None."""
    for kind, name in _REFUSED_NODES.items():
        if isinstance(node, kind):
            return name
    if isinstance(node, exp.JSONExtract) and node.args.get("json_query"):
        return "json_query"
    if isinstance(node, exp.AtTimeZone):
        zone = node.args.get("zone")
        if not (isinstance(zone, exp.Literal) and zone.is_string and zone.name.lower() == "utc"):
            return "AT TIME ZONE"
    if isinstance(node, exp.Cast) and node.to.is_type(T.TIMESTAMPTZ) and _zone_of(node.this):
        return "TIMESTAMP literal in a time zone other than UTC"
    if isinstance(node, exp.Cast) and node.to.is_type(T.TIMESTAMP) and node.to.expressions \
            and _timestamp_digits(node) is None:
        return "CAST to TIMESTAMP(p)"
    if isinstance(node, exp.Fetch):
        options = node.args.get("limit_options")
        if options is not None and options.args.get("with_ties"):
            return "FETCH FIRST ... WITH TIES"
    if isinstance(node, exp.StrPosition) and node.args.get("occurrence") is not None:
        return "strpos with an instance argument"
    if isinstance(node, exp.ArraySort) and node.args.get("expression") is not None:
        return "array_sort with a comparator"
    if isinstance(node, exp.RegexpReplace) and node.args.get("replacement") is not None:
        replacement = node.args["replacement"]
        if not (isinstance(replacement, exp.Literal) and replacement.is_string):
            return "regexp_replace with a lambda or a computed replacement"
        if _re2_replacement(replacement.name) is None:
            return "regexp_replace with ${name} or $10 group references"
    return None


def _timestamp_digits(cast: exp.Cast) -> int | None:
    """The digits of a CAST to TIMESTAMP(p) that DuckDB keeps as Athena does, else None.

    DuckDB rounds to 0, 3, 6 or 9 digits as Athena does; to other precisions it cannot, but a
    string literal with no more digits than p (sqlglot writes TIMESTAMP '...' so) loses none.
    """
    digits = cast.to.expressions[0].this
    if not isinstance(digits, exp.Literal):
        return None
    precision = int(digits.name)
    if precision in _DUCKDB_TIMESTAMP_DIGITS:
        return precision
    this = cast.this
    if isinstance(this, exp.Literal) and this.is_string:
        fraction = re.search(r"\d:\d\d\.(\d+)", this.name)
        if len(fraction.group(1) if fraction else "") <= precision:
            return 6 if precision < 6 else 9
    return None


def _zone_of(literal: exp.Expression) -> str | None:
    """The time zone of a TIMESTAMP '... zone' literal, unless it is UTC."""
    if not (isinstance(literal, exp.Literal) and literal.is_string):
        return None
    match = _LITERAL_ZONE.search(literal.name.strip())
    if match is None or match.group(1).lower() in _UTC_ZONES:
        return None
    return match.group(1)


def _re2_replacement(java: str) -> str | None:
    """A regexp_replace replacement in Java's syntax ($1, \\$) as DuckDB's RE2 reads it (\\1),
    or None if it refers to groups RE2 cannot (${name}, $10)."""
    out: list[str] = []
    i = 0
    while i < len(java):
        char = java[i]
        if char == "\\" and i + 1 < len(java):  # Java: the next character, literally
            out.append("\\\\" if java[i + 1] == "\\" else java[i + 1])
            i += 2
        elif char == "$":
            digits = re.match(r"\d+", java[i + 1:])
            if digits is None or len(digits.group()) > 1:
                return None
            out.append("\\" + digits.group())
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def qualified_names(tree: exp.Expression) -> exp.Expression:
    """Name the projections prepare() marked in the outermost SELECT _col_N, N their position
    once * is expanded (the outermost only: an inner SELECT's names are read by its query)."""
    outermost = tree
    while isinstance(outermost, exp.SetOperation):
        outermost = outermost.this
    if isinstance(outermost, exp.Select):
        for position, projection in enumerate(outermost.expressions):
            if isinstance(projection, exp.Alias) and projection.this.meta.get(ANONYMOUS):
                projection.set("alias", exp.to_identifier(f"_col_{position}"))
    return tree


_ARRAYS = (  # calls that make an array in Athena, whatever sqlglot's types say
    exp.ArrayFilter, exp.Transform, exp.ArraySort, exp.ArrayDistinct, exp.ArrayIntersect,
    exp.ArrayExcept, exp.ArrayRemove, exp.Flatten, exp.MapKeys, exp.RegexpExtractAll,
    exp.RegexpSplit, exp.Split, exp.GenerateSeries, exp.ArraySlice, exp.Repeat)
_ARRAY = exp.DataType(this=T.ARRAY, expressions=[exp.DataType(this=T.UNKNOWN)], nested=True)


def translate(tree: exp.Expression) -> exp.Expression:
    """Rewrite the calls whose DuckDB translation would answer otherwise than Athena.

    Runs on the qualified, typed tree, children before their parents (a rewritten child keeps
    its type, so the parent is still recognised: `split(s, ',')[3]` is an array subscript).
    """
    nodes = list(tree.walk())
    for node in reversed(nodes):  # sqlglot leaves some arrays untyped (split, filter...)
        concat = isinstance(node, exp.Concat) and any(_is(p, T.ARRAY) for p in node.expressions)
        if (concat or isinstance(node, _ARRAYS)) and not _is(node, T.ARRAY):
            node.type = _ARRAY.copy()
    for node in reversed(nodes):
        new = _rewrite(node)
        if new is not None and new is not node:
            if node.type is not None and new.type is None:
                new.type = node.type
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def _call(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _is(node: exp.Expression | None, *types: T) -> bool:
    return node is not None and node.type is not None and node.type.this in types


def _rewrite(node: exp.Expression) -> exp.Expression | None:
    """The rewrite of one node, or None to keep it."""
    if isinstance(node, exp.Anonymous) and node.name.lower() in TRANSLATED:
        return _call(TRANSLATED[node.name.lower()][0], *node.expressions)
    if isinstance(node, exp.Bracket) and not node.args.get("json_access") \
            and len(node.expressions) == 1:
        this, index = node.this, node.expressions[0]
        if _is(this, T.ARRAY):
            return _call("trino_element_at" if node.args.get("safe") else "trino_subscript",
                         this, index)
        if _is(this, T.MAP) and not node.args.get("safe"):
            return _call("trino_map_subscript", this, index)
        return None
    if isinstance(node, exp.DPipe):
        left, right = node.this, node.expression
        if _is(left, T.ARRAY) and not _is(right, T.ARRAY):
            return _call("list_append", left, right)
        if _is(right, T.ARRAY) and not _is(left, T.ARRAY):
            return _call("list_prepend", left, right)
        return None
    if isinstance(node, exp.Div):
        return _decimal_division(node)
    if isinstance(node, exp.Sign) and node.this.type is not None \
            and not _is(node.this, *INTEGERS, T.UNKNOWN):  # DuckDB's is a TINYINT
        return exp.cast(exp.Sign(this=node.this), node.this.type)
    if isinstance(node, exp.Reverse) and _is(node.this, T.ARRAY):
        return _call("list_reverse", node.this)
    if isinstance(node, exp.Repeat):  # Athena's repeat makes an array; it has no string repeat
        return _call("trino_repeat", node.this, node.args["times"])
    if isinstance(node, exp.GenerateSeries):
        return _sequence(node)
    if isinstance(node, exp.ArraySlice):
        return _call("trino_slice", node.this, node.args["start"], node.args["end"])
    if isinstance(node, exp.ArrayPosition):
        return _call("trino_array_position", node.this, node.expression)
    if isinstance(node, exp.ArraySize) and _is(node.this, T.MAP):
        return _call("cardinality", node.this)
    if isinstance(node, exp.ArrayDistinct):
        return _call("trino_array_distinct", node.this)
    if isinstance(node, exp.Substring):
        length = node.args.get("length")
        return _call("trino_substr", node.this, node.args["start"],
                     *([length] if length is not None else []))
    if isinstance(node, exp.SplitPart):
        return _call("trino_split_part", node.this, node.args["delimiter"],
                     node.args["part_index"])
    if isinstance(node, exp.Split) and node.args.get("limit") is not None:
        return _call("trino_split", node.this, node.expression, node.args["limit"])
    if isinstance(node, exp.RegexpReplace) and node.args.get("replacement") is not None:
        replacement = _re2_replacement(node.args["replacement"].name) or ""
        node.set("replacement", exp.Literal.string(replacement))
        return None
    if isinstance(node, exp.RegexpExtract):  # Athena's is NULL when nothing matches
        matches = exp.RegexpLike(this=node.this.copy(), expression=node.expression.copy())
        return exp.Case(ifs=[exp.If(this=matches, true=node.copy())])
    if isinstance(node, exp.DateDiff):
        unit = node.args.get("unit")
        return _call("date_sub", exp.Literal.string((unit.name if unit else "day").lower()),
                     node.expression, node.this)
    if isinstance(node, exp.Extract) and node.name.upper() in ("DOW", "DAY_OF_WEEK"):
        return _call("isodow", node.expression)
    if isinstance(node, exp.Extract) and node.name.upper() in ("YOW", "YEAR_OF_WEEK"):
        return _call("isoyear", node.expression)
    if isinstance(node, exp.AtTimeZone):  # AT TIME ZONE 'UTC': others were refused
        return exp.cast(node.this, T.TIMESTAMPTZ)
    if isinstance(node, exp.Cast):
        return _cast(node)
    if isinstance(node, exp.FromISO8601Timestamp):
        return _call("trino_from_iso8601_timestamp", node.this)
    if isinstance(node, exp.FromISO8601Date):
        return _call("trino_from_iso8601_date", node.this)
    if isinstance(node, exp.JSONExtractScalar):
        extracted = exp.JSONExtract(this=node.this, expression=node.expression)
        return _call("trino_json_scalar", extracted)
    if isinstance(node, exp.Group) and node.args.get("all") is not None:
        return _grouping_sets(node)
    if isinstance(node, exp.Unnest):
        for element in node.expressions:
            if _is(element, T.MAP):
                raise refusal("UNNEST of a map")
            if _is(element, T.ARRAY) and element.type.expressions \
                    and element.type.expressions[0].this == T.STRUCT:
                raise refusal("UNNEST of an array of rows")
        return _unnest_together(node) if len(node.expressions) > 1 else None
    return None


def _unnest_together(node: exp.Unnest) -> exp.Expression:
    """UNNEST(a, b, ...) [WITH ORDINALITY] AS t(x, y, ...[, n]): the arrays side by side,
    the shorter ones padded with NULLs (sql/select.md), as DuckDB's unnest() calls in one
    SELECT list expand them; read after the relations before it (LATERAL) when joined."""
    alias = node.args.get("alias")
    names = [c.name for c in alias.columns] if alias is not None else []
    columns = [exp.alias_(_call("unnest", array), names[i] if i < len(names) else f"_col{i}")
               for i, array in enumerate(node.expressions)]
    ordinality = node.args.get("offset")
    if ordinality is not None:  # 1 to the length of the longest array; greatest skips NULLs
        longest = _call("greatest", *(_call("len", a.copy()) for a in node.expressions))
        positions = _call("range", exp.Literal.number(1), exp.Add(this=longest,
                                                                   expression=exp.Literal.number(1)))
        name = ordinality.name if isinstance(ordinality, exp.Identifier) else "ordinality"
        columns.append(exp.alias_(_call("unnest", positions), name))
    relation = exp.Subquery(this=exp.Select(expressions=columns))
    table = exp.TableAlias(this=exp.to_identifier(alias.name if alias is not None else "_unnest"))
    if isinstance(node.parent, exp.Join):
        return exp.Lateral(this=relation, alias=table)
    relation.set("alias", table)
    return relation


def _sequence(node: exp.GenerateSeries) -> exp.Expression:
    """sequence(start, stop[, step]) of integers, or of dates by the day."""
    start, end, step = node.args["start"], node.args["end"], node.args.get("step")
    if _is(start, T.DATE) and step is None:
        return _call("trino_date_sequence", start, end)
    if _is(start, *INTEGERS, T.UNKNOWN) or start.type is None:
        return _call("trino_sequence", start, end, *([step] if step is not None else []))
    raise refusal("sequence of timestamps, or with an interval step")


_INTEGER_DIGITS = {T.TINYINT: 3, T.SMALLINT: 5, T.INT: 10, T.BIGINT: 19}


def _exact(node: exp.Expression) -> tuple[int, int] | None:
    """(precision, scale) of an exact number as Athena types it (functions/decimal.md): a
    decimal literal such as 1.20 is DECIMAL(3, 2), an integer DECIMAL(10, 0); None for a
    double, or where the scale is not known."""
    if isinstance(node, exp.Neg | exp.Paren):
        return _exact(node.this)
    if isinstance(node, exp.Literal) and not node.is_string:
        if "e" in node.name.lower():
            return None  # 1.03e1 is a DOUBLE (language/types.md)
        whole, _, fraction = node.name.lstrip("-").partition(".")
        return max(len(whole + fraction), 1), len(fraction)
    if isinstance(node, exp.Add | exp.Sub | exp.Mul):
        left, right = _exact(node.this), _exact(node.expression)
        if left is None or right is None:
            return None
        if isinstance(node, exp.Mul):
            return min(38, left[0] + right[0]), left[1] + right[1]
        scale = max(left[1], right[1])
        return min(38, 1 + scale + max(left[0] - left[1], right[0] - right[1])), scale
    kind = node.to if isinstance(node, exp.Cast) else node.type
    if kind is None:
        return None
    if kind.this in _INTEGER_DIGITS:
        return _INTEGER_DIGITS[kind.this], 0
    if kind.this == T.DECIMAL and len(kind.expressions) == 2:
        precision, scale = (int(e.this.name) for e in kind.expressions)
        return precision, scale
    return None


def _decimal_division(node: exp.Div) -> exp.Expression | None:
    """x / y of exact numbers, one of them a decimal: Athena's answer has the larger of their
    scales, rounded half up (1 / 3.0 is 0.3), where DuckDB's is a double (0.333...).

    DuckDB divides in doubles; rounding the quotient to the scale gives Athena's digits
    unless the operands have more than the 15 significant digits a double holds.
    """
    left, right = _exact(node.this), _exact(node.expression)
    if left is None or right is None or (left[1] == 0 and right[1] == 0):
        return None  # a double, or integer division (sqlglot keeps it integer)
    scale = max(left[1], right[1])
    quotient = exp.Div(this=exp.cast(node.this, T.DOUBLE), expression=node.expression)
    rounded = exp.Round(this=quotient, decimals=exp.Literal.number(scale))
    result = exp.cast(rounded, exp.DataType.build(f"DECIMAL(38, {scale})"))
    result.type = exp.DataType.build(f"DECIMAL(38, {scale})")
    return result


def _cast(node: exp.Cast) -> exp.Expression | None:
    """CASTs whose DuckDB meaning differs: JSON to and from text, TIMESTAMP's precision, a
    double to an integer."""
    to, this = node.to, node.this
    if to.this in _INTEGER_DIGITS and _is(this, T.DOUBLE, T.FLOAT):
        # Athena rounds half away from zero (DoubleOperators.castToInteger uses round());
        # DuckDB rounds half to even: CAST(2.5 AS INTEGER) is 3 on Athena, 2 in DuckDB.
        return exp.cast(exp.Round(this=this), to.this)
    if to.is_type(T.VARCHAR, T.TEXT) and _is(this, T.JSON):
        return _call("trino_json_to_varchar", this)
    if to.is_type(T.JSON) and _is(this, *TEXT):
        return _call("to_json", this)
    if to.is_type(T.TIMESTAMP, T.TIMESTAMPTZ) and not to.expressions:
        # Athena's TIMESTAMP is TIMESTAMP(3): it rounds to milliseconds (language/types.md).
        millis = exp.cast(exp.cast(this, T.TIMESTAMPTZ if to.is_type(T.TIMESTAMPTZ) else
                                   T.TIMESTAMP), T.TIMESTAMP_MS)
        return exp.cast(millis, to.this)
    if to.is_type(T.TIMESTAMP) and to.expressions:
        digits = int(to.expressions[0].this.name)
        if digits not in _DUCKDB_TIMESTAMP_DIGITS:  # a literal that loses no digit (refuse())
            return exp.cast(this, T.TIMESTAMP if _timestamp_digits(node) == 6 else
                            T.TIMESTAMP_NS)
    return None


def _grouping_sets(group: exp.Group) -> exp.Group:
    """GROUP BY ALL|DISTINCT elements as DuckDB runs them: ALL is DuckDB's default (every
    grouping set, repeats included); DISTINCT spells the sets out once each (sql/select.md)."""
    if group.args["all"]:
        group.set("all", None)
        return group
    sets: list[list[exp.Expression]] = [[]]
    for element in group.expressions:
        sets = [left + right for left, right in itertools.product(sets, _sets_of(element))]
    unique: dict[frozenset[str], list[exp.Expression]] = {}
    for columns in sets:
        unique.setdefault(frozenset(c.sql() for c in columns), columns)
    tuples = [exp.Tuple(expressions=[c.copy() for c in columns]) for columns in unique.values()]
    return exp.Group(expressions=[exp.GroupingSets(expressions=tuples)])


def _sets_of(element: exp.Expression) -> list[list[exp.Expression]]:
    """The grouping sets one element of GROUP BY stands for."""
    if isinstance(element, exp.Cube):
        columns = element.expressions
        return [[c for c, keep in zip(columns, mask, strict=True) if keep]
                for mask in itertools.product((True, False), repeat=len(columns))]
    if isinstance(element, exp.Rollup):
        columns = element.expressions
        return [columns[:n] for n in range(len(columns), -1, -1)]
    if isinstance(element, exp.GroupingSets):
        return [list(s.expressions) if isinstance(s, exp.Tuple) else
                [s.this] if isinstance(s, exp.Paren) else [s] for s in element.expressions]
    return [[element]]


def markdown() -> str:
    """The refusal and rewrite tables of docs/local-sql.md, from this module's own tables."""

    def row(*cells: str) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = [row("Refused", "Why", "Instead, locally"), row("---", "---", "---")]
    lines += [row(f"`{known.name}()`" if known.function else known.name, known.reason,
                  known.instead) for known in REFUSALS]
    lines += ["", row("Runs locally as Athena runs it", "Athena's meaning, kept"),
              row("---", "---")]
    lines += [row(f"`{name}()`", f"{note} (DuckDB: `{duck}`)")
              for name, (duck, note) in TRANSLATED.items()]
    lines += [row(name, note) for name, note in REWRITTEN.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
