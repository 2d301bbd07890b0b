"""One backtest session: a score source and a config in; the result with its attribution, stress
tables, report, exports and saved record out. The CLI (``flyer backtest``), the workflow
(``flyer run``) and notebooks call ``backtest`` and nothing else, so one config gives one result
wherever it runs.

``backtest(home, store, source, config, options)``:
  1. ``scores_of``: the [date, symbol, score] frame of the source (``ScoresFile``, ``RunScores``
     of one run or several blended on their validation periods (``flyer.models.blend``),
     ``FactorSetScores`` of a weighted factor pool, ``FrameScores``), with the notes it brings
     (the run's collapse warnings, the blend's weights) and the label its saved record is named
     by (``flyer.backtest.records.record_id``);
  2. with ``options.reuse`` and both dates given: the saved record of the same source, config
     and data (``flyer.data.identity.data_key``) is returned as is;
  3. ``flyer.backtest.api.run``; the source's notes go first in the result's notes;
  4. attribution (``flyer.backtest.attribution``; default: on when an optimiser made the
     weights), the stress-window and regime tables (``flyer.backtest.stress``; whenever they are
     asked for or a report is written);
  5. the report (``flyer.backtest.report.render``, the stress section included) rendered once
     and written to ``options.report`` and into the record; ``options.out`` exports the tables;
     ``options.save`` writes the record ``$FLYER_HOME/backtests/<id>/``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal

import polars as pl

from flyer.backtest.config import BacktestConfig
from flyer.core.config import content_key
from flyer.core.errors import FlyerError, UsageError
from flyer.core.names import safe_name

if TYPE_CHECKING:
    from flyer.backtest.attribution import Attribution
    from flyer.backtest.records import Record
    from flyer.backtest.result import BacktestResult
    from flyer.backtest.stress import Window
    from flyer.data.store import MarketStore

Home = str | os.PathLike[str] | None
Log = Callable[[str], None]


# ----------------------------------------------------------------------------- score sources
@dataclass(frozen=True)
class ScoresFile:
    """A Parquet or CSV file with columns date, symbol, score."""

    path: Path


@dataclass(frozen=True)
class RunScores:
    """The out-of-sample predictions of one saved run, or of several blended on their validation
    periods towards the label horizon ``blend_target`` (default: the first run's)."""

    runs: tuple[str, ...]
    blend_target: int | None = None

    def __post_init__(self) -> None:
        if not self.runs:
            raise UsageError("give at least one run id")
        for rid in self.runs:
            safe_name(rid, "run id")
        if self.blend_target is not None and len(self.runs) < 2:
            raise UsageError("--blend-target applies to several runs (--run ID,ID,...)")


@dataclass(frozen=True)
class FactorSetScores:
    """The weighted combined score of a factor pool file (``flyer mine``'s output)."""

    path: Path


@dataclass(frozen=True, eq=False)
class FrameScores:
    """A [date, symbol, score] frame built in Python."""

    frame: pl.DataFrame


ScoreSource = ScoresFile | RunScores | FactorSetScores | FrameScores


@dataclass(frozen=True, eq=False)
class Scores:
    """A resolved source: the ``frame`` [date, symbol, score]; ``label`` names its saved records
    (a run id, ``blend-<key>``, ``pool-<key>``, ``scores-<key>``); ``run`` the run id behind it
    (None for others); ``runs`` every run behind it; ``notes`` to print first (collapse
    warnings); ``blend`` the blend's contribution table [source, weight, ic, contribution]
    (test period, all years) when several runs were blended."""

    frame: pl.DataFrame
    label: str
    run: str | None = None
    runs: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    blend: pl.DataFrame | None = None
    description: str = ""


def read_scores(path: Path) -> pl.DataFrame:
    """[date, symbol, score] from a Parquet or CSV file (``FlyerError`` when missing or malformed)."""
    if not path.exists():
        raise FlyerError(f"scores file not found: {path}")
    if not path.is_file():
        raise FlyerError(f"scores {path} is a folder, not a file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pl.read_parquet(path)
        else:
            df = pl.read_csv(path, try_parse_dates=True)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise FlyerError(f"cannot read scores {path}: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}") from exc
    missing = [c for c in ("date", "symbol", "score") if c not in df.columns]
    if missing:
        raise FlyerError(f"scores file {path} is missing column(s): {', '.join(missing)} (need date, symbol, score)")
    if df.schema["date"] == pl.Utf8:
        df = df.with_columns(pl.col("date").str.to_date(strict=False))
    return df


def run_warnings(home: Home, run_id: str) -> list[str]:
    """The collapse warnings a run's ``metrics.json`` carries, prefixed with the run id."""
    import json

    from flyer.data.store import flyer_home

    path = flyer_home(home, create=False) / "runs" / safe_name(run_id, "run id") / "metrics.json"
    try:
        warnings = json.loads(path.read_text()).get("warnings", []) if path.exists() else []
    except (OSError, ValueError):
        warnings = []
    return [f"WARNING run {run_id}: {w}" for w in warnings if isinstance(w, str)]


def scores_of(home: Home, store: MarketStore, source: ScoreSource, config: BacktestConfig) -> Scores:
    """Step 1 of the module docstring."""
    from flyer.backtest.records import scores_key

    if isinstance(source, FrameScores):
        return Scores(source.frame, f"scores-{scores_key(source.frame)}", description="scores frame")
    if isinstance(source, ScoresFile):
        frame = read_scores(Path(source.path))
        return Scores(frame, f"scores-{scores_key(frame)}", description=f"scores file {source.path}")
    if isinstance(source, FactorSetScores):
        return _pool_scores(store, source, config)
    return _run_scores(home, source)


def _run_scores(home: Home, source: RunScores) -> Scores:
    from flyer.data.store import flyer_home

    notes = tuple(w for rid in source.runs for w in run_warnings(home, rid))
    if len(source.runs) == 1:
        rid = source.runs[0]
        path = flyer_home(home, create=False) / "runs" / rid / "predictions.parquet"
        if not path.exists():
            raise FlyerError(f"run {rid!r} has no predictions at {path}")
        return Scores(read_scores(path), rid, rid, (rid,), notes, description=f"run {rid}")
    from flyer.models.blend import blend
    from flyer.models.runs import load_run

    runs = [load_run(home, rid) for rid in source.runs]
    horizons = [r.config.data.label_horizon for r in runs]
    target = source.blend_target
    if target is not None and target not in horizons:
        raise UsageError(f"--blend-target {target}: no run has that label horizon (runs: {horizons})")
    mix = blend(runs, horizons.index(target) if target is not None else 0)
    table = mix.contributions.filter(pl.col("year") == "all").drop("year")
    ids = tuple(r.id for r in runs)
    label = f"blend-{content_key({'runs': ids, 'target': target})}"
    return Scores(mix.scores, label, None, ids, notes, table, f"blend of runs {', '.join(ids)}")


def _pool_scores(store: MarketStore, source: FactorSetScores, config: BacktestConfig) -> Scores:
    from flyer.factors.mining.poolfile import read_pool
    from flyer.factors.mining.score import combined_scores

    pool = read_pool(Path(source.path))
    frame = combined_scores(store, pool, config.start, config.end)
    where = "point in time" if "universe" in pool.meta else "point in time: not recorded in the file"
    note = (f"combined score: {len(pool.factor_set)} weighted factor(s) from {source.path}, universe "
            f"{pool.universe} ({where}), norm {pool.norm}; {frame['date'].n_unique()} dates")
    key = content_key({"pool": [[n, str(e)] for n, e in pool.factor_set], "weights": list(pool.weights),
                       "norm": pool.norm, "universe": pool.universe})
    return Scores(frame, f"pool-{key}", description=note)


# ----------------------------------------------------------------------------------- session
@dataclass(frozen=True)
class SessionOptions:
    """What a session adds to the bare backtest (module docstring).

    ``attribution``: risk-model attribution (None: when an optimiser made the weights);
    ``stress``: the stress-window and regime tables (always computed for a report); ``windows``:
    stress windows (None: ``flyer.backtest.stress.DEFAULT_WINDOWS``); ``report``: write the
    HTML report here; ``report_title``; ``out`` / ``out_format``: export the tables into this
    folder as csv or parquet; ``save``: write the saved record (sources with a run behind them,
    or ``save_all`` for any source); ``record_report``: the record keeps the report too;
    ``self_contained``: the report inlines plotly.js (else it loads the copy beside it);
    ``reuse``: return a saved record of the same source, config and data instead of running
    (both dates must be given)."""

    attribution: bool | None = None
    stress: bool = False
    windows: tuple[Window, ...] | None = None
    report: Path | None = None
    report_title: str | None = None
    out: Path | None = None
    out_format: Literal["csv", "parquet"] = "csv"
    save: bool = True
    save_all: bool = False
    record_report: bool = False
    reuse: bool = False
    self_contained: bool = False


@dataclass(frozen=True, eq=False)
class StressTables:
    """``windows`` (``flyer.backtest.stress.window_table``) and ``regimes`` (``regime_table``)."""

    windows: pl.DataFrame
    regimes: pl.DataFrame


@dataclass(frozen=True, eq=False)
class Session:
    """What ``backtest`` returns: the ``result`` (None when a saved record was reused), the
    resolved ``scores``, the ``attribution`` and ``stress`` tables when computed, the report
    path, the export folder, the saved ``record`` and whether it was ``reused``."""

    scores: Scores
    result: BacktestResult | None
    record: Record | None = None
    attribution: Attribution | None = None
    stress: StressTables | None = None
    report: Path | None = None
    out: Path | None = None
    reused: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


def backtest(home: Home, store: MarketStore, source: ScoreSource, config: BacktestConfig,
             options: SessionOptions = SessionOptions()) -> Session:
    """Steps 1-5 of the module docstring."""
    from flyer.backtest import records
    from flyer.backtest.api import run
    from flyer.data.identity import data_key

    scores = scores_of(home, store, source, config)
    saving = options.save and (scores.runs or options.save_all)
    if options.reuse and saving and config.start is not None and config.end is not None:
        rid = records.record_id(scores.label, config, data_key(store, config.end))
        rec = records.find(home, rid)
        if rec is not None and (rec.report is not None or not options.record_report):
            return Session(scores, None, rec, reused=True)
    result = run(store, scores.frame, config)
    if scores.notes:
        result = result.with_notes(*scores.notes)
    att = _attribution(store, result, options.attribution)
    stress = _stress(store, result, options) if options.stress or options.report or options.record_report else None
    page = _page(store, result, scores, att, stress, options) if options.report or options.record_report else None
    report = (_write_page(page, options.report, options.self_contained)
              if page is not None and options.report is not None else None)
    out = records.export(result, options.out, options.out_format) if options.out is not None else None
    rec = None
    if saving:
        assert result.config.end is not None
        rid = records.record_id(scores.label, result.config, data_key(store, result.config.end))
        meta = {"run": scores.run, "runs": list(scores.runs), "source": scores.description}
        rec = records.save(home, result, rid, data_key(store, result.config.end), meta,
                           page if options.record_report else None)
        if scores.run:  # the run's first saved backtest stays its canonical one (``flyer.backtest.canonical``)
            from flyer.backtest.canonical import pin_first

            pin_first(home, scores.run, rec.id)
    return Session(scores, result, rec, att, stress, report, out)


def _attribution(store: MarketStore, result: BacktestResult, wanted: bool | None) -> Attribution | None:
    if not (wanted if wanted is not None else result.diagnostics.plan.optimised):
        return None
    from flyer.backtest.attribution import attribution_for

    return attribution_for(store, result)


def _stress(store: MarketStore, result: BacktestResult, options: SessionOptions) -> StressTables:
    from flyer.backtest import stress

    windows = options.windows if options.windows is not None else stress.DEFAULT_WINDOWS
    return StressTables(stress.window_table(result, store, windows), stress.regime_table(result))


def _page(store: MarketStore, result: BacktestResult, scores: Scores, att: Attribution | None,
          tables: StressTables | None, options: SessionOptions) -> str:
    from flyer.backtest.report import render
    from flyer.backtest.stress_report import stress_html

    title = options.report_title or f"flyer backtest {result.config.strategy} {result.config.key()}: {scores.description}"
    sections = [stress_html(tables.windows, tables.regimes)] if tables is not None else []
    return render(result, title, store=store, scores=scores.frame, attribution=att, sections=sections)


def _write_page(page: str, path: Path, self_contained: bool = False) -> Path:
    from flyer.core.pages import write

    return write(page, path, self_contained=self_contained)
