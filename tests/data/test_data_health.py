"""``flyer check`` and the health-check registry."""
from __future__ import annotations

from pathlib import Path

import pytest

from flyer.cli import main
from flyer.data import findings, health
from flyer.data.store import MarketStore


def test_sim_store_has_no_errors_and_a_table_per_year(sim_store: MarketStore) -> None:
    found = health.run(sim_store)
    assert not [f for f in found if f.level == "error"]
    years = [f for f in found if f.area == "coverage" and f.message.startswith("bars per year")][0].table
    assert years["year"].to_list() == [2018, 2019, 2020]


def test_registered_check_runs_and_errors_come_first(sim_store: MarketStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(findings, "_CHECKS", {})  # the registry lives in flyer.data.findings
    health.check("demo")(lambda store: [health.Finding("info", "demo", "i"), health.Finding("error", "demo", "e")])
    assert [f.message for f in health.run(sim_store, ("demo",))] == ["e", "i"]


def test_cli_check_exits_1_on_an_empty_store(fresh_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with MarketStore.open(fresh_home):
        pass
    with pytest.raises(SystemExit) as ex:
        main(["check", "--home", str(fresh_home)])
    assert ex.value.code == 1 and "holds no bars" in capsys.readouterr().out
