"""The live dashboard: redraws one chart in place while orders flow, and stops when all are in."""

from __future__ import annotations

from matplotlib.figure import Figure

from workshop import dashboard


class Handle:
    """Stands in for IPython's display handle: keeps what was shown and each update."""

    def __init__(self) -> None:
        self.figures: list[Figure] = []

    def show(self, fig: Figure) -> Handle:
        self.figures.append(fig)
        return self

    def update(self, fig: Figure) -> None:
        self.figures.append(fig)


def test_the_chart_is_redrawn_until_every_order_is_on_it(fresh_stack):
    s, _ = fresh_stack
    handle = Handle()
    result = dashboard.live(count=12, rate=8, refresh=0.5, timeout=60, s=s, show=handle.show)
    assert (result.written, result.shown) == (12, 12)
    assert result.refreshes == len(handle.figures) - 1 >= 1  # one display, then updates
    assert handle.figures[0].axes[0].get_title() == "Live sales: 0 of 12 orders, $0"
    assert handle.figures[-1].axes[0].get_title().startswith("Live sales: 12 of 12 orders, $")
    assert str(result) == "Wrote 12 orders at 8 orders/s; the final chart shows 12 of them"


def test_the_dashboard_stops_at_its_timeout_and_says_what_was_missing(fresh_stack):
    s, _ = fresh_stack
    handle = Handle()
    result = dashboard.live(count=40, rate=2, refresh=0.3, timeout=1.0, s=s, show=handle.show)
    assert result.written < 40  # the generator stopped with the dashboard
    assert result.shown <= result.written
    assert f"Wrote {result.written} orders at 2 orders/s (of 40 asked: the timeout came " \
        "first)" in str(result)
