"""The training-time budget (`train.max_train_seconds`): seconds used so far, carried across
resumes in the checkpoints, and the same reading on every process.

Every process must take the same decisions from the clock (the learning rate of
`decay_over="time"`, the step at which the budget ends the run), but their clocks differ. So
process 0's reading is broadcast at each sync point: every step on one process, every
`sync_every` steps with several (a broadcast waits for the device, which would otherwise stall
the queue of dispatched steps).
"""

from __future__ import annotations

import time

import jax
import numpy as np
from jax.experimental import multihost_utils


class TimeBudget:
    def __init__(self, limit_s: float, used_s: float = 0.0, *, sync_every: int = 1):
        self.limit = float(limit_s)
        self._origin = time.perf_counter() - used_s
        self._sync_every = max(sync_every, 1) if jax.process_count() > 1 else 1
        self._agreed = float(used_s)

    def elapsed(self) -> float:
        """This process's own reading: seconds of training, earlier runs of the workdir included."""
        return time.perf_counter() - self._origin

    def sync(self, step: int) -> None:
        """Takes a new agreed reading if `step` is a sync point (call it after every step)."""
        if self.limit <= 0 or step % self._sync_every:  # no budget: nothing to agree on
            return
        seconds = self.elapsed()
        if jax.process_count() > 1:
            seconds = float(multihost_utils.broadcast_one_to_all(np.float32(seconds)))
        self._agreed = seconds

    def fraction(self) -> float:
        """The agreed share of the budget used, in [0, 1]; 0 without a budget."""
        return min(self._agreed / self.limit, 1.0) if self.limit > 0 else 0.0

    def spent(self) -> bool:
        return self.limit > 0 and self._agreed >= self.limit

    def remaining(self) -> float:
        """Seconds left by the agreed reading (inf without a budget)."""
        return max(self.limit - self._agreed, 0.0) if self.limit > 0 else float("inf")
