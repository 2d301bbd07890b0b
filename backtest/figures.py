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
    return fig.update_layout(title="NAV vs benchmark (start = 1)", yaxis_title="NAV", **_LAYOUT)


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
    fig.add_trace(go.Bar(x=months, y=monthly["turnover"].to_list(), name="turnover (x NAV)"), secondary_y=False)
    fig.add_trace(go.Scatter(x=months, y=monthly["costs"].to_list(), name="costs (CNY)", mode="lines+markers"),
                  secondary_y=True)
    fig.update_yaxes(title_text="turnover (x NAV, one side)", secondary_y=False)
    fig.update_yaxes(title_text="costs (CNY)", tickformat=",.0f", secondary_y=True)
    return fig.update_layout(title="Turnover and costs per month", **_LAYOUT)


def holdings_figure(daily: pl.DataFrame) -> go.Figure:
    """Number of holdings at each close."""
    fig = go.Figure([go.Scatter(x=daily["date"].to_list(), y=daily["n_holdings"].to_list(),
                                name="holdings", line_shape="hv")])
    return fig.update_layout(title="Holdings count", yaxis_title="stocks held", **_LAYOUT)


# ------------------------------------------------------------------ tear sheet (flyer.backtest.tearsheet)
def cost_figure(curves: pl.DataFrame) -> go.Figure:
    """Excess over the benchmark after and before costs (``tearsheet.cost_curves``)."""
    dates = curves["date"].to_list()
    fig = go.Figure([go.Scatter(x=dates, y=curves["excess"].to_list(), name="after costs"),
                     go.Scatter(x=dates, y=curves["excess_gross"].to_list(), name="before costs",
                                line=dict(dash="dot"))])
    return fig.update_layout(title="Excess (geometric, start = 1): after vs before trading costs",
                             yaxis_title="excess NAV", **_LAYOUT)


def monthly_heatmap(grid: pl.DataFrame, what: str = "excess return") -> go.Figure:
    """Year x month heatmap of monthly returns (``tearsheet.monthly_excess``), in percent."""
    months = [str(k) for k in range(1, 13)] + (["full year"] if "full year" in grid.columns else [])
    z = grid.select(months).to_numpy().astype(float)
    text = [["" if v != v else f"{v:.1%}" for v in row] for row in z]
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "year"][:len(months)]
    lim = float(max(abs(z[z == z]).max(), 1e-4)) if (z == z).any() else 0.01
    fig = go.Figure(go.Heatmap(z=z, x=names, y=[str(y) for y in grid["year"].to_list()], text=text,
                               texttemplate="%{text}", zmin=-lim, zmax=lim, colorscale="RdYlGn",
                               colorbar=dict(tickformat=".0%")))
    layout = {**_LAYOUT, "height": max(300, 140 + 36 * grid.height)}
    return fig.update_layout(title=f"Monthly {what}", yaxis=dict(autorange="reversed", type="category"), **layout)


def rolling_figure(rolling: pl.DataFrame, window: int) -> go.Figure:
    """Rolling Sharpe and information ratio (``tearsheet.rolling_ratios``), annualised."""
    dates = rolling["date"].to_list()
    fig = go.Figure([go.Scatter(x=dates, y=rolling["sharpe"].to_list(), name="Sharpe (portfolio)"),
                     go.Scatter(x=dates, y=rolling["information_ratio"].to_list(), name="information ratio (excess)")])
    fig.add_hline(y=0, line=dict(color="#999", width=1))
    return fig.update_layout(title=f"Rolling {window}-day Sharpe and information ratio (annualised)", **_LAYOUT)


def distribution_figure(returns: pl.DataFrame) -> go.Figure:
    """Histograms of daily portfolio returns and daily excess returns (``tearsheet.daily_returns``)."""
    fig = go.Figure([go.Histogram(x=returns["return"].to_list(), name="daily return", opacity=0.6, nbinsx=80),
                     go.Histogram(x=returns["excess"].to_list(), name="daily excess", opacity=0.6, nbinsx=80)])
    return fig.update_layout(title="Distribution of daily returns", barmode="overlay", xaxis_tickformat=".1%",
                             yaxis_title="days", **_LAYOUT)


def score_ic_figure(ic: pl.DataFrame) -> go.Figure:
    """Monthly mean RankIC of the backtested scores (bars) and its cumulative sum (line)."""
    cols = [c for c in ic.columns if c.startswith("rank_ic_")]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    m = ic.group_by(pl.col("date").dt.truncate("1mo").alias("month")).agg(pl.col(cols).mean()).sort("month")
    for c in cols:
        h = c.rsplit("_", 1)[1]
        fig.add_trace(go.Bar(x=m["month"].to_list(), y=m[c].to_list(), name=f"monthly mean RankIC, {h}-day"),
                      secondary_y=False)
        fig.add_trace(go.Scatter(x=ic["date"].to_list(), y=ic[c].fill_null(0).cum_sum().to_list(),
                                 name=f"cumulative RankIC, {h}-day"), secondary_y=True)
    fig.update_yaxes(title_text="RankIC", secondary_y=False)
    fig.update_yaxes(title_text="sum of daily RankIC", secondary_y=True)
    return fig.update_layout(title="The scores' RankIC over the backtest (forward returns of the same market)", **_LAYOUT)


