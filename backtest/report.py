"""Self-contained HTML report of one backtest (plotly.js inlined once; no network needed).

Assembly only: metrics come from ``flyer.backtest.metrics``, figures from ``flyer.backtest.figures``.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import polars as pl

from flyer.backtest import figures
from flyer.backtest.metrics import monthly
from flyer.backtest.result import BacktestResult

if TYPE_CHECKING:
    from flyer.data.store import MarketStore
    from flyer.backtest.attribution import Attribution

_PCT = {"total_return", "annual_return", "annual_volatility", "max_drawdown", "benchmark_annual_return",
        "excess_annual_return", "tracking_error", "excess_max_drawdown", "monthly_win_rate", "cost_drag",
        "return", "benchmark_return", "excess", "country", "industry", "style", "specific", "execution",
        "benchmark_gap", "realised_te", "predicted_te", "member_share", "excess_annual_return_arith",
        "benchmark_tr_annual_return", "excess_tr_annual_return", "benchmark_tr_return", "excess_arith"}


_MONEY = {"costs", "traded_value", "nav", "cash", "capital", "value", "total_cost", "commission", "stamp_duty",
          "transfer_fee", "slippage", "min_commission", "positions_value", "price"}
_TIMES = {"annual_turnover", "turnover"}
_WEIGHT = {"avg_weight", "max_weight", "portfolio", "benchmark", "active", "after costs", "before costs", "cost",
           "rank_ic_mean"}
LABELS = {
    "start": "first day", "end": "last day", "total_return": "total return", "annual_return": "annual return",
    "annual_volatility": "annual volatility", "sharpe": "Sharpe ratio (risk-free 0)", "max_drawdown": "max drawdown",
    "benchmark": "benchmark", "benchmark_annual_return": "benchmark annual return",
    "excess_annual_return": "excess return per year (geometric)", "excess_kind": "excess return kind",
    "excess_annual_return_arith": "excess return per year (arithmetic: mean daily difference x days)",
    "benchmark_tr_annual_return": "total-return benchmark annual return", "benchmark_tr": "total-return benchmark",
    "excess_tr_annual_return": "excess over the total-return benchmark (geometric)",
    "days_per_year": "trading days per year (calendar)", "excess_arith": "excess (arithmetic)",
    "benchmark_tr_return": "total-return benchmark return", "days": "trading days",
    "tracking_error": "tracking error per year", "information_ratio": "information ratio",
    "excess_max_drawdown": "excess max drawdown", "monthly_win_rate": "months beating the benchmark",
    "annual_turnover": "turnover per year (x NAV, one side)", "cost_drag": "cost drag per year (share of NAV)",
    "year": "year", "return": "return", "benchmark_return": "benchmark return", "excess": "excess (geometric)",
    "turnover": "turnover (x NAV)", "costs": "costs (CNY)", "k": "names held (k)", "n_drop": "names replaced per rebalance",
    "weighting": "weighting", "rebalance_kept": "rebalance kept names", "rebalance_every": "rebalance every (score days)",
    "deal_price": "deal price", "retry": "blocked orders retried", "capital": "starting capital (CNY)",
    "universe": "universe", "active_limit": "max active weight", "commission": "commission rate",
    "min_commission": "minimum commission (CNY)", "slippage_bps": "slippage (bp)", "stamp_duty": "stamp duty",
    "transfer_fee": "transfer fee", "strategy": "strategy", "days_held": "days held", "avg_weight": "average weight",
    "max_weight": "max weight", "first": "first held", "last": "last held", "total_cost": "costs (CNY)",
    "value": "value (CNY)", "price": "price (CNY)", "shares": "shares", "side": "side", "symbol": "symbol",
    "date": "date", "reason": "reason",
}


def label(key: str) -> str:
    """A metric or column name as people read it (with its unit)."""
    return LABELS.get(key, key.replace("_", " "))


def fmt(key: str, value: object) -> str:
    """A value as text: percentages for return-like keys, CNY with thousands separators,
    turnover as a multiple of NAV, counts with separators, 3 decimals otherwise."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, float):
        if value != value:
            return "-"
        if key in _PCT or key in _WEIGHT or key == "active_limit":
            return f"{value:.2%}"
        if key == "commission_rate":
            return f"{value:.4%}"
        if key in _MONEY:
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
        if key in _TIMES:
            return f"{value:,.2f}x"
        if key == "shares":
            return f"{value:,.0f}"
        if key == "slippage_bps":
            return f"{value:g}"
        return f"{value:,.3f}"
    if isinstance(value, int) and key != "year":
        return f"{value:,}"
    return str(value)


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table class='kv'>{body}</table>"


def _frame_table(df: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(label(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(c, v))}</td>" for c, v in row.items()) + "</tr>"
                   for row in df.iter_rows(named=True))
    return f"<table class='grid'><tr>{head}</tr>{body}</table>"


