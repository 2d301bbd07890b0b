"""The nightly book runs the backtester's strategies: ``[portfolio]`` is a ``BacktestConfig``
(plus ``holdings_file``), and tomorrow's orders equal the backtest's first trades."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from flyer.backtest.api import run
from flyer.backtest.config import BacktestConfig, CostConfig
from flyer.backtest.orders import orders_for_tomorrow
from flyer.config import NightlyConfig, PortfolioConfig, from_dict
from flyer.core.errors import FlyerError
from tests.backtest.conftest import HISTORY, scores_frame

PRICES = {"600001.SH": 10.0, "600002.SH": 12.5, "600003.SH": 33.33, "000001.SZ": 7.77,
          "000002.SZ": 21.0, "601001.SH": 15.0}
MEMBERS = {"600001.SH": 0.3, "600002.SH": 0.2, "600003.SH": 0.2, "000001.SZ": 0.1, "000002.SZ": 0.1,
           "601001.SH": 0.1}
NO_HOLDINGS = pl.DataFrame(schema={"symbol": pl.Utf8, "shares": pl.Float64})
STRATEGIES = [
    dict(k=3, n_drop=1),
    dict(k=4, n_drop=2, weighting="score"),
    dict(strategy="benchmark", active_limit=0.05),
    dict(strategy="benchmark", active_limit=0.2, commission=0.001, min_commission=20.0),
]


@pytest.fixture()
def flat(tiny):
    """Flat prices (open = close every day), scores on day HISTORY only."""
    store, days = tiny({s: [p] * (HISTORY + 3) for s, p in PRICES.items()}, members=MEMBERS)
    vals = [0.5, -1.0, 2.0, 0.1, 1.2, -0.3]
    scores = scores_frame(days, {s: [None] * HISTORY + [v] for s, v in zip(PRICES, vals)})
    return store, days, scores


@pytest.mark.parametrize("setting", range(len(STRATEGIES)))
def test_orders_for_tomorrow_equal_the_backtests_first_trades(flat, setting: int) -> None:
    store, days, scores = flat
    cfg = BacktestConfig(capital=1e6, deal_price="open").replace(**STRATEGIES[setting])
    res = run(store, scores, cfg.replace(start=days[HISTORY], end=days[HISTORY + 1]))
    first = res.trades().filter(pl.col("date") == days[HISTORY + 1])
    nightly = orders_for_tomorrow(store, scores, NO_HOLDINGS, 1e6, cfg, days[HISTORY])
    assert first.height >= 3 and (first["side"] == "buy").all()
    assert (nightly["side"] == "buy").all() and (nightly["deal_price"] == "open").all()
    got = dict(zip(nightly["symbol"], nightly["shares"].cast(pl.Float64)))
    assert got == dict(zip(first["symbol"], first["shares"]))


def test_portfolio_table_is_a_backtest_config() -> None:
    cfg = from_dict({"portfolio": {"strategy": "benchmark", "active_limit": 0.02, "k": 30, "commission": 0.0003,
                                   "costs": {"min_commission": 1.0}, "deal_price": "close",
                                   "capital": 5e6, "holdings_file": "h.csv"}})
    want = BacktestConfig(strategy="benchmark", active_limit=0.02, k=30, deal_price="close", capital=5e6,
                          costs=CostConfig(commission=0.0003, min_commission=1.0))
    assert cfg.portfolio == PortfolioConfig(want, "h.csv")
    assert NightlyConfig().portfolio.backtest == BacktestConfig()
    assert from_dict({"portfolio": {"retry": "next_rebalance", "rebalance_every": 1}}).portfolio.backtest == BacktestConfig()


@pytest.mark.parametrize("table, message", [
    ({"kk": 3}, "unknown setting(s) in portfolio: kk"),
    ({"rebalance_every": 5}, "portfolio.rebalance_every: is a backtest-only setting"),
    ({"retry": "next_day"}, "portfolio.retry: is a backtest-only setting"),
    ({"start": "2020-01-01"}, "portfolio.start: is a backtest-only setting"),
    ({"k": 5, "n_drop": 9}, "portfolio.n_drop: must be in [0, k = 5], got 9"),
    ({"strategy": "momentum"}, "portfolio.strategy: must be one of"),
    ({"costs": {"fee": 1}}, "unknown setting(s) in portfolio.costs: fee"),
])
def test_portfolio_table_errors(table: dict, message: str) -> None:
    with pytest.raises(FlyerError) as err:
        from_dict({"portfolio": table})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_nightly_book_runs_the_benchmark_strategy(flat, tmp_path: Path) -> None:
    from flyer.nightly import Night
    from flyer.portfolio import plan_book
    from flyer.runlog import RunLog

    store, days, scores = flat
    bt = BacktestConfig(strategy="benchmark", active_limit=0.05, capital=1e6, deal_price="vwap")
    RunLog(store)  # the nightly tables
    night = Night(tmp_path, store, NightlyConfig(portfolio=PortfolioConfig(bt)), days[HISTORY], days[HISTORY + 1],
                  tmp_path / "out")
    orders, targets, cash = plan_book(night, scores.filter(pl.col("date") == days[HISTORY]))
    assert set(orders["symbol"]) == set(MEMBERS) and (orders["side"] == "buy").all()
    assert 0 <= cash < 0.01 * bt.capital
    w = dict(zip(targets["symbol"], targets["weight"]))
    assert all(abs(w[s] - b) <= 0.05 + 0.01 for s, b in MEMBERS.items())   # within the active limit (+ lots)
    assert any("meant to fill at the vwap of " + str(days[HISTORY + 1]) in m for m in night.messages)
    assert dt.date.fromisoformat(str(targets["trade_date"][0])) == days[HISTORY + 1]


def test_readme_and_module_nightly_examples_parse() -> None:
    """The ``nightly.toml`` examples in README.md and flyer/config.py are valid configs."""
    import re
    import tomllib

    import flyer.config

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    block = re.search(r"## The nightly job.*?```toml\n(.*?)```", readme, re.S).group(1)
    module = re.search(r"Example \(``nightly.toml``\)::\n\n(.*?)\n\"\"\"", flyer.config.__doc__ + '\n"""', re.S).group(1)
    for text in (block, "\n".join(line[4:] for line in module.splitlines())):
        cfg = from_dict(tomllib.loads(text))
        assert cfg.portfolio.backtest.k == 50 and cfg.portfolio.backtest.deal_price == "open"
