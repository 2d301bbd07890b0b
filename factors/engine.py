"""Compile a factor set into fused programs and compute it on a bars panel.

Algorithm:
  1. ``_compute_frame``: sort bars by (symbol, date) (the instrument blocks, ``group_starts``);
     ``run_program`` reads the fields the set uses as one float64 matrix (null -> NaN) and the
     suspension flags: traded fields (prices, volume, amount, vwap, turnover) are missing on
     suspended days, which stay rows, so windows count market days and skip them like qlib's
     NaNs.
  2. ``compile_set``: hash-cons every factor tree into unique nodes (structural equality), then
     ``flyer.factors.program.build``: instructions over registers, one program per phase
     (phases split at cross-sectional operators), operators of one input and window fused into
     one kernel pass across the whole set, registers reused by liveness.
  3. ``run_program``: each phase's program runs once over every instrument block in parallel
     (``flyer.factors.fused.run_nb``): a block's intermediate values stay in its scratch
     registers, and each factor is written once into its output row (float32 or float64);
     between phases, the cross sections run per date on whole columns (polars ``.over("date")``).
  4. in the programs: per factor, rows whose age (row number in the block) is under the
     factor's lookback are missing (full windows; not in ``qlib_compat`` mode, which instead
     rounds fields and results through float32); the output rows become the factor columns
     without a copy (NaN -> null through Arrow validity bitmaps): ``[date, symbol, <factors>]``.
  5. ``compute``: 1-4 on a frame; ``compute_chunks`` yields chunks (blocks of whole instruments,
     or date chunks loaded with their lookback when the set has cross-sectional operators) so
     memory stays bounded on large panels.

``node_expr`` gives the same semantics one node at a time as polars expressions (the miner's
node cache uses it; the fused programs are tested against it).

Missing values: null everywhere (NaN inside the kernels; a NaN from 0/0 or Log of a negative
is missing). Rolling windows skip missing values inside them (pandas ``min_periods=1``); in the
default mode a value exists only once the instrument has ``lookback`` rows of history.
Comparisons with a missing operand give missing (default) or 0 (qlib mode, where ``NaN > x``
is False).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
from flyer.factors import fused as fz
from flyer.factors import kernels as kn
from flyer.factors.expr import (
    TRADED_FIELDS,
    BinOp,
    Const,
    CrossSection,
    Expr,
    Field,
    Func,
    PairRolling,
    Rolling,
)
from flyer.factors.factorset import FactorSet
from flyer.factors.program import Plan, build

from flyer.core.errors import FlyerError

G, AGE, IND = "_gid", "_age", "_ind"
#: kernels are parallel inside; without a thread-safe numba layer, one launch at a time
_LAUNCH = contextlib.nullcontext() if kn.THREADSAFE else threading.Lock()


# ----------------------------------------------------------------------------- 1. panel
def group_starts(symbols: pl.Series) -> np.ndarray:
    """Row offsets (int64, length G + 1) of the blocks of equal symbols in a sorted column."""
    n = symbols.len()
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    change = (symbols != symbols.shift(1)).fill_null(True).to_numpy()
    return np.append(np.flatnonzero(change), n).astype(np.int64)


def prepare_panel(bars: pl.DataFrame, fields: set[str], *, qlib_compat: bool = False,
                  industries: pl.DataFrame | None = None) -> tuple[pl.DataFrame, np.ndarray]:
    """Step 1: the working panel ``[symbol, date, _gid, _age, <fields>, (_ind)]`` and block starts."""
    need = {"symbol", "date"} | (fields - {"industry"})
    missing = sorted(need - set(bars.columns))
    if missing:
        hint = " (join $pe/$pb with flyer.data.fields.attach)" if {"pe", "pb"} & set(missing) else ""
        raise FlyerError(f"bars lack column(s) {', '.join(missing)} needed by the factors{hint}")
    if not _is_sorted(bars):
        bars = bars.sort("symbol", "date")
    starts = group_starts(bars["symbol"])
    cols = sorted(fields - {"industry"})
    suspended = pl.col("is_suspended").fill_null(False) if "is_suspended" in bars.columns else pl.lit(False)

    def field_expr(c: str) -> pl.Expr:
        e = pl.col(c).cast(pl.Float64).fill_nan(None)
        if c in TRADED_FIELDS:
            e = pl.when(suspended).then(None).otherwise(e)
        if qlib_compat:
            e = e.cast(pl.Float32).cast(pl.Float64)
        return e.alias(c)

    sizes = np.diff(starts)
    gid = np.repeat(np.arange(sizes.size, dtype=np.int32), sizes)
    age = (np.arange(bars.height, dtype=np.int64) - np.repeat(starts[:-1], sizes)).astype(np.int32)
    panel = bars.select("symbol", "date", *[field_expr(c) for c in cols]).with_columns(
        pl.Series(G, gid), pl.Series(AGE, age))
    if "industry" in fields:
        panel = _join_industry(panel, bars, industries)
    return panel, starts


def _is_sorted(bars: pl.DataFrame) -> bool:
    if bars.height < 2:
        return True
    s, d = bars["symbol"], bars["date"]
    s_prev, d_prev = s.shift(1), d.shift(1)
    ok = (s > s_prev) | ((s == s_prev) & (d > d_prev))
    return bool(ok.slice(1).all())


def _join_industry(panel: pl.DataFrame, bars: pl.DataFrame,
                   industries: pl.DataFrame | None) -> pl.DataFrame:
    if industries is not None:
        ind = industries.select("symbol", pl.col("industry").cast(pl.String).alias(IND)).unique("symbol")
        return panel.join(ind, on="symbol", how="left", maintain_order="left")
    if "industry" in bars.columns:
        return panel.with_columns(bars["industry"].cast(pl.String).alias(IND))
    raise FlyerError("factors need industries: pass industries=[symbol, industry] or an 'industry' column")


# ----------------------------------------------------------------------------- 2. compile
@dataclass(frozen=True)
class CompiledSet:
    """A factor set hash-consed into unique nodes (``nodes``, children first) and compiled into
    fused programs (``program``: ``flyer.factors.program.Plan``)."""

    factor_set: FactorSet
    qlib_compat: bool
    nodes: tuple[Expr, ...]
    program: Plan = field(repr=False)


def compile_set(factor_set: FactorSet, *, qlib_compat: bool = False) -> CompiledSet:
    """Step 2: hash-cons the trees (structural equality) and compile the fused programs."""
    seen: set[Expr] = set()
    order: list[Expr] = []
    for _, expr in factor_set:
        _check(expr)
        for node in expr.walk():
            if node not in seen:
                seen.add(node)
                order.append(node)
    plan = build(list(factor_set.names), list(factor_set.exprs), order, qlib_compat=qlib_compat)
    return CompiledSet(factor_set, qlib_compat, tuple(order), plan)


def _check(expr: Expr) -> None:
    for node in expr.walk():
        if isinstance(node, Field) and node.name == "industry":
            raise FlyerError("$industry is categorical: use it through Neutralize(x, industry)")


# ----------------------------------------------------------------------------- 3. run
def run_program(bars: pl.DataFrame, compiled: CompiledSet, industries: pl.DataFrame | None,
                dtype: type[pl.DataType] = pl.Float64) -> pl.DataFrame:
    """Steps 3-4 on one frame sorted by (symbol, date): the fused programs, phase by phase, with
    the cross sections between them; ``[date, symbol, <factors>]`` as ``dtype``."""
    plan = compiled.program
    need = {"symbol", "date", *plan.fields}
    missing = sorted(need - set(bars.columns))
    if missing:
        hint = " (join $pe/$pb with flyer.data.fields.attach)" if {"pe", "pb"} & set(missing) else ""
        raise FlyerError(f"bars lack column(s) {', '.join(missing)} needed by the factors{hint}")
    n = bars.height
    starts = group_starts(bars["symbol"])
    fields = _field_matrix(bars, plan.fields)
    suspended = (bars["is_suspended"].fill_null(False).to_numpy() if "is_suspended" in bars.columns
                 else np.zeros(n, dtype=np.bool_))
    glob = np.empty((plan.n_glob, n))
    out = np.empty((plan.n_out, n), dtype=np.float32 if dtype == pl.Float32 else np.float64)
    bits = np.empty((plan.n_out, (n + 7) // 8), dtype=np.uint8)
    nulls = np.empty((plan.n_out, starts.size - 1), dtype=np.int64)
    keys = _cross_keys(bars, plan, fields, industries)
    for prog, steps in zip(plan.programs, plan.cross):
        with _LAUNCH:
            fz.run_nb(prog.code, prog.fp, prog.aux_rows, prog.aux_q, prog.aux_k, fields, suspended, glob, out,
                      bits, nulls, starts, prog.n_regs)
        for step in steps:
            glob[step.dst] = _cross_values(step.node, glob[step.src], keys)
    fz.edges_nb(out, bits, starts, np.arange(plan.n_out))
    return bars.select("date", "symbol").hstack(_columns(plan.names, out, bits, nulls.sum(axis=1)))


def _field_matrix(bars: pl.DataFrame, fields: Sequence[str]) -> np.ndarray:
    """``(F, N)`` float64 of the fields (NaN for null and for NaN)."""
    if not fields:
        return np.empty((0, bars.height))
    cols = bars.select(pl.col(c).cast(pl.Float64) for c in fields).to_numpy(order="fortran")
    return np.ascontiguousarray(cols.T)


def _cross_keys(bars: pl.DataFrame, plan: Plan, fields: np.ndarray,
                industries: pl.DataFrame | None) -> pl.DataFrame | None:
    """The per-row columns cross sections group by: ``date``, ``cap`` and ``_ind`` as needed."""
    if not any(plan.cross):
        return None
    keys = bars.select("symbol", "date")
    if plan.needs_cap:
        cap = fields[plan.fields.index("cap")]
        cap = cap.astype(np.float32).astype(np.float64) if plan.qlib_compat else cap
        keys = keys.with_columns(pl.Series("cap", cap, nan_to_null=True))
    if plan.needs_industry:
        keys = _join_industry(keys, bars, industries)
    return keys


def _cross_values(node: CrossSection, x: np.ndarray, keys: pl.DataFrame | None) -> np.ndarray:
    """One cross-sectional operator per date on a whole column (NaN = missing)."""
    assert keys is not None
    frame = keys.with_columns(pl.Series("_x", x, nan_to_null=True))
    res = frame.select(_cross_section(node, pl.col("_x")).cast(pl.Float64)).to_series()
    return res.to_numpy().astype(np.float64, copy=False)


def _columns(names: Sequence[str], out: np.ndarray, bits: np.ndarray, nulls: np.ndarray) -> list[pl.Series]:
    """Rows of ``out`` as polars columns without copying: NaN is null through the Arrow
    validity bitmaps ``bits`` (``nulls``: NaN count per row)."""
    kind = pa.float32() if out.dtype == np.float32 else pa.float64()
    cols = []
    for k, name in enumerate(names):
        valid = pa.py_buffer(bits[k]) if nulls[k] else None
        arr = pa.Array.from_buffers(kind, out.shape[1], [valid, pa.py_buffer(out[k])], null_count=int(nulls[k]))
        cols.append(pl.Series(name, arr))
    return cols


# ----------------------------------------------------------------------------- node by node (miner)
def node_expr(node: Expr, args: Sequence[pl.Expr], starts: np.ndarray, qlib_compat: bool = False) -> pl.Expr:
    """Step 3 for one node: its polars expression over a prepared panel, given its children's
    values as ``args`` (in ``node.children()`` order).

    Callers pass the inputs of windowed nodes broadcast to the panel's length and the input of
    a CrossSection already nulled during its warm-up (``_Ctx`` does both); ``starts`` are the
    panel's block offsets. ``_Ctx`` builds whole trees with it; the miner
    (``flyer.factors.mining.nodes``) evaluates trees node by node with it, children read from
    its cache, so both give the same values.
    """
    if isinstance(node, Field):
        return pl.col(node.name)
    if isinstance(node, Const):
        return pl.lit(node.value, dtype=pl.Float64)
    if isinstance(node, BinOp):
        return _binop(node.op, args[0], args[1], qlib_compat)
    if isinstance(node, Func):
        return _func(node.name, list(args), qlib_compat)
    if isinstance(node, Rolling):
        return _rolling(node, args[0], starts, qlib_compat)
    if isinstance(node, PairRolling):
        w, corr = node.window, node.op == "Corr"
        return _kernel2(args[0], args[1], lambda a, b, s: kn.rolling_pair_nb(a, b, s, w, corr), starts)
    if isinstance(node, CrossSection):
        return _cross_section(node, args[0])
    raise TypeError(f"unknown node {type(node).__name__}")


def _rolling(node: Rolling, x: pl.Expr, starts: np.ndarray, compat: bool) -> pl.Expr:
    """Every rolling operator runs as a numba kernel over the whole column (block offsets
    ``starts``): one parallel pass instead of a polars ``over`` per instrument."""
    w, op = node.window, node.op
    if op == "Ref" and w == 0:
        return x
    if op == "Delta":
        return x - _kernel1(x, _KERNELS["Ref"](w, compat), starts)
    if op == "Quantile":
        q = float(node.q or 0.0)
        return _kernel1(x, lambda a, s: kn.rolling_quantile_nb(a, s, w, q), starts)
    return _kernel1(x, _KERNELS[op](w, compat), starts)


_KERNELS: dict[str, Callable[[int, bool], Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    "Ref": lambda w, c: lambda x, s: kn.rolling_shift_nb(x, s, w),
    "Mean": lambda w, c: lambda x, s: kn.rolling_sum_nb(x, s, w, kn.MEAN),
    "Sum": lambda w, c: lambda x, s: kn.rolling_sum_nb(x, s, w, kn.SUM),
    "Count": lambda w, c: lambda x, s: kn.rolling_sum_nb(x, s, w, kn.COUNT),
    "Std": lambda w, c: lambda x, s: kn.rolling_var_nb(x, s, w, True),
    "Var": lambda w, c: lambda x, s: kn.rolling_var_nb(x, s, w, False),
    "Max": lambda w, c: lambda x, s: kn.rolling_ext_nb(x, s, w, True),
    "Min": lambda w, c: lambda x, s: kn.rolling_ext_nb(x, s, w, False),
    "Med": lambda w, c: lambda x, s: kn.rolling_quantile_nb(x, s, w, 0.5),
    "EMA": lambda w, c: lambda x, s: kn.ewm_nb(x, s, w),
    "Skew": lambda w, c: lambda x, s: kn.rolling_moment_nb(x, s, w, 3),
    "Kurt": lambda w, c: lambda x, s: kn.rolling_moment_nb(x, s, w, 4),
    "Rank": lambda w, c: lambda x, s: kn.rolling_rank_nb(x, s, w),
    "IdxMax": lambda w, c: lambda x, s: kn.rolling_argext_nb(x, s, w, True, c),
    "IdxMin": lambda w, c: lambda x, s: kn.rolling_argext_nb(x, s, w, False, c),
    "Slope": lambda w, c: lambda x, s: kn.rolling_reg_nb(x, s, w, 0),
    "Rsquare": lambda w, c: lambda x, s: kn.rolling_reg_nb(x, s, w, 1),
    "Resi": lambda w, c: lambda x, s: kn.rolling_reg_nb(x, s, w, 2),
    "Mad": lambda w, c: lambda x, s: kn.rolling_mad_nb(x, s, w),
    "WMA": lambda w, c: lambda x, s: kn.rolling_wma_nb(x, s, w, c),
    "DecayLinear": lambda w, c: lambda x, s: kn.rolling_wma_nb(x, s, w, False),
    "Prod": lambda w, c: lambda x, s: kn.rolling_prod_nb(x, s, w),
}


def _as_array(s: pl.Series, n: int) -> np.ndarray:
    """Float64 values with NaN for null; refuses a length other than the panel's ``n``."""
    if s.len() != n:
        raise ValueError(f"kernel input has {s.len()} rows, panel has {n}")
    return np.ascontiguousarray(s.cast(pl.Float64).to_numpy(), dtype=np.float64)  # nulls -> NaN


