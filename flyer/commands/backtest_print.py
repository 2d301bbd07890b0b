"""Printing a backtest session on the terminal: metrics, the per-year table, execution, the
strategy's plan, attribution, stress tables, notes. Tables, not logic: the numbers come from
``flyer.backtest``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from flyer.commands.common import console, fitted_table

if TYPE_CHECKING:
    import polars as pl

    from flyer.backtest.attribution import Attribution
    from flyer.backtest.plan import StrategyPlan
    from flyer.backtest.result import BacktestResult
    from flyer.backtest.session import Scores, Session


def print_session(session: Session, stress: bool = False) -> None:
    """Everything a session computed, in reading order (the stress tables with ``stress``)."""
    if session.scores.blend is not None:
        print_blend(session.scores)
    if session.result is None:
        return
    print_result(session.result)
    if session.attribution is not None:
        print_attribution(session.attribution)
    if stress and session.stress is not None:
        print_stress(session.stress.windows, session.stress.regimes)


def print_blend(scores: Scores) -> None:
    """The blend's sources: weight, IC and contribution on the test period."""
    from flyer.backtest.report_format import fmt

    table = scores.blend
    assert table is not None
    console.print("alpha blend (test period): " + "; ".join(
        f"{r['source']} weight {fmt('w', r['weight'])} IC {fmt('ic', r['ic'])} contribution {fmt('c', r['contribution'])}"
        for r in table.iter_rows(named=True)))


def print_result(result: BacktestResult) -> None:
    """Metrics and the per-year table as rich tables, then execution, the plan and the notes."""
    from flyer.backtest.report_format import fmt, label

    metrics = result.metrics()
    # text longer than a figure (the benchmark's description) goes under the table: in the value
    # column it would squeeze every metric's name onto several lines
    texts = {k: v for k, v in metrics.items() if isinstance(v, str) and len(v) > 24}
    console.print(fitted_table(["metric", "value"], [[label(k), fmt(k, v)] for k, v in metrics.items() if k not in texts],
                               title=f"backtest vs {result.benchmark_name}"))
    for k, v in texts.items():
        console.print(f"{label(k)}: {v}", soft_wrap=True)
    yearly = result.yearly()
    short = {"benchmark_return": "bench", "benchmark_tr_return": "bench TR", "excess_arith": "exc arith",
             "max_drawdown": "max DD", "turnover": "turn", "return": "ret", "excess": "excess",
             "excess_after_fees": "excess after fees"}
    rows = [[_year_cell(k, v) for k, v in row.items()] for row in yearly.iter_rows(named=True)]
    console.print(fitted_table([short.get(c, c) for c in yearly.columns], rows,
                               title="per year (excess geometric; exc arith = sum of daily differences)"))
    d = result.diagnostics
    console.print(f"orders blocked by limits/suspension: {d.blocked_buys} buys, {d.blocked_sells} sells; "
                  f"trades {result.trades().height}")
    if d.run.unlisted_scores or d.run.suspended_scores:
        console.print(f"scores dropped (symbol not trading on the score date): {d.run.unlisted_scores:,} "
                      f"not listed, {d.run.suspended_scores:,} suspended")
    console.print(execution_line(result))
    print_plan(d.plan)
    print_notes(d.notes)


def print_plan(plan: StrategyPlan) -> None:
    """The optimiser's rebalances (predicted TE, turnover, member share) and its notes."""
    if plan.optimised:
        console.print(plan.summary())
    for note in plan.notes:
        console.print(f"note: {note}", markup=False)


def print_attribution(att: Attribution) -> None:
    """The per-year attribution table (arithmetic sums of the daily parts)."""
    from flyer.backtest.report_format import fmt, short_label

    yearly = att.yearly()
    rows = [[fmt(k, v) for k, v in row.items()] for row in yearly.iter_rows(named=True)]
    console.print(fitted_table([short_label(c) for c in yearly.columns], rows,
                               title="attribution per year (daily excess = parts, arithmetic)"))


