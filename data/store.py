"""The market store: one DuckDB file holding calendar, instruments, bars, index bars and members.

Writes (``MarketStore.write``):
  1. conform each incoming frame to its table's columns (``flyer.data.schema.conform``);
  2. validate (``flyer.data.validate.check``) against the stored plus incoming calendar and the
     clock (``flyer.data.calendar.today``; not for the simulated market);
  3. ``_derived_guard``: incoming calendar days after the last accepted data and instruments
     whose every incoming bar was rejected are dropped (rule ``derived_from_rejected``), so a
     rejected row never leaves a calendar day or an instrument behind; a batch whose every
     bar row is rejected writes only its reject records and raises ``RejectedError`` (exit 2);
  4. in ONE transaction, upsert every table (delete matching keys, insert) and log the ingest;
     any exception rolls the whole batch back, so the store is as it was;
  5. rejected rows are counted in ``ingest_log`` and kept in ``rejects`` with symbol, date and rule.
Readers open the file read-only (``MarketStore.open(home, read_only=True)``): many readers may
share it, one writer excludes them; an open that meets the other kind's lock waits up to
``LOCK_WAIT_S`` seconds for it. Reads return polars frames; nothing here touches the network.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import duckdb
import polars as pl
from flyer.data import integrity, markets, schema
from flyer.data.clock import today
from flyer.data.markets import Market
from flyer.data.validate import REJECT_SCHEMA, Checked, check
from flyer.core.values import as_date, opt_date

from flyer.core.errors import FlyerError, UsageError

DB_NAME = "market.duckdb"
CSI500 = "000905.SH"
CSI300 = "000300.SH"


def flyer_home(home: str | os.PathLike | None = None, create: bool = True) -> Path:
    """The flyer home folder: ``home``, else ``$FLYER_HOME``, else ``~/.flyer`` (created unless
    ``create`` is False: read-only commands never create folders). A path that exists and is
    not a folder is a ``StoreError``."""
    path = Path(home or os.environ.get("FLYER_HOME") or Path.home() / ".flyer").expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"flyer home {path} is a file, not a folder: pass --home FOLDER")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the flyer home {path}: {exc.strerror or exc}") from exc
    return path


class StoreError(FlyerError):
    """A store operation that could not be completed (message is one line)."""


class RejectedError(StoreError):
    """Every incoming bar row was rejected: only the reject records were written (bad input, exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class IngestReport:
    """What one ``write`` did: rows written and rejected per table, with sample messages."""

    ingest_id: int
    source: str
    written: dict[str, int]
    rejected: dict[str, int]
    messages: tuple[str, ...] = field(default_factory=tuple)

    @property
    def rows_written(self) -> int:
        return sum(self.written.values())

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())


@dataclass(frozen=True)
class StoreInfo:
    """What the store holds (``MarketStore.info``, ``flyer info``): symbols, bar rows and their
    span, calendar days, instruments, ``indexes`` ``[index_code, first, last, rows]``,
    ``memberships`` ``[index_code, snapshots, last]`` and the last ingest log row."""

    path: str
    symbols: int
    first_date: dt.date | None
    last_date: dt.date | None
    bar_rows: int
    calendar_days: int
    instruments: int
    indexes: pl.DataFrame
    memberships: pl.DataFrame
    last_ingest: dict[str, Any] | None

    def __getitem__(self, key: str) -> Any:
        """``info["bar_rows"]``: a field by name (the mapping interface earlier callers use)."""
        return getattr(self, key)


_ORDER = ("calendar", "instruments", "bars", "index_bars", "index_members", "industries", "fundamentals",
          "coverage", "exchange_calendar")
#: pseudo-table of a batch: rows the source already rejected (``tbl, symbol, date, rule, detail``)
REJECTS = "rejects"
LOCK_WAIT_S = 30.0


