"""Model benchmark on the real data (``../shared/ashare``): training seconds and test metrics.

1. ingest ``../shared/ashare`` (``flyer.data.sources.ingest``) into a store once (a temp folder,
   or ``--home``, reused when it already holds a store); skipped with a message when absent;
2. LightGBM on Alpha158, CSI 500 point-in-time universe: feature seconds, fit seconds, and the
   test IC / RankIC / ICIR;
3. MLP (Alpha158 rows) and GRU (60-day OHLCV windows) on CPU: seconds per epoch, extrapolated
   from ``--batches`` timed batches;
4. with ``--results``: MLP (a few epochs) beside LightGBM, printed with qlib's published
   figures (CSI 300 / CSI 500, Alpha158) for the order of magnitude.

Usage: ``python bench/models.py [--home DIR] [--results] [--threads 2]``. Prints figures only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ASHARE = REPO.parent / "shared" / "ashare"
D = dt.date
TRAIN, VALID, TEST = (D(2012, 1, 1), D(2017, 12, 31)), (D(2018, 1, 1), D(2018, 12, 31)), (D(2019, 1, 1), D(2021, 12, 31))
# qlib's published Alpha158 figures (examples/benchmarks/README.md): IC, ICIR, RankIC, RankICIR
QLIB = {("csi300", "lgbm"): (0.0448, 0.3660, 0.0469, 0.3877), ("csi300", "mlp"): (0.0376, 0.2846, 0.0429, 0.3220),
        ("csi300", "gru"): (0.0315, 0.2450, 0.0428, 0.3440), ("csi300", "linear"): (0.0397, 0.3000, 0.0472, 0.3531),
        ("csi500", "lgbm"): (0.0399, 0.4065, 0.0482, 0.5101), ("csi500", "mlp"): (0.0229, 0.2181, 0.0360, 0.3409),
        ("csi500", "linear"): (0.0332, 0.3044, 0.0462, 0.4326)}


def open_store(home: Path):
    from flyer.data.store import MarketStore

    if (home / "market.duckdb").exists():
        store = MarketStore.open(home, read_only=True)
        if store.calendar().len():
            print(f"store: reusing {home}")
            return store
        store.close()
    from flyer.data.sources import ingest, make_source

    t = time.perf_counter()
    with MarketStore.open(home) as store:
        rep = ingest(store, make_source("ashare", path=str(ASHARE)))
    print(f"store: ingested ../shared/ashare in {time.perf_counter() - t:.0f} s ({rep.written.get('bars', 0):,} bars)")
    return MarketStore.open(home, read_only=True)


def cfg_for(kind: str, epochs: int | None = None, walk_forward: bool = False):
    from flyer.models.config import make_config

    params = {"epochs": epochs} if epochs else None
    return make_config(kind, TRAIN, VALID, TEST, params=params, factors="alpha158", universe="csi500",
                       walk_forward=walk_forward, retrain_months=12)


def bench_lgbm(store, threads: int, walk_forward: bool) -> dict:
    from flyer.models.pipeline import fit_folds, fold_metrics, load_inputs

    cfg = cfg_for("lgbm", walk_forward=walk_forward)
    t = time.perf_counter()
    inputs = load_inputs(store, cfg, cfg.split.train[0], cfg.split.test[1])
    feat_s = time.perf_counter() - t
    t = time.perf_counter()
    _, results = fit_folds(inputs, cfg, threads=threads)
    fit_s = time.perf_counter() - t
    m = fold_metrics(results)
    n_train = m["train"]["n"]
    t = m["test"]
    print(f"lgbm: Alpha158 x CSI 500: features {feat_s:.0f} s ({inputs.features.height:,} rows x "
          f"{inputs.features.width - 2} factors); fit+score {fit_s:.0f} s over {len(results)} fold(s), "
          f"{n_train:,} train rows, best iterations {[r.learner.info.get('best_iteration') for r in results]}; "
          f"test IC {t['IC']:.4f} ICIR {t['ICIR']:.3f} RankIC {t['RankIC']:.4f} RankICIR {t['RankICIR']:.3f}",
          flush=True)
    return m


def bench_epochs(store, batches: int) -> None:
    """Seconds per CPU epoch of the MLP and the GRU, extrapolated from a few batches."""
    from flyer.models.dataset import prepare_fold
    from flyer.models.pipeline import load_inputs, make_panel
    from flyer.models.splits import make_folds
    from flyer.models.torch_learner import TorchLearner

    for kind in ("mlp", "gru"):
        cfg = cfg_for(kind)
        inputs = load_inputs(store, cfg, cfg.split.train[0], cfg.split.test[1])
        panel = make_panel(inputs, cfg)
        (fold,) = make_folds(cfg.split, inputs.days, 1)
        fd = prepare_fold(panel, fold, cfg.data, seq_ohlcv=kind == "gru", seq_len=cfg.data.seq_len)
        lr = TorchLearner(cfg, device="cpu")
        train, _, loss, opt = lr.setup(fd, panel)
        lr._epoch(train, fd.train, loss, opt, max_batches=1)
        t = time.perf_counter()
        lr._epoch(train, fd.train, loss, opt, max_batches=batches)
        sec = time.perf_counter() - t
        per = sec / min(batches, len(train))
        print(f"{kind}: CPU {lr.last_samples / sec:,.0f} samples/s, {per:.2f} s/batch, ~{per * len(train):.0f} s/epoch "
              f"({fd.train.n:,} train samples, {len(train)} batches of {cfg.model.params['dates_per_batch']} dates)",
              flush=True)


def show(rows: list[tuple[str, dict]]) -> None:
    print(f"\nTest {TEST[0]}..{TEST[1]} (CSI 500, Alpha158):")
    print(f"{'model':<8}{'IC':>8}{'ICIR':>8}{'RankIC':>8}{'RankICIR':>10}   qlib CSI300 IC/ICIR/RankIC/RankICIR   qlib CSI500")
    for kind, m in rows:
        q3 = QLIB.get(("csi300", kind))
        q5 = QLIB.get(("csi500", kind))
        fmt = lambda q: " ".join(f"{v:.4f}" for v in q) if q else "-"  # noqa: E731
        print(f"{kind:<8}{m['IC']:>8.4f}{m['ICIR']:>8.4f}{m['RankIC']:>8.4f}{m['RankICIR']:>10.4f}   {fmt(q3):<36}  {fmt(q5)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=None, help="store folder (reused when it holds a store)")
    ap.add_argument("--threads", type=int, default=1, help="LightGBM / torch threads")
    ap.add_argument("--batches", type=int, default=3, help="timed batches per torch model")
    ap.add_argument("--results", action="store_true", help="also train the MLP and print a results table")
    ap.add_argument("--walk-forward", action="store_true", help="retrain yearly over the test span")
    a = ap.parse_args()
    if not (ASHARE / "daily").is_dir():
        print(f"models bench: skipped ({ASHARE} not present)")
        return 0
    import torch

    torch.set_num_threads(a.threads)
    os.environ.setdefault("FLYER_DEVICE", "cpu")
    tmp = None
    home = a.home
    if home is None:
        tmp = tempfile.TemporaryDirectory(prefix="flyer_models_bench_")
        home = Path(tmp.name)
    home.mkdir(parents=True, exist_ok=True)
    store = open_store(home)
    print(f"split: train {TRAIN[0]}..{TRAIN[1]}, valid {VALID[0]}..{VALID[1]}, test {TEST[0]}..{TEST[1]}"
          + (" (walk-forward, yearly, rolling)" if a.walk_forward else " (fixed)"))
    rows = [("lgbm", bench_lgbm(store, a.threads, a.walk_forward)["test"])]
    bench_epochs(store, a.batches)
    if a.results:
        from flyer.models.pipeline import fit_folds, fold_metrics, load_inputs

        cfg = cfg_for("mlp", epochs=8, walk_forward=a.walk_forward)
        t = time.perf_counter()
        _, res = fit_folds(load_inputs(store, cfg, cfg.split.train[0], cfg.split.test[1]), cfg, a.threads)
        print(f"mlp: trained in {time.perf_counter() - t:.0f} s, epochs {[r.learner.info['epochs'] for r in res]}")
        rows.append(("mlp", fold_metrics(res)["test"]))
    show(rows)
    store.close()
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
