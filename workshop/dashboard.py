"""A live dashboard for a notebook cell: sales redrawn every few seconds while orders flow.

`live()` starts the generator in a background thread, shows a chart of the sales placed since
it started, and redraws that same chart in place (one IPython display handle, updated) every
`refresh` seconds, until every order written is queryable or `timeout` passes. The last
drawing stays as the cell's output, so a reader on GitHub (and nbval) sees the final chart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from workshop import athena, charts, generator, stack
from workshop.config import Settings, settings
from workshop.errors import InvalidValue
from workshop.records.formats import iso_utc

REFRESH_SECONDS = 3.0


@dataclass
class LiveResult:
    """What the dashboard saw: orders written, orders on its final chart, redraws."""

    asked: int  # orders the dashboard was to write
    written: int  # orders DynamoDB confirmed
    shown: int  # of the orders written, how many the final chart includes
    refreshes: int
    seconds: float
    rate: float

    def __str__(self) -> str:
        text = f"Wrote {self.written} orders at {self.rate:g} orders/s"
        if self.written < self.asked:
            text += f" (of {self.asked} asked: the timeout came first)"
        text += f"; the final chart shows {self.shown} of them"
        if self.shown < self.written:
            text += " (the rest had not arrived when it stopped)"
        return text


def sales_since(since: str, s: Settings | None = None) -> pd.DataFrame:
    """Every order placed since `since` (ISO, UTC): orderid, placed_at, amount.

    An order arrives after it is placed, so only the partitions since `since` are read (an
    order the generator backdates arrives now, after `since` too).
    """
    return athena.query(
        "SELECT DISTINCT orderid, placed_at, quantity * price AS amount FROM orders "
        f"WHERE event_type = 'INSERT' AND placed_at >= '{since}' "
        f"AND {athena.arrived_since(since)} ORDER BY placed_at", s)


def _ipython_display(fig: Figure) -> Any:
    from IPython.display import display

    return display(fig, display_id=True)


def live(count: int = 60, rate: float = 6.0, refresh: float = REFRESH_SECONDS,
         timeout: float = 90.0, bucket_seconds: int = 2, s: Settings | None = None,
         show: Callable[[Figure], Any] = _ipython_display) -> LiveResult:
    """Write `count` orders at `rate` per second in the background and redraw the sales chart
    every `refresh` seconds until all are queryable (or `timeout`); the last chart stays.

    `show` displays the first figure and returns a handle with `update(fig)` (IPython's
    display handle in a notebook).
    """
    s = s or settings()
    if count < 1 or rate <= 0:
        raise InvalidValue(f"count ({count}) and rate ({rate}) must be above 0")
    table = stack.outputs(s)["TableName"]
    orders = generator.make_orders(count)  # new order ids on every run
    wanted = {o["orderid"] for o in orders}
    since = iso_utc(datetime.now(UTC) - timedelta(seconds=1))
    failure: list[BaseException] = []
    reports: list[generator.WriteReport] = []

    def write() -> None:
        try:  # the generator stops by itself at the timeout, like the dashboard
            reports.append(generator.write_orders(orders, table, rate=rate, progress=False,
                                                  duration=timeout))
        except BaseException as error:  # reported in the caller's thread
            failure.append(error)

    def chart(frame: pd.DataFrame) -> Figure:
        mine = frame[frame["orderid"].isin(wanted)] if not frame.empty else frame
        title = f"Live sales: {len(mine)} of {count} orders, ${mine['amount'].sum():,.0f}"
        return charts.live_sales(frame, bucket_seconds, title=title)

    started = time.monotonic()
    handle = show(chart(pd.DataFrame(columns=["orderid", "placed_at", "amount"])))
    writer = threading.Thread(target=write, name="dashboard-generator", daemon=True)
    writer.start()
    refreshes, shown = 0, 0
    while True:
        time.sleep(refresh)
        frame = sales_since(since, s)
        shown = int(frame["orderid"].isin(wanted).sum())
        handle.update(chart(frame))
        refreshes += 1
        if failure:
            raise failure[0]
        finished = not writer.is_alive() and shown == count
        if finished or time.monotonic() - started > timeout:
            break
    writer.join()
    written = reports[0].written if reports else 0
    return LiveResult(count, written, shown, refreshes, time.monotonic() - started, rate)
