"""Anomaly alerts: per-minute sales against a rolling baseline, spikes and drops flagged.

The seed's use case "anomaly detection (sudden spikes/drops in sales)", kept simple enough to
read: the workshop query `sales_per_minute` (Athena SQL, both targets) gives orders and revenue
per minute; here the minutes without a sale are filled with zeros, and each minute's orders
are compared with the **median of the WINDOW minutes before it**, the rolling baseline. A
minute more than THRESHOLD above it (75 %: 35 orders where 20 are usual) is a spike; more than
THRESHOLD below it (5 where 20 are usual), a drop. A median, unlike a mean, is not dragged up
by the spike it has just seen. Orders per minute vary by about their square root by chance
alone, so at 20 a minute a 75 % band rarely fires by accident; at 3 a minute it would:
alerts need enough orders per minute, or longer buckets. Revenue (column="revenue") is
noisier still, as prices range from $11 to $1,000.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from workshop import athena
from workshop.config import Settings
from workshop.errors import WorkshopError

WINDOW = 10  # minutes of baseline before each minute
MIN_MINUTES = 5  # minutes of baseline needed before a minute is judged at all
THRESHOLD = 0.75  # flag a minute this far (as a fraction) above or below its baseline


class AnomalyError(WorkshopError, ValueError):
    """The sales series cannot be analysed as given; the message says what to change."""


def _utc(value: datetime | str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def complete_minutes(frame: pd.DataFrame, start: datetime | str | None = None,
                     end: datetime | str | None = None) -> pd.DataFrame:
    """Every minute from start (inclusive) to end (exclusive), a minute without sales as 0."""
    missing = [c for c in ("minute", "orders", "revenue") if c not in frame.columns]
    if missing:
        raise AnomalyError(f"the sales frame lacks columns {missing}; use the "
                           "sales_per_minute query (athena.run('sales_per_minute'))")
    data = frame.assign(minute=pd.to_datetime(frame["minute"], utc=True).dt.floor("min"))
    data = data.groupby("minute")[["orders", "revenue"]].sum()
    first = _utc(start).floor("min") if start is not None else data.index.min()
    last = (_utc(end).ceil("min") - pd.Timedelta(minutes=1)) if end is not None \
        else data.index.max()
    if pd.isna(first) or pd.isna(last) or last < first:
        return pd.DataFrame({"minute": pd.Series(dtype="datetime64[ns, UTC]"),
                             "orders": pd.Series(dtype="int64"),
                             "revenue": pd.Series(dtype="float64")})
    minutes = pd.date_range(first, last, freq="min", name="minute")
    full = data.reindex(minutes, fill_value=0)
    return full.reset_index().astype({"orders": "int64", "revenue": "float64"})


def flag(frame: pd.DataFrame, column: str = "orders", window: int = WINDOW,
         min_minutes: int = MIN_MINUTES, threshold: float = THRESHOLD) -> pd.DataFrame:
    """Add baseline, low, high and flag ("spike", "drop" or "") to a per-minute series.

    Each minute is judged against the median of the `window` minutes before it (not itself);
    the first `min_minutes` minutes have no baseline yet and are never flagged.
    """
    if column not in frame.columns:
        raise AnomalyError(f"no column {column!r} to judge; the frame has {list(frame.columns)}")
    if not 1 <= min_minutes <= window:
        raise AnomalyError(f"min_minutes ({min_minutes}) must be 1 to window ({window})")
    if not 0 < threshold < 1:
        raise AnomalyError(f"threshold is {threshold}; use a fraction such as 0.75 (75 %)")
    values = frame[column].astype(float)
    baseline = values.shift(1).rolling(window, min_periods=min_minutes).median()
    low, high = baseline * (1 - threshold), baseline * (1 + threshold)
    kind = np.select([values > high, values < low], ["spike", "drop"], default="")
    return frame.assign(baseline=baseline.round(2), low=low.round(2), high=high.round(2),
                        flag=kind)


def sales_per_minute(start: datetime | str | None = None, end: datetime | str | None = None,
                     s: Settings | None = None) -> pd.DataFrame:
    """Orders and revenue per minute from start to end (UTC), missing minutes as zeros.

    `end` defaults to the start of the current minute: a minute still filling is not judged.
    """
    frame = athena.run("sales_per_minute", s)
    end = end if end is not None else pd.Timestamp.now(tz="UTC").floor("min")
    if start is not None:
        frame = frame[pd.to_datetime(frame["minute"], utc=True) >= _utc(start).floor("min")]
    frame = frame[pd.to_datetime(frame["minute"], utc=True) < _utc(end)]
    return complete_minutes(frame, start, end)


def detect(start: datetime | str | None = None, end: datetime | str | None = None,
           s: Settings | None = None, **options: float) -> pd.DataFrame:
    """Per-minute sales from the query engine, each minute flagged against its baseline."""
    return flag(sales_per_minute(start, end, s), **options)  # type: ignore[arg-type]


def flagged(frame: pd.DataFrame) -> pd.DataFrame:
    """Only the flagged minutes: minute, orders, revenue, baseline and flag."""
    columns = ["minute", "orders", "revenue", "baseline", "flag"]
    return frame.loc[frame["flag"] != "", columns].reset_index(drop=True)
