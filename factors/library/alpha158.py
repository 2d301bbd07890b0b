"""Alpha158: qlib's published factor set (``Alpha158DL`` default config), 158 formulas.

kbar (9), price ratios OPEN0 HIGH0 LOW0 VWAP0, then 29 rolling families over windows
5, 10, 20, 30, 60, in qlib's order. Formulas are qlib's text verbatim (modulo whitespace).
"""
from __future__ import annotations

WINDOWS = (5, 10, 20, 30, 60)

KBAR: dict[str, str] = {
    "KMID": "($close-$open)/$open",
    "KLEN": "($high-$low)/$open",
    "KMID2": "($close-$open)/($high-$low+1e-12)",
    "KUP": "($high-Greater($open, $close))/$open",
    "KUP2": "($high-Greater($open, $close))/($high-$low+1e-12)",
    "KLOW": "(Less($open, $close)-$low)/$open",
    "KLOW2": "(Less($open, $close)-$low)/($high-$low+1e-12)",
    "KSFT": "(2*$close-$high-$low)/$open",
    "KSFT2": "(2*$close-$high-$low)/($high-$low+1e-12)",
}

_D = "$close-Ref($close, 1)"
_VD = "$volume-Ref($volume, 1)"
#: family name -> formula template in the window ``{d}``
ROLLING: dict[str, str] = {
    "ROC": "Ref($close, {d})/$close",
    "MA": "Mean($close, {d})/$close",
    "STD": "Std($close, {d})/$close",
    "BETA": "Slope($close, {d})/$close",
    "RSQR": "Rsquare($close, {d})",
    "RESI": "Resi($close, {d})/$close",
    "MAX": "Max($high, {d})/$close",
    "MIN": "Min($low, {d})/$close",
    "QTLU": "Quantile($close, {d}, 0.8)/$close",
    "QTLD": "Quantile($close, {d}, 0.2)/$close",
    "RANK": "Rank($close, {d})",
    "RSV": "($close-Min($low, {d}))/(Max($high, {d})-Min($low, {d})+1e-12)",
    "IMAX": "IdxMax($high, {d})/{d}",
    "IMIN": "IdxMin($low, {d})/{d}",
    "IMXD": "(IdxMax($high, {d})-IdxMin($low, {d}))/{d}",
    "CORR": "Corr($close, Log($volume+1), {d})",
    "CORD": "Corr($close/Ref($close,1), Log($volume/Ref($volume, 1)+1), {d})",
    "CNTP": "Mean($close>Ref($close, 1), {d})",
    "CNTN": "Mean($close<Ref($close, 1), {d})",
    "CNTD": "Mean($close>Ref($close, 1), {d})-Mean($close<Ref($close, 1), {d})",
    "SUMP": f"Sum(Greater({_D}, 0), {{d}})/(Sum(Abs({_D}), {{d}})+1e-12)",
    "SUMN": f"Sum(Greater(Ref($close, 1)-$close, 0), {{d}})/(Sum(Abs({_D}), {{d}})+1e-12)",
    "SUMD": f"(Sum(Greater({_D}, 0), {{d}})-Sum(Greater(Ref($close, 1)-$close, 0), {{d}}))"
            f"/(Sum(Abs({_D}), {{d}})+1e-12)",
    "VMA": "Mean($volume, {d})/($volume+1e-12)",
    "VSTD": "Std($volume, {d})/($volume+1e-12)",
    "WVMA": "Std(Abs($close/Ref($close, 1)-1)*$volume, {d})/(Mean(Abs($close/Ref($close, 1)-1)*$volume, {d})+1e-12)",
    "VSUMP": f"Sum(Greater({_VD}, 0), {{d}})/(Sum(Abs({_VD}), {{d}})+1e-12)",
    "VSUMN": f"Sum(Greater(Ref($volume, 1)-$volume, 0), {{d}})/(Sum(Abs({_VD}), {{d}})+1e-12)",
    "VSUMD": f"(Sum(Greater({_VD}, 0), {{d}})-Sum(Greater(Ref($volume, 1)-$volume, 0), {{d}}))"
             f"/(Sum(Abs({_VD}), {{d}})+1e-12)",
}


def formulas() -> dict[str, str]:
    """The 158 ``{name: formula}`` pairs in qlib's order."""
    out = dict(KBAR)
    for f in ("OPEN", "HIGH", "LOW", "VWAP"):
        out[f"{f}0"] = f"${f.lower()}/$close"
    for family, template in ROLLING.items():
        for d in WINDOWS:
            out[f"{family}{d}"] = template.format(d=d)
    return out
