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
import datetime as dt
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flyer.backtest.config import ENHANCE_KEYS, BacktestConfig, CostConfig
from flyer.data.sources.base import Source, source_from_dict
from flyer.data.sources.base import to_dict as source_to_dict
from flyer.data.sources.sim import SimSource
from flyer.errors import FlyerError

SOURCE_KINDS = ("sim", "files", "akshare", "baostock")  # the sources a nightly job can follow
SCHEDULES = ("never", "monthly")


@dataclass(frozen=True)
class PortfolioConfig:
    """Tomorrow's book: any strategy the backtester runs, plus where the holdings come from.

    ``backtest`` is read from the ``[portfolio]`` table with ``BacktestConfig.from_dict`` (same
    keys as a backtest config; cost keys flat or under ``costs``) and drives the same target
    and order logic (``flyer.backtest.orders.orders_for_tomorrow``). For the nightly:
    ``capital`` is the book's starting cash (and the cash next to a holdings file), CNY;
    ``deal_price`` is the price of tomorrow's bar the orders are meant to fill at (open /
    close / vwap, as the backtest assumed; they are sized at tonight's close). The keys in
    ``BACKTEST_ONLY`` mean nothing to a book that trades every night and assumes its orders
    fill, so a value other than the default is refused rather than ignored.
    """

    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    holdings_file: str | None = None  # CSV/Parquet with symbol, shares (overrides last night's targets)

    BACKTEST_ONLY = ("start", "end", "rebalance_every", "retry", "benchmark")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "PortfolioConfig":
        """Build from the ``[portfolio]`` table; unknown or backtest-only keys are ``FlyerError``s."""
        raw = dict(raw)
        holdings = raw.pop("holdings_file", None)
        known = ({f.name for f in dataclasses.fields(BacktestConfig)}
                 | {f.name for f in dataclasses.fields(CostConfig)} | ENHANCE_KEYS)
        unknown = set(raw) - known
        if unknown:
            raise FlyerError(f"config: unknown key(s) in portfolio: {', '.join(sorted(unknown))}")
        defaults = BacktestConfig()
        only = [k for k in cls.BACKTEST_ONLY if k in raw and raw[k] != getattr(defaults, k)]
        if only:
            raise FlyerError(f"config: portfolio.{only[0]} is a backtest-only setting (the nightly "
                             "rebalances every night and assumes its orders fill); remove it")
        try:
            return cls(BacktestConfig.from_dict(raw), holdings)
        except (TypeError, ValueError) as exc:
            raise FlyerError(f"config: portfolio: {exc}") from None


@dataclass(frozen=True)
class RetrainConfig:
    """Optional scheduled retraining (a LightGBM run on a rolling window ending before the day)."""

    schedule: str = "never"
    model: str = "lgbm"
    train_years: int = 3
    valid_months: int = 6


@dataclass(frozen=True)
class NightlyConfig:
    """Everything a nightly run depends on besides the date and the store.

    ``runs``: the run ids scored each night; the factor sets the nightly computes and stores are
    theirs (by content key). ``factor_set``: optional; when given, every run that reads factors
    must use exactly this set (same ``FactorSet.key()``; the nightly refuses a mismatch), and
    scheduled retraining trains on it (default ``alpha158``)."""

    factor_set: str | None = None
    runs: tuple[str, ...] = ()
    source: Source = field(default_factory=SimSource)
    portfolio: PortfolioConfig = field(default_factory=PortfolioConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)

    def __post_init__(self) -> None:
        if self.factor_set is not None and (not isinstance(self.factor_set, str) or not self.factor_set):
            raise FlyerError(f"config: factor_set must be a factor set name or file, got {self.factor_set!r}")
        if self.source.kind not in SOURCE_KINDS:
            raise FlyerError(f"config: source.kind must be one of {', '.join(SOURCE_KINDS)}, got {self.source.kind!r}")
        if self.retrain.schedule not in SCHEDULES:
            raise FlyerError(f"config: retrain.schedule must be one of {', '.join(SCHEDULES)}")

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["source"] = source_to_dict(self.source)
        # the embedded BacktestConfig by its own to_dict (strategy settings only where they apply)
        d["portfolio"] = {"backtest": self.portfolio.backtest.to_dict(), "holdings_file": self.portfolio.holdings_file}
        d = {k: (dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v) for k, v in d.items()}
        return json.loads(json.dumps(d, default=str))

    def key(self) -> str:
        """Content hash (12 hex) of the canonical JSON of the config."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(raw) - set(names)
    if unknown:
        raise FlyerError(f"config: unknown key(s) in {where}: {', '.join(sorted(unknown))}")
    out = {}
    for k, v in raw.items():
        default = names[k].default
        if isinstance(default, dt.date) and isinstance(v, str):
            try:
                v = dt.date.fromisoformat(v)
            except ValueError:
                raise FlyerError(f"config: {where}.{k} must be a date YYYY-MM-DD, got {v!r}") from None
        out[k] = v
    return cls(**out)


def from_dict(raw: dict[str, Any]) -> NightlyConfig:
    """Build a config from a parsed TOML/YAML mapping; unknown keys are errors."""
    raw = dict(raw)
    parts = {"portfolio": PortfolioConfig, "retrain": RetrainConfig}
    kwargs: dict[str, Any] = {"source": source_from_dict(raw.pop("source", {}) or {})}
    for name, cls in parts.items():
        section = raw.pop(name, {}) or {}
        if not isinstance(section, dict):
            raise FlyerError(f"config: [{name}] must be a table")
        kwargs[name] = cls.from_dict(section) if cls is PortfolioConfig else _build(cls, section, name)
    if "runs" in raw:
        runs = raw.pop("runs")
        kwargs["runs"] = tuple([runs] if isinstance(runs, str) else runs)
    top = _build(NightlyConfig, raw, "the top level") if raw else None
    return dataclasses.replace(top, **kwargs) if top else NightlyConfig(**kwargs)


def load(path: str | Path | None) -> NightlyConfig:
    """Read a TOML or YAML nightly config; None gives the defaults (sim source)."""
    if path is None:
        return NightlyConfig()
    p = Path(path)
    if not p.exists():
        raise FlyerError(f"config file not found: {p}")
    text = p.read_text()
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text) or {}
        else:
            raw = tomllib.loads(text)
    except Exception as exc:  # noqa: BLE001 - report any parse error in one line
        raise FlyerError(f"config {p}: cannot parse: {str(exc).splitlines()[0]}") from exc
    return from_dict(raw)
