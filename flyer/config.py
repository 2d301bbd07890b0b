"""Configuration of the nightly job: frozen, typed, loaded from TOML or YAML, content-hashed.

Example (``nightly.toml``)::

    runs = ["3f2a9c1b7d4e"]          # one run, or several for a rank-averaged ensemble
    # factor_set = "alpha158"        # optional check: every run must use this set (same content
                                     # key); also what [retrain] trains on (default alpha158)

    [source]
    kind = "sim"                     # sim | files | akshare | baostock
    stocks = 800
    end = "2024-12-31"

    [portfolio]                      # any BacktestConfig key (strategy, costs, ...) + holdings_file
    strategy = "topk"                # topk | benchmark, as in `flyer backtest`
    k = 50
    n_drop = 5
    capital = 10000000               # starting cash of the book, CNY
    deal_price = "open"              # tomorrow's price the orders are meant to fill at
    commission = 0.00025
    # holdings_file = "holdings.csv" # symbol,shares; default: the previous night's targets

    [retrain]
    schedule = "never"               # never | monthly (first trading day of each month)
    model = "lgbm"
    train_years = 3
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flyer.backtest.config import COST_KEYS, ENHANCE_KEYS, BacktestConfig
from flyer.core.config import Config, ConfigError, check, read_file
from flyer.core.errors import FlyerError
from flyer.data.sources.base import Source, source_from_dict
from flyer.data.sources.base import to_dict as source_to_dict
from flyer.data.sources.sim import SimSource

SOURCE_KINDS = ("sim", "files", "akshare", "baostock")  # the sources a nightly job can follow
SCHEDULES = ("never", "monthly")

__all__ = ["ConfigError", "NightlyConfig", "PortfolioConfig", "RetrainConfig", "from_dict", "load"]


@dataclass(frozen=True)
class PortfolioConfig(Config):
    """Tomorrow's book: any strategy the backtester runs, plus where the holdings come from.

    ``backtest`` is read from the ``[portfolio]`` table (same keys as a backtest config; cost
    keys flat or under ``costs``) and drives the same target and order logic
    (``flyer.backtest.orders.orders_for_tomorrow``). For the nightly: ``capital`` is the
    book's starting cash (and the cash next to a holdings file), CNY; ``deal_price`` is the
    price of tomorrow's bar the orders are meant to fill at (open / close / vwap, as the
    backtest assumed; they are sized at tonight's close). The keys in ``BACKTEST_ONLY`` mean
    nothing to a book that trades every night and assumes its orders fill, so a value other
    than the default is refused rather than ignored.
    """

    SECTION = "portfolio"
    BACKTEST_ONLY = ("start", "end", "rebalance_every", "retry", "benchmark")

    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    holdings_file: str | None = None  # CSV/Parquet with symbol, shares (overrides last night's targets)

    @classmethod
    def normalise(cls, raw: dict[str, Any], where: str) -> dict[str, Any]:
        """The flat ``[portfolio]`` table -> ``{backtest: {...}, holdings_file}``."""
        if "backtest" in raw and isinstance(raw["backtest"], (dict, BacktestConfig)):
            return raw  # already nested (``to_dict`` form)
        raw = dict(raw)
        out: dict[str, Any] = {}
        if "holdings_file" in raw:
            out["holdings_file"] = raw.pop("holdings_file")
        known = {f.name for f in dataclasses.fields(BacktestConfig)} | COST_KEYS | ENHANCE_KEYS
        unknown = sorted(set(raw) - known)
        check(not unknown, "", f"unknown setting(s) in {where}: {', '.join(unknown)}")
        defaults = BacktestConfig()
        only = [k for k in cls.BACKTEST_ONLY if k in raw and raw[k] != getattr(defaults, k)]
        check(not only, f"{where}.{only[0] if only else ''}", "is a backtest-only setting (the nightly rebalances "
              "every night and assumes its orders fill); remove it")
        out["backtest"] = BacktestConfig.from_dict(raw, where)
        return out

    def __post_init__(self) -> None:
        check(self.holdings_file is None or self.holdings_file != "", "portfolio.holdings_file",
              "must be a file path")

    def to_dict(self) -> dict[str, Any]:
        return {"backtest": self.backtest.to_dict(), "holdings_file": self.holdings_file}


@dataclass(frozen=True)
class RetrainConfig(Config):
    """Optional scheduled retraining (a LightGBM run on a rolling window ending before the day)."""

    SECTION = "retrain"

    schedule: str = "never"
    model: str = "lgbm"
    train_years: int = 3
    valid_months: int = 6

    def __post_init__(self) -> None:
        from flyer.models.config import MODEL_KINDS

        check(self.schedule in SCHEDULES, "retrain.schedule", f"must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        check(self.model in MODEL_KINDS, "retrain.model", f"must be one of {', '.join(MODEL_KINDS)}, got {self.model!r}")
        check(1 <= self.train_years <= 30, "retrain.train_years", f"must be an integer in 1..30, got {self.train_years!r}")
        check(1 <= self.valid_months <= 60, "retrain.valid_months",
              f"must be an integer in 1..60, got {self.valid_months!r}")


@dataclass(frozen=True)
class NightlyConfig(Config):
    """Everything a nightly run depends on besides the date and the store.

    ``runs``: the run ids scored each night; the factor sets the nightly computes and stores are
    theirs (by content key). ``factor_set``: optional; when given, every run that reads factors
    must use exactly this set (same ``FactorSet.key()``; the nightly refuses a mismatch), and
    scheduled retraining trains on it (default ``alpha158``). Every value is checked here, at
    load; what needs the home (runs exist, ``k`` fits the market) is checked by
    ``flyer.stages.preflight`` before any stage runs."""

    SECTION = ""

    factor_set: str | None = None
    runs: tuple[str, ...] = ()
    source: Source = field(default_factory=SimSource)
    portfolio: PortfolioConfig = field(default_factory=PortfolioConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)

    @classmethod
    def normalise(cls, raw: dict[str, Any], where: str) -> dict[str, Any]:
        """``[source]`` becomes a typed source; ``runs`` may be one id."""
        raw = dict(raw)
        if "source" in raw and not isinstance(raw["source"], Source):
            try:
                raw["source"] = source_from_dict(raw["source"] or {})
            except ConfigError:
                raise
            except FlyerError as exc:
                raise ConfigError(str(exc)) from None
        runs = raw.get("runs")
        if isinstance(runs, str):
            raw["runs"] = [runs]
        elif runs is not None and not isinstance(runs, (list, tuple)):
            raise ConfigError(f"runs must be a list of run ids (strings), got {runs!r}")
        return raw

    def __post_init__(self) -> None:
        from flyer.core.names import safe_name

        check(self.factor_set is None or bool(self.factor_set), "factor_set",
              f"must be a factor set name or file, got {self.factor_set!r}")
        for rid in self.runs:
            try:
                safe_name(rid, "run id")
            except FlyerError as exc:
                raise ConfigError(f"runs: {exc}") from None
        check(self.source.kind in SOURCE_KINDS, "source.kind",
              f"must be one of {', '.join(SOURCE_KINDS)}, got {self.source.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["source"] = source_to_dict(self.source)
        return d


def from_dict(raw: dict[str, Any]) -> NightlyConfig:
    """Build a config from a parsed TOML/YAML mapping; unknown keys and bad values are errors."""
    return NightlyConfig.from_dict(raw, "")


def load(path: str | Path | None) -> NightlyConfig:
    """Read a TOML or YAML nightly config; None gives the defaults (sim source)."""
    if path is None:
        return NightlyConfig()
    raw = read_file(path, what="config")
    try:
        return from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"config: {exc}") from None
