"""The background-thread prefetcher yields the wrapped iterator's batches in order, and its state
names the next batch the caller will see, however far the thread has read ahead."""

import grain
import pytest

from jaxformer.data.prefetch import Prefetch


def make():
    return iter(grain.MapDataset.range(100).map(lambda i: {"x": i}).to_iter_dataset())


def test_same_batches_and_exact_state():
    p = Prefetch(make(), depth=3)
    first = [next(p)["x"] for _ in range(5)]
    state = p.get_state()
    rest = [next(p)["x"] for _ in range(5)]
    p.close()
    assert first + rest == list(range(10))
    q = Prefetch(make())
    q.set_state(state)
    assert [next(q)["x"] for _ in range(5)] == rest
    q.close()


def test_errors_reach_the_caller_and_end_stops():
    def boom(i):
        if i == 3:
            raise ValueError("bad example 3")
        return i
    p = Prefetch(iter(grain.MapDataset.range(10).map(boom).to_iter_dataset()))
    assert [next(p) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="bad example 3"):
        next(p)
    p.close()
    assert list(Prefetch(iter(grain.MapDataset.range(4).to_iter_dataset()))) == [0, 1, 2, 3]


def test_set_state_after_start_is_refused():
    p = Prefetch(make())
    next(p)
    with pytest.raises(RuntimeError):
        p.set_state(p.get_state())
    p.close()