def _attribution_html(att: Attribution, styles: list[str]) -> str:
    figs = [figures.attribution_figure(att.cumulative()), figures.exposure_figure(att.exposures, styles)]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in att.notes)
    return ("<h2>Attribution (risk model)</h2><p>Daily excess = portfolio return - index return, split into "
            "country (cash), industry, style, specific (stock selection), execution (the day's trades from fill to close, "
            "fees, lots) and "
            "benchmark gap (the weighted members' total return against the index: dividends for a price index); "
            "the parts add up to the excess every day. Predicted TE from the risk model at the previous close; "
            "bias = std(excess / predicted), bias_model = std(holdings' active return / predicted)."
            f"</p><ul>{notes}</ul>{_frame_table(att.yearly())}"
            + "".join(f.to_html(full_html=False, include_plotlyjs=False) for f in figs))


def _notes(notes: list[str]) -> str:
    """What the run could not see or had to decide (ties, gaps, substitutions), as a list."""
    if not notes:
        return ""
    return "<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"


def render(result: BacktestResult, title: str = "flyer backtest", *, store: MarketStore | None = None,
           scores: pl.DataFrame | None = None, attribution: Attribution | None = None,
           sections: Sequence[str] = ()) -> str:
    """The report as one HTML string; the tear sheet gains the scores' RankIC with ``scores``
    and the industry / size exposures with ``store`` (``flyer.backtest.report_sections``); the
    optimiser and attribution sections appear for enhance runs / when ``attribution`` is given;
    ``sections``: extra HTML sections placed at the end (e.g. ``stress_report.stress_html``)."""
    from flyer.backtest.report_sections import tearsheet_html

    daily = result.daily()
    metrics = result.metrics()
    figs = [figures.nav_figure(daily, result.benchmark_name), figures.excess_figure(daily),
            figures.drawdown_figure(daily), figures.monthly_figure(monthly(daily)),
            figures.holdings_figure(daily)]
    parts = [f.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False) for i, f in enumerate(figs)]
    cfg = result.config.to_dict()
    rate = {"commission": "commission_rate", "active_limit": "active_limit"}  # rates here, CNY in the trades
    cfg_rows = ([(label(k), fmt(k, v)) for k, v in cfg.items() if k != "costs"]
                + [(label(k), fmt(rate.get(k, k), v)) for k, v in cfg["costs"].items()])
    style = ("body{font-family:sans-serif;margin:24px;max-width:1200px} table{border-collapse:collapse;margin:8px 0}"
             "th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right} th{text-align:left}"
             "table.grid td:first-child{text-align:left}"
             ".cols{display:flex;gap:40px} .note{color:#555;max-width:900px}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>Benchmark: <b>{html.escape(result.benchmark_name)}</b>. Excess return: geometric "
            f"(excess_annual_return) and arithmetic (excess_annual_return_arith, mean daily difference x days per year); "
            f"annualised by the calendar's trading days per year. "
            f"Dividends and splits are reinvested (NAV follows total-return prices).</p>"
            + _notes(result.meta.get("notes", []))
            + f"<div class='cols'><div><h2>Metrics</h2>{_table([(label(k), fmt(k, v)) for k, v in metrics.items()])}</div>"
            f"<div><h2>Config</h2>{_table(cfg_rows)}</div></div>"
            f"<h2>Per year</h2>{_frame_table(result.yearly())}"
            + "".join(parts) + _enhance_html(result)
            + (_attribution_html(attribution, list(result.config.enhance.risk.styles)) if attribution else "")
            + tearsheet_html(result, daily, store, scores) + "".join(sections) + "</body></html>")


def _enhance_html(result: BacktestResult) -> str:
    plan = result.meta.get("enhance")
    if plan is None or plan.diagnostics.height == 0:
        return ""
    d = plan.diagnostics
    by_year = d.group_by(pl.col("date").dt.year().alias("year"), maintain_order=True).agg(
        pl.len().alias("rebalances"), pl.col("predicted_te").mean(), pl.col("turnover").mean(),
        pl.col("member_share").min(), (pl.col("relaxed") != "").sum().alias("relaxed"))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in plan.notes)
    return f"<h2>Optimiser (enhance)</h2><ul>{notes}</ul>{_frame_table(by_year)}"


def write_report(result: BacktestResult, path: str | Path, title: str = "flyer backtest", *,
                 store: MarketStore | None = None, scores: pl.DataFrame | None = None,
                 attribution: Attribution | None = None, sections: Sequence[str] = ()) -> Path:
    """Write :func:`render` to ``path`` (parents created); returns the resolved path."""
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result, title, store=store, scores=scores, attribution=attribution, sections=sections),
                    encoding="utf-8")
    return path