def execution_line(result: BacktestResult) -> str:
    """One line: what the rules applied (``params.applied``: the participation limit and impact
    as configured, or qlib's exchange under ``rules="qlib"``), capped orders, fill rate, impact."""
    from flyer.backtest import execution
    from flyer.backtest.params import applied

    ex, cfg, rules = execution.summary(result), result.config, applied(result.config)
    d = result.diagnostics
    if rules.rules == "qlib":
        return (f"qlib rules: no volume limit, no market impact; buy {rules.buy_cost:.2%}, sell "
                f"{rules.sell_cost or 0:.2%}, at least {rules.min_cost:,.0f} CNY an order; flat 9.5 % limit both ways; "
                f"new buys share {rules.cash_share:.0%} of the cash after sells; delisted stocks held at their last "
                f"close. Fill rate {ex['fill_rate']:.1%} of the orders sent (qlib places none for a stock it cannot "
                f"trade); orders not placed (limit, suspension, no bar): {d.blocked_buys} buys, {d.blocked_sells} sells")
    limit = (f"{rules.participation:.0%} of the day's volume (rest: {cfg.remainder})" if rules.participation > 0
             else "none")
    line = (f"participation limit: {limit}; orders cut by it: {d.capped_buys} buys, "
            f"{d.capped_sells} sells; fill rate {ex['fill_rate']:.1%}, "
            f"value-weighted participation {ex['avg_participation']:.2%}, days with unfilled orders "
            f"{ex['unfilled_days']:.1%}; impact: ")
    if rules.impact_k <= 0:
        return line + "none (--impact sqrt to charge it)"
    line += f"sqrt k={cfg.costs.impact_k}, {ex['impact_cost']:,.0f} CNY ({ex['impact_drag']:.2%} a year)"
    if ex["unpriced_fills"]:
        line += f"; {ex['unpriced_fills']} fill(s) without a 20-day window (new listings) paid no impact"
    return line


def print_stress(windows: pl.DataFrame, regimes: pl.DataFrame) -> None:
    """The stress windows (performance, then execution and exposures) and the regime table,
    in short columns that fit a terminal; windows the data does not cover are named below."""
    import polars as pl

    covered = windows.filter(pl.col("coverage") != "none")
    perf = covered.select("window", pl.col("coverage").alias("cover"), "days", pl.col("return").alias("ret"),
                          pl.col("benchmark_return").alias("bench"), "excess",
                          pl.col("excess_max_drawdown").alias("xMDD"), pl.col("turnover").alias("turn"))
    expo = covered.select("window", pl.col("fill_rate").alias("fill"), pl.col("capped_orders").alias("capped"),
                          pl.col("blocked_orders").alias("blocked"), pl.col("size_before").alias("size<"),
                          pl.col("size_in").alias("size"), pl.col("liquidity_before").alias("liq<"),
                          pl.col("liquidity_in").alias("liq"))
    reg = regimes.select("regime", "bucket", "days", pl.col("return").alias("ret"),
                         pl.col("benchmark_return").alias("bench"), "excess", pl.col("hit_rate").alias("hit"),
                         pl.col("information_ratio").alias("IR"))
    _short_table("stress windows: returns from the close before the window", perf)
    _short_table("stress windows: execution; size / liquidity exposure 20 days before (<) and inside", expo)
    _short_table("regimes (terciles, known the day before; returns annualised)", reg)
    for row in windows.filter(pl.col("note") != "").iter_rows(named=True):
        console.print(f"{row['window']}: {row['note']}")


def _short_table(title: str, df: pl.DataFrame) -> None:
    pct = {"ret", "bench", "excess", "xMDD", "fill", "hit"}
    rows = [["-" if v is None or (isinstance(v, float) and v != v)
             else f"{v:.1%}" if k in pct else f"{v:.2f}x" if k == "turn"  # turnover: x NAV
             else f"{v:.2f}" if isinstance(v, float) else str(v)
             for k, v in row.items()] for row in df.iter_rows(named=True)]
    console.print(fitted_table(list(df.columns), rows, title=title))


def _year_cell(key: str, value: object) -> str:
    from flyer.backtest.report_format import fmt

    if key == "costs" and isinstance(value, float):
        return f"{value:,.0f}"
    if key == "turnover" and isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, float) and key not in ("year", "days"):
        return f"{value:.1%}"
    return fmt(key, value)


def print_notes(notes: Sequence[str]) -> None:
    """What the run could not see or had to decide (ties, gaps, substitutions): one line each."""
    for note in notes:
        console.print(f"[yellow]note[/] {note}", soft_wrap=True)
