"""A process lock file so that two nightly runs never overlap."""
from __future__ import annotations

import os
from pathlib import Path

from flyer.errors import FlyerError


class LockedError(FlyerError):
    """Another live process holds the lock."""

    exit_code = 3


class RunLock:
    """``with RunLock(path):`` creates ``path`` exclusively (holding our PID) and removes it on exit.

    A lock left by a process that no longer runs is stale and is taken over.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = _read_pid(self.path)
                if pid is not None and _alive(pid):
                    raise LockedError(f"another nightly run holds {self.path} (pid {pid})") from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            return self
        raise LockedError(f"could not take the lock {self.path}")

    def __exit__(self, *exc: object) -> None:
        if _read_pid(self.path) == os.getpid():
            self.path.unlink(missing_ok=True)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
