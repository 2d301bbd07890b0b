"""Compile a factor set into fused programs (``flyer.factors.fused``): instructions over registers.

1. ``phases``: a node's phase is the number of cross-sectional operators on its deepest path;
   phase p's nodes are computed per instrument block by one program, a cross-sectional node
   of phase p + 1 between the programs of phases p and p + 1 (on whole columns, per date).
2. ``_groups``: operators of one input and one window that one kernel pass serves together
   (any subset of the whole set, not only siblings): Quantile/Med/Rank (one sorted window),
   Slope/Rsquare/Resi (one set of regression sums), Max with IdxMax and Min with IdxMin (one
   deque).
3. ``_emit``: per phase, nodes in dependency order become instructions (fields LOAD, constants
   CONST, earlier phases' values GLOBAL), each factor a STORE into its output row (warm-up
   masked in the default mode, rounded through float32 in qlib mode) and each value needed by a
   later phase an EXPORT into a global column (a cross section's input masked like a factor).
4. ``_allocate``: registers by liveness (a register is reused after its last reader; an
   instruction's outputs never share a register with its inputs), so a block's scratch holds
   only the live values.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from flyer.factors import fused as fz
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

_BINOPS = {"+": fz.ADD, "-": fz.SUB, "*": fz.MUL, "/": fz.DIV, ">": fz.GT, "<": fz.LT, ">=": fz.GE,
           "<=": fz.LE, "==": fz.EQ, "!=": fz.NE, "&": fz.AND, "|": fz.OR}
_FUNCS = {"Abs": fz.ABS, "Sign": fz.SIGN, "Log": fz.LOG, "Power": fz.POW, "SignedPower": fz.SPOW,
          "Greater": fz.GREATER, "Less": fz.LESS, "If": fz.IF}
_ORDER_OPS = ("Quantile", "Med", "Rank")
_REG_KINDS = {"Slope": 0, "Rsquare": 1, "Resi": 2}


@dataclass(frozen=True)
class Program:
    """One phase's instructions (see ``flyer.factors.fused``) with its register count."""

    code: np.ndarray          # (P, WIDTH) int64
    fp: np.ndarray            # (P,) float64
    aux_rows: np.ndarray      # int64 output registers of multi-output instructions
    aux_q: np.ndarray         # float64 quantiles (-1: rank)
    aux_k: np.ndarray         # int64 regression kinds
    n_regs: int


@dataclass(frozen=True)
class CrossStep:
    """A cross-sectional node computed between phases: ``glob[dst] = op(glob[src])`` per date."""

    node: CrossSection
    src: int
    dst: int


@dataclass(frozen=True)
class Plan:
    """Programs of a factor set: ``programs[p]`` then ``cross[p]`` (the cross sections whose
    results phase p + 1 reads), for p in order; ``fields`` in input row order; ``n_glob``
    global columns; factor ``k`` is output row ``k``."""

    programs: tuple[Program, ...]
    cross: tuple[tuple[CrossStep, ...], ...]
    fields: tuple[str, ...]
    n_glob: int
    n_out: int
    needs_cap: bool = False
    needs_industry: bool = False
    qlib_compat: bool = False
    names: tuple[str, ...] = field(default=())


def phases(nodes: list[Expr]) -> dict[Expr, int]:
    """Step 1: the number of cross sections on each node's deepest path (children first)."""
    out: dict[Expr, int] = {}
    for node in nodes:
        p = max((out[c] for c in node.children()), default=0)
        out[node] = p + 1 if isinstance(node, CrossSection) else p
    return out


def _groups(nodes: list[Expr]) -> dict[Expr, list[Rolling]]:
    """Step 2: node -> the members of its fused group (groups of two or more only)."""
    found: dict[tuple, list[Rolling]] = {}
    for node in nodes:
        if not isinstance(node, Rolling):
            continue
        if node.op in _ORDER_OPS:
            family = "order"
        elif node.op in _REG_KINDS:
            family = "reg"
        elif node.op in ("Max", "IdxMax", "Min", "IdxMin"):
            family = node.op.removeprefix("Idx")
        else:
            continue
        found.setdefault((family, node.x, node.window), []).append(node)
    return {m: members for members in found.values() if len(members) > 1 for m in members}


