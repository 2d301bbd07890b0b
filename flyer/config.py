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
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flyer.backtest.config import ENHANCE_KEYS, BacktestConfig, CostConfig
from flyer.data.sources.base import Source, source_from_dict
from flyer.data.sources.base import to_dict as source_to_dict
from flyer.data.sources.sim import SimSource
from flyer.core.errors import FlyerError

SOURCE_KINDS = ("sim", "files", "akshare", "baostock")  # the sources a nightly job can follow
SCHEDULES = ("never", "monthly")


class ConfigError(FlyerError):
    """A nightly config that is not valid (a wrong type, a value out of range): bad input, exit 2."""

    exit_code = 2


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(f"config: {message}")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


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
            raise ConfigError(f"config: unknown key(s) in portfolio: {', '.join(sorted(unknown))}")
        defaults = BacktestConfig()
        only = [k for k in cls.BACKTEST_ONLY if k in raw and raw[k] != getattr(defaults, k)]
        if only:
            raise ConfigError(f"config: portfolio.{only[0]} is a backtest-only setting (the nightly "
                             "rebalances every night and assumes its orders fill); remove it")
        from flyer.data.sources.base import _coerce

        hints = typing.get_type_hints(BacktestConfig) | typing.get_type_hints(CostConfig)
        try:  # each value as its annotated type first: k = "ten" is named, not a TypeError
            raw = {k: (_coerce(v, hints[k], f"portfolio.{k}") if k in hints else v) for k, v in raw.items()}
        except FlyerError as exc:
            raise ConfigError(f"config: {exc}") from None
        try:
            return cls(BacktestConfig.from_dict(raw), holdings)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"config: portfolio: {exc}") from None

    def __post_init__(self) -> None:
        _need(self.holdings_file is None or (isinstance(self.holdings_file, str) and self.holdings_file != ""),
              f"portfolio.holdings_file must be a file path, got {self.holdings_file!r}")


@dataclass(frozen=True)
class RetrainConfig:
    """Optional scheduled retraining (a LightGBM run on a rolling window ending before the day)."""

    schedule: str = "never"
    model: str = "lgbm"
    train_years: int = 3
    valid_months: int = 6

    def __post_init__(self) -> None:
        from flyer.models.config import MODEL_KINDS

        _need(self.schedule in SCHEDULES, f"retrain.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        _need(self.model in MODEL_KINDS, f"retrain.model must be one of {', '.join(MODEL_KINDS)}, got {self.model!r}")
        _need(_is_int(self.train_years) and 1 <= self.train_years <= 30,
              f"retrain.train_years must be an integer in 1..30, got {self.train_years!r}")
        _need(_is_int(self.valid_months) and 1 <= self.valid_months <= 60,
              f"retrain.valid_months must be an integer in 1..60, got {self.valid_months!r}")


@dataclass(frozen=True)
class NightlyConfig:
    """Everything a nightly run depends on besides the date and the store.

    ``runs``: the run ids scored each night; the factor sets the nightly computes and stores are
    theirs (by content key). ``factor_set``: optional; when given, every run that reads factors
    must use exactly this set (same ``FactorSet.key()``; the nightly refuses a mismatch), and
    scheduled retraining trains on it (default ``alpha158``). Every value is checked here, at
    load; what needs the home (runs exist, ``k`` fits the market) is checked by
    ``flyer.stages.preflight`` before any stage runs."""

    factor_set: str | None = None
    runs: tuple[str, ...] = ()
    source: Source = field(default_factory=SimSource)
    portfolio: PortfolioConfig = field(default_factory=PortfolioConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)

    def __post_init__(self) -> None:
        from flyer.core.names import safe_name

        _need(self.factor_set is None or (isinstance(self.factor_set, str) and bool(self.factor_set)),
              f"factor_set must be a factor set name or file, got {self.factor_set!r}")
        _need(isinstance(self.runs, tuple), f"runs must be a list of run ids, got {self.runs!r}")
        for rid in self.runs:
            try:
                safe_name(rid, "run id")
            except FlyerError as exc:
                raise ConfigError(f"config: runs: {exc}") from None
        _need(self.source.kind in SOURCE_KINDS,
              f"source.kind must be one of {', '.join(SOURCE_KINDS)}, got {self.source.kind!r}")
        _need(isinstance(self.portfolio, PortfolioConfig) and isinstance(self.retrain, RetrainConfig),
              "portfolio and retrain must be tables")

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
    """``cls(**raw)`` with each value coerced to its annotated type (dates from ISO text,
    floats from integers); unknown keys and values of the wrong type are a ``ConfigError``."""
    from flyer.data.sources.base import _coerce

    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - names
    if unknown:
        raise ConfigError(f"config: unknown key(s) in {where}: {', '.join(sorted(unknown))}")
    hints = typing.get_type_hints(cls)
    out = {}
    for k, v in raw.items():
        try:
            out[k] = _coerce(v, hints[k], f"{where}.{k}") if k not in ("runs", "source") else v
        except FlyerError as exc:
            raise ConfigError(f"config: {exc}") from None
    return cls(**out)


def from_dict(raw: dict[str, Any]) -> NightlyConfig:
    """Build a config from a parsed TOML/YAML mapping; unknown keys and bad values are errors."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config: the file must hold a table of settings, got {type(raw).__name__}")
    raw = dict(raw)
    parts = {"portfolio": PortfolioConfig, "retrain": RetrainConfig}
    try:
        kwargs: dict[str, Any] = {"source": source_from_dict(raw.pop("source", {}) or {})}
    except ConfigError:
        raise
    except FlyerError as exc:
        raise ConfigError(str(exc)) from None
    for name, cls in parts.items():
        section = raw.pop(name, {}) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"config: [{name}] must be a table")
        kwargs[name] = cls.from_dict(section) if cls is PortfolioConfig else _build(cls, section, name)
    if "runs" in raw:
        runs = raw.pop("runs")
        if isinstance(runs, str):
            runs = [runs]
        if not isinstance(runs, list) or not all(isinstance(r, str) for r in runs):
            raise ConfigError(f"config: runs must be a list of run ids (strings), got {runs!r}")
        kwargs["runs"] = tuple(runs)
    top = _build(NightlyConfig, raw, "the top level") if raw else None
    return dataclasses.replace(top, **kwargs) if top else NightlyConfig(**kwargs)


def load(path: str | Path | None) -> NightlyConfig:
    """Read a TOML or YAML nightly config; None gives the defaults (sim source)."""
    if path is None:
        return NightlyConfig()
    p = Path(path)
    if not p.exists():
        raise FlyerError(f"config file not found: {p}")
    if not p.is_file():
        raise ConfigError(f"config {p} is a folder, not a file: pass --config FILE.toml")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {p}: cannot read it: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text) or {}
        else:
            raw = tomllib.loads(text)
    except Exception as exc:  # noqa: BLE001 - report any parse error in one line
        raise ConfigError(f"config {p}: cannot parse: {str(exc).splitlines()[0]}") from exc
    return from_dict(raw)
