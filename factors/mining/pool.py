"""The weighted pool of formulas: its statistics, weight refit and combined IC (closed forms).

A pool of k members, each standardised per date (``flyer.factors.mining.evaluate``), has per
period the mean daily covariances ``g_j = mean_d mean(z_j * target)`` with the standardised
label and ``S_jl = mean_d mean(z_j * z_l)`` between members. The combined signal is
``c = sum_j w_j z_j``; the weights minimise ``w' S w - 2 w' g + ridge |w|^2`` on the
training period (AlphaGen's least squares onto the label, every date weighing the same):

    w = (S_train + ridge I)^-1 g_train

and the pool's combined IC over a period, with those weights, is the correlation of ``c`` with
the target pooled over the period's dates (each date's cross section weighing the same):

    IC(w) = w' g / sqrt(w' S w)

The search scores a candidate by how much adding it (refit; the member with the smallest
|weight| leaves when the pool is over its size) raises the training IC, and accepts it only if
the validation IC rises too. The report gives the exact daily combined IC and RankIC
(``flyer.factors.mining.report``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from flyer.factors.mining.evaluate import EvalResult, PeriodStats

DEFAULT_RIDGE = 1e-3


@dataclass(frozen=True)
class PoolStats:
    """Training (index 0) and validation (1) statistics of a pool's members, in member order.

    ``g``: (2, k); ``S``: (2, k, k), symmetric."""

    keys: tuple[str, ...] = ()
    g: np.ndarray = field(default_factory=lambda: np.zeros((2, 0)))
    S: np.ndarray = field(default_factory=lambda: np.zeros((2, 0, 0)))

    def __len__(self) -> int:
        return len(self.keys)

    def with_member(self, key: str, train: PeriodStats, valid: PeriodStats) -> PoolStats:
        """The pool with one more member whose statistics (and cross terms) are ``train``/``valid``."""
        k = len(self.keys)
        g = np.zeros((2, k + 1))
        S = np.zeros((2, k + 1, k + 1))
        g[:, :k], S[:, :k, :k] = self.g, self.S
        for p, st in enumerate((train, valid)):
            g[p, k] = st.g
            S[p, k, :k] = S[p, :k, k] = st.cross
            S[p, k, k] = st.s
        return PoolStats(self.keys + (key,), g, S)

    def without(self, i: int) -> PoolStats:
        keep = [j for j in range(len(self.keys)) if j != i]
        return PoolStats(tuple(self.keys[j] for j in keep), self.g[:, keep], self.S[:, keep][:, :, keep])

    def weights(self, ridge: float = DEFAULT_RIDGE) -> np.ndarray:
        """Training least-squares weights (module docstring) -> (k,)."""
        return fit_weights(self.g[0], self.S[0], ridge)

    def ic(self, w: np.ndarray, period: int) -> float:
        """Combined IC of weights ``w`` over a period (0 train, 1 valid)."""
        return combined_ic(w, self.g[period], self.S[period])

    def corr(self, period: int = 0) -> np.ndarray:
        """(k, k) mean daily correlations between members."""
        d = np.sqrt(np.diag(self.S[period]))
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.S[period] / np.outer(d, d)

    def to_json(self) -> dict:
        return {"keys": list(self.keys), "g": self.g.tolist(), "S": self.S.tolist()}

    @classmethod
    def from_json(cls, doc: dict) -> PoolStats:
        k = len(doc["keys"])
        return cls(tuple(doc["keys"]), np.asarray(doc["g"], dtype=float).reshape(2, k),
                   np.asarray(doc["S"], dtype=float).reshape(2, k, k))


def fit_weights(g: np.ndarray, S: np.ndarray, ridge: float = DEFAULT_RIDGE) -> np.ndarray:
    """``argmin_w w'Sw - 2 w'g + ridge |w|^2`` -> (k,) (least squares when singular)."""
    k = g.size
    if k == 0:
        return np.zeros(0)
    A = S + ridge * np.eye(k)
    try:
        return np.linalg.solve(A, g)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(A, g, rcond=None)[0]


def combined_ic(w: np.ndarray, g: np.ndarray, S: np.ndarray) -> float:
    """``w'g / sqrt(w'Sw)`` (0 for an empty pool or a zero signal)."""
    if w.size == 0:
        return 0.0
    var = float(w @ S @ w)
    return float(w @ g) / math.sqrt(var) if var > 0 else 0.0


def max_corr(res: EvalResult, pool: PoolStats) -> float:
    """Max |mean daily training correlation| of a candidate with the pool's members (0 if none)."""
    if not len(pool) or res.train is None:
        return 0.0
    s = pool.S[0].diagonal()
    denom = np.sqrt(s * res.train.s)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.abs(np.asarray(res.train.cross) / denom)
    c = c[np.isfinite(c)]
    return float(c.max()) if c.size else 0.0


@dataclass(frozen=True)
class Trial:
    """The pool after adding a candidate (and dropping its weakest member when over size)."""

    stats: PoolStats
    weights: np.ndarray
    train_ic: float
    valid_ic: float
    dropped: str | None      # the key that left (the candidate's own when it is the weakest)


def trial(pool: PoolStats, res: EvalResult, max_size: int, ridge: float = DEFAULT_RIDGE) -> Trial:
    """Add ``res`` (evaluated against exactly ``pool``'s members) and refit (module docstring)."""
    if res.pool != pool.keys or res.train is None or res.valid is None:
        raise ValueError("candidate statistics were computed against a different pool")
    new = pool.with_member(res.formula, res.train, res.valid)
    w = new.weights(ridge)
    dropped = None
    if len(new) > max_size:
        i = int(np.argmin(np.abs(w)))
        dropped = new.keys[i]
        new = new.without(i)
        w = new.weights(ridge)
    return Trial(new, w, new.ic(w, 0), new.ic(w, 1), dropped)
