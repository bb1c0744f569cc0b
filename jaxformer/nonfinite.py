"""Non-finite losses: the train step drops an update whose loss or gradient is NaN or infinite
(see `train.train_step`) and flags it; this guard counts the flags without a host sync per step,
reading them only at the logging cadence and before each save, and stops the run with one line
once more than `train.skip_nonfinite` were dropped. Parameters never become non-finite, so no
checkpoint holds them; the one-line error names the step and the last good checkpoint.
"""

from __future__ import annotations

from typing import Any

import jax

from jaxformer.checkpoint import SaveFailed
from jaxformer.config import ConfigError


class NonFiniteGuard:
    """Counts dropped updates of this run (the flags stay on device until `check`)."""

    def __init__(self, allowed: int):
        self.allowed = allowed
        self.count = 0  # updates dropped so far in this run
        self.over: int | None = None  # the step whose drop went past `allowed`
        self._pending: list[tuple[int, Any]] = []

    def add(self, step: int, flag: Any) -> None:
        """Records step's flag (a device scalar, 1.0 when its update was dropped); no sync."""
        self._pending.append((step, flag))

    def check(self, ckpt) -> int:
        """Reads the pending flags (one sync) and returns the count, or raises the one-line
        ConfigError once more than `allowed` updates were dropped (saves in flight finish first)."""
        if self._pending:
            flags = jax.device_get([flag for _, flag in self._pending])
            for (step, _), flag in zip(self._pending, flags):
                if float(flag) > 0:
                    self.count += 1
                    if self.count > self.allowed and self.over is None:
                        self.over = step
            self._pending = []
        if self.over is not None:
            try:
                ckpt.wait()
            except SaveFailed:  # the save in flight failed too; the line below names the checkpoint that stays
                pass
            latest = ckpt.latest_step()
            good = (f"the last good checkpoint is step {latest} in {ckpt.directory}" if latest is not None
                    else "no checkpoint was saved yet")
            raise ConfigError(f"the loss or gradient became NaN or infinite at step {self.over} ({self.count} "
                              f"update(s) dropped in this run, train.skip_nonfinite={self.allowed} allowed); stopped "
                              f"without saving: {good}; resume it with a lower learning rate, train.clip_grad_norm, "
                              "or a higher train.skip_nonfinite")
        return self.count
