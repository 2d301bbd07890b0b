"""Train/valid/test date ranges per fold, with the label embargo applied.

A ``Fold`` holds the effective sample ranges: the train and valid windows lose their last
``label_horizon + 1`` trading days (embargo), so no training or validation label, which reaches
``t + 1 + h``, looks into the period after the window. Walk-forward cuts the test range into
chunks of ``retrain_months`` months; fold k shifts train and valid by k chunks (``rolling``) or
keeps the train start (``expanding``).
"""
from __future__ import annotations

import calendar as _cal
import datetime as dt
from dataclasses import dataclass

from flyer.core.errors import FlyerError
from flyer.models.config import DateRange, SplitConfig


@dataclass(frozen=True)
class Fold:
    index: int
    train: DateRange
    valid: DateRange
    test: DateRange | None


def add_months(d: dt.date, n: int) -> dt.date:
    """``d`` moved by ``n`` calendar months (day clamped to the month's end)."""
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    return dt.date(year, month, min(d.day, _cal.monthrange(year, month)[1]))


def embargo(days: list[dt.date], rng: DateRange, n: int) -> DateRange | None:
    """``rng`` with its last ``n`` trading days (of ``days``, sorted) removed; None if empty."""
    inside = [d for d in days if rng[0] <= d <= rng[1]]
    if len(inside) <= n:
        return None
    return inside[0], inside[-1 - n]


def make_folds(split: SplitConfig, days: list[dt.date], horizon: int) -> list[Fold]:
    """The folds of ``split`` over trading ``days`` (ascending), embargo ``horizon + 1``."""
    n = horizon + 1
    if split.test is None:  # deployment model: train and valid only
        train, valid = embargo(days, split.train, n), embargo(days, split.valid, n)
        if train is None or valid is None:
            raise FlyerError("train or valid window has no trading days after the embargo")
        return [Fold(0, train, valid, None)]
    chunks: list[DateRange] = [split.test]
    if split.walk_forward:
        chunks = []
        k = 0
        while (start := add_months(split.test[0], k * split.retrain_months)) <= split.test[1]:
            end = min(add_months(split.test[0], (k + 1) * split.retrain_months) - dt.timedelta(days=1), split.test[1])
            chunks.append((start, end))
            k += 1
    folds: list[Fold] = []
    for k, test in enumerate(chunks):
        off = k * split.retrain_months if split.walk_forward else 0
        t0 = split.train[0] if split.window == "expanding" else add_months(split.train[0], off)
        train = embargo(days, (t0, add_months(split.train[1], off)), n)
        valid = embargo(days, (add_months(split.valid[0], off), min(add_months(split.valid[1], off),
                                                                      test[0] - dt.timedelta(days=1))), n)
        if train is None or valid is None:
            raise FlyerError(f"fold {k}: train or valid window has no trading days after the embargo")
        if not any(test[0] <= d <= test[1] for d in days):
            continue
        folds.append(Fold(len(folds), train, valid, test))
    if not folds:
        raise FlyerError("the test range holds no trading days in the store")
    return folds
