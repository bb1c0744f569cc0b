"""What the training loop does when the disk refuses a checkpoint (`checkpoint.SaveFailed`).

A full or read-only disk found at step 80k of a long run must neither kill it with a traceback
nor pass unnoticed: it is one line naming the step, the error and the last good checkpoint (which
stays the latest: the failed save's folder is removed). Then, as `train.on_save_error` says, the
run stops (`stop`, the default: the one line is its error) or trains on and saves again at the
next checkpoint (`continue`: the line is a warning). The last save of a run has no next one, so
its failure always ends the run with the line. Saves are asynchronous: a failure is found at the
next save or at the end of the run, so the line names the step whose save failed, not the step
the run is at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from jaxformer.checkpoint import Checkpoints, SaveFailed
from jaxformer.config import ConfigError
from jaxformer.storage import fix


class SaveGuard:
    """Saves through `ckpt`, handling SaveFailed as `policy` ("stop" or "continue") says."""

    def __init__(self, ckpt: Checkpoints, policy: str, *, log: Callable[..., None] = print):
        self.ckpt, self.policy, self.log = ckpt, policy, log

    def save(self, step: int, state: Any, data_state: dict[str, Any], metrics: dict[str, float] | None, *,
             last: bool) -> None:
        """Saves `step` (after the save before it is found complete or failed); `last`: the run ends
        after this save, so its failure ends the run too."""
        try:
            self.ckpt.wait()
        except SaveFailed as e:
            self._failed(e, last=False)
        try:
            self.ckpt.save(step, state, data_state, metrics)
        except SaveFailed as e:
            self._failed(e, last=last)

    def finish(self) -> None:
        """Waits for the last save; its failure ends the run with the one line."""
        try:
            self.ckpt.wait()
        except SaveFailed as e:
            self._failed(e, last=True)

    def _failed(self, e: SaveFailed, *, last: bool) -> None:
        """The one line: raised (stop, or the last save) or logged as a warning (continue)."""
        workdir = Path(self.ckpt.directory).parent
        latest = self.ckpt.latest_step()
        good = (f"the last good checkpoint is step {latest} in {self.ckpt.directory}" if latest is not None
                else "no checkpoint of this run was saved yet")
        line = f"the checkpoint of step {e.step} could not be saved ({e.fault}); {good}"
        resume = f"then resume with `jaxformer train --workdir {workdir}`"
        if self.policy == "stop":
            raise ConfigError(f"{line}; stopped (train.on_save_error=stop): {fix(e.fault, workdir)}, {resume}")
        if last:
            redo = f"the steps after {latest}" if latest is not None else "the run"
            raise ConfigError(f"{line}; that was the run's last save (train.on_save_error=continue): "
                              f"{fix(e.fault, workdir)}, {resume} to redo {redo}")
        self.log(f"warning: {line}; training goes on (train.on_save_error=continue) and saves again at the "
                 f"next checkpoint; {fix(e.fault, workdir)}")
