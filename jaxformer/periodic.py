"""The periodic actions of a training run, in the spirit of CLU's `periodic_actions`: each is a
small object, called after every step, that decides by itself whether this step is its turn, so
that the loop (`loop.py`) only runs steps and calls them in order. A new periodic action is a
class here and an entry in the loop's list.

Actions talk through the step's `Tick`: the time budget or the last step marks it `finished`
(evaluate, save, then the final test), a signal or `stop_after` marks it `interrupted` (save and
leave), evaluation leaves its scores for the checkpoint to rank, the checkpoint says it saved.
Their order in the loop's list is the order of these decisions. Every decision that a collective
follows (evaluating, saving, stopping) is taken alike on every process: from the step count, the
agreed clock (`budget.TimeBudget`) or the agreed signal (`Preemption.agreed`).
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxformer.budget import TimeBudget
from jaxformer.metrics import MetricWriter, Progress
from jaxformer.nonfinite import NonFiniteGuard

Say = Callable[..., None]


@dataclasses.dataclass
class Tick:
    """One finished training step as the actions see it; earlier actions leave word for later ones."""

    step: int  # updates done
    state: Any  # train.TrainState after the update
    metrics: dict[str, jax.Array]  # the train step's, still on the device
    target_slots: int  # target positions in the batch (rows x width), for the fill ratio
    finished: bool  # the run is complete after this step (the last step, or the time budget spent)
    interrupted: str = ""  # why the run stops early after this step (a signal's name, "stop_after")
    evaluation: dict[str, Any] | None = None  # scores of an evaluation made at this step
    saved: bool = False  # a checkpoint of this step was written


class Action:
    """A periodic action: `start(step)` before the first step, `__call__(tick)` after each, `end()`
    once the loop is left (however it ends)."""

    def start(self, step: int) -> None:
        pass

    def __call__(self, tick: Tick) -> None:
        raise NotImplementedError

    def end(self) -> None:
        pass


class Every(Action):
    """An action whose turn comes every `every` steps and at the step that finishes the run."""

    def __init__(self, every: int):
        self.every = every

    def due(self, tick: Tick) -> bool:
        """Whether this step is the action's turn."""
        return tick.step % self.every == 0 or tick.finished


class TimeLimit(Action):
    """`train.max_train_seconds`: takes the agreed reading of the clock after every step and
    finishes the run once the budget is spent."""

    def __init__(self, budget: TimeBudget, say: Say):
        self.budget, self.say = budget, say

    def __call__(self, tick: Tick) -> None:
        self.budget.sync(tick.step)
        if self.budget.spent() and not tick.finished:
            tick.finished = True
            self.say(f"time budget of {self.budget.limit:.0f}s reached at step {tick.step}")


class Profile(Action):
    """A profiler trace of the steps after `steps[0]` up to `steps[1]` (`train.profile_steps`),
    written to `directory` by process 0. A run resumed inside the range has no trace to stop.

    The trace holds the device ops and the host's XLA activity, not every Python call: JAX's
    Python tracer (on by default) also records the prefetch and checkpoint threads, which for two
    steps of the tests' tiny model made stopping the trace take 6.4 s instead of 2.3 s and the
    trace 33 MB instead of 12 MB, and it is the suspect of a crash (SIGSEGV) seen once while a
    trace stopped beside an asynchronous checkpoint save."""

    def __init__(self, directory: Path, steps: tuple[int, ...], enabled: bool):
        self.directory, self.steps, self.enabled = directory, steps, enabled and bool(steps)
        self.tracing = False

    def start(self, step: int) -> None:
        if self.enabled and step == self.steps[0]:
            options = jax.profiler.ProfileOptions()
            options.python_tracer_level = 0
            jax.profiler.start_trace(str(self.directory), profiler_options=options)
            self.tracing = True

    def __call__(self, tick: Tick) -> None:
        if self.tracing and len(self.steps) > 1 and tick.step == self.steps[1]:
            jax.block_until_ready(tick.state)
            jax.profiler.stop_trace()
            self.tracing = False
        elif not tick.finished and not tick.interrupted:
            self.start(tick.step)  # the trace starts with the next step

    def end(self) -> None:
        if self.tracing:  # the run ended inside the range
            jax.profiler.stop_trace()
            self.tracing = False


class CountNonFinite(Action):
    """Hands each step's dropped-update flag to the guard (read at the logging cadence and before
    each save, so no host sync per step)."""

    def __init__(self, guard: NonFiniteGuard):
        self.guard = guard

    def __call__(self, tick: Tick) -> None:
        self.guard.add(tick.step, tick.metrics["nonfinite"])


