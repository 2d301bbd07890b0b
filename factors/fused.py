"""The fused factor program: one numba pass computes every node of a factor set, block by block.

A program (built by ``flyer.factors.program``) is a list of instructions over registers: each
register is a scratch row as long as one instrument's block. ``run_nb`` runs the program on
every instrument block of a panel in parallel (one ``prange`` launch per call): the block's
fields are loaded into registers, every node is computed from registers into a register, and
each factor is written (warm-up masked, cast to the output dtype) into its row of ``out``. All
intermediate values stay in the block's scratch (a few hundred KB, cache resident): the panel's
memory is read once per field and written once per output.

Instruction ``code[pc]`` (int64): ``op, dst, a, b, c, w, flag, aux, naux``; ``fp[pc]``: a
float parameter (a constant, a quantile). Multi-output instructions (``ORDER``, ``REG``) read
their output registers ``aux_rows[aux : aux + naux]`` and parameters ``aux_q`` / ``aux_k``.
Missing values are NaN throughout (the polars wrappers turn NaN into null); semantics equal
``flyer.factors.engine.node_expr`` (tested against it on random trees).
"""
from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np
from flyer.factors import kernels as kn

_NB: dict[str, Any] = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
NAN = np.nan

# opcodes --------------------------------------------------------------------------------------
LOAD, GLOBAL, CONST = 1, 2, 3
ADD, SUB, MUL, DIV = 10, 11, 12, 13
GT, LT, GE, LE, EQ, NE, AND, OR = 14, 15, 16, 17, 18, 19, 20, 21
ABS, SIGN, LOG, POW, SPOW, GREATER, LESS, IF = 30, 31, 32, 33, 34, 35, 36, 37
REF, DELTA, SUM, VAR, EMA, EXT, ORDER, MOMENT, MAD, WMA, PROD, REG, PAIR = range(40, 53)
STORE, EXPORT = 60, 61
#: ``flag`` bits: LOAD (traded field: NaN on suspended rows; round through float32),
#: comparisons / logic / If (qlib mode: a missing operand gives 0 / the else branch),
#: EXT (max; NaN wins the position), STORE (round through float32)
F_TRADED, F_ROUND, F_COMPAT, F_MAX, F_NANWINS = 1, 2, 4, 8, 16
#: ``code`` columns
OP, DST, A, B, C, W, FLAG, AUX, NAUX = range(9)
WIDTH = 9


@nb.njit(**_NB)
def _binary(op: int, x: np.ndarray, y: np.ndarray, d: np.ndarray, n: int, compat: bool) -> None:
    """Arithmetic, comparison and logic: NaN operands give NaN (0 for comparisons in qlib mode);
    ``x / 0`` is NaN; ``&``/``|`` follow three-valued logic (False & missing = False)."""
    if op == ADD:
        for i in range(n):
            d[i] = x[i] + y[i]
    elif op == SUB:
        for i in range(n):
            d[i] = x[i] - y[i]
    elif op == MUL:
        for i in range(n):
            d[i] = x[i] * y[i]
    elif op == DIV:
        for i in range(n):
            d[i] = x[i] / y[i] if y[i] != 0 else NAN
    elif op == AND or op == OR:
        _logic(op == AND, x, y, d, n, compat)
    else:
        _compare(op, x, y, d, n, compat)


@nb.njit(**_NB)
def _logic(is_and: bool, x: np.ndarray, y: np.ndarray, d: np.ndarray, n: int, compat: bool) -> None:
    """``&`` / ``|`` of the truth values (non-zero is true) with three-valued logic."""
    for i in range(n):
        a, b = x[i], y[i]
        na, nb_ = math.isnan(a), math.isnan(b)
        ta, tb = a != 0, b != 0
        if is_and:
            v = 0.0 if (not na and not ta) or (not nb_ and not tb) else (NAN if na or nb_ else 1.0)
        else:
            v = 1.0 if (not na and ta) or (not nb_ and tb) else (NAN if na or nb_ else 0.0)
        d[i] = 0.0 if compat and math.isnan(v) else v


@nb.njit(**_NB)
def _compare(op: int, x: np.ndarray, y: np.ndarray, d: np.ndarray, n: int, compat: bool) -> None:
    """1.0 / 0.0, or missing (0 in qlib mode) where an operand is missing."""
    miss = 0.0 if compat else NAN
    for i in range(n):
        a, b = x[i], y[i]
        if math.isnan(a) or math.isnan(b):
            d[i] = miss
        elif op == GT:
            d[i] = 1.0 if a > b else 0.0
        elif op == LT:
            d[i] = 1.0 if a < b else 0.0
        elif op == GE:
            d[i] = 1.0 if a >= b else 0.0
        elif op == LE:
            d[i] = 1.0 if a <= b else 0.0
        elif op == EQ:
            d[i] = 1.0 if a == b else 0.0
        else:
            d[i] = 1.0 if a != b else 0.0


@nb.njit(**_NB)
def _sign(a: float) -> float:
    return NAN if math.isnan(a) else (1.0 if a > 0 else (-1.0 if a < 0 else 0.0))


