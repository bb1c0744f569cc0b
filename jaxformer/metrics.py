"""Run metrics: JSON lines and TensorBoard event files in the workdir, and a progress line."""

from __future__ import annotations

import errno
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable


class MetricWriter:
    """Writes scalars to `workdir/metrics.jsonl` and TensorBoard events (only on process 0).

    A disk that fills up or turns read-only during a run must not end it here (the checkpoints
    decide that, see `jaxformer.save_errors`): a record that cannot be written is dropped whole,
    so metrics.jsonl never holds half a line, with one warning per stretch of lost records; and
    TensorBoard events stop for the rest of the run at their first failure.
    """

    def __init__(self, workdir: Path, *, enabled: bool = True, log: Callable[..., None] = print):
        self.enabled, self.log = enabled, log
        self.path = Path(workdir) / "metrics.jsonl"
        self._fd: int | None = None
        self._tb = None
        self._lost: list[int] = []  # steps of the records lost in the current stretch
        if enabled:
            workdir.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            from tensorboardX import SummaryWriter
            # tensorboardX's thread would also flush every 2 minutes, and an error there ends that
            # thread (whose full queue then blocks add_scalar for good); `write` flushes after each
            # record instead, here, where an error can be caught (events the thread had not yet
            # taken go out with the next record's flush, or at close).
            self._tb = SummaryWriter(str(workdir / "tensorboard"), flush_secs=10**6)

    def write(self, step: int, split: str, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        scalars = {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) or hasattr(v, "item")}
        record = {"step": step, "split": split, "time": time.time(), **scalars,
                  **{k: v for k, v in values.items() if isinstance(v, str)}}
        try:
            self._append((json.dumps(record) + "\n").encode())
        except OSError as e:
            if not self._lost:
                self.log(f"warning: cannot write {self.path} ({e.strerror}); metrics from step {step} on are lost "
                         "until it can be written again")
            self._lost.append(step)
            return
        if self._lost:
            self.log(f"metrics are written to {self.path} again from step {step} (lost: steps "
                     f"{self._lost[0]}-{self._lost[-1]})")
            self._lost = []
        if self._tb is not None:
            try:
                for k, v in scalars.items():
                    self._tb.add_scalar(f"{split}/{k}", v, step)
                self._tb.flush()
            except OSError as e:
                self.log(f"warning: cannot write TensorBoard events to {self.path.parent / 'tensorboard'} "
                         f"({e.strerror}); they stop for this run (metrics.jsonl goes on)")
                self._tb = None  # left as it is: closing would flush (and fail) again

    def _append(self, data: bytes) -> None:
        """Appends `data` whole or not at all (a short write on a full disk is cut back)."""
        size = os.fstat(self._fd).st_size
        try:
            if os.write(self._fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            try:
                os.ftruncate(self._fd, size)
            except OSError:
                pass
            raise

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._tb is not None:
            try:
                self._tb.close()
            except OSError:
                pass
            self._tb = None


def read_metrics(workdir: str | Path) -> list[dict[str, Any]]:
    path = Path(workdir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


class Progress:
    """One line per report: step, loss, learning rate, target tokens/s and ETA."""

    def __init__(self, total_steps: int, start_step: int, print_fn=print, time_budget_s: float = 0.0):
        self.total, self.print = total_steps, print_fn
        self.last_time, self.last_step, self.tokens = time.perf_counter(), start_step, 0.0
        # With a time budget the run ends at whichever comes first: the last step or the budget.
        self.deadline = self.last_time + time_budget_s if time_budget_s > 0 else math.inf

    def pause_done(self, step: int) -> None:
        """Restarts the clock after evaluation or checkpointing, so tokens/s counts training only."""
        self.last_time, self.last_step, self.tokens = time.perf_counter(), step, 0.0

    def add_tokens(self, n: float) -> None:
        self.tokens += n

    def report(self, step: int, metrics: dict[str, Any]) -> float:
        now = time.perf_counter()
        dt = max(now - self.last_time, 1e-9)
        rate = self.tokens / dt
        steps_per_s = (step - self.last_step) / dt
        eta = min((self.total - step) / steps_per_s if steps_per_s > 0 else math.inf, self.deadline - now)
        self.print(f"step {step:>6}/{self.total}  loss {float(metrics['loss']):.3f}  "
                   f"acc {float(metrics['accuracy']):.3f}  lr {float(metrics['learning_rate']):.2e}  "
                   f"fill {float(metrics.get('target_fill', 1.0)):.2f}  "
                   f"{rate:,.0f} tgt tok/s  ETA {_duration(eta)}", flush=True)
        self.last_time, self.last_step, self.tokens = now, step, 0.0
        return rate


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"
