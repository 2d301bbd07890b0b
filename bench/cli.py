"""CLI start-up benchmark: wall time of ``flyer --help`` and ``flyer info`` in fresh processes.

Usage: ``python bench/cli.py [--repeat 5]``. Builds a small sim store in a temp home for
``flyer info``. Target: ``flyer --help`` < 1 s on the 2-core reference machine (it imports only
typer and rich; each command imports its libraries when it runs). Prints the median and the best
of ``--repeat`` runs. Before the lazy-import change, ``flyer --help`` took about 2.4-4 s (vectorbt
alone 1.5-3.1 s of it).
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
    for args, target in ((["--help"], TARGET_HELP_S), (["info"], None)):
        secs = timed(args, env, a.repeat)
        verdict = "" if target is None else f"  target < {target:.1f} s: {'met' if min(secs) < target else 'MISSED'}"
        print(f"flyer {' '.join(args):<8} median {statistics.median(secs):.2f} s, best {min(secs):.2f} s "
              f"({a.repeat} runs){verdict}")


if __name__ == "__main__":
    main()
