"""The everyday path, end to end through the CLI on a small sim (issue 22, "one system"):

demo -> nightly on the demo's last date -> the same date again (a no-op) -> --force -> the next
date -> a workflow on the same market -> its rerun (a no-op) -> the CLI backtest of the
workflow's config (the same saved record and report sections) -> the workflow on another market
in the same home (refused; with mix_markets: new ids, nothing reused) -> compare -> runs export.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import polars as pl
import pytest

from flyer.cli import main

WORKFLOW = """
name = "journey"
[data]
source = "sim"
stocks = 60
seed = 42
start = 2019-01-01
end = 2021-12-31

[[models]]
name = "ridge"
model = "linear"
factors = "basic"
train = "2019-03-01:2019-12-31"
valid = "2020-01-01:2020-06-30"
test = "2020-07-01:2021-12-31"

[[backtests]]
name = "top10"
k = 10
n_drop = 2
"""


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ex:
        main(args)
    out = capsys.readouterr()
    return int(ex.value.code or 0), out.out + out.err


def _headings(page: Path) -> list[str]:
    return re.findall(r"<h2>([^<]+)</h2>", page.read_text())


@pytest.mark.slow
def test_everyday_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    h = ["--home", str(home)]

    # 1. the demo (quick), which writes the nightly config of its run on its market
    code, out = _cli(["demo", "--quick", "--stocks", "60", *h], capsys)
    assert code == 0, out
    m = re.search(r"next: flyer nightly --config (\S+) --date (\S+)", out)
    assert m, out
    config, last = m.group(1), m.group(2)
    assert last == "2021-12-31"
    wall = re.search(r"wall time +(\d+)s \((.*)\)", out)
    assert wall and "values for the nightly" in wall.group(2), out   # every step named: the parts add up
    parts = [int(x) for x in re.findall(r" (\d+)s", " " + wall.group(2))]
    assert abs(sum(parts) - int(wall.group(1))) <= len(parts), out  # whole seconds, each rounded

    # 2. the nightly on the demo's last date, 3. again (nothing to do), 4. --force
    code, out = _cli(["nightly", "--config", config, "--date", last, *h], capsys)
    assert code == 0 and "ran ingest, validate, factors, score, portfolio, orders" in out, out
    assert "already stored through 2021-12-31" in out
    orders = pl.read_csv(home / "nightly" / last / "orders.csv")
    assert orders.height > 0 and (orders["side"] == "buy").all()
    code, out = _cli(["nightly", "--config", config, "--date", last, *h], capsys)
    assert code == 0 and "nothing (already done)" in out, out
    code, out = _cli(["nightly", "--config", config, "--date", last, "--force", *h], capsys)
    assert code == 0 and "ran ingest, validate, factors, score, portfolio, orders" in out, out
    assert pl.read_csv(home / "nightly" / last / "orders.csv").equals(orders)

    # 5. the next trading day: the feed goes on, one date of factors is computed
    nxt = "2022-01-04"
    code, out = _cli(["nightly", "--config", config, "--date", nxt, *h], capsys)
    assert code == 0 and "1 date(s) computed" in out, out
    assert (home / "nightly" / nxt / "orders.csv").exists()

    # 6. a workflow on the same market, 7. its rerun does nothing
    wf = tmp_path / "journey.toml"
    wf.write_text(WORKFLOW)
    code, out = _cli(["run", str(wf), *h], capsys)
    assert code == 0 and "ridge: run" in out and "trained" in out, out
    exp = re.search(r"experiment (\w+) -> ", out).group(1)  # type: ignore[union-attr]
    summary = json.loads((home / "experiments" / exp / "summary.json").read_text())
    run_id, record = summary["models"][0]["run"], summary["backtests"][0]["backtest"]
    code, out = _cli(["run", str(wf), *h], capsys)
    assert code == 0 and f"experiment {exp} (journey) is complete on the same data: nothing to do" in out, out

    # 8. the CLI backtest of the workflow's config: the same saved record, the same report sections
    rec = home / "backtests" / record
    wf_daily, wf_trades, wf_sections = (pl.read_parquet(rec / "daily.parquet"), pl.read_parquet(rec / "trades.parquet"),
                                        _headings(rec / "report.html"))
    page = tmp_path / "cli.html"
    code, out = _cli(["backtest", "--run", run_id, "--k", "10", "--n-drop", "2", "--start", "2020-07-01",
                      "--end", "2021-12-31", "--report", str(page), *h], capsys)
    assert code == 0 and f"saved backtest {record}" in out, out
    assert _headings(page) == wf_sections and any("tress" in x for x in wf_sections), wf_sections
    assert pl.read_parquet(rec / "daily.parquet").equals(wf_daily)  # rewritten by the CLI under the same id
    assert pl.read_parquet(rec / "trades.parquet").equals(wf_trades)

    # 9. the workflow on another market in the same home: refused in one line, nothing written
    before = sorted(p.name for p in (home / "experiments").iterdir())
    runs_before = sorted(p.name for p in (home / "runs").iterdir())
    code, out = _cli(["run", str(wf), "--set", "data.stocks=40", *h], capsys)
    assert code == 1 and "a different market" in out and len(out.strip().splitlines()) == 2, out  # header + error
    assert sorted(p.name for p in (home / "experiments").iterdir()) == before
    assert sorted(p.name for p in (home / "runs").iterdir()) == runs_before
    #    ... and with mix_markets: new ids, nothing "reused"
    code, out = _cli(["run", str(wf), "--set", "data.stocks=40", "--set", "data.mix_markets=true", *h], capsys)
    assert code == 0 and "reused" not in out and "nothing to do" not in out, out
    exp2 = re.search(r"experiment (\w+) -> ", out).group(1)  # type: ignore[union-attr]
    s2 = json.loads((home / "experiments" / exp2 / "summary.json").read_text())
    assert exp2 != exp and s2["models"][0]["run"] != run_id and s2["backtests"][0]["backtest"] != record

    # 10. compare the two experiments, 11. export the runs
    code, out = _cli(["compare", exp, exp2, *h], capsys)
    assert code == 0 and "information ratio" in out, out
    csv = tmp_path / "runs.csv"
    code, out = _cli(["runs", "export", "--csv", str(csv), *h], capsys)
    assert code == 0 and {run_id, s2["models"][0]["run"]} <= set(pl.read_csv(csv)["run"].to_list()), out


def test_the_demo_writes_the_nightly_config_of_its_run(tmp_path: Path) -> None:
    from flyer.config import load
    from flyer.demo import DemoConfig

    cfg = DemoConfig.quick(60)
    path = tmp_path / "demo.toml"
    path.write_text(cfg.nightly_toml("abc123def456"))
    night = load(path)
    assert night.runs == ("abc123def456",) and night.source.stocks == 60 and night.source.seed == 42
    assert night.source.end > cfg.end and night.portfolio.backtest.k == cfg.k
    assert night.source.start == dt.date(2019, 1, 1)


def test_a_nightly_on_another_market_is_refused_before_any_stage(tmp_path: Path) -> None:
    from flyer.config import NightlyConfig
    from flyer.data.markets import MarketMismatchError
    from flyer.data.sources import ingest, make_source
    from flyer.data.sources.sim import SimSource
    from flyer.data.store import MarketStore
    from flyer.nightly import run_night

    with MarketStore.open(tmp_path) as store:
        ingest(store, make_source("sim", stocks=20, seed=3, start=dt.date(2021, 1, 1), end=dt.date(2021, 4, 30)))
        before = store.info().bar_rows
    other = NightlyConfig(runs=("abc123def456",), source=SimSource(stocks=30, seed=3, start=dt.date(2021, 1, 1),
                                                                    end=dt.date(2021, 6, 30)))
    with pytest.raises(MarketMismatchError, match=r"holds sim \(stocks 20.*stocks 30.*a different market"):
        run_night(tmp_path, other, dt.date(2021, 4, 30))
    with MarketStore.open(tmp_path, read_only=True) as store:
        assert store.info().bar_rows == before and store.query("SELECT count(*) AS n FROM nightly_log")["n"][0] == 0
