"""Symbol formats: canonical ``600000.SH`` / ``000001.SZ`` / ``430047.BJ``, exchange and board."""
from __future__ import annotations

import re

import polars as pl

from flyer.core.errors import FlyerError

CANONICAL = re.compile(r"^\d{6}\.(SH|SZ|BJ)$")
_PREFIXED = re.compile(r"^(sh|sz|bj)(\d{6})$", re.IGNORECASE)
_SUFFIXED = re.compile(r"^(\d{6})\.(sh|sz|bj|ss)$", re.IGNORECASE)
_BARE = re.compile(r"^\d{6}$")

BOARDS = ("main", "chinext", "star", "bse")
#: ChiNext codes: 300, 301, and 302 (codes SZSE re-assigned, e.g. 300114 -> 302132 in 2025)
CHINEXT_PREFIXES = ("300", "301", "302")


class SymbolError(FlyerError, ValueError):
    """A symbol that cannot be put in canonical form."""


def exchange_of_code(code: str) -> str:
    """Exchange of a bare 6-digit A-share code by its prefix (SH 6xx, SZ 0xx/3xx, BJ 4xx/8xx/92x)."""
    if code.startswith(("92", "43", "83", "87", "88", "4", "8")):
        return "BJ"
    if code.startswith(("6", "9")):
        return "SH"
    if code.startswith(("0", "1", "2", "3")):
        return "SZ"
    raise SymbolError(f"unknown symbol format: {code!r}")


def normalize(raw: str) -> str:
    """Any common spelling (``sh600000``, ``SH600000``, ``600000.SS``, ``600000``) -> ``600000.SH``."""
    s = str(raw).strip()
    if CANONICAL.match(s):
        return s
    m = _PREFIXED.match(s)
    if m:
        return f"{m.group(2)}.{m.group(1).upper()}"
    m = _SUFFIXED.match(s)
    if m:
        ex = m.group(2).upper()
        return f"{m.group(1)}.{'SH' if ex == 'SS' else ex}"
    if _BARE.match(s):
        return f"{s}.{exchange_of_code(s)}"
    raise SymbolError(f"unknown symbol format: {raw!r}")


def normalize_symbols(s: pl.Series) -> pl.Series:
    """Canonical ``600000.SH`` form of a text column; unparseable values are kept (the store
    rejects them, rule ``bad_symbol``)."""
    s = s.cast(pl.Utf8).str.strip_chars()
    mapping = {}
    for u in s.drop_nulls().unique().to_list():
        try:
            mapping[u] = normalize(u.zfill(6) if u.isdigit() else u)
        except SymbolError:
            mapping[u] = u
    return s.replace_strict(mapping, default=None, return_dtype=pl.Utf8) if mapping else s


def board_of(symbol: str) -> str:
    """Board of a canonical symbol: ``main``, ``chinext`` (300/301/302), ``star`` (688/689) or ``bse``."""
    code, ex = symbol.split(".")
    if ex == "BJ":
        return "bse"
    if code.startswith(("688", "689")):
        return "star"
    if code.startswith(CHINEXT_PREFIXES):
        return "chinext"
    return "main"


def board_expr(symbol: pl.Expr) -> pl.Expr:
    """Vectorised :func:`board_of` as a polars expression (named like its input column)."""
    out = (
        pl.when(symbol.str.ends_with(".BJ")).then(pl.lit("bse"))
        .when(symbol.str.starts_with("688") | symbol.str.starts_with("689")).then(pl.lit("star"))
        .when(symbol.str.starts_with("300") | symbol.str.starts_with("301") | symbol.str.starts_with("302"))
        .then(pl.lit("chinext"))
        .otherwise(pl.lit("main"))
    )
    name = symbol.meta.output_name(raise_if_undetermined=False)
    return out.alias(name) if name else out


def is_canonical_expr(symbol: pl.Expr) -> pl.Expr:
    """True where the symbol is in canonical ``NNNNNN.EX`` form."""
    return symbol.str.contains(r"^\d{6}\.(SH|SZ|BJ)$")
