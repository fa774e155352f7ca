"""Charts of the query results: titled, labelled, readable at a glance.

Each function takes the DataFrame a workshop query returns and gives back a matplotlib Figure,
so a notebook shows it inline and the demo saves it as a PNG.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter


class ChartError(ValueError):
    """A DataFrame does not have the columns a chart needs."""


def _require(frame: pd.DataFrame, columns: tuple[str, ...], chart: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ChartError(
            f"{chart} needs columns {list(columns)}; the result has {list(frame.columns)} "
            f"(missing {missing}). Use the matching workshop query."
        )


def units_per_product(frame: pd.DataFrame, title: str = "Units sold per product") -> Figure:
    """A horizontal bar per product, longest at the top, each labelled with its units."""
    _require(frame, ("product_name", "total_units"), "units_per_product")
    data = frame.sort_values("total_units")
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    bars = ax.barh(data["product_name"], data["total_units"], color="#4169E1")
    ax.bar_label(bars, padding=3)
    ax.set_title(title)
    ax.set_xlabel("units")
    ax.margins(x=0.12)
    return fig


def revenue_per_minute(frame: pd.DataFrame, title: str = "Revenue per minute") -> Figure:
    """One bar per minute (UTC), labelled HH:MM, heights in dollars: readable for one minute
    of burst or for an hour of trickle."""
    _require(frame, ("minute", "revenue"), "revenue_per_minute")
    data = frame.assign(minute=pd.to_datetime(frame["minute"], utc=True)).sort_values("minute")
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    labels = data["minute"].dt.strftime("%H:%M")
    bars = ax.bar(labels, data["revenue"].astype(float), color="#32CD32")
    if len(data) <= 12:
        ax.bar_label(bars, labels=[f"${v:,.0f}" for v in data["revenue"]], padding=3)
    ax.set_title(title)
    ax.set_xlabel("minute (UTC)")
    ax.set_ylabel("revenue ($)")
    ax.yaxis.set_major_formatter(StrMethodFormatter("${x:,.0f}"))
    ax.margins(y=0.15)
    ax.tick_params(axis="x", labelrotation=45 if len(data) > 12 else 0)
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Write the figure as a PNG (folders created as needed) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
