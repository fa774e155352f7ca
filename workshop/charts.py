"""Charts of the query results: titled, labelled, readable at a glance.

Each function takes the DataFrame a workshop query returns and gives back a matplotlib Figure,
so a notebook shows it inline and the demo saves it as a PNG.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure


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
    """Revenue over time, one point per minute, in UTC."""
    _require(frame, ("minute", "revenue"), "revenue_per_minute")
    data = frame.assign(minute=pd.to_datetime(frame["minute"], utc=True)).sort_values("minute")
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.plot(data["minute"], data["revenue"], marker="o", color="#32CD32")
    ax.set_title(title)
    ax.set_xlabel("minute (UTC)")
    ax.set_ylabel("revenue ($)")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Write the figure as a PNG (folders created as needed) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
