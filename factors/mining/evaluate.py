"""Candidate evaluation: formulas -> RankIC statistics and rank signatures on a ``MiningData``.

``evaluate_batch(data, formulas)`` is deterministic (a pure function of the data and the
formula text) and never raises for a bad candidate: a formula that does not parse, raises in
the engine, or yields too few values gives an ``EvalResult`` with ``ok=False`` and the error.

Steps: 1. compute the whole batch in one engine plan (``flyer.factors.compute``), falling back to one
formula at a time when the batch raises; 2. scatter each column into a (T, N) matrix; 3. rank IC
per date (``kernels.rank_ic_nb``) -> mean and ICIR (mean / std) over training and validation
dates; 4. the rank signature on the signature dates (``kernels.rank_signature_nb``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from flyer.factors.engine import compute
from flyer.factors.factorset import FactorSet
from flyer.factors.mining.kernels import rank_ic_nb, rank_signature_nb
from flyer.factors.mining.panel import MiningData
from flyer.factors.parser import parse

MIN_SYMBOLS = 10      # per date, for a rank IC
MIN_DATES = 20        # training dates with an IC, for a result


@dataclass(frozen=True)
class EvalResult:
    """Statistics of one candidate. ICs are daily rank ICs with the forward return (fractions);
    ``signature``: (K, N) float32 rank signature (None when ``ok`` is False)."""

    formula: str
    ok: bool
    error: str = ""
    train_ic: float = math.nan
    train_icir: float = math.nan
    valid_ic: float = math.nan
    valid_icir: float = math.nan
    n_train: int = 0
    signature: np.ndarray | None = None

    def without_signature(self) -> EvalResult:
        return EvalResult(self.formula, self.ok, self.error, self.train_ic, self.train_icir,
                          self.valid_ic, self.valid_icir, self.n_train, None)


def evaluate_batch(data: MiningData, formulas: list[str]) -> list[EvalResult]:
    """One ``EvalResult`` per formula, in order (see module docstring)."""
    frame = data.frame()
    out: list[EvalResult | None] = [None] * len(formulas)
    good: list[tuple[int, object]] = []
    for i, text in enumerate(formulas):
        try:
            good.append((i, parse(text)))
        except Exception as exc:  # noqa: BLE001 - a bad candidate must not stop the search
            out[i] = EvalResult(text, False, _msg(exc))
    values = _compute_all(frame, good)
    for i, col in values.items():
        out[i] = col if isinstance(col, EvalResult) else _score(data, formulas[i], col)
    return [r if r is not None else EvalResult(formulas[i], False, "not evaluated") for i, r in enumerate(out)]


def _msg(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _compute_all(frame: pl.DataFrame, items: list[tuple[int, object]]) -> dict[int, object]:
    """Step 1: ``{i: (values, dates, syms) or EvalResult(error)}``; one plan, else one by one."""
    if not items:
        return {}
    try:
        return _compute(frame, items)
    except Exception:  # noqa: BLE001
        pass
    res: dict[int, object] = {}
    for item in items:
        try:
            res.update(_compute(frame, [item]))
        except Exception as exc:  # noqa: BLE001
            res[item[0]] = EvalResult(str(item[1]), False, _msg(exc))
    return res


def _compute(frame: pl.DataFrame, items: list[tuple[int, object]]) -> dict[int, object]:
    fs = FactorSet("mining", tuple((f"c{i}", e) for i, e in items))  # type: ignore[misc]
    df = compute(frame, fs)
    d, s = df["date"].to_numpy(), df["symbol"].to_numpy()
    return {i: (df[f"c{i}"].fill_null(np.nan).to_numpy(), d, s) for i, _ in items}


def _score(data: MiningData, text: str, col: object) -> EvalResult:
    """Steps 2-4 for one computed column."""
    vals, d, s = col  # type: ignore[misc]
    f = np.full(data.shape, np.nan)
    f[d, s] = vals
    f[~np.isfinite(f)] = np.nan
    tr = rank_ic_nb(f, data.label, data.train_idx, MIN_SYMBOLS, data.label_order)
    va = rank_ic_nb(f, data.label, data.valid_idx, MIN_SYMBOLS, data.label_order)
    tr, va = tr[np.isfinite(tr)], va[np.isfinite(va)]
    if tr.size < MIN_DATES:
        return EvalResult(text, False, f"only {tr.size} training dates with a rank IC")
    sig = rank_signature_nb(f, data.label, data.sig_idx, MIN_SYMBOLS)
    return EvalResult(text, True, "", float(tr.mean()), _ir(tr), float(va.mean()) if va.size else math.nan,
                      _ir(va), int(tr.size), sig)


def _ir(ics: np.ndarray) -> float:
    if ics.size < 2:
        return math.nan
    sd = float(ics.std(ddof=1))
    return float(ics.mean()) / sd if sd > 0 else math.nan
