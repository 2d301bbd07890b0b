"""Self-contained HTML report of one backtest (plotly.js inlined once; no network needed).

Assembly only: metrics come from ``flyer.backtest.metrics``, figures from ``flyer.backtest.figures``.
"""
from __future__ import annotations

import html
from pathlib import Path

import polars as pl

from flyer.backtest import figures
from flyer.backtest.metrics import monthly
from flyer.backtest.result import BacktestResult

_PCT = {"total_return", "annual_return", "annual_volatility", "max_drawdown", "benchmark_annual_return",
        "excess_annual_return", "tracking_error", "excess_max_drawdown", "monthly_win_rate", "cost_drag",
        "return", "benchmark_return", "excess"}


def fmt(key: str, value: object) -> str:
    """A metric value as text: percentages for return-like keys, 3 decimals otherwise."""
    if isinstance(value, float):
        return f"{value:.2%}" if key in _PCT else f"{value:,.3f}"
    return str(value)


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table class='kv'>{body}</table>"


def _frame_table(df: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(c, v))}</td>" for c, v in row.items()) + "</tr>"
                   for row in df.iter_rows(named=True))
    return f"<table class='grid'><tr>{head}</tr>{body}</table>"


def render(result: BacktestResult, title: str = "flyer backtest") -> str:
    """The report as one HTML string."""
    daily = result.daily()
    metrics = result.metrics()
    figs = [figures.nav_figure(daily, result.benchmark_name), figures.excess_figure(daily),
            figures.drawdown_figure(daily), figures.monthly_figure(monthly(daily)),
            figures.holdings_figure(daily)]
    parts = [f.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False) for i, f in enumerate(figs)]
    cfg = result.config.to_dict()
    cfg_rows = [(k, str(v)) for k, v in cfg.items() if k != "costs"] + [(k, str(v)) for k, v in cfg["costs"].items()]
    style = ("body{font-family:sans-serif;margin:24px;max-width:1200px} table{border-collapse:collapse;margin:8px 0}"
             "th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right} th{text-align:left}"
             ".cols{display:flex;gap:40px}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>Benchmark: <b>{html.escape(result.benchmark_name)}</b>. Excess return is geometric. "
            f"Dividends and splits are reinvested (NAV follows total-return prices).</p>"
            f"<div class='cols'><div><h2>Metrics</h2>{_table([(k, fmt(k, v)) for k, v in metrics.items()])}</div>"
            f"<div><h2>Config</h2>{_table(cfg_rows)}</div></div>"
            f"<h2>Per year</h2>{_frame_table(result.yearly())}"
            + "".join(parts) + "</body></html>")


def write_report(result: BacktestResult, path: str | Path, title: str = "flyer backtest") -> Path:
    """Write :func:`render` to ``path`` (parents created); returns the resolved path."""
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result, title), encoding="utf-8")
    return path
