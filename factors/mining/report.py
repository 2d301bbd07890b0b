"""The held-out proof of a mined pool: exact figures on train, validation and test, per year.

``pool_figures`` evaluates a weighted pool on every cell of a ``MiningData`` (the test period
included, which the search never read): each member's values are standardised per date as in
the search, the combined signal is ``c = sum_j w_j z_j``, and per date the IC (Pearson) and
RankIC (Spearman) of ``c`` with the forward return are taken over the labelled members. Per
period and per calendar year: the mean, the ICIR (mean / sd of the daily values) and a
Newey-West t-statistic with ``horizon`` lags (daily labels overlap by ``horizon`` days).
Per member: its own IC and RankIC per period; and the members' correlation matrix (mean daily
correlation of their standardised values on the training dates).

``baseline_pool`` builds the comparison the user needs: the top Alpha158 factors by
validation IC (greedily, skipping one correlated above the same bound with a chosen one),
weights fitted on training exactly as the miner's. ``to_markdown`` renders both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from flyer.factors.mining.evaluate import Scorer
from flyer.factors.mining.kernels import daily_ic_nb, segment_means_nb, standardize_nb
from flyer.factors.mining.panel import PERIODS, MiningData
from flyer.factors.mining.pool import fit_weights
from flyer.factors.parser import parse

MIN_PAIRS = 10


@dataclass(frozen=True)
class Figures:
    """Daily IC / RankIC summary over one period or year (fractions; ``*_t``: Newey-West)."""

    label: str
    days: int
    ic: float
    icir: float
    ic_t: float
    rank_ic: float
    rank_icir: float
    rank_ic_t: float


@dataclass(frozen=True)
class PoolFigures:
    """A weighted pool's held-out figures (see module docstring)."""

    title: str
    names: tuple[str, ...]
    formulas: tuple[str, ...]
    weights: tuple[float, ...]
    periods: tuple[Figures, ...]
    years: tuple[Figures, ...]
    members: tuple[tuple[Figures, ...], ...]     # per member, per period
    corr: np.ndarray                             # (k, k)


def newey_west_t(x: np.ndarray, lags: int) -> float:
    """t-statistic of the mean of ``x`` with a Bartlett-kernel Newey-West variance (``lags`` lags)."""
    x = x[np.isfinite(x)]
    n = x.size
    if n < 3:
        return math.nan
    e = x - x.mean()
    lrv = float(e @ e) / n
    for lag in range(1, min(lags, n - 1) + 1):
        lrv += 2.0 * (1.0 - lag / (lags + 1)) * float(e[lag:] @ e[:-lag]) / n
    return float(x.mean() / math.sqrt(lrv / n)) if lrv > 0 else math.nan


def summarise(label: str, daily: np.ndarray, lags: int) -> Figures:
    """``Figures`` from (D, 2) daily [IC, RankIC] (NaN dates skipped)."""
    out = []
    for col in (0, 1):
        x = daily[:, col]
        x = x[np.isfinite(x)]
        m = float(x.mean()) if x.size else math.nan
        sd = float(x.std(ddof=1)) if x.size > 1 else math.nan
        out += [m, m / sd if sd and sd > 0 else math.nan, newey_west_t(x, lags)]
    days = int(np.isfinite(daily[:, 1]).sum())
    return Figures(label, days, *out)


def _groups(data: MiningData) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, np.ndarray]]]:
    """(label, segment indices) per period present and per calendar year (tagged with its periods)."""
    periods = [(PERIODS[p], data.period_dates(p)) for p in range(3) if data.period_dates(p).size]
    years = np.array([d.year for d in data.cell_dates()])
    out = []
    for y in np.unique(years):
        idx = np.flatnonzero(years == y)
        tags = "/".join(PERIODS[p] for p in np.unique(data.period[idx]))
        out.append((f"{y} ({tags})", idx))
    return periods, out


def standardized(scorer: Scorer, formula: str) -> tuple[np.ndarray, np.ndarray]:
    """A formula's raw cell values and their per-date standardisation over all periods."""
    raw = scorer.values(parse(formula))
    z, _ = standardize_nb(raw, scorer.data.segments, scorer.mode)
    return raw, z


def pool_figures(scorer: Scorer, title: str, names: tuple[str, ...], formulas: tuple[str, ...],
                 weights: tuple[float, ...]) -> PoolFigures:
    """Exact held-out figures of one weighted pool (module docstring)."""
    data = scorer.data
    periods, years = _groups(data)
    lags = data.horizon
    combined = np.zeros(data.n_cells)
    zs, members = [], []
    for f, w in zip(formulas, weights):
        raw, z = standardized(scorer, f)
        combined += w * z
        zs.append(z.astype(np.float32))
        daily = daily_ic_nb(raw, data.label, data.segments, MIN_PAIRS)
        members.append(tuple(summarise(lab, daily[idx], lags) for lab, idx in periods))
    daily = daily_ic_nb(combined if formulas else np.full(data.n_cells, np.nan), data.label, data.segments, MIN_PAIRS)
    return PoolFigures(title, names, formulas, weights,
                       tuple(summarise(lab, daily[idx], lags) for lab, idx in periods),
                       tuple(summarise(lab, daily[idx], lags) for lab, idx in years),
                       tuple(members), _corr(data, zs))


