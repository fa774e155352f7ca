"""The same questions asked of the JSON copy and of the Parquet copy: what each scans and costs.

Athena bills the bytes a query scans (workshop.athena.QueryStatistics). Of a JSON object it
reads every byte; of a Parquet object only the column chunks of the columns the query uses,
compressed; and a filter on the partition column (`datehour`) leaves whole hours unread, in
either format (https://docs.aws.amazon.com/athena/latest/ug/performance-tuning.html).
`compare` runs each question on both tables, with and without a partition filter.
"""

from __future__ import annotations

import pandas as pd

from workshop import athena, stack
from workshop.config import Settings, settings

# Each question once, in Athena's SQL: {table} is the table, {hours} a partition filter or TRUE.
QUESTIONS = {
    "units per product": "SELECT product_name, SUM(quantity) AS units FROM {table} "
                         "WHERE {hours} GROUP BY product_name",
    "orders per event type": "SELECT event_type, COUNT(*) AS n FROM {table} "
                             "WHERE {hours} GROUP BY event_type",
    "every column of every line": "SELECT * FROM {table} WHERE {hours}",
}
TODAY = "datehour >= date_format(current_date, '%Y-%m-%d-00')"  # today's hours (UTC)
COLUMNS = ["question", "table", "partition filter", "rows", "MB scanned", "billed MB",
           "cost (USD)"]


def tables(s: Settings | None = None) -> dict[str, str]:
    """The stack's two tables of orders: format -> Glue table name."""
    found = stack.outputs(s)
    return {"JSON": found["OrdersTableName"], "Parquet": found["ParquetTableName"]}


def compare(questions: dict[str, str] | None = None,
            s: Settings | None = None) -> pd.DataFrame:
    """Run every question on both copies, without and with today's partition filter; one row
    per run with the rows answered, the megabytes scanned and billed, and the cost."""
    s = s or settings()
    rows = []
    for name, sql in (questions or QUESTIONS).items():
        for filtered, hours in (("none", "TRUE"), ("today", TODAY)):
            for label, table in tables(s).items():
                frame = athena.query(sql.format(table=table, hours=hours), s)
                stats = athena.statistics(frame)
                rows.append([name, label, filtered, len(frame),
                             (stats.data_scanned_in_bytes or 0) / athena.MB,
                             (stats.billed_bytes or 0) // athena.MB, stats.cost_usd or 0.0])
    return pd.DataFrame(rows, columns=COLUMNS)


def same_answers(question: str, s: Settings | None = None) -> bool:
    """Do both copies answer a question with the same rows (in any order)?"""
    s = s or settings()
    frames = [athena.query(QUESTIONS[question].format(table=table, hours="TRUE"), s)
              for table in tables(s).values()]
    normalised = [f.sort_values(list(f.columns), ignore_index=True) for f in frames]
    return normalised[0].equals(normalised[1])
