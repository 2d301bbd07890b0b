"""Plotly figures of a backtest (pure: daily/monthly/yearly tables in, ``go.Figure`` out)."""
from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from flyer.backtest.metrics import curves, drawdown

_LAYOUT = dict(template="plotly_white", height=360, margin=dict(l=50, r=20, t=50, b=40),
               legend=dict(orientation="h", y=1.1))


def nav_figure(daily: pl.DataFrame, benchmark_name: str) -> go.Figure:
    """Portfolio NAV against the benchmark, both normalised to 1 on the first day."""
    nav, bench, _ = curves(daily)
    dates = daily["date"].to_list()
    fig = go.Figure([go.Scatter(x=dates, y=nav, name="portfolio"),
                     go.Scatter(x=dates, y=bench, name=benchmark_name or "benchmark")])
    return fig.update_layout(title="NAV vs benchmark (start = 1)", **_LAYOUT)


def excess_figure(daily: pl.DataFrame) -> go.Figure:
    """Geometric excess curve: (1 + portfolio) / (1 + benchmark)."""
    _, _, excess = curves(daily)
    fig = go.Figure([go.Scatter(x=daily["date"].to_list(), y=excess, name="excess", line=dict(color="green"))])
    return fig.update_layout(title="Excess over benchmark (geometric)", **_LAYOUT)


def drawdown_figure(daily: pl.DataFrame) -> go.Figure:
    """Drawdowns of the NAV and of the excess curve (fractions)."""
    nav, _, excess = curves(daily)
    dates = daily["date"].to_list()
    fig = go.Figure([go.Scatter(x=dates, y=drawdown(nav), name="portfolio", fill="tozeroy"),
                     go.Scatter(x=dates, y=drawdown(excess), name="excess")])
    return fig.update_layout(title="Drawdown", yaxis_tickformat=".0%", **_LAYOUT)


def monthly_figure(monthly: pl.DataFrame) -> go.Figure:
    """Turnover (fraction of NAV) and costs (CNY) per month."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    months = monthly["month"].to_list()
    fig.add_trace(go.Bar(x=months, y=monthly["turnover"].to_list(), name="turnover"), secondary_y=False)
    fig.add_trace(go.Scatter(x=months, y=monthly["costs"].to_list(), name="costs (CNY)", mode="lines+markers"),
                  secondary_y=True)
    return fig.update_layout(title="Turnover and costs per month", **_LAYOUT)


def holdings_figure(daily: pl.DataFrame) -> go.Figure:
    """Number of holdings at each close."""
    fig = go.Figure([go.Scatter(x=daily["date"].to_list(), y=daily["n_holdings"].to_list(),
                                name="holdings", line_shape="hv")])
    return fig.update_layout(title="Holdings count", **_LAYOUT)