def _corr(data: MiningData, zs: list[np.ndarray]) -> np.ndarray:
    """Mean daily correlation of the standardised members on the training dates -> (k, k)."""
    k = len(zs)
    if k == 0:
        return np.zeros((0, 0))
    train = data.period_dates(0)
    seg = data.segments[:train[-1] + 2]
    end = int(seg[-1])
    Z = np.stack([z[:end] for z in zs])
    S = np.stack([segment_means_nb(Z[i].astype(np.float64), Z[i].astype(np.float64), Z, seg)[:, 2:].mean(axis=0)
                  for i in range(k)])
    d = np.sqrt(np.diag(S))
    with np.errstate(invalid="ignore", divide="ignore"):
        return S / np.outer(d, d)


def baseline_pool(scorer: Scorer, formulas: dict[str, str], size: int, max_corr: float,
                  ridge: float) -> tuple[tuple[str, ...], tuple[str, ...], tuple[float, ...], int]:
    """Top ``formulas`` by |validation IC| (greedy, correlation-bounded), training-fitted weights.

    Returns (names, formulas, weights, number that evaluated)."""
    ranked = []
    for name, f in formulas.items():
        res = scorer.evaluate([f])[0]
        if res.ok and res.valid is not None and math.isfinite(res.valid.ic):
            ranked.append((-abs(res.valid.ic), name, f))
    ranked.sort()
    chosen: list[tuple[str, str]] = []
    zs: list[np.ndarray] = []
    ss: list[float] = []
    for _, name, f in ranked:
        if len(chosen) >= size:
            break
        z = scorer.zvalues(f)[0]
        m = _train_means(scorer, z, zs)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.abs(m[2:] / np.sqrt(m[1] * np.asarray(ss)))
        if corr.size and np.nanmax(corr) >= max_corr:
            continue
        chosen.append((name, f))
        zs.append(z)
        ss.append(float(m[1]))
    names, fs = tuple(n for n, _ in chosen), tuple(f for _, f in chosen)
    return names, fs, tuple(float(w) for w in _fit(scorer, zs, ridge)), len(ranked)


def _train_means(scorer: Scorer, z: np.ndarray, zs: list[np.ndarray]) -> np.ndarray:
    """Training means of [z * target, z * z, z * zs[j]...] (as ``Scorer`` computes them)."""
    train = scorer.period == 0
    Z = np.stack(zs) if zs else np.zeros((0, z.size), dtype=np.float32)
    return segment_means_nb(z.astype(np.float64), scorer.target, Z, scorer.seg)[train].mean(axis=0)


def _fit(scorer: Scorer, zs: list[np.ndarray], ridge: float) -> np.ndarray:
    """Training weights of standardised members, as ``PoolStats.weights``."""
    if not zs:
        return np.zeros(0)
    rows = [_train_means(scorer, z, zs) for z in zs]
    g, S = np.array([r[0] for r in rows]), np.array([r[2:] for r in rows])
    return fit_weights(g, S, ridge)


# ----------------------------------------------------------------------------- markdown
def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def figures_table(figs: tuple[Figures, ...]) -> list[str]:
    head = ["", "days", "IC", "ICIR", "IC t(NW)", "RankIC", "RankICIR", "RankIC t(NW)"]
    lines = [_row(head), _row(["---"] * len(head))]
    for f in figs:
        lines.append(_row([f.label, str(f.days), f"{f.ic:.4f}", f"{f.icir:.3f}", f"{f.ic_t:.2f}",
                           f"{f.rank_ic:.4f}", f"{f.rank_icir:.3f}", f"{f.rank_ic_t:.2f}"]))
    return lines


def pool_markdown(p: PoolFigures) -> list[str]:
    """One pool's section: combined figures per period and year, members, correlations."""
    out = [f"## {p.title}", "", f"{len(p.names)} member(s).", "", "### Combined signal per period", ""]
    out += figures_table(p.periods) + ["", "### Combined signal per year", ""] + figures_table(p.years)
    if not p.names:
        return out + [""]
    labels = [f.label for f in p.members[0]]
    head = ["name", "weight", "formula"] + [f"{lab} IC / RankIC" for lab in labels]
    out += ["", "### Members (own IC / RankIC per period)", "", _row(head), _row(["---"] * len(head))]
    for n, f, w, figs in zip(p.names, p.formulas, p.weights, p.members):
        out.append(_row([n, f"{w:+.4f}", f"`{f}`"] + [f"{x.ic:.4f} / {x.rank_ic:.4f}" for x in figs]))
    out += ["", "### Correlation matrix (mean daily correlation of standardised values, training dates)", "",
            _row([""] + list(p.names)), _row(["---"] * (len(p.names) + 1))]
    for n, row in zip(p.names, p.corr):
        out.append(_row([n] + [f"{x:.2f}" for x in row]))
    return out + [""]


def to_markdown(title: str, notes: list[str], pools: list[PoolFigures]) -> str:
    """The report page: notes (conventions, the run), then one section per pool."""
    lines = [f"# {title}", ""] + [f"- {n}" for n in notes] + [""]
    for p in pools:
        lines += pool_markdown(p)
    return "\n".join(lines) + "\n"
