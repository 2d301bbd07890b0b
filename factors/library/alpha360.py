"""Alpha360: qlib's raw price/volume history, 60 days of six fields normalised by today.

``CLOSE59 .. CLOSE0`` = ``Ref($close, i)/$close`` (likewise OPEN, HIGH, LOW, VWAP) and
``VOLUME59 .. VOLUME0`` = ``Ref($volume, i)/($volume+1e-12)``; index 0 is today (``Ref(x, 0)`` is
written ``x``), in qlib's order (59 down to 0, field by field).
"""
from __future__ import annotations

FIELDS = ("close", "open", "high", "low", "vwap")


def formulas() -> dict[str, str]:
    """The 360 ``{name: formula}`` pairs in qlib's order."""
    out: dict[str, str] = {}
    for f in FIELDS:
        for i in range(59, -1, -1):
            num = f"Ref(${f}, {i})" if i else f"${f}"
            out[f"{f.upper()}{i}"] = f"{num}/$close"
    for i in range(59, -1, -1):
        num = f"Ref($volume, {i})" if i else "$volume"
        out[f"VOLUME{i}"] = f"{num}/($volume+1e-12)"
    return out
