"""Plotly figures of factor evaluation tables (``flyer.factors.evaluation``); no computation here."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import polars as pl
from flyer.factors.evaluation import FactorEvaluation


def cumulative_ic(ev: FactorEvaluation) -> go.Figure:
    """Cumulative daily IC and RankIC at the evaluation horizon."""
    ic = ev.ic.filter(pl.col("horizon") == ev.horizon).sort("date")
    fig = go.Figure()
    for col, name in (("ic", "IC"), ("rank_ic", "RankIC")):
        fig.add_scatter(x=ic["date"].to_list(), y=ic[col].fill_null(0).cum_sum().to_list(), name=f"cumulative {name}")
    fig.update_layout(title=f"{ev.factor}: cumulative IC ({ev.horizon}-day forward return)", height=350,
                      yaxis_title="sum of daily IC")
    return fig


def quantile_bars(ev: FactorEvaluation) -> go.Figure:
    """Mean absolute forward return per quantile (basis points per day of holding) at the
    evaluation horizon (``quantile_returns_bars`` shows them demeaned, at every horizon)."""
    q = ev.quantiles
    fig = go.Figure(go.Bar(x=[str(v) for v in q["quantile"].to_list()],
                           y=(q["mean_ret_per_day"] * 1e4).to_list()))
    fig.update_layout(title=f"{ev.factor}: mean absolute return by quantile (bp/day, {ev.horizon}d)",
                      xaxis_title="quantile (1 = lowest factor)", height=350)
    return fig


def quantile_returns_bars(factor: str, q: pl.DataFrame, kind: str = "demeaned") -> go.Figure:
    """Mean return per quantile at every horizon, bp per day with +-1 standard error
    (``tearsheet.quantile_returns``); ``kind`` names the returns (demeaned, absolute, group-neutral)."""
    fig = go.Figure()
    for h in sorted(q["horizon"].unique().to_list()):
        part = q.filter(pl.col("horizon") == h)
        fig.add_bar(x=[f"Q{v}" for v in part["quantile"].to_list()], y=part["bp_per_day"].to_list(), name=f"{h}D",
                    error_y=dict(type="data", array=part["std_error_bp"].to_list(), visible=True))
    fig.update_layout(title=f"{factor}: mean {kind} return by quantile (bp per day of holding)",
                      xaxis_title="quantile (Q1 = lowest factor)", yaxis_title="bp per day", height=_H,
                      template="plotly_white", barmode="group", legend=dict(orientation="h", y=1.1))
    return fig


def factor_cumulative(factor: str, cum: pl.DataFrame) -> go.Figure:
    """The factor-weighted long/short portfolio's cumulative return per horizon
    (``tearsheet.factor_cumulative``)."""
    fig = go.Figure()
    for h in sorted(cum["horizon"].unique().to_list()):
        part = cum.filter(pl.col("horizon") == h)
        fig.add_scatter(x=part["date"].to_list(), y=part["cumulative"].to_list(), name=f"{h}D")
    fig.update_layout(title=f"{factor}: factor-weighted long/short portfolio (dollar neutral), growth of 1",
                      yaxis_title="growth of 1", height=_H, template="plotly_white",
                      legend=dict(orientation="h", y=1.1))
    return fig


def quantile_turnover_figure(factor: str, turnover: pl.DataFrame, lag: int) -> go.Figure:
    """Top and bottom quantile turnover at ``lag`` dates over time, 20-date means
    (``tearsheet.quantile_turnover``)."""
    qs = sorted(turnover["quantile"].unique().to_list())
    fig = go.Figure()
    for q in (qs[-1], qs[0]) if qs else ():
        part = turnover.filter(pl.col("quantile") == q).sort("date")
        fig.add_scatter(x=part["date"].to_list(), y=part["turnover"].rolling_mean(20, min_samples=5).to_list(),
                        name=f"Q{q} ({'top' if q == qs[-1] else 'bottom'})")
    fig.update_layout(title=f"{factor}: quantile turnover at a {lag}-day lag (20-date mean)",
                      yaxis_tickformat=".0%", height=_H, template="plotly_white", legend=dict(orientation="h", y=1.1))
    return fig


def cumulative_excess(ev: FactorEvaluation) -> go.Figure:
    """Cumulative top-quantile excess over the universe (sum of daily h-day excess / h)."""
    ex = ev.top_excess.sort("date")
    y = (ex["excess"].fill_null(0) / ev.horizon).cum_sum()
    fig = go.Figure(go.Scatter(x=ex["date"].to_list(), y=y.to_list(), name="top - universe"))
    fig.update_layout(title=f"{ev.factor}: cumulative top-quantile excess over the universe (sum of daily h-day "
                      "excess / h)", height=350, yaxis_tickformat=".0%")
    return fig


def ranked_bars(summary: pl.DataFrame, col: str = "rank_icir", top: int = 40) -> go.Figure:
    """Horizontal bars of ``col`` for the ``top`` factors of a summary table."""
    s = summary.head(top).reverse()
    fig = go.Figure(go.Bar(x=s[col].to_list(), y=s["factor"].to_list(), orientation="h"))
    names = {"rank_icir": "RankIC ICIR", "rank_ic_mean": "mean RankIC", "icir": "IC ICIR"}
    fig.update_layout(title=f"{names.get(col, col)} by factor (top {min(top, summary.height)})",
                      height=max(350, 18 * s.height))
    return fig


def ic_decay(decay: pl.DataFrame, factors: list[str]) -> go.Figure:
    """RankIC mean against horizon for the given factors."""
    fig = go.Figure()
    for f in factors:
        d = decay.filter(pl.col("factor") == f).sort("horizon")
        fig.add_scatter(x=d["horizon"].to_list(), y=d["rank_ic_mean"].to_list(), name=f, mode="lines+markers")
    fig.update_layout(title="RankIC decay by horizon", xaxis_title="horizon (days)", height=350)
    return fig


def correlation_heatmap(corr: pl.DataFrame) -> go.Figure:
    """Heatmap of a factor correlation matrix (``evaluation.correlation_matrix``)."""
    names = corr["factor"].to_list()
    fig = go.Figure(go.Heatmap(z=corr.select(names).to_numpy(), x=names, y=names, zmin=-1, zmax=1,
                               colorscale="RdBu", reversescale=True))
    fig.update_layout(title="factor rank correlation", height=max(400, 12 * len(names)))
    return fig


# ------------------------------------------------------------------ tear sheet (flyer.factors.tearsheet)
_H = 360


def ic_bars(ev: FactorEvaluation, rolling: pl.DataFrame) -> go.Figure:
    """Daily RankIC bars with the moving average (``tearsheet.rolling_ic``)."""
    fig = go.Figure([go.Bar(x=rolling["date"].to_list(), y=rolling["rank_ic"].to_list(), name="daily RankIC",
                            marker_color="#9ab"),
                     go.Scatter(x=rolling["date"].to_list(), y=rolling["rank_ic_ma"].to_list(),
                                name="20-day moving average", line={"color": "#c33", "width": 2})])
    fig.update_layout(title=f"{ev.factor}: daily RankIC ({ev.horizon}-day forward return)", yaxis_title="RankIC",
                      height=_H, bargap=0, legend={"orientation": "h", "y": 1.1}, template="plotly_white")
    return fig


def ic_histogram(ev: FactorEvaluation, stats: dict[str, float], qq: pl.DataFrame) -> go.Figure:
    """Histogram of the daily RankIC and its normal QQ plot (``tearsheet.ic_distribution``)."""
    from plotly.subplots import make_subplots

    x = ev.ic.filter(pl.col("horizon") == ev.horizon)["rank_ic"].drop_nulls().to_list()
    title = (f"daily RankIC: mean {stats.get('mean', float('nan')):.4f}, sd {stats.get('sd', float('nan')):.4f}, "
             f"skew {stats.get('skew', float('nan')):.2f}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=(title, "normal QQ (standardised)"))
    fig.add_trace(go.Histogram(x=x, nbinsx=60, name="days", marker_color="#69c"), row=1, col=1)
    fig.add_trace(go.Scatter(x=qq["theoretical"].to_list(), y=qq["observed"].to_list(), mode="markers",
                             marker={"size": 3}, name="quantiles"), row=1, col=2)
    lim = [min(qq["theoretical"].min() or -3, -3), max(qq["theoretical"].max() or 3, 3)] if qq.height else [-3, 3]
    fig.add_trace(go.Scatter(x=lim, y=lim, mode="lines", line={"color": "#c33", "dash": "dot"}, name="normal"),
                  row=1, col=2)
    fig.update_xaxes(title_text="RankIC", row=1, col=1)
    fig.update_xaxes(title_text="normal quantile", row=1, col=2)
    fig.update_yaxes(title_text="days", row=1, col=1)
    fig.update_layout(title=f"{ev.factor}: RankIC distribution", height=_H, showlegend=False, template="plotly_white")
    return fig


def monthly_ic_heatmap(ev: FactorEvaluation, grid: pl.DataFrame) -> go.Figure:
    """Year x month heatmap of the mean RankIC (``tearsheet.monthly_ic``)."""
    months = [str(k) for k in range(1, 13)]
    z = grid.select(months).to_numpy().astype(float)
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 0.05
    text = [["" if math.isnan(v) else f"{v:.3f}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
                               y=[str(y) for y in grid["year"].to_list()], text=text, texttemplate="%{text}",
                               zmin=-lim, zmax=lim, colorscale="RdYlGn"))
    fig.update_layout(title=f"{ev.factor}: monthly mean RankIC", yaxis={"autorange": "reversed", "type": "category"},
                      height=max(300, 140 + 36 * grid.height), template="plotly_white")
    return fig


def quantile_cumulative(ev: FactorEvaluation, cum: pl.DataFrame) -> go.Figure:
    """Cumulative return of each quantile portfolio (``tearsheet.quantile_cumulative``)."""
    fig = go.Figure()
    qs = sorted(cum["quantile"].unique().to_list())
    for q in qs:
        part = cum.filter(pl.col("quantile") == q)
        fig.add_scatter(x=part["date"].to_list(), y=part["cumulative"].to_list(), name=f"Q{q}",
                        line={"width": 3 if q in (qs[0], qs[-1]) else 1})
    fig.update_layout(title=f"{ev.factor}: cumulative return by quantile (Q1 = lowest factor; equal weight)",
                      yaxis_title="growth of 1", height=_H, template="plotly_white", legend={"orientation": "h", "y": 1.1})
    return fig


def spread_band(ev: FactorEvaluation, sp: pl.DataFrame) -> go.Figure:
    """Top-minus-bottom mean return with its rolling mean and +-1 sd band (``tearsheet.spread``)."""
    d = sp["date"].to_list()
    fig = go.Figure([
        go.Scatter(x=d, y=sp["upper"].to_list(), line={"width": 0}, showlegend=False, hoverinfo="skip"),
        go.Scatter(x=d, y=sp["lower"].to_list(), line={"width": 0}, fill="tonexty", fillcolor="rgba(70,130,180,0.2)",
                   name="+-1 sd (20 days)"),
        go.Scatter(x=d, y=sp["spread"].to_list(), mode="lines", line={"color": "#bbb", "width": 1}, name="daily"),
        go.Scatter(x=d, y=sp["mean"].to_list(), line={"color": "steelblue", "width": 2}, name="20-day mean")])
    fig.update_layout(title=f"{ev.factor}: top minus bottom quantile, {ev.horizon}-day forward return",
                      yaxis_tickformat=".1%", height=_H, template="plotly_white", legend={"orientation": "h", "y": 1.1})
    return fig


def turnover_autocorr(ev: FactorEvaluation) -> go.Figure:
    """Top-quantile turnover and factor rank autocorrelation over time."""
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    t, a = ev.turnover.sort("date"), ev.autocorr.sort("date")
    fig.add_trace(go.Scatter(x=t["date"].to_list(), y=t["turnover"].rolling_mean(20, min_samples=5).to_list(),
                             name="top-quantile turnover (20-day mean)"), secondary_y=False)
    fig.add_trace(go.Scatter(x=a["date"].to_list(), y=a["autocorr"].rolling_mean(20, min_samples=5).to_list(),
                             name="rank autocorrelation, lag 1 (20-day mean)"), secondary_y=True)
    fig.update_yaxes(title_text="turnover (share of names per day)", tickformat=".0%", secondary_y=False)
    fig.update_yaxes(title_text="autocorrelation", secondary_y=True)
    fig.update_layout(title=f"{ev.factor}: turnover and rank autocorrelation", height=_H, template="plotly_white",
                      legend={"orientation": "h", "y": 1.12})
    return fig


def industry_bars(factor: str, table: pl.DataFrame) -> go.Figure:
    """Mean within-industry RankIC per industry (``tearsheet.industry_ic``)."""
    t = table.sort("rank_ic_mean", nulls_last=True)
    fig = go.Figure(go.Bar(x=t["rank_ic_mean"].to_list(), y=t["industry"].to_list(), orientation="h",
                           marker_color=["#2a9d8f" if (v or 0) >= 0 else "#e76f51" for v in t["rank_ic_mean"].to_list()]))
    fig.update_layout(title=f"{factor}: mean RankIC within each industry", xaxis_title="RankIC",
                      height=max(300, 20 * t.height + 100), template="plotly_white")
    return fig
