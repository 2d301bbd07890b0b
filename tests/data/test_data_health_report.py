"""``flyer check`` as a data-health report on a sim market built so that ``amount`` vanishes in
2020 (as it does on the real data in 2022): the field warning, the factor null shares by year,
and ``flyer train`` warning about (or refusing) features that go empty in the test span."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flyer.cli import main
from flyer.data import health
from flyer.data.health_fields import regime_changes
from flyer.data.store import MarketStore
from flyer.core.errors import FlyerError

CUT = dt.date(2020, 1, 2)


@pytest.fixture(scope="module")
def vanishing_home(tmp_path_factory: pytest.TempPathFactory, sim_frames: dict, sim_config) -> Path:  # noqa: ANN001
    """The small sim market with ``amount`` null on every bar from CUT on."""
    home = tmp_path_factory.mktemp("vanishing")
    frames = dict(sim_frames)
    frames["bars"] = frames["bars"].with_columns(
        pl.when(pl.col("date") >= CUT).then(None).otherwise(pl.col("amount")).alias("amount"))
    with MarketStore.open(home) as store:
        store.write("sim", frames, start=sim_config.start, end=sim_config.end)
    (home / "vw.toml").write_text('vw = "Mean($turnover, 5)"\nmom = "$close / Ref($close, 5) - 1"\n')
    return home


def test_regime_changes_finds_the_day() -> None:
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(100)]
    share = np.r_[np.zeros(60), np.full(40, 0.97)]
    assert regime_changes(days, share) == [(days[60], "vanishes", 0.0, pytest.approx(0.97))]
    assert regime_changes(days, share[::-1])[0][:2] == (days[40], "appears")
    assert regime_changes(days, np.full(100, 0.5)) == []


def test_check_flags_the_field_that_vanishes(vanishing_home: Path, sim_home: Path) -> None:
    with MarketStore.open(vanishing_home, read_only=True) as store:
        found = health.run(store)
    warnings = [f.message for f in found if f.level == "warning"]
    assert any(m.startswith(f"amount vanishes from {CUT}: null on 100.0% of stock-days") and "$turnover" in m
               for m in warnings), warnings
    table = next(f.table for f in found if f.message.startswith("stock-days: null share"))
    amount = table.filter(pl.col("null share") == "amount").row(0, named=True)
    assert amount["2019"] == "0.0%" and amount["2020"] == "100.0%"
    areas = {f.area for f in found}
    assert {"fields", "trading", "calendar", "membership", "index", "coverage"} <= areas
    with MarketStore.open(sim_home, read_only=True) as store:  # the untouched market: no field warning
        assert not [f for f in health.run(store, ("fields",)) if f.level == "warning"]


def test_check_cli_factor_null_shares(vanishing_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["check", "--factors", str(vanishing_home / "vw.toml"), "--home", str(vanishing_home)])
    out = capsys.readouterr().out
    assert not ex.value.code, out
    assert f"amount vanishes from {CUT}" in out
    assert re.search(r"warning +factors +vw \(\w{12}\) on all: 1 factor\(s\) go empty in 2020 .*: vw$", out, re.M), out
    assert out.index("warning") < out.index("info")  # warnings first


def test_train_warns_or_refuses_on_features_that_go_empty(vanishing_home: Path) -> None:
    from flyer import models

    cfg = models.make_config("linear", train=(dt.date(2018, 3, 1), dt.date(2018, 12, 31)),
                             valid=(dt.date(2019, 1, 1), dt.date(2019, 6, 30)),
                             test=(dt.date(2020, 1, 1), dt.date(2020, 6, 30)), factors=str(vanishing_home / "vw.toml"))
    lines: list[str] = []
    with MarketStore.open(vanishing_home, read_only=True) as store:
        with pytest.raises(FlyerError, match=r"refusing to train: 1 feature\(s\) mostly null in the test span .*vw \(0% -> 9\d%\)"):
            models.train(store, cfg, home=vanishing_home, null_features="refuse")
        run = models.train(store, cfg, home=vanishing_home, log=lines.append)
    assert [x for x in lines if x.startswith("warning: 1 feature(s)")], lines
    assert "vw (0% -> 9" in run.meta["feature_warnings"][0] and "mom" not in run.meta["feature_warnings"][0]


def test_train_cli_refuses_with_the_flag(vanishing_home: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLYER_DEBUG", raising=False)
    args = ["train", "--model", "linear", "--factors", str(vanishing_home / "vw.toml"), "--train",
            "2018-03-01:2018-12-31", "--valid", "2019-01-01:2019-06-30", "--test", "2020-01-01:2020-06-30",
            "--home", str(vanishing_home), "--seed", "3"]
    with pytest.raises(SystemExit) as ex:
        main([*args, "--refuse-null-features"])
    err = capsys.readouterr().err.strip()
    assert ex.value.code == 1 and len(err.splitlines()) == 1 and err.startswith("error: refusing to train: 1 feature")
    with pytest.raises(SystemExit) as ex:
        main(args)
    out = capsys.readouterr().out
    assert not ex.value.code and "warning: 1 feature(s) mostly null in the test span" in out