@nb.njit(**_NB)
def _func(op: int, x: np.ndarray, y: np.ndarray, z: np.ndarray, d: np.ndarray, n: int, compat: bool) -> None:
    """Element-wise functions; a NaN result (Log of <= 0, Power of a negative base) is NaN."""
    if op == ABS:
        for i in range(n):
            d[i] = abs(x[i])
    elif op == SIGN:
        for i in range(n):
            d[i] = _sign(x[i])
    elif op == LOG:
        for i in range(n):
            d[i] = math.log(x[i]) if x[i] > 0 else NAN
    elif op == POW or op == SPOW:
        for i in range(n):
            a, b = x[i], y[i]
            if math.isnan(a) or math.isnan(b):
                d[i] = NAN
            elif op == POW:
                d[i] = np.power(a, b)
            else:
                d[i] = _sign(a) * np.power(abs(a), b)
    elif op == GREATER:
        for i in range(n):
            a, b = x[i], y[i]
            d[i] = NAN if math.isnan(a) or math.isnan(b) else max(a, b)
    elif op == LESS:
        for i in range(n):
            a, b = x[i], y[i]
            d[i] = NAN if math.isnan(a) or math.isnan(b) else min(a, b)
    else:  # IF(c, a, b): a missing condition gives missing (the else branch in qlib mode)
        for i in range(n):
            c = x[i]
            if math.isnan(c):
                d[i] = z[i] if compat else NAN
            else:
                d[i] = y[i] if c != 0 else z[i]


@nb.njit(**_NB)
def _rolling(op: int, ins: np.ndarray, fpv: float, reg: np.ndarray, x: np.ndarray, d: np.ndarray,
             n: int, aux_rows: np.ndarray, aux_q: np.ndarray, aux_k: np.ndarray) -> None:
    """One windowed instruction on the block's registers (``x`` input, ``d`` output)."""
    w, flag = ins[W], ins[FLAG]
    if op == REF:
        if w == 0:
            d[:n] = x[:n]
        else:
            kn.shift_block(x, d, 0, n, w)
    elif op == DELTA:
        kn.shift_block(x, d, 0, n, w)
        for i in range(n):
            d[i] = x[i] - d[i]
    elif op == SUM:
        kn.sum_block(x, d, 0, n, w, flag)
    elif op == VAR:
        kn.var_block(x, d, 0, n, w, flag == 1)
    elif op == EMA:
        kn.ewm_block(x, d, 0, n, w)
    elif op == EXT:
        arg = reg[ins[C]] if ins[C] >= 0 else d
        ext = d if ins[DST] >= 0 else arg
        kn.ext_block(x, ext, arg, 0, n, w, (flag & F_MAX) != 0, ins[DST] >= 0, ins[C] >= 0,
                     (flag & F_NANWINS) != 0)
    elif op == ORDER or op == REG:
        lo, k = ins[AUX], ins[AUX] + ins[NAUX]
        if op == ORDER:
            kn.order_multi_block(x, reg, aux_rows[lo:k], aux_q[lo:k], 0, n, w)
        else:
            kn.reg_block(x, reg, aux_rows[lo:k], aux_k[lo:k], 0, n, w)
    elif op == MOMENT:
        kn.moment_block(x, d, 0, n, w, flag)
    elif op == MAD:
        kn.mad_block(x, d, 0, n, w)
    elif op == WMA:
        kn.wma_block(x, d, 0, n, w, flag == 1)
    elif op == PROD:
        kn.prod_block(x, d, 0, n, w)
    else:  # PAIR
        kn.pair_block(x, reg[ins[B]], d, 0, n, w, flag == 1)


@nb.njit(**_NB)
def _load(src: np.ndarray, suspended: np.ndarray, d: np.ndarray, lo: int, n: int, traded: bool,
          rnd: bool) -> None:
    """A field's block: NaN on suspended rows for a traded field, rounded through float32 in
    qlib mode."""
    for i in range(n):
        d[i] = src[lo + i]
    if traded:
        for i in range(n):
            if suspended[lo + i]:
                d[i] = NAN
    if rnd:
        for i in range(n):
            d[i] = np.float64(np.float32(d[i]))


@nb.njit(**_NB)
def run_block(code: np.ndarray, fp: np.ndarray, aux_rows: np.ndarray, aux_q: np.ndarray,
              aux_k: np.ndarray, fields: np.ndarray, suspended: np.ndarray, glob: np.ndarray,
              out: np.ndarray, bits: np.ndarray, nulls: np.ndarray, reg: np.ndarray, g: int, lo: int,
              hi: int) -> None:
    """The program on block ``g`` (rows ``[lo, hi)`` of the panel) with scratch ``reg``."""
    n = hi - lo
    for pc in range(code.shape[0]):
        ins = code[pc]
        op, flag = ins[OP], ins[FLAG]
        d = reg[ins[DST]] if ins[DST] >= 0 else reg[0]
        if op == LOAD:
            _load(fields[ins[A]], suspended, d, lo, n, (flag & F_TRADED) != 0, (flag & F_ROUND) != 0)
        elif op == GLOBAL:
            d[:n] = glob[ins[A], lo:hi]
        elif op == CONST:
            d[:n] = fp[pc]
        elif op < ABS:
            _binary(op, reg[ins[A]], reg[ins[B]], d, n, (flag & F_COMPAT) != 0)
        elif op < REF:
            y = reg[ins[B]] if ins[B] >= 0 else d
            z = reg[ins[C]] if ins[C] >= 0 else d
            _func(op, reg[ins[A]], y, z, d, n, (flag & F_COMPAT) != 0)
        elif op < STORE:
            _rolling(op, ins, fp[pc], reg, reg[ins[A]], d, n, aux_rows, aux_q, aux_k)
        elif op == STORE:
            _store_out(ins, reg[ins[A]], out, bits, nulls, g, lo, n)
        else:
            _store(ins, reg[ins[A]], glob[ins[C]], lo, n)


