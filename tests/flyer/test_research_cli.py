"""Workflow files end to end through the CLI on the small sim: ``flyer run examples/research.toml``,
its no-op rerun, ``flyer experiments``, ``flyer runs``, ``flyer compare``, ``flyer runs export``,
and progress lines in the (non-terminal) output."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

import polars as pl
import pytest

from flyer.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ex:
        main(args)
    out = capsys.readouterr()
    return int(ex.value.code or 0), out.out + out.err


def _mtimes(*folders: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for f in folders for p in f.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """examples/research.toml run once in a fresh home: (home, experiment id, CLI output)."""
    home = tmp_path_factory.mktemp("research_home")
    capsys = _Capture()
    with capsys:
        try:
            main(["run", str(EXAMPLES / "research.toml"), "--home", str(home)])
        except SystemExit as exc:
            assert not exc.code, capsys.text
    (exp,) = [p.name for p in (home / "experiments").iterdir()]
    return home, exp, capsys.text


class _Capture:
    """stdout/stderr capture usable in a module-scoped fixture (capsys is function-scoped)."""

    def __enter__(self) -> "_Capture":
        import contextlib
        import io

        self.buf = io.StringIO()
        self._ctx = [contextlib.redirect_stdout(self.buf), contextlib.redirect_stderr(self.buf)]
        for c in self._ctx:
            c.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for c in reversed(self._ctx):
            c.__exit__(*exc)
        self.text = self.buf.getvalue()


def test_workflow_runs_end_to_end_with_progress_lines(experiment: tuple[Path, str, str]) -> None:
    home, exp, out = experiment
    folder = home / "experiments" / exp
    summary = json.loads((folder / "summary.json").read_text())
    assert [m["name"] for m in summary["models"]] == ["gbdt", "ridge"]
    assert [(b["name"], b["model"]) for b in summary["backtests"]] == [("top20", "gbdt"), ("top20", "ridge"),
                                                                       ("top40", "gbdt")]
    for b in summary["backtests"]:
        assert Path(b["report"]).exists() and Path(b["path"], "daily.parquet").exists()
        assert b["information_ratio"] is not None
    assert (folder / "reports" / "factors_ideas.html").stat().st_size > 10_000
    assert pl.read_csv(folder / "factors" / "ideas" / "summary.csv")["factor"].to_list() in (["rev5", "vol_price"],
                                                                                           ["vol_price", "rev5"])
    resolved = json.loads((folder / "resolved.json").read_text())
    assert resolved["experiment"] == exp and summary["workflow_key"] == resolved["key"]
    assert resolved["models"][0]["config_key"] != summary["models"][0]["run"]  # a run id adds the data
    assert "summary" not in (folder / "workflow.toml").read_text() and "[[models]]" in (folder / "workflow.toml").read_text()
    # progress of every long step, as plain lines (not a terminal)
    for needle in ("ingest sim: done", "factors ideas: done", "evaluating factors: ",
                   "training lgbm: started (1 folds)", "fold 1/1 lgbm: started (200 rounds)", "valid ic ",
                   "training linear: done"):
        assert needle in out, needle
    assert re.search(r"evaluating factors: (\d+)/\1 groups", out), out  # the streamed evaluation's last step
    assert "\x1b[" not in out  # no terminal control codes in a log


def test_rerun_of_an_unchanged_workflow_is_a_no_op(experiment: tuple[Path, str, str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    home, exp, _ = experiment
    before = _mtimes(home / "experiments", home / "runs", home / "backtests")
    code, out = _cli(["run", str(EXAMPLES / "research.toml"), "--home", str(home)], capsys)
    assert code == 0 and f"experiment {exp} (research) is complete on the same data: nothing to do" in out
    assert "training" not in out and "ingest sim" not in out
    assert _mtimes(home / "experiments", home / "runs", home / "backtests") == before
    # an edit of content is a new experiment that reuses the runs it shares
    code, out = _cli(["run", str(EXAMPLES / "research.toml"), "--set", "backtests.1.k=30", "--home", str(home)], capsys)
    assert code == 0 and "not ingested again" in out and "exists with the same config and data: reused" in out
    assert "top20 on gbdt: saved backtest reused" in out and "top40 on gbdt: ran" in out
    assert len(list((home / "experiments").iterdir())) == 2


def test_runs_experiments_and_compare(experiment: tuple[Path, str, str], capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      console_width: Callable[[int], None]) -> None:
    home, exp, _ = experiment
    monkeypatch.setenv("COLUMNS", "120")  # flyer.cli.main keeps the width it is given
    console_width(120)  # the runs table on one line (narrower consoles split it: test_run_identity)
    code, out = _cli(["runs", "--home", str(home)], capsys)
    summary = json.loads((home / "experiments" / exp / "summary.json").read_text())
    gbdt = summary["models"][0]["run"]
    line = next(x for x in out.splitlines() if x.startswith(gbdt))
    assert code == 0 and re.search(r"\d+\.\d%\s+-?\d+\.\d\d\s+\d+/\d+$", line), line  # canonical backtest: excess, IR; fit
    # the canonical backtest is the first saved (top20), however many came after (top40, and top30 of the rerun)
    first, later = (next(b for b in summary["backtests"] if b["model"] == "gbdt" and b["name"] == n)
                    for n in ("top20", "top40"))
    assert f"{first['excess_annual_return']:.1%}" in line and "the first saved" in out
    code, out = _cli(["runs", "mark", later["backtest"], "--home", str(home)], capsys)
    assert code == 0 and f"canonical backtest {later['backtest']} (marked)" in out
    code, out = _cli(["runs", "--home", str(home)], capsys)
    line = next(x for x in out.splitlines() if x.startswith(gbdt))
    assert f"{later['excess_annual_return']:.1%}*" in line and "* = marked" in out
    assert json.loads((home / "backtests" / later["backtest"] / "meta.json").read_text())["id"] == later["backtest"]
    code, out = _cli(["experiments", "--home", str(home)], capsys)
    assert code == 0 and exp in out and "done" in out
    page, csv = tmp_path / "cmp.html", tmp_path / "cmp.csv"
    code, out = _cli(["compare", exp, gbdt, "--out", str(page), "--csv", str(csv), "--home", str(home)], capsys)
    assert code == 0 and "information ratio" in out and "excess / yr (geometric)" in out, out
    text = page.read_text()
    assert "plotly" in text and "Cumulative daily RankIC" in text and "NAV (start = 1)" in text
    values = pl.read_csv(csv)
    assert values.height == 4 and values["run"].to_list().count(gbdt) == 3
    assert values.filter(pl.col("k / n_drop") == "40 / 5").height >= 1  # the gbdt run's latest may be it too
    code, out = _cli(["compare", gbdt, "--home", str(home)], capsys)
    assert code == 1 and "at least two" in out


def test_runs_export_csv_and_mlflow(experiment: tuple[Path, str, str], capsys: pytest.CaptureFixture[str],
                                    tmp_path: Path) -> None:
    home, _, _ = experiment
    code, out = _cli(["runs", "export", "--csv", str(tmp_path / "runs.csv"), "--home", str(home)], capsys)
    runs = pl.read_csv(tmp_path / "runs.csv")
    assert code == 0 and runs.height == 2 and {"test.IC", "model.kind", "backtest.information_ratio",
                                               "backtest.how"} <= set(runs.columns)
    assert set(runs["backtest.how"].to_list()) <= {"first", "marked"}
    mlflow = pytest.importorskip("mlflow")
    folder = tmp_path / "mlruns"
    for _ in range(2):  # exporting twice replaces, never duplicates
        code, out = _cli(["runs", "export", "--mlflow", str(folder), "--home", str(home)], capsys)
        assert code == 0, out
    client = mlflow.tracking.MlflowClient(folder.resolve().as_uri())
    found = client.search_runs([client.get_experiment_by_name("flyer").experiment_id])
    assert sorted(r.info.run_name for r in found) == sorted(runs["run"].to_list())
    assert all("test_IC" in r.data.metrics and r.data.params["model.kind"] in ("lgbm", "linear") for r in found)
    gbdt = next(r for r in found if r.data.params["model.kind"] == "lgbm")
    rid, row = gbdt.info.run_id, runs.filter(pl.col("run") == gbdt.info.run_name).row(0, named=True)
    assert gbdt.data.tags["backtest"] == row["backtest.id"] and gbdt.data.tags["backtest_how"] == row["backtest.how"]
    # series MLflow's UI can plot: per day (NAV, excess, benchmark, IC) and per fold, read back
    daily = pl.read_parquet(home / "backtests" / row["backtest.id"] / "daily.parquet")
    nav = client.get_metric_history(rid, "daily_nav")
    assert len(nav) == daily.height and [m.step for m in nav] == list(range(daily.height))
    assert nav[-1].value == pytest.approx(daily["nav"][-1] / daily["nav"][0])
    assert len(client.get_metric_history(rid, "daily_excess")) == daily.height
    ic = client.get_metric_history(rid, "daily_rank_ic")
    assert len(ic) > 100 and len(client.get_metric_history(rid, "cumulative_rank_ic")) == len(ic)
    folds = client.get_metric_history(rid, "fold_test_RankIC")
    assert [m.step for m in folds] == [0] and folds[0].value == pytest.approx(row["test.RankIC"])
    # artefacts: the run's files, the model, the predictions, the backtest with a report that opens alone
    arts = {f.path for d in ("run", "model", "predictions", "backtest") for f in client.list_artifacts(rid, d)}
    assert {"run/config.json", "model/model_0.txt", "predictions/predictions.parquet",
            "backtest/daily.parquet", "backtest/report.html"} <= arts, arts
    page = Path(client.download_artifacts(rid, "backtest/report.html", str(tmp_path))).read_text()
    assert "<script src=" not in page and len(page) > 3_000_000  # plotly.js inlined
    preds = pl.read_parquet(client.download_artifacts(rid, "predictions/predictions.parquet", str(tmp_path)))
    assert preds.equals(pl.read_parquet(home / "runs" / gbdt.info.run_name / "predictions.parquet"))
    pytest.importorskip("sqlalchemy")  # flyer[mlflow] installs it (and alembic): a sqlite: URI works
    pytest.importorskip("alembic")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, out = _cli(["runs", "export", "--mlflow", uri, "--home", str(home)], capsys)
    assert code == 0, out
    db = mlflow.tracking.MlflowClient(uri)
    (hit,) = db.search_runs([db.get_experiment_by_name("flyer").experiment_id],
                            filter_string=f"tags.flyer_run = '{gbdt.info.run_name}'")
    assert len(db.get_metric_history(hit.info.run_id, "daily_nav")) == daily.height
    assert (tmp_path / "mlartifacts").is_dir() and not Path("mlruns").exists()  # artefacts beside the db, not in cwd


def test_every_example_workflow_resolves() -> None:
    from flyer.workflow import load

    for path in sorted(EXAMPLES.glob("*.toml")):
        wf = load(path)
        assert wf.models and len(wf.key) == 12, path
