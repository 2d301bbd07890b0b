"""One protocol for every market data source, one registry, one ``ingest``.

A source is a frozen, typed config (its own settings, e.g. a sim market's size or a file's
layout) that knows how to read store frames:

    class Source(Protocol):
        kind: ClassVar[str]                      # "sim", "files", "ashare", "akshare", ...
        def read(self, store, since, until) -> Batch

``since`` / ``until`` bound the rows wanted: dated rows in ``(since, until]`` (None = unbounded),
what a nightly run asks for ("everything after the store's last day, through tonight"); a plain
``flyer ingest`` passes neither. ``ingest(store, source)`` reads the batch and writes it with
ONE ``store.write`` (validated, one transaction), so a failure while reading leaves the store
unchanged. The CLI, the nightly job, the demo and the notebooks all call ``ingest``.

The registry maps each kind to its class by import path, so a source's module (and the vendor
library behind it) is imported only when that source is used; ``@register`` adds a source
defined elsewhere. ``make_source(kind, **settings)`` and
``source_from_dict({"kind": ..., ...})`` build the typed config from CLI options or a config
file table, rejecting unknown keys and values of the wrong type in one line.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import polars as pl

from flyer.core.config import ConfigError
from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.data.store import IngestReport, MarketStore


@dataclass(frozen=True)
class Batch:
    """What a source read: store frames by table, the span they cover (for the ingest log),
    notes for the user (e.g. symbols that returned nothing) and rows the source itself rejected
    (``tbl, symbol, date, rule, detail``, e.g. vendors that disagree), logged like the store's."""

    frames: dict[str, pl.DataFrame]
    start: dt.date | None = None
    end: dt.date | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    rejects: pl.DataFrame | None = None


@runtime_checkable
class Source(Protocol):
    """A market data source (see the module docstring)."""

    kind: ClassVar[str]

    def read(self, store: MarketStore, since: dt.date | None = None, until: dt.date | None = None) -> Batch:
        """Store frames with dated rows in ``(since, until]``."""
        ...


# kind -> "module:Class"; the modules are imported only when their source is used
_REGISTRY: dict[str, str] = {
    "sim": "flyer.data.sources.sim:SimSource",
    "files": "flyer.data.sources.files:FilesSource",
    "ashare": "flyer.data.sources.ashare:AshareSource",
    "akshare": "flyer.data.sources.akshare_source:AkshareSource",
    "baostock": "flyer.data.sources.baostock_source:BaostockSource",
}


def register(cls: type[Source]) -> type[Source]:
    """Class decorator: make ``cls`` (a frozen dataclass with ``kind`` and ``read``) a source."""
    _REGISTRY[cls.kind] = f"{cls.__module__}:{cls.__qualname__}"
    return cls


def kinds() -> tuple[str, ...]:
    """The registered source kinds."""
    return tuple(_REGISTRY)


def source_class(kind: str) -> type:
    """The config class of source ``kind`` (FlyerError naming the known kinds when unknown)."""
    if kind not in _REGISTRY:
        raise ConfigError(f"unknown source {kind!r}: choose one of {', '.join(_REGISTRY)}")
    module, name = _REGISTRY[kind].split(":")
    return getattr(importlib.import_module(module), name)


def make_source(kind: str, **settings: Any) -> Source:
    """Source ``kind`` with ``settings`` (None values mean "the default"); unknown or ill-typed
    settings are a FlyerError naming the setting."""
    cls = source_class(kind)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    given = {k: v for k, v in settings.items() if v is not None}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise ConfigError(f"source {kind!r} has no setting(s) {', '.join(unknown)} "
                         f"(it takes: {', '.join(fields) or 'none'})")
    hints = typing.get_type_hints(cls)
    values = {k: _coerce(v, hints[k], f"source {kind}: {k}") for k, v in given.items()}
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"source {kind!r}: {str(exc).splitlines()[0]}") from exc


def source_from_dict(raw: dict[str, Any], where: str = "[source]") -> Source:
    """A source from a config table ``{"kind": ..., <settings>}`` (kind defaults to ``sim``)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config: {where} must be a table")
    raw = dict(raw)
    kind = raw.pop("kind", "sim")
    if not isinstance(kind, str):
        raise ConfigError(f"config: {where} kind must be a string, got {kind!r}")
    try:
        return make_source(kind, **raw)
    except FlyerError as exc:
        raise ConfigError(f"config: {where}: {exc}") from None


def to_dict(source: Source) -> dict[str, Any]:
    """``{"kind": ..., <settings>}``, JSON-able (dates as ISO strings): what a config hash covers."""
    out: dict[str, Any] = {"kind": source.kind}
    for f in dataclasses.fields(source):  # type: ignore[arg-type]
        v = getattr(source, f.name)
        out[f.name] = v.isoformat() if isinstance(v, dt.date) else list(v) if isinstance(v, tuple) else v
    return out


def ingest(store: MarketStore, source: Source, since: dt.date | None = None,
           until: dt.date | None = None, *, mix: bool = False, **read_options: Any) -> IngestReport:
    """Read ``source`` (rows in ``(since, until]``) and write the batch in one transaction;
    the source's notes come first in the report's messages. A source of another market than
    the store holds is refused before it is read unless ``mix`` (``flyer.data.markets``).
    ``read_options`` go to the source's ``read`` (tests inject recorded vendor modules this way)."""
    from flyer.core import progress
    from flyer.data import markets

    markets.check(store, markets.market_of(source), mix)
    with progress.task(f"ingest {source.kind}", total=2, unit="steps") as bar:
        batch = source.read(store, since, until, **read_options)
        rows = sum(f.height for f in batch.frames.values())
        bar.advance(info=f"read {rows:,} rows of {len(batch.frames)} tables")
        report = write_batch(store, source, batch, mix=mix)
        bar.advance(info=f"{report.rows_written:,} rows written, {report.rows_rejected:,} rejected")
    return report


def write_batch(store: MarketStore, source: Source, batch: Batch, *, mix: bool = False) -> IngestReport:
    """The write half of ``ingest``: ``batch`` in one transaction, the notes first in the report
    (the nightly reads with a read-only store and opens the writer only for this); the
    source's market is checked and recorded (``flyer.data.markets``)."""
    from flyer.data.markets import market_of

    report = store.write(source.kind, batch.frames, batch.start, batch.end, rejects=batch.rejects,
                         market=market_of(source), mix=mix)
    if batch.notes:
        report = dataclasses.replace(report, messages=(*batch.notes, *report.messages))
    return report


def window_dates(since: dt.date | None, until: dt.date | None, start: dt.date | None,
                 end: dt.date | None) -> tuple[dt.date | None, dt.date | None]:
    """Inclusive ``(first, last)`` dates wanted: the source's own span narrowed by ``(since, until]``."""
    first = since + dt.timedelta(days=1) if since is not None else None
    lo = max(d for d in (first, start) if d is not None) if (first or start) else None
    hi = min(d for d in (until, end) if d is not None) if (until or end) else None
    return lo, hi


# ------------------------------------------------------------------------------- coercion
def _coerce(value: Any, hint: Any, name: str) -> Any:
    """``value`` as the annotated type (``flyer.core.config.coerce``: the one coercion of every
    config); a ``ConfigError`` (exit 2) naming ``name`` when it does not fit."""
    from flyer.core.config import coerce

    return coerce(value, hint, name)