@nb.njit(**_NB)
def _store(ins: np.ndarray, x: np.ndarray, dest: np.ndarray, lo: int, n: int) -> None:
    """STORE into ``out[c]`` / EXPORT into ``glob[c]`` (``dest``): NaN while the row's age (row
    number in the block) is under ``w`` (the warm-up of full windows), rounded through float32
    by flag."""
    w = min(ins[W], n)
    for i in range(w):
        dest[lo + i] = NAN
    if (ins[FLAG] & F_ROUND) != 0:
        for i in range(w, n):
            dest[lo + i] = np.float32(x[i])
    else:
        for i in range(w, n):
            dest[lo + i] = x[i]


@nb.njit(**_NB)
def _valid_bytes(row: np.ndarray, bits: np.ndarray, j0: int, j1: int) -> int:
    """Validity bytes ``j0 .. j1 - 1`` of ``row`` (bit ``t`` of byte ``j``: row ``8 j + t`` is not
    NaN; all eight rows exist); returns how many of those rows are NaN."""
    nan = 0
    for j in range(j0, j1):
        byte = 0
        for t in range(8):
            ok = not math.isnan(row[8 * j + t])
            byte |= ok << t
            nan += not ok
        bits[j] = byte
    return nan


@nb.njit(**_NB)
def _store_out(ins: np.ndarray, x: np.ndarray, out: np.ndarray, bits: np.ndarray, nulls: np.ndarray,
               g: int, lo: int, n: int) -> None:
    """STORE into ``out[c]``, then the validity bytes lying wholly inside the block (read back
    while in cache) and the block's NaN count ``nulls[c, g]``. Bytes shared with a neighbouring
    block are left to ``edges_nb`` (blocks run on several threads)."""
    c = ins[C]
    row = out[c]
    _store(ins, x, row, lo, n)
    hi = lo + n
    j0, j1 = (lo + 7) // 8, hi // 8
    nan = 0
    if j1 > j0:
        nan = _valid_bytes(row, bits[c], j0, j1)
        a, b = 8 * j0, 8 * j1
    else:
        a, b = hi, hi
    for i in range(lo, a):
        nan += row[i] != row[i]
    for i in range(b, hi):
        nan += row[i] != row[i]
    nulls[c, g] = nan


@nb.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def run_nb(code: np.ndarray, fp: np.ndarray, aux_rows: np.ndarray, aux_q: np.ndarray, aux_k: np.ndarray,
           fields: np.ndarray, suspended: np.ndarray, glob: np.ndarray, out: np.ndarray, bits: np.ndarray,
           nulls: np.ndarray, starts: np.ndarray, n_regs: int) -> None:
    """Run the program on every block (``starts``: int64 offsets, length G + 1) in parallel.

    ``fields``: ``(F, N)`` float64 (NaN = missing); ``suspended``: ``(N,)`` bool; ``glob``:
    ``(K, N)`` float64 columns shared between phases (cross-section inputs and results);
    ``out``: ``(n_factors, N)`` float32 or float64, written by STORE with its Arrow validity
    bitmaps ``bits`` ``(n_factors, ceil(N / 8))`` uint8 (bytes inside a block; ``edges_nb``
    completes the rest) and NaN counts ``nulls`` ``(n_factors, G)``.
    """
    for g in nb.prange(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        reg = np.empty((max(n_regs, 1), max(hi - lo, 1)))
        run_block(code, fp, aux_rows, aux_q, aux_k, fields, suspended, glob, out, bits, nulls, reg, g, lo, hi)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def edges_nb(out: np.ndarray, bits: np.ndarray, starts: np.ndarray, rows: np.ndarray) -> None:
    """The validity bytes ``run_nb`` leaves: those holding a block boundary and the last partial
    byte, for the output rows ``rows``."""
    n = out.shape[1]
    for g in range(starts.shape[0]):
        s = starts[g]
        if s == n:
            if n % 8 == 0:
                continue
            j = (n - 1) // 8
        elif s % 8 == 0:
            continue
        else:
            j = s // 8
        for c in rows:
            byte = 0
            for t in range(min(8, n - 8 * j)):
                byte |= (not math.isnan(out[c, 8 * j + t])) << t
            bits[c, j] = byte
