"""WorldQuant's 101 Formulaic Alphas (Kakushadze 2016, arXiv:1601.00991) in flyer's language.

All 101 are expressible with price, volume, vwap, amount, cap and one industry level, with these
translations (documented, since the paper leaves them open):
- ``returns`` = ``$close / Ref($close, 1) - 1``; ``adv{d}`` = ``Mean($amount, d)`` (average daily
  traded value, CNY, as the paper defines it); ``cap`` = ``$cap``.
- ``rank`` -> ``CSRank``; ``ts_rank`` -> ``TsRank`` (percentile rank in the window);
  ``ts_argmax/argmin`` -> ``IdxMax/IdxMin`` (1-based position from the window's oldest day);
  ``decay_linear`` -> ``DecayLinear``; ``scale`` -> ``CSScale`` (sum of |x| = 1);
  ``x ^ a`` -> ``Power``; ``min/max(a, b)`` of two series -> ``Less/Greater``, of a series and
  a number d -> ts ``Min/Max``; ``c ? a : b`` -> ``If``; ``||`` -> ``|``.
- Non-integer windows (e.g. 3.92795, from the paper's fitted parameters) are floored.
- ``IndNeutralize(x, IndClass.sector | industry | subindustry)``: flyer has ONE industry level
  (``instruments.industry``), used for all three; this is the main approximation (alphas 48,
  58, 59, 63, 67, 69, 70, 76, 79, 80, 82, 87, 89, 90, 91, 93, 97, 100).
Left out: none. Alphas whose value is a 0/1 comparison (61, 62, 64, 65, 68, 74, 75, 79, 81,
86, 95, 99) are kept as the paper states them, although they carry little cross-sectional
information.
"""
from __future__ import annotations

R = "($close / Ref($close, 1) - 1)"
_X46 = "((Ref($close, 20) - Ref($close, 10)) / 10 - (Ref($close, 10) - $close) / 10)"


def _adv(d: int) -> str:
    return f"Mean($amount, {d})"


def _mix(a: str, b: str, w: float) -> str:
    return f"({a} * {w} + {b} * (1 - {w}))"


def _clv() -> str:
    return "((($close - $low) - ($high - $close)) / ($high - $low))"


def _cond_delta(w: int) -> str:
    d = "Delta($close, 1)"
    return f"If(0 < Min({d}, {w}), {d}, If(Max({d}, {w}) < 0, {d}, -1 * {d}))"