def _kernel1(x: pl.Expr, fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
             starts: np.ndarray) -> pl.Expr:
    """Run a one-input kernel on the whole column (rows in panel order)."""
    def run(s: pl.Series) -> pl.Series:
        a = _as_array(s, int(starts[-1]))
        with _LAUNCH:
            out = fn(a, starts)
        return pl.Series(s.name, out, nan_to_null=True)
    return x.map_batches(run, return_dtype=pl.Float64)


def _kernel2(x: pl.Expr, y: pl.Expr, fn: Callable[..., np.ndarray], starts: np.ndarray) -> pl.Expr:
    """Run a two-input kernel on the whole columns."""
    def run(s: pl.Series) -> pl.Series:
        n = int(starts[-1])
        a, b = _as_array(s.struct.field("x"), n), _as_array(s.struct.field("y"), n)
        with _LAUNCH:
            out = fn(a, b, starts)
        return pl.Series("xy", out, nan_to_null=True)
    return pl.struct(x.alias("x"), y.alias("y")).map_batches(run, return_dtype=pl.Float64)


def _flag(e: pl.Expr, compat: bool) -> pl.Expr:
    e = e.cast(pl.Float64)
    return e.fill_null(0.0) if compat else e


def _binop(op: str, a: pl.Expr, b: pl.Expr, compat: bool) -> pl.Expr:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":  # x / 0 is null, never inf (documented in flyer.factors.expr)
        return pl.when(b != 0).then(a / b).fill_nan(None)
    cmp = {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b, "==": a == b, "!=": a != b}
    if op in cmp:
        return _flag(cmp[op], compat)
    truth_a, truth_b = a != 0, b != 0
    return _flag(truth_a & truth_b if op == "&" else truth_a | truth_b, compat)


