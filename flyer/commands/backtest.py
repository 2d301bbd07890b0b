"""``flyer backtest``: backtest a scores file or a model run's predictions, print metrics, write a report."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from typing import TYPE_CHECKING

import typer

from flyer.commands.common import HomeOpt, console, fitted_table, open_store, parse_date
from flyer.core.errors import FlyerError, UsageError

if TYPE_CHECKING:
    import polars as pl

    from flyer.backtest.config import BacktestConfig
    from flyer.backtest.result import BacktestResult

_CLI_KEYS = ("scores", "run", "report")


def read_scores(path: Path) -> pl.DataFrame:
    """[date, symbol, score] from a Parquet or CSV file (FlyerError when missing or malformed)."""
    import polars as pl

    if not path.exists():
        raise FlyerError(f"scores file not found: {path}")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pl.read_parquet(path)
        else:
            df = pl.read_csv(path, try_parse_dates=True)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise FlyerError(f"cannot read scores {path}: {str(exc).splitlines()[0]}") from exc
    missing = [c for c in ("date", "symbol", "score") if c not in df.columns]
    if missing:
        raise FlyerError(f"scores file {path} is missing column(s): {', '.join(missing)} (need date, symbol, score)")
    if df.schema["date"] == pl.Utf8:
        df = df.with_columns(pl.col("date").str.to_date(strict=False))
    return df


def run_scores_path(home: Optional[Path], run_id: str) -> Path:
    """``$FLYER_HOME/runs/<ID>/predictions.parquet`` (FlyerError when absent)."""
    from flyer.data.store import flyer_home
    from flyer.core.names import safe_name

    path = flyer_home(home, create=False) / "runs" / safe_name(run_id, "run id") / "predictions.parquet"
    if not path.exists():
        raise FlyerError(f"run {run_id!r} has no predictions at {path}")
    return path


def blended_scores(home: Optional[Path], ids: list[str], target: Optional[int]) -> pl.DataFrame:
    """Scores of several runs blended on their validation periods (``flyer.backtest.alpha``);
    prints each source's weight, IC and contribution."""
    from flyer.backtest.alpha import blend
    from flyer.backtest.report import fmt
    from flyer.models.runs import load_run

    runs = [load_run(home, i.strip()) for i in ids if i.strip()]
    horizons = [r.config.data.label_horizon for r in runs]
    if target is not None and target not in horizons:
        raise UsageError(f"--blend-target {target}: no run has that label horizon (runs: {horizons})")
    mix = blend(runs, horizons.index(target) if target is not None else 0)
    table = mix.contributions.filter(mix.contributions["year"] == "all")
    console.print("alpha blend (test period): " + "; ".join(
        f"{r['source']} weight {fmt('w', r['weight'])} IC {fmt('ic', r['ic'])} contribution {fmt('c', r['contribution'])}"
        for r in table.iter_rows(named=True)))
    return mix.scores


def run_warnings(home: Optional[Path], run_id: str) -> list[str]:
    """The collapse warnings a run's ``metrics.json`` carries, prefixed with the run id."""
    import json

    from flyer.data.store import flyer_home

    path = flyer_home(home) / "runs" / run_id / "metrics.json"
    try:
        warnings = json.loads(path.read_text()).get("warnings", []) if path.exists() else []
    except (OSError, ValueError):
        warnings = []
    return [f"WARNING run {run_id}: {w}" for w in warnings]


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings dict of a TOML/YAML file (its ``[backtest]`` table when there is one)."""
    if not path.exists():
        raise FlyerError(f"config file not found: {path}")
    try:
        if path.suffix == ".toml":
            import tomllib

            raw = tomllib.loads(path.read_text())
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(path.read_text()) or {}
        else:
            raise FlyerError(f"config file must be .toml, .yaml or .yml: {path}")
    except FlyerError:
        raise
    except Exception as exc:  # noqa: BLE001 - toml/yaml parse errors
        raise FlyerError(f"cannot parse {path}: {str(exc).splitlines()[0]}") from exc
    return dict(raw["backtest"]) if isinstance(raw.get("backtest"), dict) else dict(raw)


def build_config(config_file: Optional[Path], overrides: dict[str, Any]) -> tuple[BacktestConfig, dict[str, Any]]:
    """Config from the file (if any) with command-line ``overrides`` on top; also returns the
    file's CLI keys (scores / run / report)."""
    from flyer.backtest.config import BacktestConfig

    data = read_config_file(config_file) if config_file is not None else {}
    cli = {k: data.pop(k) for k in _CLI_KEYS if k in data}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return BacktestConfig.from_dict(data), cli
    except (ValueError, TypeError) as exc:
        raise FlyerError(f"bad backtest settings: {str(exc).splitlines()[0]}") from exc


