"""GPU vs CPU training throughput of the MLP and the GRU on a large simulated panel.

One prepared, non-interactive script (no network, no prompts) for a GPU machine:

1. generate the sim market (default 5,000 stocks, 2021-01..2022-12) into a temp store;
2. build the models' panel once (``basic`` features for the MLP; Alpha360-style 60-day OHLCV
   windows for the GRU, gathered lazily from one contiguous tensor);
3. for each model, on CUDA (bf16 autocast; when present) and on CPU: warm up, then time training
   batches (whole dates per batch) and inference batches. CPU runs only ``--cpu-batches``
   batches; its epoch time is extrapolated from them;
4. print samples per second, seconds per epoch and the CUDA speed-up.

Each measurement is guarded: an error prints one line and the script goes on. A time budget
(``--budget-s``, default 240 s after data preparation) stops the CUDA epochs early.

    python bench/gpu_models.py            # full size (GPU machine, < 5 minutes on an H200)
    python bench/gpu_models.py --small    # CPU-only smoke run: 150 stocks, a few batches
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS, no warnings

T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="tiny CPU smoke run")
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--start", default="2021-01-01")
    ap.add_argument("--end", default="2022-12-31")
    ap.add_argument("--seq-len", type=int, default=60)
    ap.add_argument("--cuda-epochs", type=int, default=2, help="timed CUDA training epochs (after warm-up)")
    ap.add_argument("--cpu-batches", type=int, default=3, help="timed CPU training batches")
    ap.add_argument("--budget-s", type=float, default=240.0, help="stop CUDA epochs after this many seconds")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: all cores, max 16)")
    a = ap.parse_args()
    if a.small:
        a.stocks, a.start, a.end, a.seq_len, a.cuda_epochs, a.cpu_batches = 150, "2021-01-01", "2021-12-31", 20, 1, 2
        a.threads = a.threads or 1  # a shared dev box: more threads only spin
    return a


def prepare(a: argparse.Namespace, home: Path):
    """Sim market -> store -> config, panel and fold data per model kind."""
    from flyer.data.sources.sim import SimConfig, generate
    from flyer.data.store import MarketStore
    from flyer.models.config import make_config
    from flyer.models.dataset import prepare_fold
    from flyer.models.pipeline import load_inputs, make_panel
    from flyer.models.splits import make_folds

    start, end = dt.date.fromisoformat(a.start), dt.date.fromisoformat(a.end)
    frames = generate(SimConfig(n_stocks=a.stocks, start=start, end=end, seed=1))
    say(f"sim generated: {frames['bars'].height:,} bars of {a.stocks:,} stocks")
    store = MarketStore.open(home)
    store.write("sim", frames)
    days = store.calendar().to_list()
    n = len(days)
    # train 60%, valid 20%, test rest; the first ~80 days feed the lookback
    tr = (days[80], days[int(n * 0.6)])
    va = (days[int(n * 0.6) + 1], days[int(n * 0.8)])
    te = (days[int(n * 0.8) + 1], days[-5])
    out = {}
    for kind, params in (("mlp", {"hidden": 256, "layers": 2, "dates_per_batch": 4}),
                         ("gru", {"hidden": 64, "layers": 2, "dates_per_batch": 2})):
        cfg = make_config(kind, tr, va, te, params=params, factors="basic", seq_len=a.seq_len, lookback=25)
        inputs = load_inputs(store, cfg, tr[0], te[1])
        panel = make_panel(inputs, cfg)
        (fold,) = make_folds(cfg.split, inputs.days, 1)
        fd = prepare_fold(panel, fold, cfg.data, seq_ohlcv=kind == "gru", seq_len=a.seq_len)
        out[kind] = (cfg, panel, fd)
        feat = f"{a.seq_len}x{panel.seq.shape[1]} window" if kind == "gru" else f"{panel.x.shape[1]} features"
        say(f"{kind}: panel {panel.x.shape[0]:,} rows, {fd.train.n:,} train samples over {fd.train.n_dates} dates "
            f"({feat})")
    store.close()
    return out


def sync(device: str) -> None:
    import torch
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(kind: str, cfg, panel, fd, device: str, a: argparse.Namespace, deadline: float,
            amp: bool = True) -> dict:
    """Train/infer throughput of one model on one device (bf16 autocast on CUDA unless not ``amp``)."""
    import torch
    from flyer.models.torch_learner import TorchLearner

    lr = TorchLearner(cfg, threads=0, device=device)
    lr.amp = amp
    train, _, loss_fn, opt = lr.setup(fd, panel)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    lr._epoch(train, fd.train, loss_fn, opt, max_batches=2)  # warm-up (kernels, cuDNN plans)
    sync(device)
    per_epoch = len(train)
    if device == "cpu":
        t = time.perf_counter()
        lr._epoch(train, fd.train, loss_fn, opt, max_batches=a.cpu_batches)
        sec, seen = time.perf_counter() - t, lr.last_samples
        epoch_s = sec / max(min(a.cpu_batches, per_epoch), 1) * per_epoch
        mode = f"{min(a.cpu_batches, per_epoch)} batches, epoch extrapolated"
    else:
        sec, seen, epochs = 0.0, 0, 0
        while epochs < a.cuda_epochs and (epochs == 0 or time.perf_counter() + sec / epochs < deadline):
            t = time.perf_counter()
            lr._epoch(train, fd.train, loss_fn, opt)
            sync(device)
            sec += time.perf_counter() - t
            seen += lr.last_samples
            epochs += 1
        epoch_s = sec / epochs
        mode = f"{epochs} full epoch(s)"
    # inference: one date per batch, as predict_split does (capped at 20 dates on CPU)
    split = fd.test
    if device == "cpu":
        from flyer.models.dataset import Split
        k = min(split.n_dates, 10 if a.small else 20)
        split = Split(split.rows[:split.offsets[k]], split.offsets[:k + 1], split.label[:split.offsets[k]],
                      split.target[:split.offsets[k]])
    t = time.perf_counter()
    lr.predict_split(fd.x, panel, split, fd.state)
    sync(device)
    inf_sec = time.perf_counter() - t
    mem = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
    if device.startswith("cuda"):
        device += "/bf16" if amp else "/fp32"
    return {"model": kind, "device": device, "train_sps": seen / sec, "epoch_s": epoch_s, "batches": per_epoch,
            "infer_sps": split.n / inf_sec, "mode": mode, "mem_gib": mem}


def main() -> int:
    a = parse_args()
    import torch

    torch.set_num_threads(a.threads or max(1, min(os.cpu_count() or 1, 16)))
    cuda = torch.cuda.is_available() and os.environ.get("FLYER_DEVICE", "") != "cpu"
    name = (f"{torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB"
            if cuda else "none")
    say(f"torch {torch.__version__}, CUDA {'yes: ' + name if cuda else 'no'}, CPU threads {torch.get_num_threads()}")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    with tempfile.TemporaryDirectory(prefix="flyer_gpu_bench_") as tmp:
        try:
            data = prepare(a, Path(tmp))
        except Exception as exc:  # noqa: BLE001 - report and stop
            say(f"FAILED to prepare data: {exc!r}")
            traceback.print_exc()
            return 1
        deadline = time.perf_counter() + a.budget_s
        results = []
        for kind in ("mlp", "gru"):
            cfg, panel, fd = data[kind]
            for device in (["cuda"] if cuda else []) + ["cpu"]:
                try:
                    try:
                        r = measure(kind, cfg, panel, fd, device, a, deadline)
                    except Exception as exc:  # noqa: BLE001
                        if device == "cpu":
                            raise
                        say(f"{kind} on {device} with bf16 autocast FAILED ({exc!r}); retrying in float32")
                        r = measure(kind, cfg, panel, fd, device, a, deadline, amp=False)
                    results.append(r)
                    say(f"{kind:<4} {r['device']:<10} train {r['train_sps']:>12,.0f} samples/s  epoch {r['epoch_s']:8.1f}s "
                        f"({r['batches']} batches; {r['mode']})  infer {r['infer_sps']:>12,.0f} samples/s"
                        + (f"  peak mem {r['mem_gib']:.2f} GiB" if device != "cpu" else ""))
                except Exception as exc:  # noqa: BLE001 - one failed measurement must not stop the rest
                    say(f"{kind} on {device} FAILED: {exc!r}")
                    traceback.print_exc()
    print("\n== summary ==")
    print(f"{'model':<6}{'device':<11}{'train samples/s':>18}{'s/epoch':>10}{'infer samples/s':>18}")
    for r in results:
        print(f"{r['model']:<6}{r['device']:<11}{r['train_sps']:>18,.0f}{r['epoch_s']:>10.1f}{r['infer_sps']:>18,.0f}")
    for kind in ("mlp", "gru"):
        g = [r for r in results if r["model"] == kind and r["device"].startswith("cuda")]
        c = [r for r in results if r["model"] == kind and r["device"] == "cpu"]
        if g and c:
            print(f"{kind}: CUDA speed-up x{g[0]['train_sps'] / c[0]['train_sps']:.1f} (train), "
                  f"x{g[0]['infer_sps'] / c[0]['infer_sps']:.1f} (inference)")
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
