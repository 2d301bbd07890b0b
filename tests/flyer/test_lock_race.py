"""The nightly lock (finding 9): atomic creation, never empty, stale only when its process is
gone or the PID was reused; many starters racing take it exactly once."""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

from flyer.core.lock import LockedError, RunLock, process_start


def _contender(path: str, start: float, hold: float, out) -> None:  # noqa: ANN001 - a mp.Queue
    while time.time() < start:
        pass
    try:
        with RunLock(Path(path)):
            out.put("took")
            time.sleep(hold)
    except LockedError:
        out.put("locked")


@pytest.mark.parametrize("stale", [False, True])
def test_racing_starters_take_the_lock_exactly_once(tmp_path: Path, stale: bool) -> None:
    lock = tmp_path / "nightly.lock"
    ctx = mp.get_context("fork")
    for _ in range(3):
        if stale:
            lock.write_text("999999999 12.00")  # a dead holder: every contender sees it stale
        out = ctx.Queue()
        start = time.time() + 0.3
        procs = [ctx.Process(target=_contender, args=(str(lock), start, 2.0, out)) for _ in range(6)]  # held long enough for every contender to try, even on a loaded machine
        for p in procs:
            p.start()
        for p in procs:
            p.join(20)
        got = sorted(out.get(timeout=5) for _ in procs)
        assert got.count("took") == 1 and got.count("locked") == 5, got
        assert not lock.exists()


def test_lock_holds_pid_and_start_time_and_is_never_empty(tmp_path: Path) -> None:
    lock = tmp_path / "nightly.lock"
    with RunLock(lock):
        pid, started = lock.read_text().split()
        assert int(pid) == os.getpid() and started == process_start(os.getpid())
        with pytest.raises(LockedError, match=f"pid {os.getpid()}"):
            RunLock(lock).__enter__()
    assert not lock.exists()


def test_stale_only_when_gone_or_reused(tmp_path: Path) -> None:
    lock = tmp_path / "nightly.lock"
    parent = os.getppid()
    lock.write_text(f"{parent} {process_start(parent)}")  # a live holder
    with pytest.raises(LockedError, match=f"pid {parent}"):
        RunLock(lock).__enter__()
    lock.write_text(f"{parent} 1.00")  # same PID, another start time: reused, stale
    with RunLock(lock):
        assert lock.read_text().split()[0] == str(os.getpid())
    lock.write_text("")  # empty and fresh: a starter mid-write elsewhere, not stale
    with pytest.raises(LockedError, match="unreadable"):
        RunLock(lock).__enter__()
    old = time.time() - 3600
    os.utime(lock, (old, old))  # empty and an hour old: stale
    with RunLock(lock):
        pass
    assert not lock.exists()
