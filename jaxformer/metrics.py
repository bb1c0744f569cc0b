"""Run metrics: JSON lines and TensorBoard event files in the workdir, and a progress line."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any


class MetricWriter:
    """Writes scalars to `workdir/metrics.jsonl` and TensorBoard events (only on process 0)."""

    def __init__(self, workdir: Path, *, enabled: bool = True):
        self.enabled = enabled
        self._jsonl = None
        self._tb = None
        if enabled:
            workdir.mkdir(parents=True, exist_ok=True)
            self._jsonl = open(workdir / "metrics.jsonl", "a", encoding="utf-8")
            from tensorboardX import SummaryWriter
            self._tb = SummaryWriter(str(workdir / "tensorboard"))

    def write(self, step: int, split: str, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        scalars = {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) or hasattr(v, "item")}
        record = {"step": step, "split": split, "time": time.time(), **scalars,
                  **{k: v for k, v in values.items() if isinstance(v, str)}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        for k, v in scalars.items():
            self._tb.add_scalar(f"{split}/{k}", v, step)
        self._tb.flush()

    def close(self) -> None:
        if self.enabled:
            self._jsonl.close()
            self._tb.close()


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
