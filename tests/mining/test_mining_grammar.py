from __future__ import annotations

import random

import pytest

from flyer.factors.expr import BinOp, Field, Rolling
from flyer.factors.mining.grammar import (Grammar, UnitError, canonical, crossover, depth_of, is_valid,
                                    point_mutation, ramped_population, random_tree, size_of,
                                    subtree_mutation, unit_of)
from flyer.factors.parser import parse

G = Grammar()


def test_random_trees_are_valid_bounded_and_round_trip() -> None:
    rng = random.Random(3)
    for e in ramped_population(rng, G, 200):
        assert is_valid(e, G)
        assert depth_of(e) <= G.max_depth and size_of(e) <= G.max_nodes
        assert e.lookback <= G.max_lookback
        assert parse(str(e)) == e
        assert canonical(e) == e
        for node in e.walk():
            if isinstance(node, Rolling):
                assert node.window in (G.lags if node.op in ("Ref", "Delta") else G.windows)


def test_random_trees_are_reproducible_from_a_seed() -> None:
    a = [str(e) for e in ramped_population(random.Random(11), G, 50)]
    b = [str(e) for e in ramped_population(random.Random(11), G, 50)]
    c = [str(e) for e in ramped_population(random.Random(12), G, 50)]
    assert a == b and a != c


@pytest.mark.parametrize("x, y", [
    ("$close + $open", "$open + $close"),
    ("Corr($volume, $close, 10) * $turnover", "$turnover * Corr($close, $volume, 10)"),
    ("Greater($high, $low) - Ref($close, 0)", "Greater($low, $high) - $close"),
    ("CSRank(CSRank($volume))", "CSRank(CSZScore($volume))"),
    ("Abs(Abs($close - $open))", "Abs($close - $open)"),
])
def test_canonical_form_normalises_equivalent_formulas(x: str, y: str) -> None:
    assert canonical(parse(x)).key == canonical(parse(y)).key


def test_non_commutative_operators_keep_their_order() -> None:
    assert canonical(parse("$close - $open")).key != canonical(parse("$open - $close")).key
    assert canonical(parse("$close / $open")).key != canonical(parse("$open / $close")).key


def test_units() -> None:
    assert unit_of(parse("$close / Ref($close, 5)")) == "1"
    assert unit_of(parse("Mean($close, 5) - $open")) == "price"
    assert unit_of(parse("$close * $volume")) == "*"
    with pytest.raises(UnitError):
        unit_of(parse("$close + $volume"))
    assert not is_valid(parse("Greater($close, $volume)"), G)
    assert not is_valid(BinOp("-", parse("1"), parse("2")), G)   # no field
    assert not is_valid(parse("Mean(Mean(Mean($close, 60), 60), 60)"), G)   # lookback 177 > 120
    assert is_valid(parse("Log(Mean($volume, 5) / $volume)"), G)
    for degenerate in ("IdxMin($open - $open, 60)", "Corr($close, $close, 10)", "Greater($low, $low)",
                       "Log(Delta($close, 5))", "Log($close - $open)"):
        assert not is_valid(parse(degenerate), G)


def test_genetic_operators_give_valid_new_trees() -> None:
    rng = random.Random(5)
    pop = ramped_population(rng, G, 30)
    for i in range(60):
        a, b = pop[i % 30], pop[(7 * i + 3) % 30]
        for child in (crossover(rng, G, a, b), subtree_mutation(rng, G, a), point_mutation(rng, G, a)):
            assert is_valid(child, G) and canonical(child) == child
    assert random_tree(random.Random(0), Grammar(fields=("close",), max_depth=1)) == Field("close")


@pytest.mark.parametrize("kw", [{"rolling": ("Quantile",)}, {"funcs": ("If",)}, {"fields": ("industry",)},
                                {"windows": ()}, {"cross": ("Neutralize",)}])
def test_grammar_rejects_what_the_generator_cannot_build(kw: dict) -> None:
    with pytest.raises(ValueError):
        Grammar(**kw)
