"""HTML sections and figures of the capacity curve and the stress report (assembly only).

Numbers come from ``flyer.backtest.capacity`` and ``flyer.backtest.stress``; the backtest report
(``flyer.backtest.report.render(..., sections=...)``) and ``flyer capacity --report`` place them.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from flyer.backtest.capacity import Capacity

_PCT = {"return", "benchmark_return", "excess", "max_drawdown", "excess_max_drawdown", "turnover", "fill_rate",
        "hit_rate", "excess_annual_return", "annual_return", "impact_drag", "cost_drag", "avg_participation",
        "unfilled_days", "tracking_error"}
_PLAIN = {"annual_turnover", "information_ratio", "size_before", "size_in", "liquidity_before", "liquidity_in",
          "low", "high"}


def cell(key: str, value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if key == "capital" and isinstance(value, float):
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.2%}" if key in _PCT else f"{value:,.3f}" if key in _PLAIN else f"{value:,.4g}"
    return str(value)


def table_html(df: pl.DataFrame) -> str:
    """A frame as an HTML table (percent for return-like columns, '-' for missing)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(c, v))}</td>" for c, v in row.items()) + "</tr>"
                   for row in df.iter_rows(named=True))
    return f"<table class='grid'><tr>{head}</tr>{body}</table>"


def stress_html(windows: pl.DataFrame, regimes: pl.DataFrame) -> str:
    """The stress section: the window table and the regime table, with their conventions."""
    return ("<section id='stress'><h2>Stress windows</h2><p>Returns from the close before each window to its last day; "
            "excess is geometric; exposures are value-weighted z-scores of log cap (size) and log "
            "20-day ADV (liquidity) over the backtest's stocks, the 20 days before vs inside the window. "
            "Windows the backtest does not cover are listed as such.</p>" + table_html(windows)
            + "<h2>Regimes</h2><p>Terciles of the benchmark's trailing 20-day volatility and of market "
            "breadth (trailing 20-day share of stocks up), both known the day before; returns are "
            "annualised mean daily returns.</p>" + table_html(regimes) + "</section>")


def capacity_figure(table: pl.DataFrame, half_aum: float | None) -> go.Figure:
    """Annual excess return and impact drag against capital (log axis), fill rate on the right."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cap = table["capital"].to_list()
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=cap, y=table["excess_annual_return"].to_list(), name="excess return / yr",
                             mode="lines+markers"), secondary_y=False)
    fig.add_trace(go.Scatter(x=cap, y=table["impact_drag"].to_list(), name="impact drag / yr",
                             mode="lines+markers"), secondary_y=False)
    fig.add_trace(go.Scatter(x=cap, y=table["fill_rate"].to_list(), name="fill rate", mode="lines+markers",
                             line=dict(dash="dot")), secondary_y=True)
    if half_aum is not None:
        fig.add_vline(x=half_aum, line_dash="dash", annotation_text=f"half excess at {half_aum:,.3g} CNY")
    fig.update_xaxes(type="log", title="capital (CNY)")
    fig.update_yaxes(tickformat=".0%", secondary_y=False)
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05], secondary_y=True)
    return fig.update_layout(title="Capacity curve", template="plotly_white", height=380,
                             legend=dict(orientation="h", y=1.12))


def capacity_html(cap: Capacity) -> str:
    """The capacity section: figure, table and the AUM at half excess return."""
    from flyer.core.pages import figure_html

    fig = figure_html(capacity_figure(cap.table, cap.half_aum))
    half = f"{cap.half_aum:,.0f} CNY" if cap.half_aum is not None else "not reached"
    return (f"<section id='capacity'><h2>Capacity</h2><p>AUM at half excess return: <b>{html.escape(half)}</b> "
            f"({html.escape(cap.note)}).</p>{fig}{table_html(cap.table)}</section>")


def write_capacity_report(cap: Capacity, path: str | Path, title: str = "flyer capacity", *,
                          self_contained: bool = False) -> Path:
    """The HTML page of the capacity curve (plotly.js beside it, or inlined with
    ``self_contained``: ``flyer.core.pages.write``); returns the path."""
    from flyer.core.pages import document, write

    cfg = cap.results[0].config
    settings = (f"strategy {cfg.strategy}, k {cfg.k}, n_drop {cfg.n_drop}, participation {cfg.participation:.0%} "
                f"(rest: {cfg.remainder}), impact {cfg.costs.impact} k={cfg.costs.impact_k}, "
                f"{cfg.start}..{cfg.end}, benchmark {cap.results[0].benchmark_name}")
    return write(document(title, f"<p>{html.escape(settings)}</p>{capacity_html(cap)}"), path,
                 self_contained=self_contained)
