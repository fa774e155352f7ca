"""Charts of the query results: titled, labelled, readable at a glance.

Each function takes the DataFrame a workshop query returns and gives back a matplotlib Figure,
so a notebook shows it inline and the demo saves it as a PNG.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from workshop.errors import WorkshopError


class ChartError(WorkshopError, ValueError):
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


def sales_anomalies(frame: pd.DataFrame, column: str = "orders",
                    title: str = "Orders per minute, spikes and drops flagged") -> Figure:
    """Bars per minute, the rolling baseline and its band, flagged minutes in red (spike) or
    orange (drop): the output of `workshop.anomaly.detect`."""
    _require(frame, ("minute", column, "baseline", "low", "high", "flag"), "sales_anomalies")
    data = frame.assign(minute=pd.to_datetime(frame["minute"], utc=True)).sort_values("minute")
    colors = data["flag"].map({"spike": "#D62728", "drop": "#FF8C00"}).fillna("#4169E1")
    fig = Figure(figsize=(8, 3.8), layout="constrained")
    ax = fig.subplots()
    x = range(len(data))
    ax.bar(x, data[column].astype(float), color=list(colors), label=column)
    ax.plot(x, data["baseline"], color="black", linewidth=1.2, label="baseline (rolling median)")
    ax.fill_between(x, data["low"], data["high"], color="grey", alpha=0.2, label="normal band")
    for position, (_, row) in enumerate(data.iterrows()):
        if row["flag"]:
            ax.annotate(row["flag"], (position, float(row[column])), ha="center",
                        xytext=(0, 4), textcoords="offset points", fontsize=8)
    step = max(1, len(data) // 12)
    ax.set_xticks(list(x)[::step], data["minute"].dt.strftime("%H:%M").iloc[::step])
    ax.set_title(title)
    ax.set_xlabel("minute (UTC)")
    ax.set_ylabel(column)
    ax.margins(y=0.15)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def latency_histogram(seconds: pd.DataFrame,
                      title: str = "Seconds from placed to in S3 and to queryable") -> Figure:
    """Two overlaid histograms of per-order latency, p50 and p95 marked: the output of
    `workshop.latency.measure` (columns to_s3 and to_query)."""
    _require(seconds, ("to_s3", "to_query"), "latency_histogram")
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    top = float(max(seconds["to_s3"].max(), seconds["to_query"].max(), 1.0))
    bins = [top * i / 30 for i in range(31)]
    for column, label, color in (("to_s3", "in S3", "#4682B4"),
                                 ("to_query", "queryable", "#32CD32")):
        values = seconds[column].astype(float)
        ax.hist(values, bins=bins, alpha=0.6, color=color, label=label)
        for q, style in ((0.5, "-"), (0.95, "--")):
            ax.axvline(values.quantile(q), color=color, linestyle=style, linewidth=1)
    ax.set_title(title)
    ax.set_xlabel("seconds after the order was placed (solid: p50, dashed: p95)")
    ax.set_ylabel("orders")
    ax.legend()
    return fig


def live_sales(frame: pd.DataFrame, bucket_seconds: int = 5,
               title: str = "Live sales") -> Figure:
    """Revenue per few seconds (bars) and the running total (line) of the orders placed so far:
    the live dashboard's chart. `frame` has placed_at and amount (quantity x price)."""
    _require(frame, ("placed_at", "amount"), "live_sales")
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.set_title(title)
    ax.set_xlabel(f"time (UTC), {bucket_seconds} s buckets")
    ax.set_ylabel("revenue ($)")
    ax.yaxis.set_major_formatter(StrMethodFormatter("${x:,.0f}"))
    # Two axes from the first drawing on: a notebook (and nbval) shows the same figure shape
    # while waiting as at the end.
    total = ax.twinx()
    total.set_ylabel("running total ($)")
    total.yaxis.set_major_formatter(StrMethodFormatter("${x:,.0f}"))
    if frame.empty:
        ax.text(0.5, 0.5, "waiting for the first orders...", ha="center", va="center",
                transform=ax.transAxes)
        return fig
    placed = pd.to_datetime(frame["placed_at"], utc=True)
    buckets = frame.assign(bucket=placed.dt.floor(f"{bucket_seconds}s")).groupby("bucket")[
        "amount"].sum()
    width = pd.Timedelta(seconds=bucket_seconds * 0.8)
    ax.bar(buckets.index, buckets.to_numpy(dtype=float), width=width, align="edge",
           color="#32CD32", label="revenue per bucket")
    total.plot(buckets.index, buckets.cumsum().to_numpy(dtype=float), color="black",
               label="running total")
    ax.tick_params(axis="x", labelrotation=30)
    return fig


def scan_costs(frame: pd.DataFrame, title: str = "Megabytes each question scans") -> Figure:
    """Bars of megabytes scanned per question, JSON beside Parquet, without and with a
    partition filter: what the format and the filter save (workshop.columnar.compare)."""
    _require(frame, ("question", "table", "partition filter", "MB scanned"), "scan_costs")
    pivot = frame.pivot_table(index=["question", "partition filter"], columns="table",
                              values="MB scanned", sort=False).iloc[::-1]  # first on top
    fig = Figure(figsize=(8, 0.55 * len(pivot) + 1.2), layout="constrained")
    ax = fig.subplots()
    labels = [f"{question} ({'today' if hours == 'today' else 'all hours'})"
              for question, hours in pivot.index]
    height = 0.38
    for offset, (table, color) in enumerate((("Parquet", "#4169E1"), ("JSON", "#FF8C00"))):
        positions = [i + (offset - 0.5) * height for i in range(len(pivot))]
        bars = ax.barh(positions, pivot[table], height, label=table, color=color)
        ax.bar_label(bars, fmt="%.3f MB", padding=3, fontsize=8)
    ax.set_yticks(range(len(pivot)), labels)
    ax.set_xlabel("MB scanned")
    ax.set_xlim(0, float(pivot.to_numpy().max()) * 1.25)
    ax.set_title(title)
    fig.legend(loc="outside lower center", ncols=2)
    return fig