def print_result(result: BacktestResult) -> None:
    """Metrics and the per-year table as rich tables."""
    from rich.table import Table

    from flyer.backtest.report import fmt, label

    table = Table("metric", "value", title=f"backtest vs {result.benchmark_name}")
    for k, v in result.metrics().items():
        table.add_row(label(k), fmt(k, v))
    console.print(table)
    yearly = result.yearly()
    short = {"benchmark_return": "bench", "benchmark_tr_return": "bench TR", "excess_arith": "exc arith",
             "max_drawdown": "max DD", "turnover": "turn", "return": "ret", "excess": "excess"}
    rows = [[_year_cell(k, v) for k, v in row.items()] for row in yearly.iter_rows(named=True)]
    console.print(fitted_table([short.get(c, c) for c in yearly.columns], rows,
                               title="per year (excess geometric; exc arith = sum of daily differences)"))
    meta = result.meta
    console.print(f"orders blocked by limits/suspension: {meta.get('blocked_buys', 0)} buys, "
                  f"{meta.get('blocked_sells', 0)} sells; trades {result.trades().height}")
    if meta.get("unlisted_scores") or meta.get("suspended_scores"):
        console.print(f"scores dropped (symbol not trading on the score date): {meta.get('unlisted_scores', 0):,} "
                      f"not listed, {meta.get('suspended_scores', 0):,} suspended")
    console.print(execution_line(result))
    if "enhance" in meta:
        print_enhance(meta["enhance"])
    print_notes(meta.get("notes", []))


def print_attribution(att) -> None:  # noqa: ANN001 - flyer.backtest.attribution.Attribution
    """The per-year attribution table (arithmetic sums of the daily parts)."""
    from rich.table import Table

    from flyer.backtest.report import fmt

    yearly = att.yearly()
    table = Table(*yearly.columns, title="attribution per year (daily excess = parts, arithmetic)")
    for row in yearly.iter_rows(named=True):
        table.add_row(*(fmt(k, v) for k, v in row.items()))
    console.print(table)


def print_enhance(plan) -> None:  # noqa: ANN001 - flyer.backtest.enhance.EnhancePlan
    """The optimiser's rebalances: predicted TE, turnover, member share, and every note."""
    d = plan.diagnostics
    if d.height:
        console.print(f"enhance: {d.height} rebalances, predicted TE mean {d['predicted_te'].mean():.2%} "
                      f"(max {d['predicted_te'].max():.2%}), turnover mean {d['turnover'].mean():.2%}, "
                      f"member share min {d['member_share'].min():.1%}, solve {d['seconds'].sum():.1f}s")
    for note in plan.notes:
        console.print(f"note: {note}")


def execution_line(result: BacktestResult) -> str:
    """One line: participation limit, capped orders, fill rate, impact (and unpriced fills)."""
    from flyer.backtest import execution

    ex, cfg = execution.summary(result), result.config
    limit = f"{cfg.participation:.0%} of the day's volume (rest: {cfg.remainder})" if cfg.participation > 0 else "none"
    line = (f"participation limit: {limit}; orders cut by it: {result.meta.get('capped_buys', 0)} buys, "
            f"{result.meta.get('capped_sells', 0)} sells; fill rate {ex['fill_rate']:.1%}, "
            f"value-weighted participation {ex['avg_participation']:.2%}, days with unfilled orders "
            f"{ex['unfilled_days']:.1%}; impact: ")
    if cfg.costs.impact == "none":
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
    from rich.table import Table

    pct = {"ret", "bench", "excess", "xMDD", "fill", "hit"}
    table = Table(*df.columns, title=title)
    for row in df.iter_rows(named=True):
        table.add_row(*("-" if v is None or (isinstance(v, float) and v != v)
                        else f"{v:.1%}" if k in pct else f"{v:.2f}x" if k == "turn"  # turnover: x NAV
                        else f"{v:.2f}" if isinstance(v, float) else str(v)
                        for k, v in row.items()))
    console.print(table)




