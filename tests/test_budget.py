"""The time budget: the agreed share used, the end, and seconds carried over from a checkpoint."""

import math

from jaxformer import budget
from jaxformer.resume import saved_progress


class FakeClock:
    """A stand-in for the `time` module of jaxformer.budget: each reading is `tick` seconds later."""

    def __init__(self, tick: float):
        self.now, self.tick = 100.0, tick

    def perf_counter(self) -> float:
        self.now += self.tick
        return self.now


def test_budget_counts_from_the_seconds_already_used(monkeypatch):
    monkeypatch.setattr(budget, "time", FakeClock(2.0))
    b = budget.TimeBudget(10.0, used_s=4.0)
    assert b.fraction() == 0.4 and not b.spent() and b.remaining() == 6.0  # no reading yet: the carried seconds
    b.sync(1)  # one reading, 2 s after the origin was set
    assert b.fraction() == 0.6
    for step in range(2, 5):
        b.sync(step)
    assert b.fraction() == 1.0 and b.spent() and b.remaining() == 0.0


def test_without_a_limit_nothing_is_ever_spent(monkeypatch):
    monkeypatch.setattr(budget, "time", FakeClock(1e6))
    b = budget.TimeBudget(0.0)
    b.sync(1)
    assert b.fraction() == 0.0 and not b.spent() and math.isinf(b.remaining())


def test_checkpoints_from_before_the_budget_was_saved_read_as_zero_seconds():
    assert saved_progress({"data_iterator": {"pos": 3}, "train_seconds": 12.5}) == ({"pos": 3}, 12.5)
    assert saved_progress({"pos": 3}) == ({"pos": 3}, 0.0)
    assert saved_progress({}) == ({}, 0.0)