_A = {
    1: f"CSRank(IdxMax(SignedPower(If({R} < 0, Std({R}, 20), $close), 2), 5)) - 0.5",
    2: "-1 * Corr(CSRank(Delta(Log($volume), 2)), CSRank(($close - $open) / $open), 6)",
    3: "-1 * Corr(CSRank($open), CSRank($volume), 10)",
    4: "-1 * TsRank(CSRank($low), 9)",
    5: "CSRank($open - Sum($vwap, 10) / 10) * (-1 * Abs(CSRank($close - $vwap)))",
    6: "-1 * Corr($open, $volume, 10)",
    7: f"If({_adv(20)} < $volume, -1 * TsRank(Abs(Delta($close, 7)), 60) * Sign(Delta($close, 7)), -1)",
    8: f"-1 * CSRank(Sum($open, 5) * Sum({R}, 5) - Ref(Sum($open, 5) * Sum({R}, 5), 10))",
    9: _cond_delta(5),
    10: f"CSRank({_cond_delta(4)})",
    11: "(CSRank(Max($vwap - $close, 3)) + CSRank(Min($vwap - $close, 3))) * CSRank(Delta($volume, 3))",
    12: "Sign(Delta($volume, 1)) * (-1 * Delta($close, 1))",
    13: "-1 * CSRank(Cov(CSRank($close), CSRank($volume), 5))",
    14: f"-1 * CSRank(Delta({R}, 3)) * Corr($open, $volume, 10)",
    15: "-1 * Sum(CSRank(Corr(CSRank($high), CSRank($volume), 3)), 3)",
    16: "-1 * CSRank(Cov(CSRank($high), CSRank($volume), 5))",
    17: f"-1 * CSRank(TsRank($close, 10)) * CSRank(Delta(Delta($close, 1), 1)) * CSRank(TsRank($volume / {_adv(20)}, 5))",
    18: "-1 * CSRank(Std(Abs($close - $open), 5) + ($close - $open) + Corr($close, $open, 10))",
    19: f"-1 * Sign($close - Ref($close, 7) + Delta($close, 7)) * (1 + CSRank(1 + Sum({R}, 250)))",
    20: "-1 * CSRank($open - Ref($high, 1)) * CSRank($open - Ref($close, 1)) * CSRank($open - Ref($low, 1))",
    21: (f"If(Sum($close, 8) / 8 + Std($close, 8) < Sum($close, 2) / 2, -1, "
         f"If(Sum($close, 2) / 2 < Sum($close, 8) / 8 - Std($close, 8), 1, "
         f"If((1 < $volume / {_adv(20)}) | ($volume / {_adv(20)} == 1), 1, -1)))"),
    22: "-1 * (Delta(Corr($high, $volume, 5), 5) * CSRank(Std($close, 20)))",
    23: "If(Sum($high, 20) / 20 < $high, -1 * Delta($high, 2), 0)",
    24: ("If((Delta(Sum($close, 100) / 100, 100) / Ref($close, 100) < 0.05) | "
         "(Delta(Sum($close, 100) / 100, 100) / Ref($close, 100) == 0.05), "
         "-1 * ($close - Min($close, 100)), -1 * Delta($close, 3))"),
    25: f"CSRank(-1 * {R} * {_adv(20)} * $vwap * ($high - $close))",
    26: "-1 * Max(Corr(TsRank($volume, 5), TsRank($high, 5), 5), 3)",
    27: "If(0.5 < CSRank(Sum(Corr(CSRank($volume), CSRank($vwap), 6), 2) / 2), -1, 1)",
    28: f"CSScale(Corr({_adv(20)}, $low, 5) + ($high + $low) / 2 - $close)",
    29: (f"Min(Prod(CSRank(CSRank(CSScale(Log(Sum(Min(CSRank(CSRank(-1 * CSRank(Delta($close - 1, 5)))), 2), 1))))), 1), 5)"
         f" + TsRank(Ref(-1 * {R}, 6), 5)"),
    30: ("(1 - CSRank(Sign($close - Ref($close, 1)) + Sign(Ref($close, 1) - Ref($close, 2)) + "
         "Sign(Ref($close, 2) - Ref($close, 3)))) * Sum($volume, 5) / Sum($volume, 20)"),
    31: (f"CSRank(CSRank(CSRank(DecayLinear(-1 * CSRank(CSRank(Delta($close, 10))), 10)))) + "
         f"CSRank(-1 * Delta($close, 3)) + Sign(CSScale(Corr({_adv(20)}, $low, 12)))"),
    32: "CSScale(Sum($close, 7) / 7 - $close) + 20 * CSScale(Corr($vwap, Ref($close, 5), 230))",
    33: "CSRank(-1 * Power(1 - $open / $close, 1))",
    34: f"CSRank(1 - CSRank(Std({R}, 2) / Std({R}, 5)) + (1 - CSRank(Delta($close, 1))))",
    35: f"TsRank($volume, 32) * (1 - TsRank($close + $high - $low, 16)) * (1 - TsRank({R}, 32))",
    36: (f"2.21 * CSRank(Corr($close - $open, Ref($volume, 1), 15)) + 0.7 * CSRank($open - $close) + "
         f"0.73 * CSRank(TsRank(Ref(-1 * {R}, 6), 5)) + CSRank(Abs(Corr($vwap, {_adv(20)}, 6))) + "
         f"0.6 * CSRank((Sum($close, 200) / 200 - $open) * ($close - $open))"),
    37: "CSRank(Corr(Ref($open - $close, 1), $close, 200)) + CSRank($open - $close)",
    38: "-1 * CSRank(TsRank($close, 10)) * CSRank($close / $open)",
    39: (f"-1 * CSRank(Delta($close, 7) * (1 - CSRank(DecayLinear($volume / {_adv(20)}, 9)))) * "
         f"(1 + CSRank(Sum({R}, 250)))"),
    40: "-1 * CSRank(Std($high, 10)) * Corr($high, $volume, 10)",
    41: "Power($high * $low, 0.5) - $vwap",
    42: "CSRank($vwap - $close) / CSRank($vwap + $close)",
    43: f"TsRank($volume / {_adv(20)}, 20) * TsRank(-1 * Delta($close, 7), 8)",
    44: "-1 * Corr($high, CSRank($volume), 5)",
    45: ("-1 * (CSRank(Sum(Ref($close, 5), 20) / 20) * Corr($close, $volume, 2) * "
         "CSRank(Corr(Sum($close, 5), Sum($close, 20), 2)))"),
    46: f"If(0.25 < {_X46}, -1, If({_X46} < 0, 1, -1 * ($close - Ref($close, 1))))",
    47: (f"CSRank(1 / $close) * $volume / {_adv(20)} * ($high * CSRank($high - $close) / (Sum($high, 5) / 5)) - "
         f"CSRank($vwap - Ref($vwap, 5))"),
    48: ("IndNeutralize(Corr(Delta($close, 1), Delta(Ref($close, 1), 1), 250) * Delta($close, 1) / $close) / "
         "Sum(Power(Delta($close, 1) / Ref($close, 1), 2), 250)"),
    49: f"If({_X46} < -0.1, 1, -1 * ($close - Ref($close, 1)))",
    50: "-1 * Max(CSRank(Corr(CSRank($volume), CSRank($vwap), 5)), 5)",
    51: f"If({_X46} < -0.05, 1, -1 * ($close - Ref($close, 1)))",
    52: (f"(-1 * Min($low, 5) + Ref(Min($low, 5), 5)) * CSRank((Sum({R}, 240) - Sum({R}, 20)) / 220) * "
         f"TsRank($volume, 5)"),
    53: "-1 * Delta((($close - $low) - ($high - $close)) / ($close - $low), 9)",
    54: "-1 * (($low - $close) * Power($open, 5)) / (($low - $high) * Power($close, 5))",
    55: ("-1 * Corr(CSRank(($close - Min($low, 12)) / (Max($high, 12) - Min($low, 12))), "
         "CSRank($volume), 6)"),
    56: f"0 - CSRank(Sum({R}, 10) / Sum(Sum({R}, 2), 3)) * CSRank({R} * $cap)",
    57: "0 - ($close - $vwap) / DecayLinear(CSRank(IdxMax($close, 30)), 2)",
    58: "-1 * TsRank(DecayLinear(Corr(IndNeutralize($vwap), $volume, 3), 7), 5)",
    59: f"-1 * TsRank(DecayLinear(Corr(IndNeutralize({_mix('$vwap', '$vwap', 0.728317)}), $volume, 4), 16), 8)",
    60: f"0 - (2 * CSScale(CSRank({_clv()} * $volume)) - CSScale(CSRank(IdxMax($close, 10))))",
    61: f"CSRank($vwap - Min($vwap, 16)) < CSRank(Corr($vwap, {_adv(180)}, 17))",
    62: (f"(CSRank(Corr($vwap, Sum({_adv(20)}, 22), 9)) < "
         f"CSRank(CSRank($open) + CSRank($open) < CSRank(($high + $low) / 2) + CSRank($high))) * -1"),
    63: (f"(CSRank(DecayLinear(Delta(IndNeutralize($close), 2), 8)) - "
         f"CSRank(DecayLinear(Corr({_mix('$vwap', '$open', 0.318108)}, Sum({_adv(180)}, 37), 13), 12))) * -1"),
    64: (f"(CSRank(Corr(Sum({_mix('$open', '$low', 0.178404)}, 12), Sum({_adv(120)}, 12), 16)) < "
         f"CSRank(Delta({_mix('($high + $low) / 2', '$vwap', 0.178404)}, 3))) * -1"),
    65: (f"(CSRank(Corr({_mix('$open', '$vwap', 0.00817205)}, Sum({_adv(60)}, 8), 6)) < "
         f"CSRank($open - Min($open, 13))) * -1"),
    66: (f"(CSRank(DecayLinear(Delta($vwap, 3), 7)) + TsRank(DecayLinear(({_mix('$low', '$low', 0.96633)} - $vwap) / "
         f"($open - ($high + $low) / 2), 11), 6)) * -1"),
    67: (f"Power(CSRank($high - Min($high, 2)), CSRank(Corr(IndNeutralize($vwap), IndNeutralize({_adv(20)}), 6)))"
         f" * -1"),
    68: (f"(TsRank(Corr(CSRank($high), CSRank({_adv(15)}), 8), 13) < "
         f"CSRank(Delta({_mix('$close', '$low', 0.518371)}, 1))) * -1"),
    69: (f"Power(CSRank(Max(Delta(IndNeutralize($vwap), 2), 4)), "
         f"TsRank(Corr({_mix('$close', '$vwap', 0.490655)}, {_adv(20)}, 4), 9)) * -1"),
    70: f"Power(CSRank(Delta($vwap, 1)), TsRank(Corr(IndNeutralize($close), {_adv(50)}, 17), 17)) * -1",
    71: (f"Greater(TsRank(DecayLinear(Corr(TsRank($close, 3), TsRank({_adv(180)}, 12), 18), 4), 15), "
         f"TsRank(DecayLinear(Power(CSRank($low + $open - ($vwap + $vwap)), 2), 16), 4))"),
    72: (f"CSRank(DecayLinear(Corr(($high + $low) / 2, {_adv(40)}, 8), 10)) / "
         f"CSRank(DecayLinear(Corr(TsRank($vwap, 3), TsRank($volume, 18), 6), 2))"),
    73: (f"Greater(CSRank(DecayLinear(Delta($vwap, 4), 2)), TsRank(DecayLinear(Delta({_mix('$open', '$low', 0.147155)}, 2)"
         f" / {_mix('$open', '$low', 0.147155)} * -1, 3), 16)) * -1"),
    74: (f"(CSRank(Corr($close, Sum({_adv(30)}, 37), 15)) < "
         f"CSRank(Corr(CSRank({_mix('$high', '$vwap', 0.0261661)}), CSRank($volume), 11))) * -1"),
    75: f"CSRank(Corr($vwap, $volume, 4)) < CSRank(Corr(CSRank($low), CSRank({_adv(50)}), 12))",
    76: (f"Greater(CSRank(DecayLinear(Delta($vwap, 1), 11)), "
         f"TsRank(DecayLinear(TsRank(Corr(IndNeutralize($low), {_adv(81)}, 8), 19), 17), 19)) * -1"),
    77: (f"Less(CSRank(DecayLinear(($high + $low) / 2 + $high - ($vwap + $high), 20)), "
         f"CSRank(DecayLinear(Corr(($high + $low) / 2, {_adv(40)}, 3), 5)))"),
    78: (f"Power(CSRank(Corr(Sum({_mix('$low', '$vwap', 0.352233)}, 19), Sum({_adv(40)}, 19), 6)), "
         f"CSRank(Corr(CSRank($vwap), CSRank($volume), 5)))"),
    79: (f"CSRank(Delta(IndNeutralize({_mix('$close', '$open', 0.60733)}), 1)) < "
         f"CSRank(Corr(TsRank($vwap, 3), TsRank({_adv(150)}, 9), 14))"),
    80: (f"Power(CSRank(Sign(Delta(IndNeutralize({_mix('$open', '$high', 0.868128)}), 4))), "
         f"TsRank(Corr($high, {_adv(10)}, 5), 5)) * -1"),
    81: (f"(CSRank(Log(Prod(CSRank(Power(CSRank(Corr($vwap, Sum({_adv(10)}, 49), 8)), 4)), 14))) < "
         f"CSRank(Corr(CSRank($vwap), CSRank($volume), 5))) * -1"),
    82: (f"Less(CSRank(DecayLinear(Delta($open, 1), 14)), TsRank(DecayLinear(Corr(IndNeutralize($volume), "
         f"{_mix('$open', '$open', 0.634196)}, 17), 6), 13)) * -1"),
    83: ("CSRank(Ref(($high - $low) / (Sum($close, 5) / 5), 2)) * CSRank(CSRank($volume)) / "
         "(($high - $low) / (Sum($close, 5) / 5) / ($vwap - $close))"),
    84: "SignedPower(TsRank($vwap - Max($vwap, 15), 20), Delta($close, 4))",
    85: (f"Power(CSRank(Corr({_mix('$high', '$close', 0.876703)}, {_adv(30)}, 9)), "
         f"CSRank(Corr(TsRank(($high + $low) / 2, 3), TsRank($volume, 10), 7)))"),
    86: f"(TsRank(Corr($close, Sum({_adv(20)}, 14), 6), 20) < CSRank($open + $close - ($vwap + $open))) * -1",
    87: (f"Greater(CSRank(DecayLinear(Delta({_mix('$close', '$vwap', 0.369701)}, 1), 2)), "
         f"TsRank(DecayLinear(Abs(Corr(IndNeutralize({_adv(81)}), $close, 13)), 4), 14)) * -1"),
    88: (f"Less(CSRank(DecayLinear(CSRank($open) + CSRank($low) - (CSRank($high) + CSRank($close)), 8)), "
         f"TsRank(DecayLinear(Corr(TsRank($close, 8), TsRank({_adv(60)}, 20), 8), 6), 2))"),
    89: (f"TsRank(DecayLinear(Corr({_mix('$low', '$low', 0.967285)}, {_adv(10)}, 6), 5), 3) - "
         f"TsRank(DecayLinear(Delta(IndNeutralize($vwap), 3), 10), 15)"),
    90: f"Power(CSRank($close - Max($close, 4)), TsRank(Corr(IndNeutralize({_adv(40)}), $low, 5), 3)) * -1",
    91: (f"(TsRank(DecayLinear(DecayLinear(Corr(IndNeutralize($close), $volume, 9), 16), 3), 4) - "
         f"CSRank(DecayLinear(Corr($vwap, {_adv(30)}, 4), 2))) * -1"),
    92: (f"Less(TsRank(DecayLinear(($high + $low) / 2 + $close < $low + $open, 14), 18), "
         f"TsRank(DecayLinear(Corr(CSRank($low), CSRank({_adv(30)}), 7), 6), 6))"),
    93: (f"TsRank(DecayLinear(Corr(IndNeutralize($vwap), {_adv(81)}, 17), 19), 7) / "
         f"CSRank(DecayLinear(Delta({_mix('$close', '$vwap', 0.524434)}, 2), 16))"),
    94: (f"Power(CSRank($vwap - Min($vwap, 11)), TsRank(Corr(TsRank($vwap, 19), TsRank({_adv(60)}, 4), 18), 2))"
         f" * -1"),
    95: (f"CSRank($open - Min($open, 12)) < "
         f"TsRank(Power(CSRank(Corr(Sum(($high + $low) / 2, 19), Sum({_adv(40)}, 19), 12)), 5), 11)"),
    96: (f"Greater(TsRank(DecayLinear(Corr(CSRank($vwap), CSRank($volume), 3), 4), 8), "
         f"TsRank(DecayLinear(IdxMax(Corr(TsRank($close, 7), TsRank({_adv(60)}, 4), 3), 12), 14), 13)) * -1"),
    97: (f"(CSRank(DecayLinear(Delta(IndNeutralize({_mix('$low', '$vwap', 0.721001)}), 3), 20)) - "
         f"TsRank(DecayLinear(TsRank(Corr(TsRank($low, 7), TsRank({_adv(60)}, 17), 4), 18), 15), 6)) * -1"),
    98: (f"CSRank(DecayLinear(Corr($vwap, Sum({_adv(5)}, 26), 4), 7)) - "
         f"CSRank(DecayLinear(TsRank(IdxMin(Corr(CSRank($open), CSRank({_adv(15)}), 20), 8), 6), 8))"),
    99: (f"(CSRank(Corr(Sum(($high + $low) / 2, 19), Sum({_adv(60)}, 19), 8)) < "
         f"CSRank(Corr($low, $volume, 6))) * -1"),
    100: (f"0 - (1.5 * CSScale(IndNeutralize(IndNeutralize(CSRank({_clv()} * $volume)))) - "
          f"CSScale(IndNeutralize(Corr($close, CSRank({_adv(20)}), 5) - CSRank(IdxMin($close, 30))))) * "
          f"($volume / {_adv(20)})"),
    101: "($close - $open) / ($high - $low + 0.001)",
}

#: alphas the library leaves out, with the reason (none: see the module docstring)
LEFT_OUT: dict[int, str] = {}


def formulas() -> dict[str, str]:
    """The ``{ALPHA001: formula, ...}`` pairs, in the paper's order."""
    return {f"ALPHA{n:03d}": f for n, f in sorted(_A.items()) if n not in LEFT_OUT}