def _year_cell(key: str, value: object) -> str:
    from flyer.backtest.report import fmt

    if key == "costs" and isinstance(value, float):
        return f"{value:,.0f}"
    if key == "turnover" and isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, float) and key not in ("year", "days"):
        return f"{value:.1%}"
    return fmt(key, value)


def print_notes(notes: list[str]) -> None:
    """What the run could not see or had to decide (ties, gaps, substitutions): one line each."""
    for note in notes:
        console.print(f"[yellow]note[/] {note}", soft_wrap=True)


def backtest_cmd(
    scores: Optional[Path] = typer.Option(None, "--scores", help="Parquet/CSV with date, symbol, score"),
    run_id: Optional[str] = typer.Option(None, "--run", help="use $FLYER_HOME/runs/<ID>/predictions.parquet; "
                                         "ID,ID,... blends several runs (e.g. horizons 1, 5, 20) on their validation"),
    blend_target: Optional[int] = typer.Option(None, "--blend-target", help="label horizon the blend fits (default: "
                                               "the first run's)"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML/YAML file with backtest settings"),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="topk | benchmark | enhance"),
    k: Optional[int] = typer.Option(None, "--k", help="names held (topk)"),
    n_drop: Optional[int] = typer.Option(None, "--n-drop", help="names replaced per rebalance (topk)"),
    weighting: Optional[str] = typer.Option(None, "--weighting", help="equal | score"),
    rebalance_every: Optional[int] = typer.Option(None, "--rebalance-every", help="rebalance every n score days"),
    deal_price: Optional[str] = typer.Option(None, "--deal-price", help="open | close | vwap"),
    vwap_fill: Optional[str] = typer.Option(None, "--vwap-fill", help="vwap without amount: none (no fill) | typical"),
    rules: Optional[str] = typer.Option(None, "--rules", help="ashare (exact, default) | qlib (qlib's semantics: a migration aid)"),
    retry: Optional[str] = typer.Option(None, "--retry", help="next_rebalance | next_day"),
    start: Optional[str] = typer.Option(None, "--start", help="first signal day YYYY-MM-DD"),
    end: Optional[str] = typer.Option(None, "--end", help="last trading day YYYY-MM-DD"),
    benchmark: Optional[str] = typer.Option(None, "--benchmark", help="index code, e.g. 000905.SH"),
    capital: Optional[float] = typer.Option(None, "--capital", help="starting cash, CNY"),
    commission: Optional[float] = typer.Option(None, "--commission", help="commission rate (fraction)"),
    slippage_bps: Optional[float] = typer.Option(None, "--slippage-bps", help="slippage, basis points"),
    active_limit: Optional[float] = typer.Option(None, "--active-limit", help="max active weight (benchmark)"),
    te: Optional[float] = typer.Option(None, "--te", help="predicted tracking-error target, annual (enhance)"),
    turnover: Optional[float] = typer.Option(None, "--turnover", help="max two-sided turnover per rebalance (enhance)"),
    participation: Optional[float] = typer.Option(None, "--participation",
                                                  help="max fraction of the day's volume per fill (0 = unlimited; default 0.1)"),
    remainder: Optional[str] = typer.Option(None, "--remainder", help="carry | cancel: a capped order's rest at the next rebalance"),
    impact: Optional[str] = typer.Option(None, "--impact", help="none | sqrt: square-root market impact"),
    impact_k: Optional[float] = typer.Option(None, "--impact-k", help="square-root impact prefactor (default 1.0)"),
    stress: bool = typer.Option(False, "--stress", help="print the stress-window and regime tables"),
    windows: Optional[Path] = typer.Option(None, "--windows", help="TOML/YAML file of extra stress windows"),
    report: Optional[Path] = typer.Option(None, "--report", help="write an HTML report here"),
    factor_set: Optional[Path] = typer.Option(None, "--factor-set", help="a weighted factor-set file (flyer mine's pool)"),
    combined: bool = typer.Option(False, "--combined", help="with --factor-set: backtest its weighted combined score"),
    out: Optional[Path] = typer.Option(None, "--out", help="export daily NAV, trades, positions, yearly, monthly "
                                       "and metrics.json into this folder"),
    fmt: str = typer.Option("csv", "--format", help="--out files: csv | parquet"),
    attribution: Optional[bool] = typer.Option(None, "--attribution/--no-attribution",
                                               help="risk-model attribution (default: on for enhance)"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Backtest scores under A-share rules against CSI 500; print metrics, optionally write a report."""
    from flyer.backtest.api import run as run_backtest
    from flyer.backtest.report import write_report

    overrides = dict(strategy=strategy, k=k, n_drop=n_drop, weighting=weighting, rebalance_every=rebalance_every,
                     deal_price=deal_price, vwap_fill=vwap_fill, rules=rules, retry=retry, start=parse_date(start, "--start"),
                     end=parse_date(end, "--end"), benchmark=benchmark, capital=capital, commission=commission,
                     slippage_bps=slippage_bps, active_limit=active_limit, te=te, turnover=turnover,
                     participation=participation, remainder=remainder, impact=impact, impact_k=impact_k)
    cfg, from_file = build_config(config, overrides)
    if cfg.strategy != "enhance" and (te is not None or turnover is not None):
        raise UsageError("--te and --turnover apply to --strategy enhance only")
    scores = scores or (Path(from_file["scores"]) if "scores" in from_file else None)
    run_id = run_id or from_file.get("run")
    report = report or (Path(from_file["report"]) if "report" in from_file else None)
    if factor_set is not None or combined:
        frame = combined_score_frame(home, factor_set, combined, scores is not None or run_id is not None, cfg)
    elif (scores is None) == (run_id is None):
        raise FlyerError("give exactly one of --scores PATH, --run ID or --factor-set PATH --combined")
    elif run_id is not None and "," in str(run_id):
        frame = blended_scores(home, str(run_id).split(","), blend_target)
    else:
        frame = read_scores(scores if scores is not None else run_scores_path(home, str(run_id)))
    from flyer.backtest import stress as stress_mod

    window_list = stress_mod.load_windows(windows) if windows is not None else stress_mod.DEFAULT_WINDOWS
    with open_store(home, read_only=True, must_exist=True) as store:
        result = run_backtest(store, frame, cfg)
        att = None
        if attribution if attribution is not None else cfg.strategy == "enhance":
            from flyer.backtest.attribution import attribution_for

            att = attribution_for(store, result)
        tables = (stress_mod.window_table(result, store, window_list), stress_mod.regime_table(result)) \
            if stress or report is not None else None
        if run_id is not None:
            warned = [w for rid in str(run_id).split(",") if rid.strip() for w in run_warnings(home, rid.strip())]
            result.meta["notes"] = [*warned, *result.meta.get("notes", [])]
        print_result(result)
        if att is not None:
            print_attribution(att)
        if stress and tables is not None:
            print_stress(*tables)
        if report is not None and tables is not None:
            from flyer.backtest.stress_report import stress_html

            path = write_report(result, report, title=f"flyer backtest {cfg.strategy} {result.config.key()}",
                                store=store, scores=frame, attribution=att, sections=[stress_html(*tables)])
            console.print(f"report saved: {path}")
    if out is not None:
        from flyer.backtest.records import export

        console.print(f"tables -> {export(result, out, fmt)}", markup=False)  # type: ignore[arg-type]
    if run_id is not None:
        from flyer.backtest import records

        rec = records.save(home, result, str(run_id))
        console.print(f"saved backtest {rec.id} (`flyer runs` shows it, `flyer compare` overlays it)", markup=False)


def combined_score_frame(home: Optional[Path], factor_set: Optional[Path], combined: bool, other: bool,
                         cfg: BacktestConfig) -> pl.DataFrame:
    """``[date, symbol, score]``: a weighted factor set's combined score computed from the store
    (``flyer.factors.mining.score``: point in time over the pool's universe, from cfg.start/end)."""
    from flyer.factors.mining.poolfile import read_pool
    from flyer.factors.mining.score import combined_scores

    if factor_set is None or not combined or other:
        raise FlyerError("use --factor-set PATH together with --combined (and without --scores / --run)")
    pool = read_pool(factor_set)
    with open_store(home, read_only=True, must_exist=True) as store:
        with console.status(f"combined score of {len(pool.factor_set)} factor(s) from {factor_set.name} ..."):
            frame = combined_scores(store, pool, cfg.start, cfg.end)
    console.print(f"combined score: {len(pool.factor_set)} weighted factor(s) from {factor_set}, universe "
                  f"{pool.universe} (point in time{'' if 'universe' in pool.meta else ': not recorded in the file'}), "
                  f"norm {pool.norm}; {frame['date'].n_unique()} dates")
    return frame


def register(app: typer.Typer) -> None:
    """Mount ``flyer backtest``."""
    app.command("backtest")(backtest_cmd)


