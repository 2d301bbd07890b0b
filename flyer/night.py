"""The context of one nightly run: ``Night`` (what every stage reads and writes) and the store
handle that keeps the store read-only between writes (``StoreHandle``; ``FixedStore`` for a store
already open for writing, in tests and notebooks). ``flyer.nightly`` runs the stages
(``flyer.stages``) over it."""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from flyer.config import NightlyConfig
from flyer.core.errors import FlyerError
from flyer.data.store import MarketStore
from flyer.runlog import RunLog

WRITER_WAIT_S = 120.0  # how long the nightly waits for readers to let go before it writes


class StoreHandle:
    """The nightly's store: a read-only connection, swapped for the read-write one only
    inside ``writing()`` (DuckDB allows one writer process or many readers)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._store: MarketStore | None = None
        with self.writing():  # creates the store and the nightly tables when missing
            pass

    @contextmanager
    def writing(self) -> Iterator[MarketStore]:
        """The read-write store for one write; read-only again afterwards."""
        self.close()
        rw = MarketStore.open(self.home, wait_s=WRITER_WAIT_S)
        try:
            RunLog(rw)
            yield rw
        finally:
            rw.close()
            self._store = MarketStore.open(self.home, read_only=True)

    @property
    def store(self) -> MarketStore:
        """The read-only store (open between writes)."""
        if self._store is None:
            raise FlyerError("the nightly's store is closed")
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class FixedStore:
    """A handle over one store already open for writing (tests, notebooks): ``writing()``
    yields that same store."""

    def __init__(self, store: MarketStore) -> None:
        self.store = store

    @contextmanager
    def writing(self) -> Iterator[MarketStore]:
        yield self.store

    def close(self) -> None:
        pass


@dataclass
class Night:
    """The context of one nightly run (what every stage reads and writes). ``store`` is
    read-only; a stage writes inside ``with night.writing() as store:``."""

    home: Path
    handle: StoreHandle | FixedStore
    config: NightlyConfig
    date: dt.date
    next_date: dt.date
    outdir: Path
    messages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.handle, MarketStore):
            self.handle = FixedStore(self.handle)

    @property
    def store(self) -> MarketStore:
        return self.handle.store

    @property
    def log(self) -> RunLog:
        """The stage log and nightly tables, read through the read-only store."""
        return RunLog(self.handle.store)

    def writing(self):  # noqa: ANN201 - a context manager of MarketStore
        return self.handle.writing()

    def note(self, msg: str) -> None:
        self.messages.append(msg)
