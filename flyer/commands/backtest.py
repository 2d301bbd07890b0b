"""``flyer backtest``: one backtest session (``flyer.backtest.session``) from the command line.

The options of the config are generated from ``SETTINGS`` (``flyer.commands.settings``): a new
setting is one line there. A ``--config`` file (TOML/YAML, its ``[backtest]`` table when there
is one) is read by the one config reader and may also name ``scores``, ``run`` or ``report``;
options given on the command line override it; ``BacktestConfig.from_dict`` validates it all
and names the field (exit 2).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from flyer.commands.common import HomeOpt, console, open_store
from flyer.commands.settings import Setting, chosen, with_settings
from flyer.core.errors import FlyerError, UsageError

if TYPE_CHECKING:
    from flyer.backtest.config import BacktestConfig
    from flyer.backtest.session import ScoreSource

#: keys of a ``--config`` file that name the scores and the report rather than settings
FILE_KEYS = ("scores", "run", "report")
SETTINGS = (
    Setting("strategy", "topk | benchmark | enhance"),
    Setting("k", "names held (topk)"),
    Setting("n_drop", "names replaced per rebalance (topk)"),
    Setting("weighting", "equal | score"),
    Setting("rebalance_every", "rebalance every n score days"),
    Setting("deal_price", "open | close | vwap"),
    Setting("vwap_fill", "vwap without amount: none (no fill) | typical"),
    Setting("rules", "ashare (exact, default) | qlib (qlib's semantics: a migration aid)"),
    Setting("retry", "next_rebalance | next_day"),
    Setting("start", "first signal day YYYY-MM-DD, traded from the next trading day (default: the first score "
            "date); with --rules qlib the first trading day, traded on the previous day's scores (qlib's start_time)"),
    Setting("end", "last trading day YYYY-MM-DD"),
    Setting("benchmark", "index code, e.g. 000905.SH"),
    Setting("universe", "index whose members the benchmark / enhance strategies weight"),
    Setting("capital", "starting cash, CNY"),
    Setting("commission", "commission rate (fraction)"),
    Setting("min_commission", "minimum commission per order, CNY"),
    Setting("slippage_bps", "slippage, basis points"),
    Setting("active_limit", "max active weight (benchmark)"),
    Setting("te", "predicted tracking-error target, annual (enhance)"),
    Setting("turnover", "max two-sided turnover per rebalance (enhance)"),
    Setting("participation", "max fraction of the day's volume per fill (0 = unlimited; default 0.1)"),
    Setting("remainder", "carry | cancel: a capped order's rest at the next rebalance"),
    Setting("impact", "none | sqrt: square-root market impact"),
    Setting("impact_k", "square-root impact prefactor (default 1.0)"),
    Setting("management_fee", "fund management fee, fraction of NAV a year, accrued daily (default 0)"),
    Setting("custody_fee", "custody fee, fraction of NAV a year, accrued daily (default 0)"),
)


def _classes() -> tuple[type, ...]:
    from flyer.backtest.config import BacktestConfig, CostConfig
    from flyer.backtest.enhance_config import EnhanceConfig

    return BacktestConfig, CostConfig, EnhanceConfig


def build_config(config_file: Optional[Path], given: dict[str, Any]) -> tuple[BacktestConfig, dict[str, Any]]:
    """The config from the file (if any) with the command line's ``given`` settings on top, and
    the file's ``FILE_KEYS``. Settings of a strategy other than the chosen one are refused."""
    from flyer.backtest.config import ENHANCE_KEYS, BacktestConfig
    from flyer.core.config import read_file

    data = read_file(config_file, what="backtest config", table="backtest") if config_file is not None else {}
    from_file = {k: data.pop(k) for k in FILE_KEYS if k in data}
    data.update(given)
    cfg = BacktestConfig.from_dict(data)
    from flyer.backtest.strategy import strategy_for

    foreign = sorted(k for k in given if k in ENHANCE_KEYS)
    if foreign and strategy_for(cfg.strategy).settings != "enhance":
        flags = ", ".join("--" + k.replace("_", "-") for k in foreign)
        raise UsageError(f"{flags} belong(s) to the enhance strategy's settings, not to {cfg.strategy}: "
                         "add --strategy enhance")
    return cfg, from_file


