"""The closing line of a LightGBM fold: the trees kept and why, the floor on trees explained on
the first fold only (it holds for every fold), the validation peak named when the floor binds."""
from __future__ import annotations

from flyer.models.learners import FloorStop, LGBMLearner


def _learner(fold: int) -> LGBMLearner:
    learner = LGBMLearner.__new__(LGBMLearner)  # the text needs no config
    learner.fold_index = fold
    return learner


def _stop(best: int, peak: int, floor: int = 100) -> FloorStop:
    stop = FloorStop("ic", 100, floor)
    stop.best_iter, stop.raw_best, stop.best_value = best, peak, 0.0123
    return stop


def test_the_floor_is_explained_on_the_first_fold_only() -> None:
    first = _learner(0)._kept_info(_stop(100, 18), 100)
    later = _learner(1)._kept_info(_stop(100, 18), 100)
    assert "kept 100 trees: the floor" in first and "every fold keeps at least 100" in first
    assert "validation peaked at round 18" in first and "valid ic 0.01230" in first
    assert "kept 100 trees: the floor" in later and "every fold" not in later and "round 18" in later


def test_above_the_floor_the_best_round_is_kept() -> None:
    first = _learner(0)._kept_info(_stop(222, 222), 222)
    assert first.startswith("kept 222 trees: the best validation round, at least 100 kept by every fold")
    assert "every fold" not in _learner(2)._kept_info(_stop(222, 222), 222)
    assert "at least" not in _learner(0)._kept_info(_stop(40, 40, floor=1), 40)  # no floor, nothing to say
