"""flyer.core.progress: silent by default, plain lines off a terminal, rich bars on one."""
from __future__ import annotations

import io

from rich.console import Console

from flyer.core import progress


def test_silent_without_a_reporter() -> None:
    assert not progress.active()
    with progress.task("nothing", total=3) as t:
        t.advance()
    assert list(progress.tracked([1, 2], "x")) == [1, 2]


def test_line_reporter_writes_start_steps_and_end() -> None:
    lines: list[str] = []
    with progress.reporting(progress.LineReporter(lines.append, every=3600, fraction=0.5)):
        assert progress.active()
        with progress.task("outer", total=4, unit="folds") as outer:
            for i in range(4):
                with progress.task(f"fold {i + 1}/4", total=100, unit="rounds") as inner:
                    for _ in range(100):
                        inner.advance(info="valid l2 0.98")
                outer.advance(info=f"fold {i}")
    assert lines[0] == "  outer: started (4 folds)"
    assert "    fold 1/4: started (100 rounds)" in lines
    assert "    fold 1/4: 50/100 rounds, valid l2 0.98 (0s)" in lines  # inner tasks: every 50 % here
    assert any(x.startswith("  outer: 2/4 folds, fold 1 (") for x in lines)
    assert lines[-1].startswith("  outer: done, 4/4 folds, fold 3 in ")
    assert sum(x.startswith("    fold") for x in lines) == 4 * 4  # start, 50 %, 100 %, done


def test_console_reporter_picks_lines_off_a_terminal_and_bars_on_one() -> None:
    plain = Console(file=io.StringIO(), force_terminal=False)
    assert isinstance(progress.console_reporter(plain), progress.LineReporter)
    buf = io.StringIO()
    tty = Console(file=buf, force_terminal=True, width=100)
    reporter = progress.console_reporter(tty)
    assert isinstance(reporter, progress.RichReporter)
    with progress.reporting(reporter):
        for _ in progress.tracked(range(5), "chunks", "chunks"):
            with progress.task("inner", total=2) as t:
                t.advance()
    assert reporter.bar is None and "chunks" in buf.getvalue()  # stopped once nothing is open
    with tty.status("a spinner holds the terminal"):  # a live display already running: no crash, no bar
        with progress.reporting(progress.RichReporter(tty)):
            with progress.task("quiet", total=1) as t:
                t.advance()