def _func(name: str, args: list[pl.Expr], compat: bool) -> pl.Expr:
    if name == "Abs":
        return args[0].abs()
    if name == "Sign":
        return args[0].sign().cast(pl.Float64)
    if name == "Log":  # Log(x <= 0) is null, never -inf or NaN
        return pl.when(args[0] > 0).then(args[0].log())
    if name == "Power":
        return args[0].pow(args[1]).fill_nan(None)
    if name == "SignedPower":
        return (args[0].sign() * args[0].abs().pow(args[1])).fill_nan(None)
    if name in ("Greater", "Less"):
        a, b = args
        pick = pl.max_horizontal(a, b) if name == "Greater" else pl.min_horizontal(a, b)
        return pl.when(a.is_null() | b.is_null()).then(None).otherwise(pick)
    if name == "If":
        c, a, b = args
        chosen = pl.when(c != 0).then(a).otherwise(b)
        return chosen if compat else pl.when(c.is_null()).then(None).otherwise(chosen)
    raise ValueError(f"no implementation for {name}")


def _cross_section(node: CrossSection, x: pl.Expr) -> pl.Expr:
    """Per-date operators; nulls are left out of every statistic and stay null."""
    d = "date"
    if node.op == "CSRank":
        return x.rank("average").over(d) / x.count().over(d)
    if node.op == "CSZScore":
        return ((x - x.mean().over(d)) / x.std(ddof=1).over(d)).fill_nan(None)
    if node.op == "CSDemean":
        return x - x.mean().over(d)
    if node.op == "CSScale":
        return (x / x.abs().sum().over(d)).fill_nan(None)
    return _neutralize(x, node.by)