class _Emitter:
    """Step 3 for one phase: instructions with virtual registers (node -> id)."""

    def __init__(self, plan: _Layout, phase: int) -> None:
        self.lay = plan
        self.phase = phase
        self.ins: list[list[int]] = []      # op, dst, a, b, c, w, flag, aux, naux (virtual regs)
        self.fp: list[float] = []
        self.multi: list[tuple[list[int], list[float], list[int]]] = []  # per instruction
        self.vreg: dict[Expr, int] = {}
        self.n_v = 0

    def reg_of(self, node: Expr) -> int:
        if node not in self.vreg:
            self._produce(node)
        return self.vreg[node]

    def _new(self, node: Expr) -> int:
        self.vreg[node] = self.n_v
        self.n_v += 1
        return self.vreg[node]

    def _add(self, op: int, dst: int, a: int = -1, b: int = -1, c: int = -1, w: int = 0, flag: int = 0,
             fp: float = 0.0, multi: tuple[list[int], list[float], list[int]] | None = None) -> None:
        self.ins.append([op, dst, a, b, c, w, flag, 0, 0])
        self.fp.append(fp)
        self.multi.append(multi or ([], [], []))

    def _produce(self, node: Expr) -> None:
        lay, compat = self.lay, self.lay.compat
        cflag = fz.F_COMPAT if compat else 0
        if isinstance(node, Field):
            flag = (fz.F_TRADED if node.name in TRADED_FIELDS else 0) | (fz.F_ROUND if compat else 0)
            self._add(fz.LOAD, self._new(node), lay.field_row(node.name), flag=flag)
        elif isinstance(node, Const):
            self._add(fz.CONST, self._new(node), fp=node.value)
        elif lay.phase[node] < self.phase or isinstance(node, CrossSection):
            self._add(fz.GLOBAL, self._new(node), lay.glob_col(node))
        elif isinstance(node, BinOp):
            a, b = self.reg_of(node.left), self.reg_of(node.right)
            self._add(_BINOPS[node.op], self._new(node), a, b, flag=cflag)
        elif isinstance(node, Func):
            args = [self.reg_of(c) for c in node.args] + [-1, -1]
            self._add(_FUNCS[node.name], self._new(node), args[0], args[1], args[2], flag=cflag)
        elif isinstance(node, PairRolling):
            a, b = self.reg_of(node.left), self.reg_of(node.right)
            self._add(fz.PAIR, self._new(node), a, b, w=node.window, flag=int(node.op == "Corr"))
        elif isinstance(node, Rolling):
            self._rolling(node)
        else:  # pragma: no cover - every node type is handled above
            raise TypeError(f"unknown node {type(node).__name__}")
        if lay.phase[node] == self.phase:
            for mask, col in lay.exports.get(node, ()):
                self._add(fz.EXPORT, -1, self.vreg[node], c=col, w=mask)

    def _rolling(self, node: Rolling) -> None:
        x = self.reg_of(node.x)
        w, op = node.window, node.op
        group = self.lay.groups.get(node)
        if op in _ORDER_OPS or op in _REG_KINDS:
            members = group or [node]
            regs = [self._new(m) for m in members]
            if op in _ORDER_OPS:
                qs = [0.5 if m.op == "Med" else (-1.0 if m.op == "Rank" else float(m.q or 0.0)) for m in members]
                self._add(fz.ORDER, -1, x, w=w, multi=(regs, qs, [0] * len(regs)))
            else:
                kinds = [_REG_KINDS[m.op] for m in members]
                self._add(fz.REG, -1, x, w=w, multi=(regs, [0.0] * len(regs), kinds))
            return
        if op in ("Max", "Min", "IdxMax", "IdxMin"):
            members = group or [node]
            ext = next((self._new(m) for m in members if not m.op.startswith("Idx")), -1)
            arg = next((self._new(m) for m in members if m.op.startswith("Idx")), -1)
            flag = (fz.F_MAX if op.endswith("Max") else 0) | (fz.F_NANWINS if self.lay.compat else 0)
            self._add(fz.EXT, ext, x, c=arg, w=w, flag=flag)
            return
        simple = {"Ref": (fz.REF, 0), "Delta": (fz.DELTA, 0), "Sum": (fz.SUM, 0), "Mean": (fz.SUM, 1),
                  "Count": (fz.SUM, 2), "Var": (fz.VAR, 0), "Std": (fz.VAR, 1), "EMA": (fz.EMA, 0),
                  "Skew": (fz.MOMENT, 3), "Kurt": (fz.MOMENT, 4), "Mad": (fz.MAD, 0),
                  "WMA": (fz.WMA, int(self.lay.compat)), "DecayLinear": (fz.WMA, 0), "Prod": (fz.PROD, 0)}
        code, flag = simple[op]
        self._add(code, self._new(node), x, w=w, flag=flag)

    def store(self, node: Expr, out_row: int, mask: int) -> None:
        flag = fz.F_ROUND if self.lay.compat else 0
        self._add(fz.STORE, -1, self.reg_of(node), c=out_row, w=mask, flag=flag)


class _Layout:
    """What the emitters share: fields, phases, groups, global columns and exports."""

    def __init__(self, nodes: list[Expr], compat: bool) -> None:
        self.compat = compat
        self.phase = phases(nodes)
        self.groups = _groups(nodes)
        self.fields: list[str] = []
        self.glob: dict[Expr, int] = {}
        self.n_glob = 0
        self.exports: dict[Expr, list[tuple[int, int]]] = {}   # node -> [(warm-up mask, column)]

    def field_row(self, name: str) -> int:
        if name not in self.fields:
            self.fields.append(name)
        return self.fields.index(name)

    def glob_col(self, node: Expr) -> int:
        """The global column holding ``node``'s value (a cross section's result, or a value an
        earlier phase exported)."""
        if node not in self.glob:
            self.glob[node] = self.new_col()
        return self.glob[node]

    def new_col(self) -> int:
        self.n_glob += 1
        return self.n_glob - 1


