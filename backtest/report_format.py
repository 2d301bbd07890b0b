"""Numbers and names as people read them in reports and on the terminal: ``label`` (a metric or
column name with its unit) and ``fmt`` (percent, CNY, multiples of NAV, counts), and the two
HTML tables every report page uses. Pure text, no figures, no I/O."""
from __future__ import annotations

import html

import polars as pl

_PCT = {"total_return", "annual_return", "annual_volatility", "max_drawdown", "benchmark_annual_return",
        "excess_annual_return", "tracking_error", "excess_max_drawdown", "monthly_win_rate", "cost_drag",
        "return", "benchmark_return", "excess", "country", "industry", "style", "specific", "execution",
        "benchmark_gap", "realised_te", "predicted_te", "member_share", "excess_annual_return_arith",
        "benchmark_tr_annual_return", "excess_tr_annual_return", "benchmark_tr_return", "excess_arith", "depth",
        "alpha", "volatility", "benchmark_volatility", "beat_benchmark", "best", "worst", "beat_rate", "up_rate",
        "annual_return_after_fees", "excess_annual_return_after_fees", "excess_tr_annual_return_after_fees",
        "fee_drag", "excess_after_fees", "management_fee", "custody_fee"}


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
    "tracking_error": "tracking error per year", "information_ratio": "information ratio (annualised)",
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
    # performance (quantstats' set): ratios of daily returns, drawdown periods, trailing returns, win rates
    "sortino": "Sortino ratio (downside deviation, risk-free 0)", "calmar": "Calmar ratio (annual return / |max drawdown|)",
    "omega": "Omega ratio (gains / losses, threshold 0)", "tail_ratio": "tail ratio (95th / |5th| percentile day)",
    "gain_pain": "gain/pain ratio (sum / |sum of losses|, days)", "gain_pain_monthly": "gain/pain ratio (months)",
    "longest_drawdown_days": "longest drawdown (trading days)", "beta": "beta to the benchmark (daily OLS)",
    "alpha": "alpha per year (daily OLS intercept x days)", "correlation": "correlation with the benchmark (daily)",
    "ratio": "measure", "portfolio": "portfolio", "valley": "valley (lowest close)", "recovery": "recovered on",
    "depth": "depth", "calendar_days": "calendar days", "period": "period", "periods": "periods",
    "beat_benchmark": "beat the benchmark", "best": "best", "worst": "worst",
    "annual_return_after_fees": "annual return after fund fees",
    "excess_annual_return_after_fees": "excess return per year after fund fees (geometric)",
    "excess_tr_annual_return_after_fees": "excess over the total-return benchmark after fund fees",
    "information_ratio_after_fees": "information ratio after fund fees", "fee_drag": "fund fees per year (share of NAV)",
    "excess_after_fees": "excess after fund fees", "management_fee": "management fee (per year)",
    "custody_fee": "custody fee (per year)",
}

#: rows of a ratio table whose values are fractions (the rest are ratios or counts)
RATIO_PCT = {"max_drawdown", "annual_volatility", "alpha"}


#: short headers with units for terminal tables (``short_label``)
SHORT = {
    "capital": "capital (CNY)", "excess_annual_return": "excess / yr", "information_ratio": "IR",
    "annual_return": "return / yr", "impact_drag": "impact drag / yr", "cost_drag": "cost drag / yr",
    "annual_turnover": "turnover / yr, x NAV", "avg_participation": "avg participation", "fill_rate": "fill rate",
    "unfilled_days": "unfilled days", "benchmark_return": "bench", "benchmark_tr_return": "bench TR",
    "excess_arith": "excess arith", "max_drawdown": "max DD", "turnover": "turnover (x NAV)", "return": "return",
    "excess": "excess", "costs": "costs (CNY)", "country": "country", "industry": "industry", "style": "style",
    "specific": "specific", "execution": "execution", "benchmark_gap": "benchmark gap", "realised_te": "TE realised",
    "predicted_te": "TE predicted", "bias": "bias", "bias_model": "bias (model)",
}


def short_label(key: str) -> str:
    """A column name as a short terminal header with its unit (``SHORT``; else spaces for '_')."""
    return SHORT.get(key, key.replace("_", " "))


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


def kv_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table class='kv'>{body}</table>"


def frame_table(df: pl.DataFrame, keys: dict[str, str] | None = None, table_id: str = "") -> str:
    """An HTML table of ``df`` (headers through ``label``, cells through ``fmt``; ``keys`` maps a
    column to the ``fmt`` key formatting it); ``table_id`` names it for links and tests."""
    keys = keys or {}
    head = "".join(f"<th>{html.escape(label(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(keys.get(c, c), v))}</td>" for c, v in row.items())
                   + "</tr>" for row in df.iter_rows(named=True))
    ident = f" id='{html.escape(table_id)}'" if table_id else ""
    return f"<table class='grid'{ident}><tr>{head}</tr>{body}</table>"