def _neutralize(x: pl.Expr, by: tuple[str, ...]) -> pl.Expr:
    """Residual of a per-date OLS of x on industry dummies and/or log cap (with intercept).

    With both, industry effects are removed first (within-industry demeaning of x and log cap),
    then the demeaned x is regressed on demeaned log cap: the Frisch-Waugh form of the joint fit.
    """
    lcap = pl.when(pl.col("cap") > 0).then(pl.col("cap").log())
    if "cap" in by:
        ok = x.is_not_null() & lcap.is_not_null()
        x, lcap = pl.when(ok).then(x), pl.when(ok).then(lcap)
    groups = ["date", IND] if "industry" in by else ["date"]
    xd = x - x.mean().over(groups)
    if "cap" not in by:
        return xd
    ld = lcap - lcap.mean().over(groups)
    beta = (xd * ld).sum().over("date") / (ld * ld).sum().over("date")
    return (xd - beta.fill_nan(0.0) * ld).fill_nan(None)


# ----------------------------------------------------------------------------- 5. compute
FactorSpec = FactorSet | Mapping[str, "str | Expr"] | str


def as_factor_set(spec: FactorSpec) -> FactorSet:
    """A FactorSet from a FactorSet, a ``{name: formula}`` mapping or a library name/path."""
    if isinstance(spec, FactorSet):
        return spec
    if isinstance(spec, str):
        from flyer.factors.library import load
        return load(spec)
    return FactorSet.from_formulas("custom", spec)


