"""A process lock file so that two nightly runs never overlap.

The lock file holds ``<pid> <start time>`` of its owner and appears atomically, already
complete: the content is written to a private temp file that is then hard-linked to the lock
path (``os.link`` fails when the path exists, like ``O_EXCL``), so no reader ever sees an empty
or half-written lock. A lock is stale only when its process is gone or a process of that PID
started at another time (the PID was reused); a lock that cannot be read at all is left alone
unless it is older than ``UNREADABLE_STALE_S``. Stale locks are removed under a second lock
(``flock`` on ``<lock>.break``) after judging them again, so two starters never both take over.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from flyer.core.errors import FlyerError

UNREADABLE_STALE_S = 60.0


class LockedError(FlyerError):
    """Another live process holds the lock."""

    exit_code = 3


class RunLock:
    """``with RunLock(path):`` creates ``path`` (our PID and start time) and removes it on exit."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.token = f"{os.getpid()} {process_start(os.getpid())}"

    def __enter__(self) -> "RunLock":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FlyerError(f"cannot create {self.path.parent}: {exc.strerror or exc}") from exc
        for _ in range(3):
            if self._create():
                return self
            holder = self._holder()
            if holder is not None:
                raise LockedError(f"another nightly run holds {self.path} ({holder})")
            self._remove_stale()
        raise LockedError(f"could not take the lock {self.path}")

    def __exit__(self, *exc: object) -> None:
        if _read(self.path) == self.token:
            self.path.unlink(missing_ok=True)

    def _create(self) -> bool:
        """Atomically create the lock holding our token; False when it exists."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(self.token)
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError as exc:  # a read-only home, a full disk
            raise FlyerError(f"cannot create the lock {self.path}: {exc.strerror or exc} "
                             "(the flyer home must be writable)") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def _holder(self) -> str | None:
        """Who holds the lock ("pid N"), or None when the lock is stale."""
        text = _read(self.path)
        if text is None:
            return None if not self.path.exists() else self._unreadable()
        parts = text.split()
        try:
            pid = int(parts[0])
            started = parts[1] if len(parts) > 1 else None
        except (ValueError, IndexError):
            return self._unreadable()
        now = process_start(pid)
        if now is None:
            return None  # no such process
        if started is not None and started != now:
            return None  # the PID was reused by another process
        return f"pid {pid}"

    def _unreadable(self) -> str | None:
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        return None if age > UNREADABLE_STALE_S else "an unreadable lock file, written moments ago"

    def _remove_stale(self) -> None:
        """Remove a stale lock. Breakers serialise on ``<lock>.break`` (an ``flock``) and judge
        the lock again inside it, so a lock a live process just created is never removed."""
        import fcntl

        with open(self.path.with_name(f"{self.path.name}.break"), "a") as mutex:
            fcntl.flock(mutex, fcntl.LOCK_EX)
            try:
                if self._holder() is None:
                    self.path.unlink(missing_ok=True)
            finally:
                fcntl.flock(mutex, fcntl.LOCK_UN)


def process_start(pid: int) -> str | None:
    """A process's start time as text (None when no such process runs)."""
    try:
        import psutil

        return f"{psutil.Process(pid).create_time():.2f}"
    except ImportError:  # pragma: no cover - psutil is a dependency
        return "?" if _alive(pid) else None
    except Exception:  # noqa: BLE001 - psutil.NoSuchProcess, AccessDenied, ZombieProcess
        return "?" if _alive(pid) else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
