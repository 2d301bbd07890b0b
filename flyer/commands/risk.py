"""``flyer risk build`` and ``flyer risk info``: the Barra-style risk model under ``$FLYER_HOME/risk``."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from flyer.commands.common import HomeOpt, console, open_store, parse_date
from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    import polars as pl

    from flyer.risk.config import RiskConfig

risk_app = typer.Typer(no_args_is_help=True, help="Barra-style risk model: build (or append) and inspect.")


def risk_config(config_file: Optional[Path], overrides: dict[str, Any]) -> RiskConfig:
    """A ``RiskConfig`` from a TOML/YAML file (its ``[risk]`` table, or ``[backtest.enhance.risk]``)
    with command-line ``overrides`` on top."""
    from flyer.risk.config import RiskConfig

    from flyer.core.config import read_file

    data: dict[str, Any] = {}
    if config_file is not None:
        raw = read_file(config_file, what="risk config")
        enhance = raw.get("enhance") or (raw.get("backtest") or {}).get("enhance") or {}
        data = dict(raw.get("risk") or (enhance.get("risk") if isinstance(enhance, dict) else None) or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    return RiskConfig.from_dict(data, "risk")


def _table(df: pl.DataFrame, title: str, pct: tuple[str, ...] = ()) -> None:
    from rich.table import Table

    table = Table(*df.columns, title=title)
    for row in df.iter_rows(named=True):
        table.add_row(*(f"{v:.2%}" if k in pct and isinstance(v, float) else
                        f"{v:,.3f}" if isinstance(v, float) else str(v) for k, v in row.items()))
    console.print(table)


def build_cmd(
    universe: Optional[str] = typer.Option(None, "--universe", help="estimation universe: all | index codes joined by + "
                                           "(000300.SH+000905.SH = CSI 800)"),
    standard: Optional[str] = typer.Option(None, "--standard", help="industry standard (sw, sim; default: the store's)"),
    start: Optional[str] = typer.Option(None, "--start", help="first model date (default: first with full history)"),
    end: Optional[str] = typer.Option(None, "--end", help="last date (default: the store's last day)"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML/YAML with a [risk] table"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Build the risk model, or append the dates the store has beyond the stored last one."""
    from flyer.data.store import flyer_home
    from flyer.risk.storage import update
    from flyer.risk.validation import r2_by_year

    cfg = risk_config(config, {"estimation_universe": universe, "industry_standard": standard,
                               "start": parse_date(start, "--start")})
    with open_store(home, read_only=True, must_exist=True) as store:
        with console.status(f"risk model {cfg.key()} ..."):
            res = update(store, flyer_home(home), cfg, parse_date(end, "--end"))
    console.print(f"[green]risk model {res.key}[/] {res.mode}: {res.dates_added:,} dates "
                  f"({res.first}..{res.last}) in {res.seconds:.1f}s -> {res.path}")
    for note in res.notes:
        console.print(f"note: {note}")
    if res.mode != "current":
        from flyer.risk.storage import load

        _table(r2_by_year(load(flyer_home(home), cfg)), "cross-sectional R^2 by year (daily means)")


def info_cmd(
    key: Optional[str] = typer.Option(None, "--key", help="a stored model's key (or unique prefix)"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """List stored risk models, or show one: fit by year, factor volatilities, factor returns,
    and the bias statistic per year of random and of optimised portfolios."""
    import polars as pl

    from flyer.data.store import flyer_home
    from flyer.risk.storage import read_meta, risk_root

    root = risk_root(flyer_home(home))
    if key is not None:  # a key the user typed: id-shaped and inside risk/ (exit 2), then it must exist (exit 1)
        from flyer.core.names import resolve_id

        meta = read_meta(resolve_id(root, key, "risk model"))
        if meta is None:
            raise FlyerError(f"risk model {key!r} under {root} is incomplete or damaged: `flyer risk build` rebuilds it")
        _show(flyer_home(home), meta)
        return
    metas = [m for p in sorted(root.glob("*")) if p.is_dir() and (m := read_meta(p)) is not None]
    if not metas:
        console.print(f"no risk models under {root}: `flyer risk build` makes one")
        return
    rows = [{"key": m["key"], "first": m["first"], "last": m["last"], "factors": len(m["factors"]),
             "industries": len(m["industries"]), "build_s": m.get("build_seconds")} for m in metas]
    _table(pl.DataFrame(rows), f"{len(rows)} risk model(s) in {root}")


def _show(home: Path, meta: dict) -> None:
    import json

    import numpy as np
    import polars as pl

    from flyer.risk.config import RiskConfig
    from flyer.risk.storage import load, risk_root
    from flyer.risk.validation import factor_summary, model_bias, r2_by_year

    cfg = RiskConfig.from_dict(json.loads((risk_root(home) / meta["key"] / "config.json").read_text()))
    model = load(home, cfg)
    console.print(f"risk model {meta['key']}: {meta['first']}..{meta['last']}, {len(model.symbols):,} stocks, "
                  f"{len(meta['factors'])} factors, universe {cfg.estimation_universe}, "
                  f"{model.periods_per_year:.1f} trading days a year")
    for note in model.notes:
        console.print(f"note: {note}")
    _table(r2_by_year(model), "cross-sectional R^2 by year (daily means)")
    vol = np.sqrt(np.diag(model.cov[-1]) * model.periods_per_year)
    styles = pl.DataFrame({"factor": ["country", *model.styles],
                           "forecast_vol": [float(vol[0]), *(float(v) for v in vol[1 + model.n_ind:])],
                           "coverage": [1.0, *(float(c) for c in model.coverage[-1])]})
    _table(styles, f"forecast volatility on {model.dates[-1]} (annual) and style coverage", ("forecast_vol", "coverage"))
    last = factor_summary(model).filter(pl.col("year") == pl.col("year").max())
    _table(last, "factor returns, latest year", ("return", "volatility"))
    bias = model_bias(model).pivot(on="portfolios", index="year", values="bias_mean")
    adj = (f"eigenfactor-adjusted ({cfg.eigen_sims} sims, a = {cfg.eigen_scale})" if cfg.eigen_sims
           else "no eigenfactor adjustment")
    _table(bias, f"bias statistic std(r / predicted sigma) per year, mean of 20 portfolios each: random 50-stock, "
                 f"optimised (Sigma^-1 alpha) stocks and factors; ideal 1 (band 1 +- sqrt(2/days)); {adj}, "
                 f"volatility-regime half-life {cfg.vra_halflife}")


def register(app: typer.Typer) -> None:
    """Mount ``flyer risk build|info``."""
    risk_app.command("build")(build_cmd)
    risk_app.command("info")(info_cmd)
    app.add_typer(risk_app, name="risk")