#: panels above this many rows are computed in chunks (bounded temp-column memory)
AUTO_CHUNK_ROWS = 500_000  # ~1.3 GB of float64 temp columns for Alpha158
#: output dtypes ``compute`` accepts: Float64 (default, the contract) or Float32 (half the
#: memory; stored values and model features use it: 7 significant digits, relative rounding
#: error <= 6e-8, far below any factor's noise; qlib-compat values are float32 already)
DTYPES = (pl.Float64, pl.Float32)


def compute(bars: pl.DataFrame, factor_set: FactorSpec, *, qlib_compat: bool = False,
            industries: pl.DataFrame | None = None, chunk_rows: int = AUTO_CHUNK_ROWS,
            dtype: type[pl.DataType] = pl.Float64) -> pl.DataFrame:
    """Factor values ``[date, symbol, <one column per factor>]`` sorted by (symbol, date).

    ``bars``: the bars contract (``store.bars(adjust=True)`` columns; at least symbol, date and
    the fields used). ``qlib_compat``: qlib's partial windows and float32 rounding (see module
    docstring). ``industries``: ``[symbol, industry]`` for Neutralize by industry. Panels over
    ``chunk_rows`` rows are computed in chunks (``compute_chunks``) and concatenated.
    ``dtype``: ``pl.Float64`` (default) or ``pl.Float32`` (see ``DTYPES``).
    """
    fs = as_factor_set(factor_set)
    if bars.height > chunk_rows:
        parts = compute_chunks(bars, fs, qlib_compat=qlib_compat, industries=industries, chunk_rows=chunk_rows,
                               dtype=dtype)
        out = pl.concat(list(parts), rechunk=False)
        return out.sort("symbol", "date") if fs.cross_sectional else out  # symbol blocks come in order
    return _compute_frame(bars, compile_set(fs, qlib_compat=qlib_compat), industries, dtype)


