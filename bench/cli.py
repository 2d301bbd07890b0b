"""Start-up benchmark: ``flyer --help``, ``flyer info`` and importing the library, in fresh processes.

Usage: ``python bench/cli.py [--repeat 5]``. Builds a small sim store in a temp home for
``flyer info``. Target: ``flyer --help`` < 1 s on the 2-core reference machine (it imports only
typer and rich; each command imports its libraries when it runs). Prints the median and the best
of ``--repeat`` runs. Before the lazy-import change, ``flyer --help`` took about 2.4-4 s (vectorbt
alone 1.5-3.1 s of it). Library modules (``LIBRARY``: what a notebook imports first) are timed
the same way, target < 1.5 s each (they import polars/DuckDB/numba, never vectorbt, torch or
LightGBM at module level); before issue 13 importing the backtest and store modules took 4-10 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLYER = [sys.executable, "-m", "flyer"]
TARGET_HELP_S = 1.0
TARGET_IMPORT_S = 1.5
LIBRARY = ("flyer.data.store", "flyer.factors", "flyer.backtest.api", "flyer.models.pipeline", "flyer.nightly")


def timed(args: list[str], env: dict[str, str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = subprocess.run(FLYER + args, capture_output=True, text=True, env=env)
        out.append(time.perf_counter() - t)
        if r.returncode != 0:
            raise SystemExit(f"flyer {' '.join(args)} failed: {r.stderr.strip()}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="flyer_bench_cli_"))
    env = {**os.environ, "FLYER_HOME": str(home)}
    subprocess.run(FLYER + ["ingest", "--source", "sim", "--stocks", "50", "--start", "2024-01-01",
                            "--end", "2024-06-30"], check=True, capture_output=True, env=env)
    for mod in LIBRARY:
        secs = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", f"import {mod}"], check=True, env=env)
            secs.append(time.perf_counter() - t)
        print(f"import {mod:<22} median {statistics.median(secs):.2f} s, best {min(secs):.2f} s  "
              f"target < {TARGET_IMPORT_S:.1f} s: {'met' if min(secs) < TARGET_IMPORT_S else 'MISSED'}")
    for args, target in ((["--help"], TARGET_HELP_S), (["info"], None)):
        secs = timed(args, env, a.repeat)
        verdict = "" if target is None else f"  target < {target:.1f} s: {'met' if min(secs) < target else 'MISSED'}"
        print(f"flyer {' '.join(args):<8} median {statistics.median(secs):.2f} s, best {min(secs):.2f} s "
              f"({a.repeat} runs){verdict}")


if __name__ == "__main__":
    main()