def score_source(scores: Optional[Path], run_id: Optional[str], blend_target: Optional[int],
                 factor_set: Optional[Path], combined: bool, from_file: dict[str, Any]) -> ScoreSource:
    """The one score source the options (or the config file) name."""
    from flyer.backtest.session import FactorSetScores, RunScores, ScoresFile

    scores = scores or (Path(from_file["scores"]) if "scores" in from_file else None)
    run_id = run_id or from_file.get("run")
    if factor_set is not None or combined:
        if factor_set is None or not combined or scores is not None or run_id is not None:
            raise FlyerError("use --factor-set PATH together with --combined (and without --scores / --run)")
        return FactorSetScores(factor_set)
    if (scores is None) == (run_id is None):
        raise FlyerError("give exactly one of --scores PATH, --run ID or --factor-set PATH --combined")
    if scores is not None:
        return ScoresFile(scores)
    return RunScores(tuple(r.strip() for r in str(run_id).split(",") if r.strip()), blend_target)


@with_settings(SETTINGS, _classes())
def backtest_cmd(
    scores: Optional[Path] = typer.Option(None, "--scores", help="Parquet/CSV with date, symbol, score"),
    run_id: Optional[str] = typer.Option(None, "--run", help="use $FLYER_HOME/runs/<ID>/predictions.parquet; "
                                         "ID,ID,... blends several runs (e.g. horizons 1, 5, 20) on their validation"),
    blend_target: Optional[int] = typer.Option(None, "--blend-target", help="label horizon the blend fits (default: "
                                               "the first run's)"),
    factor_set: Optional[Path] = typer.Option(None, "--factor-set", help="a weighted factor-set file (flyer mine's pool)"),
    combined: bool = typer.Option(False, "--combined", help="with --factor-set: backtest its weighted combined score"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML/YAML file with backtest settings"),
    stress: bool = typer.Option(False, "--stress", help="print the stress-window and regime tables"),
    windows: Optional[Path] = typer.Option(None, "--windows", help="TOML/YAML file of extra stress windows"),
    report: Optional[Path] = typer.Option(None, "--report", help="write an HTML report here (plotly.js beside it)"),
    self_contained: bool = typer.Option(False, "--self-contained", help="--report: one file with plotly.js inlined"),
    out: Optional[Path] = typer.Option(None, "--out", help="export daily NAV, trades, positions, yearly, monthly "
                                       "and metrics.json into this folder"),
    fmt: str = typer.Option("csv", "--format", help="--out files: csv | parquet"),
    attribution: Optional[bool] = typer.Option(None, "--attribution/--no-attribution",
                                               help="risk-model attribution (default: on when an optimiser made the weights)"),
    home: Optional[Path] = HomeOpt,
    **kwargs: Any,
) -> None:
    """Backtest scores under A-share rules against CSI 500; print metrics, optionally write a report."""
    from flyer.backtest import stress as stress_mod
    from flyer.backtest.session import SessionOptions, backtest
    from flyer.commands.backtest_print import print_session

    if fmt not in ("csv", "parquet"):
        raise UsageError(f"--format must be csv or parquet, not {fmt!r}")
    cfg, from_file = build_config(config, chosen(kwargs, SETTINGS, _classes()))
    source = score_source(scores, run_id, blend_target, factor_set, combined, from_file)
    report = report or (Path(from_file["report"]) if "report" in from_file else None)
    options = SessionOptions(attribution=attribution, stress=stress, report=report, out=out,
                             self_contained=self_contained, out_format="parquet" if fmt == "parquet" else "csv",
                             windows=stress_mod.load_windows(windows) if windows is not None else None)
    with open_store(home, read_only=True, must_exist=True) as store:
        with console.status("backtest ..."):
            session = backtest(home, store, source, cfg, options)
    if session.scores.description and not session.scores.runs:
        console.print(session.scores.description, markup=False)
    print_session(session, stress=stress)
    if session.report is not None:
        console.print(f"report saved: {session.report}", markup=False)
    if session.out is not None:
        console.print(f"tables -> {session.out}", markup=False)
    if session.record is not None:
        console.print(f"saved backtest {session.record.id} (`flyer runs` shows it, `flyer compare` overlays it)",
                      markup=False)


def register(app: typer.Typer) -> None:
    """Mount ``flyer backtest``."""
    app.command("backtest")(backtest_cmd)