def _compute_frame(bars: pl.DataFrame, compiled: CompiledSet, industries: pl.DataFrame | None,
                   dtype: type[pl.DataType] = pl.Float64) -> pl.DataFrame:
    """Steps 1-4 on one frame, no chunking."""
    if dtype not in DTYPES:
        raise FlyerError(f"factor values are Float64 or Float32, not {dtype}")
    if not _is_sorted(bars):
        bars = bars.sort("symbol", "date")
    return run_program(bars, compiled, industries, dtype)


def compute_chunks(bars: pl.DataFrame, factor_set: FactorSpec, *, qlib_compat: bool = False,
                   industries: pl.DataFrame | None = None, chunk_rows: int = AUTO_CHUNK_ROWS,
                   start: dt.date | None = None, dtype: type[pl.DataType] = pl.Float64) -> Iterator[pl.DataFrame]:
    """``compute`` over chunks of about ``chunk_rows`` output rows each (rows >= ``start``).

    A set without cross-sectional operators is cut into blocks of whole instruments (each
    block's full history: no row is computed twice, results are exactly ``compute``'s). A
    set with one needs every stock of a date together: it is cut into date chunks, each
    computed from its dates plus ``lookback`` earlier trading days (equal to ``compute`` on the
    whole panel, EMA aside, whose memory is unbounded). Memory is bounded by the chunk size.
    """
    fs = as_factor_set(factor_set)
    compiled = compile_set(fs, qlib_compat=qlib_compat)
    if not fs.cross_sectional:
        yield from _symbol_chunks(bars, compiled, industries, chunk_rows, start, dtype)
        return
    dates = bars["date"].unique().sort()
    if start is not None:
        first = int(dates.search_sorted(start, side="left"))
    else:
        first = 0
    n_sym = max(bars["symbol"].n_unique(), 1)
    step = max(fs.lookback + 1, chunk_rows // n_sym, 20)
    for i in range(first, dates.len(), step):
        lo = dates[max(i - fs.lookback, 0)]
        d0, d1 = dates[i], dates[min(i + step, dates.len()) - 1]
        piece = bars.filter(pl.col("date").is_between(lo, d1))
        out = _compute_frame(piece, compiled, industries, dtype)
        yield out.filter(pl.col("date") >= d0)


def n_chunks(bars: pl.DataFrame, factor_set: FactorSpec, chunk_rows: int = AUTO_CHUNK_ROWS) -> int:
    """How many chunks ``compute_chunks(bars, factor_set, chunk_rows=chunk_rows)`` yields (for
    progress bars)."""
    fs = as_factor_set(factor_set)
    if not fs.cross_sectional:
        sizes = np.diff(group_starts(bars.sort("symbol")["symbol"] if not _is_sorted(bars) else bars["symbol"]))
        n, acc = 0, 0
        for size in sizes:  # as _symbol_chunks: add instruments while under chunk_rows
            if acc and acc + size > max(chunk_rows, 1):
                n, acc = n + 1, 0
            acc += size
        return n + (1 if acc else 0)
    dates = bars["date"].n_unique()
    step = max(fs.lookback + 1, chunk_rows // max(bars["symbol"].n_unique(), 1), 20)
    return -(-dates // step)


def _symbol_chunks(bars: pl.DataFrame, compiled: CompiledSet, industries: pl.DataFrame | None,
                   chunk_rows: int, start: dt.date | None, dtype: type[pl.DataType]) -> Iterator[pl.DataFrame]:
    """Blocks of whole instruments of about ``chunk_rows`` rows, in symbol order."""
    if not _is_sorted(bars):
        bars = bars.sort("symbol", "date")
    starts = group_starts(bars["symbol"])
    lo = 0
    while lo < starts.size - 1:
        hi = int(np.searchsorted(starts, starts[lo] + max(chunk_rows, 1), side="right")) - 1
        hi = max(hi, lo + 1)
        out = _compute_frame(bars.slice(int(starts[lo]), int(starts[hi] - starts[lo])), compiled, industries, dtype)
        yield out if start is None else out.filter(pl.col("date") >= start)
        lo = hi
