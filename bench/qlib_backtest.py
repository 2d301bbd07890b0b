"""qlib's own backtest of one score file: the helper ``bench/qlib_parity.py`` runs in the qlib venv.

Runs under the interpreter of a separate virtual environment with ``pyqlib`` installed (named by
``$FLYER_QLIB_PYTHON`` in ``bench/qlib_parity.py``); imports nothing from flyer. Steps:
  1. ``qlib.init`` on ``--provider`` (qlib's dump_bin layout, written by ``qlib_parity.write_qlib_data``),
     one process, no expression or dataset cache;
  2. the scores (Parquet: ``datetime``, ``instrument``, ``score``) as qlib's signal, a Series on a
     (datetime, instrument) index;
  3. ``qlib.backtest.backtest`` with ``TopkDropoutStrategy(topk, n_drop)`` and a daily
     ``SimulatorExecutor``: the settings of qlib's benchmark workflows (deal at the close, flat
     9.5 % limit, open cost 0.05 %, close cost 0.15 %, at least 5 CNY per order, 95 % of cash);
     ``--pinned`` fixes the two steps of qlib whose order is not defined (set order, unstable
     sort of equal scores) to instrument-code order (see ``pin_orders``);
  4. writes ``report.parquet`` (qlib's daily ``report_normal``: account, return, cost, bench,
     turnover, ...) and ``positions.parquet`` (date, instrument, amount, price at each day's end)
     into ``--out``.

Usage: ``$FLYER_QLIB_PYTHON bench/qlib_backtest.py --provider DIR --scores FILE --out DIR
--start YYYY-MM-DD --end YYYY-MM-DD [--benchmark SH000905] [--topk 50] [--n-drop 5] [--capital 1e8]``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--provider", type=Path, required=True)
    ap.add_argument("--scores", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--benchmark", default="SH000905")
    ap.add_argument("--topk", type=int, default=50)
    ap.add_argument("--n-drop", type=int, default=5)
    ap.add_argument("--capital", type=float, default=1e8)
    ap.add_argument("--pinned", action="store_true",
                    help="pin qlib's two unordered steps to code order (see pin_orders)")
    args = ap.parse_args()
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 inside qlib refuses a file store otherwise

    import pandas as pd
    import qlib
    from qlib.backtest import backtest
    from qlib.backtest.executor import SimulatorExecutor
    from qlib.constant import REG_CN
    from qlib.contrib.strategy import TopkDropoutStrategy

    qlib.init(provider_uri=str(args.provider), region=REG_CN, kernels=1, expression_cache=None,
              dataset_cache=None, logging_level="WARNING")
    if args.pinned:
        pin_orders()
    frame = pd.read_parquet(args.scores)
    frame["datetime"] = pd.to_datetime(frame["datetime"])
    signal = frame.set_index(["datetime", "instrument"])["score"].sort_index()
    strategy = TopkDropoutStrategy(signal=signal, topk=args.topk, n_drop=args.n_drop)
    executor = SimulatorExecutor(time_per_step="day", generate_portfolio_metrics=True)
    exchange = {"freq": "day", "limit_threshold": 0.095, "deal_price": "close", "open_cost": 0.0005,
                "close_cost": 0.0015, "min_cost": 5}
    metrics, _ = backtest(start_time=args.start, end_time=args.end, strategy=strategy, executor=executor,
                          benchmark=args.benchmark, account=args.capital, exchange_kwargs=exchange)
    report, positions = metrics["1day"]
    args.out.mkdir(parents=True, exist_ok=True)
    report.rename_axis("date").reset_index().to_parquet(args.out / "report.parquet")
    rows = [(pd.Timestamp(day), code, float(v["amount"]), float(v["price"]))
            for day, pos in positions.items() for code, v in pos.position.items() if isinstance(v, dict)]
    pd.DataFrame(rows, columns=["date", "instrument", "amount", "price"]).to_parquet(args.out / "positions.parquet")
    print(f"qlib backtest: {len(report)} days, {len(rows)} stock-days held -> {args.out}")
    return 0


def pin_orders() -> None:
    """Pin the two steps of TopkDropout whose order is not defined, both to instrument-code order:
    (a) ``Position.get_stock_list`` returns ``list(set(keys) - {...})``, Python's set order, which
    changes with ``PYTHONHASHSEED`` from one process to the next; the strategy sees it whenever
    it has no candidate to buy (``last.union([])`` is ``last``, unsorted), so its unscored
    holdings are then dropped in set order; (b) ``Series.sort_values`` sorts scores with
    numpy's unstable quicksort (SIMD on AVX2 / AVX-512 CPUs), so names with equal scores come
    in an order that depends on the machine; pinned: a stable sort (index order: codes)."""
    import pandas as pd
    from qlib.backtest.position import Position

    def sorted_stock_list(self: Position) -> list[str]:
        return sorted(set(self.position.keys()) - {"cash", "now_account_value", "cash_delay"})

    unstable = pd.Series.sort_values

    def stable_sort_values(self: pd.Series, *args: object, **kwargs: object) -> object:
        kwargs.setdefault("kind", "stable")
        return unstable(self, *args, **kwargs)

    Position.get_stock_list = sorted_stock_list  # type: ignore[method-assign]
    pd.Series.sort_values = stable_sort_values  # type: ignore[method-assign,assignment]

if __name__ == "__main__":
    sys.exit(main())
