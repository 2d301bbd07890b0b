from __future__ import annotations

import datetime as dt

from flyer.data.calendar import sse_calendar
from flyer.models.config import SplitConfig
from flyer.models.splits import add_months, embargo, make_folds

D = dt.date
DAYS = sse_calendar(D(2015, 1, 1), D(2022, 12, 31))


def test_add_months_clamps() -> None:
    assert add_months(D(2020, 1, 31), 1) == D(2020, 2, 29)
    assert add_months(D(2020, 11, 15), 3) == D(2021, 2, 15)


def test_embargo_drops_horizon_plus_one_trading_days() -> None:
    rng = (D(2020, 1, 1), D(2020, 12, 31))
    inside = [d for d in DAYS if rng[0] <= d <= rng[1]]
    assert embargo(DAYS, rng, 2) == (inside[0], inside[-3])


def test_fixed_split_one_fold_with_embargo() -> None:
    s = SplitConfig((D(2016, 1, 1), D(2018, 12, 31)), (D(2019, 1, 1), D(2019, 12, 31)), (D(2020, 1, 1), D(2020, 12, 31)))
    (f,) = make_folds(s, DAYS, horizon=5)
    after_valid = [d for d in DAYS if d > f.valid[1]]
    # the last valid label (t+1+h) ends before the test period starts
    assert after_valid[5] < D(2020, 1, 1) <= after_valid[6]
    after_train = [d for d in DAYS if d > f.train[1]]
    assert after_train[5] <= D(2018, 12, 31) < after_train[6]


def test_walk_forward_rolling_and_expanding() -> None:
    s = SplitConfig((D(2016, 1, 1), D(2018, 12, 31)), (D(2019, 1, 1), D(2019, 12, 31)),
                    (D(2020, 1, 1), D(2021, 12, 31)), walk_forward=True, retrain_months=6)
    folds = make_folds(s, DAYS, horizon=1)
    assert [f.test for f in folds] == [(D(2020, 1, 1), D(2020, 6, 30)), (D(2020, 7, 1), D(2020, 12, 31)),
                                       (D(2021, 1, 1), D(2021, 6, 30)), (D(2021, 7, 1), D(2021, 12, 31))]
    assert folds[1].train[0] >= D(2016, 7, 1) and folds[3].train[0] >= D(2017, 7, 1)
    for f in folds:  # valid ends (with embargo) before its test chunk, and the windows are ordered
        assert f.train[1] < f.valid[0] <= f.valid[1] < f.test[0]
    exp = make_folds(SplitConfig(s.train, s.valid, s.test, True, 6, "expanding"), DAYS, horizon=1)
    assert all(f.train[0] == exp[0].train[0] for f in exp)
    assert exp[-1].train[1] == folds[-1].train[1]
