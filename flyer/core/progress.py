"""Progress of long work: rich bars on a terminal, plain lines when not (CI, cron logs, notebooks).

Library code reports through ``task`` and never prints::

    with progress.task("factors alpha158", total=len(chunks), unit="chunks") as t:
        for chunk in chunks:
            ...
            t.advance(info=f"{d0}..{d1}")

Whoever runs the work chooses where progress goes with ``reporting(reporter)``: the CLI wraps
every command in ``reporting(console_reporter(console))``; the demo and notebooks pass a
``LineReporter`` that writes plain lines through their own ``log``. Without a reporter,
``task`` is silent (the default for library calls and tests).

* ``RichReporter``: one ``rich.progress.Progress`` for nested tasks (a training run's folds,
  each fold's boosting rounds); inner tasks vanish when done, outer ones stay.
* ``LineReporter``: one line when a task starts, then when at least ``fraction`` of the total
  or ``every`` seconds passed since the last line, and one when it ends, e.g.
  ``  fold 1/3 lgbm: 100/1000 rounds, valid l2 0.99812 (4s)``.

This module is a leaf (like ``flyer.core.errors``): every layer may import it; rich is imported
only when a ``RichReporter`` is built. The reporter in force is a context variable, so a
thread or task that sets none stays silent.
"""
from __future__ import annotations

import contextlib
import contextvars
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from rich.console import Console


class Task:
    """One long step: ``total`` units (None: unknown), advanced by ``advance`` / ``update``;
    ``info`` is a short text shown after the count (a date range, a validation metric)."""

    def __init__(self, reporter: Reporter, desc: str, total: int | None, unit: str, depth: int) -> None:
        self.reporter, self.desc, self.total, self.unit, self.depth = reporter, desc, total, unit, depth
        self.done, self.info, self.started = 0, "", time.perf_counter()
        self.handle: Any = None
        self.closed = False

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def advance(self, n: int = 1, info: str | None = None) -> None:
        self.update(self.done + n, info)

    def update(self, done: int, info: str | None = None, total: int | None = None) -> None:
        self.done = done
        if info is not None:
            self.info = info
        if total is not None:
            self.total = total
        self.reporter.step(self)

    def close(self, info: str | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        if info is not None:
            self.info = info
        self.reporter.finish(self)

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self) -> str:
        """``12/40 chunks`` (or ``12 chunks`` when the total is unknown)."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.done:,}/{self.total:,}{unit}" if self.total else f"{self.done:,}{unit}"


class Reporter:
    """The silent reporter (and the interface): ``start``, ``step``, ``finish`` of a task."""

    def __init__(self) -> None:
        self.open: list[Task] = []

    def task(self, desc: str, total: int | None = None, unit: str = "") -> Task:
        t = Task(self, desc, total, unit, depth=len(self.open))
        self.open.append(t)
        self.start(t)
        return t

    def start(self, task: Task) -> None:
        pass

    def step(self, task: Task) -> None:
        pass

    def finish(self, task: Task) -> None:
        if task in self.open:
            self.open.remove(task)


class LineReporter(Reporter):
    """Plain lines through ``write`` (see the module docstring for when a line is written)."""

    def __init__(self, write: Callable[[str], None] = print, every: float = 10.0, fraction: float = 0.1) -> None:
        super().__init__()
        self.write, self.every, self.fraction = write, every, fraction
        self._last: dict[int, tuple[float, int]] = {}

    def _line(self, task: Task, text: str) -> None:
        self.write("  " * task.depth + f"  {task.desc}: {text}")

    def start(self, task: Task) -> None:
        self._last[id(task)] = (time.perf_counter(), 0)
        self._line(task, f"started ({task.total:,} {task.unit})" if task.total else "started")

    def step(self, task: Task) -> None:
        t_last, n_last = self._last.get(id(task), (task.started, 0))
        now = time.perf_counter()
        step = self.fraction if task.depth == 0 else max(self.fraction, 0.25)  # inner tasks: fewer lines
        by_count = task.total and (task.done - n_last) >= step * task.total
        if by_count or now - t_last >= self.every:
            self._last[id(task)] = (now, task.done)
            info = f", {task.info}" if task.info else ""
            self._line(task, f"{task.count()}{info} ({task.elapsed:.0f}s)")

    def finish(self, task: Task) -> None:
        super().finish(task)
        self._last.pop(id(task), None)
        info = f", {task.info}" if task.info else ""
        self._line(task, f"done, {task.count()}{info} in {task.elapsed:.1f}s")


class RichReporter(Reporter):
    """rich progress bars on a terminal console; nested tasks indent, inner ones vanish when done."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self.bar: Any = None

    def start(self, task: Task) -> None:
        if self.bar is None:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            from rich.errors import LiveError

            bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                           console=self.console, transient=False)
            try:
                bar.start()
            except LiveError:  # another live display (a spinner, a bar of its own) holds the terminal
                return
            self.bar = bar
        task.handle = self.bar.add_task("  " * task.depth + task.desc, total=task.total, info="")

    def step(self, task: Task) -> None:
        if self.bar is not None and task.handle is not None:
            self.bar.update(task.handle, completed=task.done, total=task.total, info=task.info)

    def finish(self, task: Task) -> None:
        super().finish(task)
        if self.bar is None or task.handle is None:
            return
        if task.depth > 0:
            self.bar.remove_task(task.handle)
        else:
            self.bar.update(task.handle, completed=task.total or task.done, total=task.total or task.done,
                            info=task.info)
        if not self.open:
            self.bar.stop()
            self.bar = None


SILENT = Reporter()
_CURRENT: contextvars.ContextVar[Reporter] = contextvars.ContextVar("flyer_progress", default=SILENT)


def current() -> Reporter:
    """The reporter in force (``SILENT`` unless someone called ``reporting``)."""
    return _CURRENT.get()


def active() -> bool:
    """True when progress goes somewhere (callers may skip work done only to report)."""
    return current() is not SILENT


def task(desc: str, total: int | None = None, unit: str = "") -> Task:
    """A task of the reporter in force; use as a context manager (it closes on exit)."""
    return current().task(desc, total, unit)


def tracked(items: Any, desc: str, unit: str = "", total: int | None = None,
            info: Callable[[Any], str] | None = None) -> Iterator[Any]:
    """Iterate ``items``, advancing a task after each (``info(item)`` labels the step)."""
    n = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
    with task(desc, n, unit) as t:
        for item in items:
            yield item
            t.advance(info=info(item) if info else None)


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Send the progress of work run inside the block to ``reporter``."""
    token = _CURRENT.set(reporter)
    try:
        yield reporter
    finally:
        _CURRENT.reset(token)


def console_reporter(console: Console, every: float = 10.0) -> Reporter:
    """Bars when ``console`` is a terminal, plain lines (through ``console.print``) when not."""
    if console.is_terminal:
        return RichReporter(console)
    return LineReporter(lambda line: console.print(line, markup=False, highlight=False), every=every)
