"""Which projected partitions a query makes Athena enumerate: partition pruning, counted.

For every read of a projected table, Athena computes the values of each partition column
(workshop.records.projection), keeps those the query's predicates on that column allow, and lists S3
under every combination kept: "Athena uses partition pruning for all tables with partition
columns, including those tables configured for partition projection"
(https://docs.aws.amazon.com/athena/latest/ug/partition-projection.html). As in Trino (Athena's
engine, whose Hive connector carries a port of the projection), a predicate prunes a column when
it compares the bare column with constants: =, <>, <, <=, >, >=, IN, BETWEEN, IS [NOT] NULL,
combined by AND, OR and NOT on that column. A constant may be an expression, such as
`date_format(current_date, '%Y-%m-%d-00')`: DuckDB evaluates the predicate over the projected
values, so it is read exactly as the query runs. A predicate the projection cannot use (a
function applied to the column, an OR with a condition on another column, LIKE) leaves the
column's whole range, as Athena would enumerate it; so does a filter written outside the SELECT
that reads the table (Athena may push that one down: the count is then an upper bound).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import duckdb
from sqlglot import exp

from workshop.local.athena.glue import GlueTable
from workshop.records import projection

log = logging.getLogger("workshop.local.athena.pruning")

VALUE = "__partition_value"  # the column name the projected values go by in DuckDB
MAX_VALUES = 1_000_000  # more values than this per column are counted, not pruned (memory)
COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In, exp.Between, exp.Is)
NOT_CONSTANT = (exp.Column, exp.Subquery, exp.Select, exp.AggFunc, exp.Window, exp.Rand)


@dataclass(frozen=True)
class Scan:
    """One read of a projected table, and what prunes each of its partition columns."""

    table: str  # the Glue table's name
    pruned_by: tuple[tuple[str, str | None], ...]  # (column, DuckDB predicate on VALUE or None)
    # The table's columns the read uses: what Athena reads of a columnar file. Taken from the
    # SELECT that reads the table, subqueries included: an upper bound.
    columns: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Enumerated:
    """The partitions one read enumerates: the values kept per column (None: not computable)."""

    table: str
    kept: tuple[tuple[str, frozenset[str]], ...] | None

    @property
    def partitions(self) -> int | None:
        """How many partitions: the product of the values kept per column."""
        if self.kept is None:
            return None
        total = 1
        for _, column_values in self.kept:
            total *= len(column_values)
        return total


def scans(tree: exp.Expression, database: str, tables: dict[str, GlueTable]) -> tuple[Scan, ...]:
    """Every read of a projected Glue table in a qualified, typed query, with its pruning."""
    found = []
    for table in tree.find_all(exp.Table):
        glue = tables.get(table.name.lower())
        if glue is None or table.db.lower() != database or not projection.enabled(glue.params):
            continue
        select = table.find_ancestor(exp.Select)
        where = select.args.get("where") if select is not None else None
        alias = table.alias_or_name
        pruned_by = []
        for column, _ in glue.partitions:
            predicate = _usable(where.this, alias, column)[0] if where is not None else None
            pruned_by.append((column, _duckdb(predicate, alias, column)))
        used = select.find_all(exp.Column) if select is not None else ()
        columns = frozenset(c.name.lower() for c in used if c.table.lower() == alias.lower())
        found.append(Scan(glue.name, tuple(pruned_by), columns))
    return tuple(found)


def _is_column(node: exp.Expression, alias: str, column: str) -> bool:
    return (isinstance(node, exp.Column) and node.name.lower() == column
            and node.table.lower() == alias.lower())


def _constant(node: exp.Expression | None) -> bool:
    """No column, subquery, aggregate or random number in it: the same value for every row."""
    return node is not None and not any(isinstance(n, NOT_CONSTANT) for n in node.walk())


def _usable(node: exp.Expression, alias: str, column: str) -> tuple[exp.Expression | None, bool]:
    """(the part of a predicate that prunes the column or None, does that part say it all?)

    An AND keeps the conjuncts that prune (the others only filter rows); an OR prunes only if
    both sides do; a NOT only if what it negates is exact.
    """
    if isinstance(node, exp.Paren):
        return _usable(node.this, alias, column)
    if isinstance(node, exp.And):
        (left, left_exact), (right, right_exact) = (_usable(side, alias, column)
                                                    for side in (node.left, node.right))
        if left is None or right is None:
            return (left if left is not None else right), False
        return exp.and_(left, right), left_exact and right_exact
    if isinstance(node, exp.Or):
        (left, left_exact), (right, right_exact) = (_usable(side, alias, column)
                                                    for side in (node.left, node.right))
        if left is None or right is None:
            return None, False
        return exp.or_(left, right), left_exact and right_exact
    if isinstance(node, exp.Not):
        inner, exact = _usable(node.this, alias, column)
        return (exp.not_(inner), True) if inner is not None and exact else (None, False)
    if isinstance(node, COMPARISONS) and _compares_bare_column(node, alias, column):
        return node, True
    return None, False


def _compares_bare_column(node: exp.Expression, alias: str, column: str) -> bool:
    """Is the node `column <op> constants`, the column itself on one side, nothing else in it?"""
    if isinstance(node, exp.In):
        return (_is_column(node.this, alias, column) and not node.args.get("query")
                and all(_constant(e) for e in node.expressions))
    if isinstance(node, exp.Between):
        return (_is_column(node.this, alias, column)
                and _constant(node.args.get("low")) and _constant(node.args.get("high")))
    if isinstance(node, exp.Is):
        return _is_column(node.this, alias, column) and _constant(node.expression)
    left, right = node.this, node.expression
    return ((_is_column(left, alias, column) and _constant(right))
            or (_is_column(right, alias, column) and _constant(left)))


def _duckdb(predicate: exp.Expression | None, alias: str, column: str) -> str | None:
    """The predicate as DuckDB SQL over the projected values, named VALUE."""
    if predicate is None:
        return None
    renamed = predicate.copy().transform(
        lambda n: exp.column(VALUE, quoted=True) if _is_column(n, alias, column) else n)
    return renamed.sql(dialect="duckdb")


def enumerate_scan(scan: Scan, table: GlueTable, con: duckdb.DuckDBPyConnection,
                   now: datetime) -> Enumerated:
    """The values of each partition column that Athena enumerates for one read, at `now`."""
    kept = []
    types = dict(table.partitions)
    for column, predicate in scan.pruned_by:
        found = projection.values(table.params, column, now)
        if found is None:  # injected: the values come from the query alone
            return Enumerated(table.name, None)
        if predicate is not None and len(found) <= MAX_VALUES:
            found = _kept(con, found, types[column], predicate)
        kept.append((column, frozenset(found)))
    return Enumerated(table.name, tuple(kept))


def _kept(con: duckdb.DuckDBPyConnection, found: list[str], duck_type: str,
          predicate: str) -> list[str]:
    """The values for which DuckDB finds the predicate true (the column typed as Glue says)."""
    sql = (f'SELECT raw FROM (SELECT raw, CAST(raw AS {duck_type}) AS "{VALUE}" '
           f"FROM unnest($values) AS t(raw)) WHERE {predicate}")
    try:
        return [row[0] for row in con.execute(sql, {"values": found}).fetchall()]
    except duckdb.Error as error:  # the query itself will fail, or say why
        log.debug("pruning predicate %s not evaluated: %s", predicate, error)
        return found
