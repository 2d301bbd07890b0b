"""The formula parser: trees, precedence, round trips and error positions."""
from __future__ import annotations

import pytest

from flyer.factors import (BinOp, Const, CrossSection, Field, FormulaError, Func, PairRolling, Rolling,
                     parse)


def test_parses_issue_examples():
    assert parse("Mean($close, 5) / $close") == BinOp("/", Rolling("Mean", Field("close"), 5), Field("close"))
    assert parse("Corr($close, Log($volume + 1), 10)") == PairRolling(
        "Corr", Field("close"), Func("Log", (BinOp("+", Field("volume"), Const(1.0)),)), 10)
    assert parse("CSRank(Delta($close, 5))") == CrossSection("CSRank", Rolling("Delta", Field("close"), 5))
    cond = BinOp(">", Field("close"), Rolling("Ref", Field("close"), 1))
    assert parse("If($close > Ref($close, 1), $volume, 0)") == Func("If", (cond, Field("volume"), Const(0.0)))


def test_precedence_and_associativity():
    assert parse("1 + 2 * 3") == BinOp("+", Const(1), BinOp("*", Const(2), Const(3)))
    assert parse("1 - 2 - 3") == BinOp("-", BinOp("-", Const(1), Const(2)), Const(3))
    assert parse("$close > 1 & $open < 2 | $high") == BinOp(
        "|", BinOp("&", BinOp(">", Field("close"), Const(1)), BinOp("<", Field("open"), Const(2))), Field("high"))
    assert parse("-$close * 2") == BinOp("*", BinOp("-", Const(0), Field("close")), Const(2))
    assert parse("2 * -3") == BinOp("*", Const(2), Const(-3))


def test_aliases_and_neutralize():
    assert parse("TsRank($close, 5)") == Rolling("Rank", Field("close"), 5)
    assert parse("IndNeutralize($close)") == CrossSection("Neutralize", Field("close"), ("industry",))
    assert parse("Neutralize($close)").by == ("industry", "cap")
    assert parse("Neutralize($close, cap)").by == ("cap",)
    assert parse("Quantile($close, 5, 0.8)").q == 0.8


@pytest.mark.parametrize("text", [
    "Mean($close, 5) / $close", "($close-$open)/($high-$low+1e-12)", "1 - (2 - 3)", "1 / (2 * 3)",
    "Sum(Greater($close-Ref($close, 1), 0), 5)/(Sum(Abs($close-Ref($close, 1)), 5)+1e-12)",
    "-Mean($close, 5) * 2 - -3", "Neutralize(CSRank($close), industry)", "If($close >= 1, 1, -1)",
    "($close > 1) > 0", "$close - ($open - $high)", "$close / ($open * $high)", "Quantile($vwap, 3, 0.25)",
])
def test_str_round_trips(text):
    expr = parse(text)
    assert parse(str(expr)) == expr
    assert str(parse(str(expr))) == str(expr)


@pytest.mark.parametrize("text, message", [
    ("Meen($close, 5)", "unknown operator 'Meen' at column 1"),
    ("Mean($close, 5) + Foo(1)", "unknown operator 'Foo' at column 19"),
    ("$close + $clse", "unknown field '$clse' at column 10"),
    ("Mean($close 5)", "expected ',' or ')', found '5' at column 13"),
    ("Mean($close, 5.5)", "Mean window must be a positive integer literal, got '5.5' at column 14"),
    ("Mean($close, $open)", "window must be a positive integer literal, got '$open' at column 14"),
    ("Ref($close, -1)", "Ref window must be a non-negative integer literal, got '-1' at column 13"),
    ("Mean($close)", "Mean expects 2 arguments (x, window), got 1 at column 1"),
    ("$close +", "unexpected end of formula at column 9"),
    ("$close $open", "unexpected '$open' at column 8"),
    ("($close", "expected ')', found end of formula at column 8"),
    ("close", "'close' is not a field or a call (fields start with $) at column 1"),
    ("$close # 2", "unexpected character '#' at column 8"),
    ("Quantile($close, 5, 2)", "Quantile level must be a number in [0, 1], got '2' at column 21"),
    ("Mean($close, industry)", "'industry' is only allowed in Neutralize, not in Mean at column 1"),
    ("", "empty formula"),
])
def test_errors_name_problem_and_position(text, message):
    with pytest.raises(FormulaError) as info:
        parse(text)
    assert message in str(info.value)


def test_lookback_sums_windows_along_paths():
    assert parse("$close").lookback == 0
    assert parse("Mean($close, 5)").lookback == 4
    assert parse("Ref($close, 5)").lookback == 5
    assert parse("Mean(Ref($close, 1), 5) + Std($close, 20)").lookback == 19
    assert parse("Corr($close / Ref($close, 1), Log($volume), 60)").lookback == 60
    assert parse("CSRank(Delta(Mean($close, 3), 2))").lookback == 4


def test_nodes_are_frozen_and_hash_structurally():
    a, b = parse("Mean($close, 5)"), parse("Mean( $close ,5 )")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(Exception):
        a.window = 3  # type: ignore[misc]
    assert str(Field("close") / Rolling("Mean", Field("close"), 5)) == "$close / Mean($close, 5)"
    assert parse("-0") == Const(0.0) and hash(parse("-0")) == hash(Const(0.0))
    with pytest.raises(ValueError):
        Const(float("nan"))