def build(names: list[str], roots: list[Expr], nodes: list[Expr], *, qlib_compat: bool = False) -> Plan:
    """Steps 1-4: the programs computing ``roots`` (factor k = output row k); ``nodes``: every
    unique node, children first (``flyer.factors.engine.compile_set``)."""
    lay = _Layout(nodes, qlib_compat)
    n_phase = 1 + max(lay.phase.values(), default=0)
    cross: list[list[CrossStep]] = [[] for _ in range(n_phase)]
    parents: dict[Expr, list[Expr]] = {n: [] for n in nodes}
    for p in nodes:
        for c in set(p.children()):
            parents[c].append(p)
    for node in nodes:  # a value read in a later phase is exported where it is computed
        later = [p for p in parents[node] if lay.phase[p] > lay.phase[node]]
        if any(not isinstance(p, CrossSection) for p in later) and not isinstance(node, (Field, Const, CrossSection)):
            lay.exports.setdefault(node, []).append((0, lay.glob_col(node)))
        for p in later:
            if isinstance(p, CrossSection):
                col = lay.new_col()
                lay.exports.setdefault(node, []).append((0 if qlib_compat else node.lookback, col))
                cross[lay.phase[node]].append(CrossStep(p, col, lay.glob_col(p)))
    emitters = [_Emitter(lay, p) for p in range(n_phase)]
    for k, root in enumerate(roots):
        emitters[lay.phase[root]].store(root, k, 0 if qlib_compat else root.lookback)
    for node in lay.exports:
        emitters[lay.phase[node]].reg_of(node)
    caps = any(isinstance(n, CrossSection) and "cap" in n.by for n in nodes)
    inds = any(isinstance(n, CrossSection) and "industry" in n.by for n in nodes)
    if caps:
        lay.field_row("cap")
    programs = tuple(_allocate(e) for e in emitters)
    return Plan(programs, tuple(tuple(c) for c in cross), tuple(lay.fields), lay.n_glob, len(roots),
                caps, inds, qlib_compat, tuple(names))


def _roles(row: list[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The ``code`` columns an instruction reads registers from and writes registers to
    (multi-output instructions also write their ``aux`` registers)."""
    op = row[fz.OP]
    if op in (fz.LOAD, fz.GLOBAL, fz.CONST):
        return (), (fz.DST,)
    if op in (fz.STORE, fz.EXPORT):
        return (fz.A,), ()
    if op in (fz.ORDER, fz.REG):
        return (fz.A,), ()
    if op == fz.EXT:
        return (fz.A,), tuple(c for c in (fz.DST, fz.C) if row[c] >= 0)
    return tuple(c for c in (fz.A, fz.B, fz.C) if row[c] >= 0), (fz.DST,)


def _allocate(em: _Emitter) -> Program:
    """Step 4: virtual registers -> physical registers by liveness."""
    roles = [_roles(row) for row in em.ins]
    reads = [[row[c] for c in r] for row, (r, _) in zip(em.ins, roles)]
    writes = [[row[c] for c in w] + regs for row, (_, w), (regs, _, _) in zip(em.ins, roles, em.multi)]
    last: dict[int, int] = {}
    for pc, r in enumerate(reads):
        for v in r:
            last[v] = pc
    phys: dict[int, int] = {}
    free: list[int] = []
    n_regs = 0
    for pc in range(len(em.ins)):
        for v in writes[pc]:
            phys[v] = free.pop() if free else n_regs
            n_regs = max(n_regs, phys[v] + 1)
            last.setdefault(v, pc)      # written, never read (a fused sibling no factor uses)
        for v in {*reads[pc], *writes[pc]}:
            if last[v] == pc:
                free.append(phys[v])
    code = np.zeros((len(em.ins), fz.WIDTH), dtype=np.int64)
    aux_rows: list[int] = []
    aux_q: list[float] = []
    aux_k: list[int] = []
    for pc, (row, (rd, wr), (regs, qs, kinds)) in enumerate(zip(em.ins, roles, em.multi)):
        out = list(row)
        for c in (*rd, *wr):
            out[c] = phys[row[c]]
        if regs:
            out[fz.AUX], out[fz.NAUX] = len(aux_rows), len(regs)
            aux_rows += [phys[v] for v in regs]
            aux_q += qs
            aux_k += kinds
        code[pc] = out
    return Program(code, np.asarray(em.fp, dtype=np.float64), np.asarray(aux_rows, dtype=np.int64),
                   np.asarray(aux_q, dtype=np.float64), np.asarray(aux_k, dtype=np.int64), n_regs)
