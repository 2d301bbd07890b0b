"""Plotly figures of factor evaluation tables (``flyer.factors.evaluation``); no computation here."""
from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from flyer.factors.evaluation import FactorEvaluation


def cumulative_ic(ev: FactorEvaluation) -> go.Figure:
    """Cumulative daily IC and RankIC at the evaluation horizon."""
    ic = ev.ic.filter(pl.col("horizon") == ev.horizon).sort("date")
    fig = go.Figure()
    for col in ("ic", "rank_ic"):
        fig.add_scatter(x=ic["date"].to_list(), y=ic[col].fill_null(0).cum_sum().to_list(), name=f"cumulative {col}")
    fig.update_layout(title=f"{ev.factor}: cumulative IC ({ev.horizon}-day forward return)", height=350)
    return fig


def quantile_bars(ev: FactorEvaluation) -> go.Figure:
    """Mean forward return per quantile (basis points per day of holding)."""
    q = ev.quantiles
    fig = go.Figure(go.Bar(x=[str(v) for v in q["quantile"].to_list()],
                           y=(q["mean_ret_per_day"] * 1e4).to_list()))
    fig.update_layout(title=f"{ev.factor}: mean return by quantile (bp/day, {ev.horizon}d)",
                      xaxis_title="quantile (1 = lowest factor)", height=350)
    return fig


def cumulative_excess(ev: FactorEvaluation) -> go.Figure:
    """Cumulative top-quantile excess over the universe (sum of daily h-day excess / h)."""
    ex = ev.top_excess.sort("date")
    y = (ex["excess"].fill_null(0) / ev.horizon).cum_sum()
    fig = go.Figure(go.Scatter(x=ex["date"].to_list(), y=y.to_list(), name="top - universe"))
    fig.update_layout(title=f"{ev.factor}: cumulative top-quantile excess", height=350)
    return fig


def ranked_bars(summary: pl.DataFrame, col: str = "rank_icir", top: int = 40) -> go.Figure:
    """Horizontal bars of ``col`` for the ``top`` factors of a summary table."""
    s = summary.head(top).reverse()
    fig = go.Figure(go.Bar(x=s[col].to_list(), y=s["factor"].to_list(), orientation="h"))
    fig.update_layout(title=f"{col} by factor (top {min(top, summary.height)})", height=max(350, 18 * s.height))
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