def industry_figure(exposure: pl.DataFrame, top: int = 20) -> go.Figure:
    """Average active weight per industry (portfolio - benchmark), the ``top`` largest by size."""
    e = exposure.head(top).reverse()
    fig = go.Figure(go.Bar(x=e["active"].to_list(), y=e["industry"].to_list(), orientation="h",
                           marker_color=["#2a9d8f" if v >= 0 else "#e76f51" for v in e["active"].to_list()]))
    layout = {**_LAYOUT, "height": max(300, 24 * e.height + 80)}
    return fig.update_layout(title="Industry exposure: average active weight (portfolio - benchmark)",
                             xaxis_tickformat=".1%", **layout)


def size_figure(size: pl.DataFrame) -> go.Figure:
    """Weighted cap percentile of the holdings vs the benchmark (``tearsheet.size_exposure``)."""
    dates = size["date"].to_list()
    fig = go.Figure([go.Scatter(x=dates, y=size["portfolio"].to_list(), name="portfolio"),
                     go.Scatter(x=dates, y=size["benchmark"].to_list(), name="benchmark (index weights)")])
    return fig.update_layout(title="Size exposure: weighted market-cap percentile among index members",
                             yaxis=dict(tickformat=".0%", range=[0, 1]), **_LAYOUT)


def attribution_figure(cumulative: pl.DataFrame) -> go.Figure:
    """Cumulative excess return and its parts (``flyer.backtest.attribution``), arithmetic sums."""
    dates = cumulative["date"].to_list()
    traces = [go.Scatter(x=dates, y=cumulative[c].to_list(), name=c,
                         line=dict(width=3 if c == "excess" else 1.5)) for c in cumulative.columns if c != "date"]
    return go.Figure(traces).update_layout(title="Excess return attribution (cumulative, arithmetic)",
                                           yaxis_tickformat=".1%", **_LAYOUT)


def exposure_figure(exposures: pl.DataFrame, factors: list[str]) -> go.Figure:
    """Daily active exposures of the portfolio to ``factors`` (style units: standard deviations)."""
    dates = exposures["date"].to_list()
    fig = go.Figure([go.Scatter(x=dates, y=exposures[f].to_list(), name=f) for f in factors])
    return fig.update_layout(title="Active style exposures (sd)", **_LAYOUT)


# ------------------------------------------------------------------ performance (quantstats' set)
def worst_drawdowns_figure(daily: pl.DataFrame, periods: pl.DataFrame, n: int = 5) -> go.Figure:
    """The NAV (start = 1) with the ``n`` deepest drawdowns of ``tearsheet.drawdown_table`` shaded
    from their start to their recovery (or the last day)."""
    nav, _, _ = curves(daily)
    dates = daily["date"].to_list()
    fig = go.Figure([go.Scatter(x=dates, y=nav, name="portfolio NAV")])
    for row in periods.head(n).iter_rows(named=True):
        fig.add_vrect(x0=row["start"], x1=row["recovery"] or dates[-1], fillcolor="#e76f51", opacity=0.15,
                      line_width=0, annotation_text=f"{row['depth']:.1%}", annotation_position="top left")
    return fig.update_layout(title=f"The {min(n, periods.height)} deepest drawdowns (start to recovery)",
                             yaxis_title="NAV", **_LAYOUT)


def rolling_beta_figure(rolling: pl.DataFrame) -> go.Figure:
    """Rolling beta to the benchmark (top) and annualised volatility (bottom)
    (``tearsheet.rolling_beta_vol``)."""
    dates = rolling["date"].to_list()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("beta to the benchmark", "annualised volatility"))
    for c in [c for c in rolling.columns if c.startswith("beta_")]:
        fig.add_trace(go.Scatter(x=dates, y=rolling[c].to_list(), name=f"beta, {c[5:]} days"), row=1, col=1)
    fig.add_trace(go.Scatter(x=dates, y=rolling["volatility"].to_list(), name="portfolio volatility"), row=2, col=1)
    fig.add_trace(go.Scatter(x=dates, y=rolling["benchmark_volatility"].to_list(), name="benchmark volatility",
                             line=dict(dash="dot")), row=2, col=1)
    fig.add_hline(y=1, line=dict(color="#999", width=1), row=1, col=1)
    fig.update_yaxes(tickformat=".0%", row=2, col=1)
    layout = {**_LAYOUT, "height": 520}
    return fig.update_layout(title="Rolling beta and volatility", **layout)


def yearly_bars(yearly: pl.DataFrame) -> go.Figure:
    """Return per calendar year of the portfolio and of the benchmark (``BacktestResult.yearly``)."""
    years = [str(y) for y in yearly["year"].to_list()]
    fig = go.Figure([go.Bar(x=years, y=yearly["return"].to_list(), name="portfolio"),
                     go.Bar(x=years, y=yearly["benchmark_return"].to_list(), name="benchmark")])
    return fig.update_layout(title="Return per year", yaxis_tickformat=".0%", barmode="group", **_LAYOUT)