class Report(Every):
    """The training metrics every `train.log_every` steps and at the end: the progress line,
    metrics.jsonl and TensorBoard, with the count of dropped non-finite updates (which stops the
    run past `train.skip_nonfinite`)."""

    def __init__(self, every: int, progress: Progress, writer: MetricWriter, nonfinite: NonFiniteGuard, ckpt):
        super().__init__(every)
        self.progress, self.writer, self.nonfinite, self.ckpt = progress, writer, nonfinite, ckpt

    def __call__(self, tick: Tick) -> None:
        self.progress.add_tokens(float(tick.metrics["tokens"]))
        if not self.due(tick):
            return
        m = jax.device_get(tick.metrics)
        m["dropped_updates"] = self.nonfinite.check(self.ckpt)
        m["target_fill"] = float(m["tokens"]) / tick.target_slots  # non-pad share of target slots
        m["tokens_per_s"] = self.progress.report(tick.step, m)
        self.writer.write(tick.step, "train", m)


class Evaluate(Every):
    """Validation loss and BLEU every `train.eval_every` steps and when the run finishes."""

    def __init__(self, every: int, evaluate: Callable[[Any], dict[str, Any]], writer: MetricWriter, say: Say):
        super().__init__(every)
        self.evaluate, self.writer, self.say = evaluate, writer, say
        self.last: dict[str, Any] = {}

    def __call__(self, tick: Tick) -> None:
        if not self.due(tick):
            return
        tick.evaluation = self.last = self.evaluate(tick.state.params)
        self.writer.write(tick.step, "eval", {k: v for k, v in self.last.items() if k != "examples"})
        self.say(f"eval {tick.step}: loss {self.last['loss']:.3f}  ppl {self.last['perplexity']:.2f}"
                 + (f"  BLEU {self.last['bleu']:.2f}  chrF {self.last['chrf']:.2f}" if "bleu" in self.last else ""))


class Preemption(Action):
    """Turns SIGTERM (preemption) and SIGINT (Ctrl-C) into an interruption after the current step;
    a second SIGINT raises KeyboardInterrupt as usual (the checkpoint manager still closes).

    With several processes the signal reaches them at different steps, but they must stop (and
    save, a collective) at the same one: the flag of any process is taken every `every` steps.
    A context manager: the handlers are installed for the loop only.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, every: int):
        self.every = max(every, 1)
        self.flag = False
        self.name = ""  # of the first signal received
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Preemption:
        for sig in self.SIGNALS:
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum, frame) -> None:
        if self.flag and signum == signal.SIGINT and self.name == "SIGINT":
            raise KeyboardInterrupt  # Ctrl-C twice: stop now
        self.flag = True
        self.name = self.name or signal.Signals(signum).name

    def agreed(self, step: int) -> bool:
        """Whether any process was signalled, asked alike on every process (False between the
        steps at which they compare)."""
        if jax.process_count() == 1:
            return self.flag
        if step % self.every:
            return False
        return bool(np.max(multihost_utils.process_allgather(np.int32(self.flag))))

    def __call__(self, tick: Tick) -> None:
        if self.agreed(tick.step):
            tick.interrupted = tick.interrupted or self.name or "a signal"


class StopAfter(Action):
    """Interrupts the run after `steps` steps of this call (tests simulate an interruption)."""

    def __init__(self, steps: int | None):
        self.steps, self.first = steps, None

    def start(self, step: int) -> None:
        self.first = step

    def __call__(self, tick: Tick) -> None:
        if self.steps is not None and tick.step - self.first >= self.steps:
            tick.interrupted = tick.interrupted or "stop_after"


class Checkpoint(Every):
    """Saves every `train.checkpoint_every` steps, after each evaluation (ranked by its scores
    for the best checkpoint), and before the run finishes or is interrupted; never after more
    non-finite updates than allowed. `extra()` is the JSON item saved beside the state; `saver`
    (a save_errors.SaveGuard) decides what a save the disk refuses does."""

    def __init__(self, every: int, saver, nonfinite: NonFiniteGuard, extra: Callable[[], dict[str, Any]]):
        super().__init__(every)
        self.saver, self.nonfinite, self.extra = saver, nonfinite, extra

    def __call__(self, tick: Tick) -> None:
        if not (self.due(tick) or tick.evaluation is not None or tick.interrupted):
            return
        self.nonfinite.check(self.saver.ckpt)
        scores = None if tick.evaluation is None else {k: v for k, v in tick.evaluation.items()
                                                      if isinstance(v, float)}
        self.saver.save(tick.step, tick.state, self.extra(), scores, last=tick.finished or bool(tick.interrupted))
        tick.saved = True


class TrainingClock(Action):
    """Restarts the progress clock after an evaluation or a save, so that tokens/s and the ETA
    count training only."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def __call__(self, tick: Tick) -> None:
        if tick.evaluation is not None or tick.saved:
            self.progress.pause_done(tick.step)
