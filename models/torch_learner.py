"""Training loop of the torch models (MLP on rows; GRU, LSTM, Transformer on windows).

1. Batches are whole dates: ``DateBatchSampler`` shuffles the dates each epoch and yields the
   sample indices of ``dates_per_batch`` dates; a DataLoader over ``TabularData`` or
   ``dataset.SequenceData`` gathers the inputs from the one panel tensor at collate time.
2. Loss: ``mse`` on the normalized target or ``ic``: minus the mean per-date Pearson correlation.
3. Early stopping on the validation loss (``patience`` epochs); the best weights are kept.
4. CUDA runs under bfloat16 autocast; the loss is computed in float32.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from flyer.core import progress
from flyer.models.config import SEQ_KINDS, TrainConfig
from flyer.models.dataset import FoldData, Panel, SequenceData, Split
from flyer.models.device import autocast_dtype, pick_device, seed_everything
from flyer.models.learner import Learner
from flyer.models.nets import build_net


class TabularData:
    """Map-style dataset of panel rows: ``__getitems__(idx)`` -> (x[rows[idx]], idx)."""

    def __init__(self, x: torch.Tensor, rows: torch.Tensor) -> None:
        self.x, self.rows = x, rows

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def __getitems__(self, idx: Any):
        idx = torch.as_tensor(idx, device=self.x.device)
        return self.x[self.rows[idx]], idx

    def __getitem__(self, i: int):
        return self.__getitems__([i])[0][0]


class DateBatchSampler:
    """Yields index tensors covering ``per_batch`` whole dates (shuffled when ``shuffle``)."""

    def __init__(self, offsets: np.ndarray, per_batch: int, shuffle: bool, seed: int) -> None:
        self.offsets, self.per_batch, self.shuffle = offsets, max(1, per_batch), shuffle
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-(self.offsets.size - 1) // self.per_batch)

    def __iter__(self) -> Iterator[torch.Tensor]:
        n = self.offsets.size - 1
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for k in range(0, n, self.per_batch):
            parts = [np.arange(self.offsets[d], self.offsets[d + 1]) for d in order[k:k + self.per_batch]]
            yield torch.from_numpy(np.concatenate(parts))


def _group_sums(inv: torch.Tensor, g: int, v: torch.Tensor) -> torch.Tensor:
    return torch.zeros(g, dtype=v.dtype, device=v.device).index_add_(0, inv, v)


def ic_loss(pred: torch.Tensor, y: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """Minus the mean over groups (dates) of the Pearson correlation of ``pred`` and ``y``."""
    _, inv = torch.unique(group, return_inverse=True)
    g = int(inv.max()) + 1
    cnt = _group_sums(inv, g, torch.ones_like(pred))
    dp = pred - (_group_sums(inv, g, pred) / cnt)[inv]
    dy = y - (_group_sums(inv, g, y) / cnt)[inv]
    cov = _group_sums(inv, g, dp * dy)
    var = _group_sums(inv, g, dp * dp) * _group_sums(inv, g, dy * dy)
    corr = cov / torch.sqrt(var + 1e-12)
    ok = cnt > 2
    return -corr[ok].mean() if bool(ok.any()) else (pred * 0).sum()


def mse_loss(pred: torch.Tensor, y: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    return torch.mean((pred - y) ** 2)


class TorchLearner(Learner):
    suffix = ".pt"

    def __init__(self, cfg: TrainConfig, threads: int = 0, device: str | None = None) -> None:
        super().__init__(cfg, threads)
        self.kind = cfg.model.kind
        self.device = pick_device(device)
        self.seq = self.kind in SEQ_KINDS
        self.T = cfg.data.seq_len
        self.ohlcv = self.seq and cfg.data.seq_input == "ohlcv"
        self.amp = True  # bf16 autocast on CUDA; set False to train in float32

    # ------------------------------------------------------------ data
    def _source(self, x: np.ndarray, panel: Panel) -> torch.Tensor:
        src = panel.seq if self.ohlcv else x
        return torch.from_numpy(np.ascontiguousarray(src)).to(self.device)

    def _data(self, xt: torch.Tensor, panel: Panel, rows: np.ndarray, state: dict[str, Any]):
        r = torch.from_numpy(rows).to(self.device)
        if not self.seq:
            return TabularData(xt, r)
        ss = torch.from_numpy(panel.sym_start).to(self.device)
        return SequenceData(xt, ss, r, self.T, state.get("seq") if self.ohlcv else None)

    def _n_feat(self, panel: Panel) -> int:
        if self.ohlcv:
            assert panel.seq is not None, "an OHLCV sequence model needs the panel's windows"
            return int(panel.seq.shape[1])
        return int(panel.x.shape[1])

    # ------------------------------------------------------------ fit
    def setup(self, fd: FoldData, panel: Panel):
        """Seed, build the network and optimizer; returns (train loader, valid loader, loss, optimizer)."""
        seed_everything(self.cfg.seed + fd.fold.index)
        p = self.params
        self.net = build_net(self.kind, self._n_feat(panel), p, self.T).to(self.device)
        xt = self._source(fd.x, panel)
        loss_fn = ic_loss if self.cfg.model.objective == "ic" else mse_loss
        opt = torch.optim.Adam(self.net.parameters(), lr=float(p["lr"]), weight_decay=float(p.get("weight_decay", 0)))
        train = self._loader(xt, panel, fd.train, fd.state, shuffle=True, seed=self.cfg.seed)
        valid = self._loader(xt, panel, fd.valid, fd.state, shuffle=False, seed=0)
        return train, valid, loss_fn, opt

    def fit(self, fd: FoldData, panel: Panel) -> None:
        p = self.params
        train, valid, loss_fn, opt = self.setup(fd, panel)
        best, best_state, bad, history = float("inf"), None, 0, []
        t0 = time.perf_counter()
        with progress.task(self.progress_label, total=int(p["epochs"]), unit="epochs") as bar:
            for epoch in range(int(p["epochs"])):
                tr_loss = self._epoch(train, fd.train, loss_fn, opt)
                va_loss = self._epoch(valid, fd.valid, loss_fn, None)
                history.append({"epoch": epoch, "train": tr_loss, "valid": va_loss})
                bar.advance(info=f"train loss {tr_loss:.5f}, valid loss {va_loss:.5f}")
                if va_loss < best - 1e-7:
                    best, best_state, bad = va_loss, copy.deepcopy(self.net.state_dict()), 0
                else:
                    bad += 1
                    if bad >= int(p["patience"]):
                        bar.close(info=f"early stop, best valid loss {best:.5f}")
                        break
        if best_state is not None:
            self.net.load_state_dict(best_state)
        self.info = {"epochs": len(history), "best_valid_loss": best, "history": history,
                     "seconds": time.perf_counter() - t0, "device": self.device}

    def _loader(self, xt, panel, split: Split, state, shuffle: bool, seed: int):
        sampler = DateBatchSampler(split.offsets, int(self.params["dates_per_batch"]), shuffle, seed)
        ds = self._data(xt, panel, split.rows, state)
        # a batch sampler of index tensors: torch takes any iterable of indices per batch
        return torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=lambda b: b)  # type: ignore[arg-type]

    def _epoch(self, loader, split: Split, loss_fn, opt, max_batches: int | None = None) -> float:
        """One pass (or ``max_batches`` batches) over ``loader``; trains when ``opt`` is given.
        Returns the mean loss per sample; ``self.last_samples`` holds the samples seen."""
        y_all = torch.from_numpy(split.target).to(self.device)
        g_all = torch.from_numpy(np.repeat(np.arange(split.n_dates), np.diff(split.offsets))).to(self.device)
        self.net.train(opt is not None)
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        n = torch.zeros((), dtype=torch.int64, device=self.device)
        dtype = autocast_dtype(self.device) if self.amp else None
        for b, (xb, idx) in enumerate(loader):
            if max_batches is not None and b >= max_batches:
                break
            y, g = y_all[idx], g_all[idx]
            ok = ~torch.isnan(y)
            with torch.set_grad_enabled(opt is not None), \
                    torch.autocast(self.device.split(":")[0], dtype=dtype, enabled=dtype is not None):
                pred = self.net(xb).float()
            loss = loss_fn(pred[ok], y[ok], g[ok])
            if opt is not None:
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), 3.0)
                opt.step()
            total += loss.detach().double() * ok.sum()  # stays on the device: no sync per batch
            n += ok.sum()
        self.last_samples = int(n)
        return float(total) / max(self.last_samples, 1)

    # ------------------------------------------------------------ predict
    def predict_split(self, x, panel, split, state):
        xt = self._source(x, panel)
        ds = self._data(xt, panel, split.rows, state)
        out = np.empty(split.n, dtype=np.float32)
        self.net.eval()
        dtype = autocast_dtype(self.device) if self.amp else None
        with torch.no_grad(), torch.autocast(self.device.split(":")[0], dtype=dtype, enabled=dtype is not None):
            for a, b in zip(split.offsets[:-1], split.offsets[1:]):
                xb, _ = ds.__getitems__(torch.arange(int(a), int(b)))
                out[a:b] = self.net(xb).float().cpu().numpy()
        return out

    def predict_rows(self, x, panel, rows, state):
        split = Split(rows, np.array([0, rows.size], dtype=np.int64), np.zeros(rows.size, np.float32),
                      np.zeros(rows.size, np.float32))
        return self.predict_split(x, panel, split, state)

    def save(self, path: Path) -> None:
        torch.save({k: v.detach().cpu() for k, v in self.net.state_dict().items()}, path)

    def load(self, path: Path, n_features: int) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        n_feat = 6 if self.ohlcv else n_features
        self.net = build_net(self.kind, n_feat, self.params, self.T)
        self.net.load_state_dict(state)
        self.net.to(self.device).eval()