class MarketStore:
    """Point-in-time A-share market data in a DuckDB file (see module docstring)."""

    def __init__(self, path: str | os.PathLike, read_only: bool = False, wait_s: float | None = None) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise StoreError(f"no market store at {self.path}: run `flyer ingest --source sim` first")
        if not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {self.path.parent}: {exc.strerror or exc}") from exc
        self.con = _connect(self.path, read_only, LOCK_WAIT_S if wait_s is None else wait_s)
        self.con.execute("SET enable_progress_bar = false")
        self._require_whole()
        if not read_only:
            try:
                for table in _ORDER:
                    self.con.execute(schema.ddl(table))
                self.con.execute(schema.INGEST_LOG_DDL)
                self.con.execute(schema.REJECTS_DDL)
            except duckdb.Error as exc:  # a read-only file system, a full disk
                self.con.close()
                raise StoreError(f"cannot write store {self.path}: {_first_line(exc)}") from exc

    def _require_whole(self) -> None:
        """``StoreError`` naming the damage of a truncated file, a dropped table or column
        (``flyer.data.integrity``), before anything reads (or re-creates) it."""
        try:
            found = integrity.damage(self.con, self.path)
        except duckdb.Error as exc:
            found = _first_line(exc)
        if found:
            self.con.close()
            raise StoreError(f"store {self.path} is damaged: {found}: {integrity.REPAIR}")

    @classmethod
    def open(cls, home: str | os.PathLike | None = None, read_only: bool = False,
             wait_s: float | None = None) -> MarketStore:
        """Open the store under the flyer home folder: read-write (created if needed) or
        read-only (a missing store is a ``StoreError``; no folder is created)."""
        return cls(flyer_home(home, create=not read_only) / DB_NAME, read_only=read_only, wait_s=wait_s)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writes
    def write(self, source: str, frames: dict[str, pl.DataFrame],
              start: dt.date | None = None, end: dt.date | None = None,
              rejects: pl.DataFrame | None = None, market: Market | None = None,
              mix: bool = False) -> IngestReport:
        """Validate and upsert ``frames`` (table name -> frame) in one transaction.

        Re-writing identical rows changes nothing. On any error the store is rolled back and a
        ``failed`` row is added to the ingest log; the error is re-raised as ``StoreError``.
        ``rejects``: rows the source itself rejected (``tbl, symbol, date, rule, detail``, e.g. a
        cross-vendor disagreement); they are logged and counted like the validation's own.
        ``market``: the market the rows belong to (``flyer.data.markets``): another market than
        the store holds is refused before anything is written unless ``mix``; recorded with the rows.
        """
        frames = dict(frames)
        pre = frames.pop(REJECTS, None)
        if pre is not None:
            rejects = pre if rejects is None else pl.concat([rejects.select(list(REJECT_SCHEMA)), pre.select(list(REJECT_SCHEMA))])
        unknown = set(frames) - set(schema.TABLES)
        if unknown:
            raise StoreError(f"unknown table(s): {', '.join(sorted(unknown))}")
        if self.read_only:
            raise StoreError(f"store {self.path} is open read-only: cannot write")
        if market is not None:
            markets.check(self, market, mix)
        ingest_id = self._next_ingest_id()
        started = dt.datetime.now()
        checked: dict[str, Checked] = {}
        try:
            conformed = {t: _with_defaults(t, schema.conform(t, frames[t])) for t in _ORDER if t in frames}
            cal = self._calendar_for_check(conformed.get("calendar"))
            clock = None if source == "sim" else today()
            checked = {t: check(t, df, cal, clock) for t, df in conformed.items()}
            checked = _with_source_rejects(checked, rejects)
            checked = _derived_guard(checked, self)
        except (ValueError, pl.exceptions.PolarsError) as exc:
            self._log(ingest_id, source, started, start, end, "failed", {}, {}, str(exc))
            raise StoreError(f"{source}: {exc}".splitlines()[0]) from exc
        written = {t: c.good.height for t, c in checked.items()}
        rejected = {t: c.rejects.height for t, c in checked.items()}
        bars = checked.get("bars")
        if bars is not None and bars.good.height == 0 and bars.rejects.height:
            checked = {t: Checked(c.good.clear(), c.rejects) for t, c in checked.items()}
            written = {t: 0 for t in checked}
        try:
            self.con.execute("BEGIN TRANSACTION")
            for table, c in checked.items():
                self._upsert(table, c.good)
                if c.rejects.height:
                    rej = c.rejects.with_columns(pl.lit(ingest_id, pl.Int64).alias("ingest_id"))
                    self.con.register("_rej", rej.select("ingest_id", *REJECT_SCHEMA).to_arrow())
                    self.con.execute("INSERT INTO rejects SELECT * FROM _rej")
                    self.con.unregister("_rej")
            msg = "; ".join(m for c in checked.values() for m in c.messages(3))
            status = "ok" if sum(written.values()) or not sum(rejected.values()) else "rejected"
            if market is not None and status == "ok":
                markets.record(self, market, ingest_id)
            self._log(ingest_id, source, started, start, end, status, written, rejected, msg)
            self.con.execute("COMMIT")
        except BaseException as exc:
            self._rollback_and_log(ingest_id, source, started, start, end, exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise StoreError(f"{source}: write failed, store unchanged: {_first_line(exc)}") from exc
        messages = tuple(m for c in checked.values() for m in c.messages(20))
        if bars is not None and bars.good.height == 0 and bars.rejects.height:
            first = messages[0] if messages else ""
            raise RejectedError(f"{source}: every bar row was rejected ({bars.rejects.height:,} reject(s), "
                                f"e.g. {first}): nothing written (see `rejects` of ingest #{ingest_id})")
        return IngestReport(ingest_id, source, written, rejected, messages)

    def _rollback_and_log(self, ingest_id: int, source: str, started: dt.datetime, start: dt.date | None,
                          end: dt.date | None, exc: BaseException) -> None:
        """Roll back the batch and log it as failed (best effort: a full disk may refuse the log)."""
        try:
            self.con.execute("ROLLBACK")
            self._log(ingest_id, source, started, start, end, "failed", {}, {}, str(exc))
        except duckdb.Error:
            pass

    def _upsert(self, table: str, df: pl.DataFrame) -> None:
        if df.height == 0:
            return
        keys = schema.REPLACE_BY.get(table, schema.KEYS[table])  # e.g. a snapshot is replaced whole
        df = _in_key_order(df, schema.KEYS[table])  # then INSERT needs no ORDER BY (~35% of its CPU)
        self.con.register("_new", df.to_arrow())
        if self.one(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1)")[0]:
            match = " AND ".join(f"{table}.{k} = _new.{k}" for k in keys)
            distinct = ", ".join(keys)
            self.con.execute(
                f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM (SELECT DISTINCT {distinct} FROM _new) _new WHERE {match})")
        cols = ", ".join(schema.TABLES[table])
        self.con.execute(f"INSERT INTO {table} SELECT {cols} FROM _new")  # insertion order is kept
        self.con.unregister("_new")

    def _calendar_for_check(self, incoming: pl.DataFrame | None) -> pl.Series | None:
        stored = self.calendar()
        if incoming is not None:
            stored = pl.concat([stored, incoming["date"].drop_nulls()]).unique()
        return stored if stored.len() else None

    def _next_ingest_id(self) -> int:
        return int(self.one("SELECT coalesce(max(id), 0) + 1 FROM ingest_log")[0])

    def _log(self, ingest_id: int, source: str, started: dt.datetime, start: dt.date | None,
             end: dt.date | None, status: str, written: dict[str, int], rejected: dict[str, int],
             message: str) -> None:
        self.con.execute(
            "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [ingest_id, source, started, dt.datetime.now(), start, end, status,
             sum(written.values()), sum(rejected.values()), message[:2000]],
        )

    # ------------------------------------------------------------------ reads
    def one(self, sql: str, params: list | None = None) -> tuple:
        """First row of a SQL query on the store (``()`` when none), consuming the whole result."""
        try:
            rows = self.con.execute(sql, params or []).fetchall()
        except duckdb.IOException as exc:  # a block the file lost (a cut shorter than the check sees)
            raise StoreError(f"store {self.path} is damaged: {_first_line(exc)}: {integrity.REPAIR}") from exc
        return rows[0] if rows else ()

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        """A SQL query on the store as a polars frame (for tables this class has no reader for)."""
        try:
            rel = self.con.sql(sql, params=params or None)
            fetch = getattr(rel, "to_arrow_table", None) or rel.arrow  # duckdb 2.x / 1.x
            out = pl.from_arrow(fetch())
        except duckdb.IOException as exc:
            raise StoreError(f"store {self.path} is damaged: {_first_line(exc)}: {integrity.REPAIR}") from exc
        return out if isinstance(out, pl.DataFrame) else out.to_frame()

    def calendar(self, start: dt.date | None = None, end: dt.date | None = None) -> pl.Series:
        """Trading days in [start, end], ascending, as a ``date`` Series."""
        df = self.query("SELECT date FROM calendar WHERE (? IS NULL OR date >= ?) AND (? IS NULL OR date <= ?) "
                      "ORDER BY date", [start, start, end, end])
        return df["date"] if df.height else pl.Series("date", [], dtype=pl.Date)

    def instruments(self) -> pl.DataFrame:
        """All instruments ever stored (listed and delisted), one row per symbol."""
        return self.query("SELECT * FROM instruments ORDER BY symbol")

    def bars(self, start: dt.date | None = None, end: dt.date | None = None,
             symbols: list[str] | None = None, adjust: bool = True,
             columns: list[str] | None = None, vwap_fill: str = "none") -> pl.DataFrame:
        """Daily bars sorted by (symbol, date).

        ``adjust=True`` (default) returns back-adjusted prices (raw x adj_factor) and volume in
        adjusted shares (raw / adj_factor), so price x volume stays the traded amount; ``False``
        returns raw prices. Extra columns: ``vwap`` (amount / volume on the same adjustment, the
        close on zero-volume days, null on a traded day without amount unless ``vwap_fill=
        "typical"`` substitutes (high + low + close) / 3: never silently, the caller records it),
        ``turnover`` (amount / float_cap, null without caps) and
        ``cap`` (total market cap, CNY). ``columns`` (besides symbol and date, always returned)
        reads only what those columns need: much faster on large panels.
        """
        where, params = _range_clause(start, end)
        if symbols is not None:
            where += " AND list_contains(?::VARCHAR[], symbol)"  # a filter keeps scan order (a semi-join would not)
            params.append(list(symbols))
        wanted = None if columns is None else ["symbol", "date", *[c for c in columns if c not in ("symbol", "date")]]
        unknown = set(wanted or []) - set(schema.BARS) - set(_DERIVED)
        if unknown:
            raise StoreError(f"unknown bar column(s): {', '.join(sorted(unknown))}")
        read = list(schema.BARS) if wanted is None else _needs(wanted)
        df = self.query(f"SELECT {', '.join(read)} FROM bars WHERE {where}", params)
        if vwap_fill not in VWAP_FILLS:
            raise StoreError(f"unknown vwap_fill {vwap_fill!r}; use {' or '.join(VWAP_FILLS)}")
        out = _derive(_sorted(df, ("symbol", "date")), adjust, None if wanted is None else set(wanted), vwap_fill)
        return out if wanted is None else out.select(wanted)

    def index_bars(self, index_code: str = CSI500, start: dt.date | None = None,
                   end: dt.date | None = None) -> pl.DataFrame:
        """Index OHLC for ``index_code`` (e.g. ``000905.SH``) in [start, end]."""
        where, params = _range_clause(start, end)
        return self.query(f"SELECT * FROM index_bars WHERE index_code = ? AND {where} ORDER BY date",
                        [index_code, *params])

    def reference(self) -> tuple[pl.Series, pl.DataFrame, pl.DataFrame]:
        """(calendar, instruments, coverage) in one read: the trading days ascending, every
        instrument ``[symbol, list_date, delist_date]`` and every coverage span ``[tbl, key, mode,
        first, last, note]`` (what a backtest reads before anything else)."""
        row = self.query(
            "SELECT (SELECT list(date ORDER BY date) FROM calendar) AS cal, "
            "(SELECT list(struct_pack(symbol := symbol, list_date := list_date, delist_date := delist_date) "
            " ORDER BY symbol) FROM instruments) AS inst, "
            "(SELECT list(struct_pack(tbl := tbl, key := key, mode := mode, first := first, last := last, "
            " note := note) ORDER BY tbl, key, first) FROM coverage) AS cov")
        def column(name: str, schema: dict[str, Any]) -> pl.DataFrame:
            items = row[name].explode().drop_nulls()
            return items.struct.unnest().cast(schema) if items.len() else pl.DataFrame(schema=schema)  # type: ignore[arg-type]

        cal = row["cal"].explode().drop_nulls().cast(pl.Date).alias("date")
        inst = column("inst", {"symbol": pl.Utf8, "list_date": pl.Date, "delist_date": pl.Date})
        cov = column("cov", {"tbl": pl.Utf8, "key": pl.Utf8, "mode": pl.Utf8, "first": pl.Date, "last": pl.Date,
                             "note": pl.Utf8})
        return cal, inst, cov

    def memberships(self, codes: list[str], start: dt.date | None = None,
                    end: dt.date | None = None) -> pl.DataFrame:
        """``membership`` of several indexes in one read: ``[index_code, date, symbol, weight]``."""
        where, params = _range_clause(start, end, "c.date")
        return self.query(
            f"""WITH snaps AS (SELECT DISTINCT index_code, date FROM index_members
                               WHERE list_contains(?::VARCHAR[], index_code)),
                days AS (SELECT c.date FROM calendar c WHERE {where}),
                cal_snap AS (SELECT s.index_code, d.date, max(s.date) AS snap FROM days d
                             JOIN snaps s ON s.date <= d.date GROUP BY s.index_code, d.date)
                SELECT a.index_code, a.date, m.symbol, m.weight FROM cal_snap a
                JOIN index_members m ON m.index_code = a.index_code AND m.date = a.snap
                ORDER BY a.index_code, a.date, m.symbol""",
            [list(codes), *params])

    def index_closes(self, codes: list[str], start: dt.date | None = None,
                     end: dt.date | None = None) -> pl.DataFrame:
        """``[index_code, date, close]`` of several indexes in [start, end], in one read."""
        where, params = _range_clause(start, end)
        return self.query(f"SELECT index_code, date, close FROM index_bars WHERE list_contains(?::VARCHAR[], index_code) "
                          f"AND {where} ORDER BY index_code, date", [list(codes), *params])

    def members(self, index_code: str, date: dt.date) -> pl.DataFrame:
        """Point-in-time members of ``index_code`` on ``date`` (latest snapshot on or before it)."""
        return self.query(
            "SELECT symbol, weight FROM index_members WHERE index_code = ? AND date = "
            "(SELECT max(date) FROM index_members WHERE index_code = ? AND date <= ?) ORDER BY symbol",
            [index_code, index_code, date])

    def membership(self, index_code: str, start: dt.date | None = None,
                   end: dt.date | None = None) -> pl.DataFrame:
        """Daily point-in-time membership: one row per (trading date, member) with its weight."""
        where, params = _range_clause(start, end, "c.date")
        return self.query(
            f"""WITH snaps AS (SELECT DISTINCT date FROM index_members WHERE index_code = ?),
                cal_snap AS (SELECT c.date, (SELECT max(s.date) FROM snaps s WHERE s.date <= c.date) AS snap
                         FROM calendar c WHERE {where})
                SELECT a.date, m.symbol, m.weight FROM cal_snap a
                JOIN index_members m ON m.index_code = ? AND m.date = a.snap
                ORDER BY a.date, m.symbol""",
            [index_code, *params, index_code])

    def has_table(self, table: str) -> bool:
        """True when ``table`` exists (a store written by an older flyer may lack newer tables)."""
        return bool(self.one("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table])[0])

    def industry_standards(self) -> list[str]:
        """Classification standards stored, most rows first (``sw`` for the real data, ``sim``)."""
        if not self.has_table("industries"):
            return []
        return self.query("SELECT standard FROM industries GROUP BY standard ORDER BY count(*) DESC, standard")[
            "standard"].to_list()

    def _standard(self, standard: str | None) -> str | None:
        if standard is not None:
            return standard
        found = self.industry_standards()
        return found[0] if found else None

    def industries(self, on: dt.date | None = None, standard: str | None = None, level: int = 1) -> pl.DataFrame:
        """Industry of every stock on day ``on`` (point in time: the interval in force that day)
        as ``[symbol, code, name]``; without ``on`` every stored interval ``[symbol, code, name,
        start_date, end_date]`` (end exclusive, null = in force). ``standard`` defaults to the
        store's main one (see ``industry_standards``)."""
        std = self._standard(standard)
        if std is None:
            return pl.DataFrame(schema={"symbol": pl.Utf8, "code": pl.Utf8, "name": pl.Utf8})
        if on is None:
            return self.query("SELECT symbol, code, name, start_date, end_date FROM industries "
                              "WHERE standard = ? AND level = ? ORDER BY symbol, start_date", [std, level])
        return self.query("SELECT symbol, code, name FROM industries WHERE standard = ? AND level = ? "
                          "AND start_date <= ? AND (end_date IS NULL OR end_date > ?) ORDER BY symbol",
                          [std, level, on, on])

    def industry_panel(self, start: dt.date | None = None, end: dt.date | None = None,
                       standard: str | None = None, level: int = 1,
                       symbols: list[str] | None = None) -> pl.DataFrame:
        """Point-in-time industry per trading day: ``[date, symbol, code, name]``, one row per
        (trading day in [start, end], stock with an interval in force), sorted by (symbol, date)."""
        std = self._standard(standard)
        if std is None:
            return pl.DataFrame(schema={"date": pl.Date, "symbol": pl.Utf8, "code": pl.Utf8, "name": pl.Utf8})
        where, params = _range_clause(start, end, "c.date")
        sym = ""
        if symbols is not None:
            sym, params = " AND list_contains(?::VARCHAR[], i.symbol)", [*params, list(symbols)]
        return self.query(
            f"""SELECT c.date, i.symbol, i.code, i.name FROM calendar c JOIN industries i
                ON i.standard = ? AND i.level = ? AND i.start_date <= c.date
                AND (i.end_date IS NULL OR i.end_date > c.date)
                WHERE {where}{sym} ORDER BY i.symbol, c.date""", [std, level, *params])

    def fundamentals(self, start: dt.date | None = None, end: dt.date | None = None,
                     symbols: list[str] | None = None, columns: list[str] | None = None) -> pl.DataFrame:
        """Daily valuation fields ``[symbol, date, <columns>]`` (default: all of
        ``flyer.data.schema.FUNDAMENTALS``), sorted by (symbol, date); null where unknown."""
        cols = [c for c in (columns or schema.FUNDAMENTALS) if c not in ("symbol", "date")]
        unknown = set(cols) - set(schema.FUNDAMENTALS)
        if unknown:
            raise StoreError(f"unknown fundamentals column(s): {', '.join(sorted(unknown))}")
        if not self.has_table("fundamentals"):
            return pl.DataFrame(schema={c: schema.FUNDAMENTALS[c] for c in ("symbol", "date", *cols)})
        where, params = _range_clause(start, end)
        if symbols is not None:
            where += " AND list_contains(?::VARCHAR[], symbol)"
            params.append(list(symbols))
        df = self.query(f"SELECT {', '.join(['symbol', 'date', *cols])} FROM fundamentals WHERE {where}", params)
        return _sorted(df, ("symbol", "date"))

    def ingest_log(self) -> pl.DataFrame:
        """Every ingest attempt, newest first."""
        return self.query("SELECT * FROM ingest_log ORDER BY id DESC")

    def rejects(self, ingest_id: int | None = None) -> pl.DataFrame:
        """Rejected rows (all, or of one ingest) with table, symbol, date, rule and detail."""
        return self.query("SELECT * FROM rejects WHERE ? IS NULL OR ingest_id = ?", [ingest_id, ingest_id])

    def info(self) -> StoreInfo:
        """Summary of what the store holds (for ``flyer info``)."""
        q = self.one
        n_sym, first, last, rows = q("SELECT count(DISTINCT symbol), min(date), max(date), count(*) FROM bars")
        indexes = self.query("SELECT index_code, min(date) AS first, max(date) AS last, count(*) AS rows "
                           "FROM index_bars GROUP BY index_code ORDER BY index_code")
        members = self.query("SELECT index_code, count(DISTINCT date) AS snapshots, max(date) AS last "
                           "FROM index_members GROUP BY index_code ORDER BY index_code")
        last_ingest = self.query("SELECT id, source, finished_at, status, rows_written, rows_rejected "
                               "FROM ingest_log ORDER BY id DESC LIMIT 1")
        return StoreInfo(str(self.path), int(n_sym), opt_date(first), opt_date(last), int(rows),
                         int(q("SELECT count(*) FROM calendar")[0]), int(q("SELECT count(*) FROM instruments")[0]),
                         indexes, members, last_ingest.row(0, named=True) if last_ingest.height else None)


def _connect(path: Path, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection; a lock held by another process (a writer while we read, readers
    while we write) is waited for up to ``wait_s`` seconds, then a one-line ``StoreError``."""
    import time

    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:  # locked by another process, corrupt file, ...
            locked = "lock" in str(exc).lower()
            if not locked or time.monotonic() >= deadline:
                hint = " (another process holds it: a nightly run or an ingest)" if locked else ""
                raise StoreError(f"cannot open store {path}: {_first_line(exc)}{hint}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _derived_guard(checked: dict[str, Checked], store: MarketStore) -> dict[str, Checked]:
    """Drop rows that only rejected rows support: incoming calendar days after the last accepted
    dated row (bars, index bars; batch or store), and instruments whose incoming bars were all
    rejected and that have no stored bars. Each is logged ``derived_from_rejected``."""
    out = dict(checked)
    data = [c for t, c in checked.items() if t in ("bars", "index_bars")]
    if not any(c.good.height or c.rejects.height for c in data):
        return out
    cal = checked.get("calendar")
    if cal is not None and cal.good.height:
        lasts = [as_date(c.good["date"].max()) for c in data if c.good.height]
        stored = store.one("SELECT max(date) FROM bars")
        lasts += [as_date(stored[0])] if stored and stored[0] is not None else []
        cut = max(lasts) if lasts else None
        drop = cal.good.filter(pl.col("date") > cut) if cut is not None else cal.good
        if drop.height:
            out["calendar"] = Checked(cal.good.join(drop.select("date"), on="date", how="anti"),
                                      pl.concat([cal.rejects, _derived(drop, "calendar", "no accepted data on or after this day")]))
    inst, bars = checked.get("instruments"), checked.get("bars")
    if inst is not None and bars is not None and bars.rejects.height and inst.good.height:
        lost = set(bars.rejects["symbol"].drop_nulls().to_list()) - set(bars.good["symbol"].to_list())
        if lost:
            have = set(store.query("SELECT DISTINCT symbol FROM bars WHERE list_contains(?::VARCHAR[], symbol)",
                                   [sorted(lost)])["symbol"].to_list())
            gone = inst.good.filter(pl.col("symbol").is_in(sorted(lost - have)))
            if gone.height:
                out["instruments"] = Checked(inst.good.join(gone.select("symbol"), on="symbol", how="anti"),
                                             pl.concat([inst.rejects, _derived(gone, "instruments", "every bar row of it was rejected")]))
    return out


def _derived(rows: pl.DataFrame, table: str, why: str) -> pl.DataFrame:
    return rows.select(pl.lit(table).alias("tbl"),
                       (pl.col("symbol") if "symbol" in rows.columns else pl.lit(None, pl.Utf8)).alias("symbol"),
                       (pl.col("date") if "date" in rows.columns else pl.lit(None, pl.Date)).alias("date"),
                       pl.lit("derived_from_rejected").alias("rule"), pl.lit(why).alias("detail")).cast(
                           pl.Schema(REJECT_SCHEMA))


def _with_source_rejects(checked: dict[str, Checked], rejects: pl.DataFrame | None) -> dict[str, Checked]:
    """``checked`` with a source's own rejected rows added to their tables' reject lists."""
    if rejects is None or rejects.height == 0:
        return checked
    rejects = rejects.select([pl.col(c).cast(t) for c, t in REJECT_SCHEMA.items()])
    out = dict(checked)
    for (tbl,), part in rejects.group_by(["tbl"], maintain_order=True):
        have = out.get(tbl)
        good = have.good if have is not None else pl.DataFrame(schema=schema.TABLES.get(tbl, {}))
        before = have.rejects if have is not None else pl.DataFrame(schema=REJECT_SCHEMA)
        out[tbl] = Checked(good, pl.concat([before, part]))
    return out


def _sorted(df: pl.DataFrame, keys: tuple[str, str]) -> pl.DataFrame:
    """``df`` sorted by ``keys``; skips the sort when rows already come in order (bulk loads are
    inserted sorted and DuckDB preserves insertion order). The check is cheap: the first key is
    checked with ``is_sorted``, and every place where the second key does not increase must be
    a change of the first key."""
    if df.height < 2:
        return df
    a, b = df[keys[0]], df[keys[1]]
    if a.is_sorted():
        idx = (b.to_physical().diff() <= 0).arg_true()  # where the second key does not increase
        if idx.len() == 0 or (a.gather(idx) != a.gather(idx - 1)).all():
            return df
    return df.sort(*keys)


def _in_key_order(df: pl.DataFrame, keys: tuple[str, ...]) -> pl.DataFrame:
    """``df`` sorted by ``keys``; a cheap pass first, since bulk frames usually arrive sorted."""
    if df.height < 2:
        return df
    before, tied = pl.lit(False), pl.lit(True)
    for k in keys:
        col, prev = pl.col(k), pl.col(k).shift(1)
        before, tied = before | (tied & (col < prev)), tied & (col == prev)
    return df.sort(list(keys)) if df.select(before.any()).item() else df


def _range_clause(start: dt.date | None, end: dt.date | None, col: str = "date") -> tuple[str, list]:
    return f"(? IS NULL OR {col} >= ?) AND (? IS NULL OR {col} <= ?)", [start, start, end, end]


def _with_defaults(table: str, df: pl.DataFrame) -> pl.DataFrame:
    """Fill optional bar fields: adj_factor 1, is_st False, is_suspended where volume is 0 or null."""
    if table != "bars":
        return df
    return df.with_columns(
        pl.col("adj_factor").fill_null(1.0),
        pl.col("is_st").fill_null(False),
        pl.col("is_suspended").fill_null(pl.col("volume").fill_null(0) <= 0),
    )


#: ``MarketStore.bars(vwap_fill=)``: none (null where amount is missing) or typical ((H+L+C)/3)
VWAP_FILLS = ("none", "typical")
_DERIVED = {"vwap": ("volume", "amount", "high", "low", "close", "adj_factor"),
            "turnover": ("amount", "float_cap"), "cap": ("total_cap",)}
_ADJUSTED = ("open", "high", "low", "close", "volume")


def _needs(wanted: list[str]) -> list[str]:
    """Stored columns needed to produce ``wanted`` (derived columns' inputs, the factor)."""
    need = [c for c in wanted if c in schema.BARS]
    for c in wanted:
        need += list(_DERIVED.get(c, ()))
    if any(c in _ADJUSTED or c == "vwap" for c in wanted):
        need.append("adj_factor")
    return list(dict.fromkeys(need))


def _derive(df: pl.DataFrame, adjust: bool, wanted: set[str] | None = None, vwap_fill: str = "none") -> pl.DataFrame:
    """Add vwap/turnover/cap and apply the back-adjustment when ``adjust`` (only the ``wanted``
    columns when given); ``vwap_fill`` see ``MarketStore.bars``."""
    f = pl.col("adj_factor") if adjust else pl.lit(1.0)
    have = set(df.columns) if wanted is None else wanted

    def want(c: str) -> bool:
        return c in have

    traded = (pl.col("volume") > 0) & (pl.col("amount") > 0)
    typical = (pl.col("high") + pl.col("low") + pl.col("close")) / 3
    exprs = [pl.col(c) * f for c in ("open", "high", "low", "close") if want(c) and adjust]
    if want("volume") and adjust:
        exprs.append(pl.col("volume") / f)
    if wanted is None or "vwap" in wanted:
        # vwap: amount / volume; where the source has no amount: null, or the typical price
        # when the caller configured that substitution
        fill = typical * f if vwap_fill == "typical" else pl.lit(None, pl.Float64)
        exprs.append(pl.when(traded).then(pl.col("amount") / pl.col("volume") * f)
                     .when(pl.col("volume") > 0).then(fill)
                     .otherwise(pl.col("close") * f).alias("vwap"))
    if wanted is None or "turnover" in wanted:
        exprs.append((pl.col("amount") / pl.col("float_cap")).alias("turnover"))
    if wanted is None or "cap" in wanted:
        exprs.append(pl.col("total_cap").alias("cap"))
    return df.with_columns(exprs) if exprs else df
