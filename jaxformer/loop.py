"""The training loop: data -> sharded jitted steps -> periodic actions (metrics, evaluation,
checkpoints, profiling, the time budget, preemption; `periodic.py`) -> the final test BLEU.

`run` prepares (data and tokenizer, the compiled steps, the start state: `resume.py`), then
runs steps and calls the actions after each, in order, until one finishes the run (the last
step, the time budget) or interrupts it (SIGTERM, Ctrl-C, `stop_after`); a finished run ends
with the test score. Resuming is exact (same batches and updates; with
`train.decay_over="time"` the rate follows the clock, so only the batches are the same).
Process 0 holds the workdir's lock (`jaxformer.lock`) for the whole run. The workdir's disk is
checked before anything else (`jaxformer.storage`), and a save it refuses later is handled as
train.on_save_error says (`jaxformer.save_errors`). A config with a speed rule may change its
settings after timing its step on this machine (`jaxformer.speed_rule`), before anything trains.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable

import jax
from jax.experimental import multihost_utils

from jaxformer import checkpoint, lock, periodic, resume, sharding, speed_rule, storage, train
from jaxformer.budget import TimeBudget
from jaxformer.config import ConfigError, ExperimentConfig
from jaxformer.data import pipeline
from jaxformer.data.prefetch import Prefetch
from jaxformer.data.tokenizer import save_to_workdir
from jaxformer.metrics import MetricWriter, Progress
from jaxformer.nonfinite import NonFiniteGuard
from jaxformer.save_errors import SaveGuard
from jaxformer.validation import Evaluator


def run(exp: ExperimentConfig, workdir: str | Path, **options) -> dict[str, Any]:
    """Trains `exp` in `workdir` (see `_run` and its `options`) holding the workdir's lock, so that
    a second run on it is refused; however the run ends, the lock is released and the checkpoint
    manager closed (a save in flight completes)."""
    workdir = Path(workdir).absolute()
    log = options.get("log", print)
    # Before the lock, any data or any file: an unwritable or too full workdir is refused here.
    warning = storage.check_workdir(workdir, jax.eval_shape(lambda: train.init_state(exp)),
                                    keep=exp.train.keep_checkpoints, best=bool(exp.train.best_metric))
    if warning and jax.process_index() == 0:
        log(warning)
    storage.quiet_background_save_errors()
    with lock.WorkdirLock(workdir, enabled=jax.process_index() == 0, log=log), \
            contextlib.ExitStack() as cleanup:
        return _run(exp, workdir, cleanup, **options)


def _prepare_data(exp: ExperimentConfig, workdir: Path, main: bool, say: Callable[..., None]) -> pipeline.Prepared:
    """Dataset and tokenizer: built once by process 0, then read by the others; the tokenizer is
    checked against the model and copied into the workdir."""
    if main:
        prep = pipeline.prepare(exp.data, log=say)
    multihost_utils.sync_global_devices("jaxformer:data-prepared")
    if not main:
        prep = pipeline.prepare(exp.data, log=say)
    if prep.tokenizer.vocab_size != exp.model.vocab_size:
        raise ConfigError(f"model.vocab_size={exp.model.vocab_size} but the tokenizer has {prep.tokenizer.vocab_size} "
                          f"entries; set model.vocab_size={prep.tokenizer.vocab_size} (or data.tokenizer.vocab_size)")
    if main:
        save_to_workdir(prep.tokenizer, workdir)
    return prep


def _run(exp: ExperimentConfig, workdir: Path, cleanup: contextlib.ExitStack, *,
         log: Callable[..., None] = print, stop_after: int | None = None) -> dict[str, Any]:
    """Trains `exp` in `workdir` (resuming from its latest checkpoint) and returns the final metrics.

    `stop_after` ends the process's work after that many steps of this call (tests use it to
    simulate an interruption); the run can be resumed later.
    """
    main = jax.process_index() == 0
    say = log if main else (lambda *a, **k: None)
    mesh = sharding.make_mesh(exp.mesh.data, exp.mesh.fsdp, exp.mesh.tensor)  # checked before any data work
    exp = speed_rule.recorded(exp, workdir)  # a workdir that trained after measuring keeps that choice
    if main:
        checkpoint.write_config(workdir, exp)
    prep = _prepare_data(exp, workdir, main, say)
    exp, probe_s = speed_rule.choose(exp, workdir, prep, mesh, say=say)
    t = exp.train
    step_fn, eval_step, shard = train.compile_steps(exp, mesh)
    if main and (stale := checkpoint.remove_unfinished_saves(workdir)):
        say(f"removed {len(stale)} unfinished checkpoint folder(s) of an interrupted save: {', '.join(stale)}")
    ckpt = checkpoint.Checkpoints(workdir, keep=t.keep_checkpoints, best_metric=t.best_metric or None)
    cleanup.callback(ckpt.close)  # idempotent: the normal path closes it below
    batches = Prefetch(iter(pipeline.train_batches(prep, process_index=jax.process_index(),
                                                   process_count=jax.process_count())))
    if exp.data.subword_sampling > 0:
        say(f"data: training pairs segmented by sampling, redrawn each epoch (data.subword_sampling="
            f"{exp.data.subword_sampling:g}); evaluation uses the one deterministic segmentation; a resume in a "
            "new process draws the same segmentations")
    writer = cleanup.enter_context(contextlib.closing(MetricWriter(workdir, enabled=main, log=say)))
    saver = SaveGuard(ckpt, t.on_save_error, log=say)
    state, start, used_s = resume.initial_state(exp, ckpt, shard, batches, say)
    say(f"model: {sum(x.size for x in jax.tree.leaves(state.params)):,} parameters; mesh {dict(mesh.shape)} "
        f"({exp.mesh.rules}); {jax.process_count()} process(es); {t.num_steps} steps")
    t0 = time.perf_counter()
    writer.write(start, "start", {"resumed": start > 0})  # the wall clock of learning curves starts here

    budget = TimeBudget(t.max_train_seconds, used_s + probe_s, sync_every=t.log_every)
    progress = Progress(t.num_steps, start, print_fn=say,
                        time_budget_s=max(budget.remaining(), 1e-3) if budget.limit > 0 else 0.0)
    nonfinite = NonFiniteGuard(t.skip_nonfinite)
    evaluator = Evaluator(exp, prep, mesh, eval_step)
    evaluate = periodic.Evaluate(t.eval_every, lambda params: evaluator(
        params, exp.data.eval_split, bleu_examples=t.eval_bleu_examples), writer, say)
    step, finished, interrupted = start, start >= t.num_steps or budget.spent(), ""
    if budget.spent():  # a finished time-budgeted run launched again: straight to the test
        say(f"the time budget of {t.max_train_seconds:.0f}s was used up at step {start}")
    with sharding.use_rules(mesh, exp.mesh.rules), periodic.Preemption(t.log_every) as preemption, \
            contextlib.closing(batches):
        actions = [  # in the order of their decisions; see periodic.py
            periodic.TimeLimit(budget, say),
            periodic.Profile(workdir / "profile", t.profile_steps, enabled=main),
            periodic.CountNonFinite(nonfinite),
            periodic.Report(t.log_every, progress, writer, nonfinite, ckpt),
            evaluate,
            preemption,
            periodic.StopAfter(stop_after),
            periodic.Checkpoint(t.checkpoint_every, saver, nonfinite,
                                lambda: resume.save_item(batches, budget.elapsed())),
            periodic.TrainingClock(progress),
        ]
        for action in actions:
            action.start(step)
        try:
            while not (finished or interrupted):
                batch = sharding.global_batch(next(batches), mesh, exp.mesh.rules)
                state, metrics = step_fn(state, batch, budget.fraction())
                step += 1
                tick = periodic.Tick(step, state, metrics, batch["targets"].size, finished=step >= t.num_steps)
                for action in actions:
                    action(tick)
                finished, interrupted = tick.finished, tick.interrupted
        finally:
            for action in actions:
                action.end()
    if interrupted:
        say(f"stopping at step {step} ({interrupted}); checkpoint saved")
    saver.finish()
    ckpt.close()
    result: dict[str, Any] = {"step": step, "train_seconds": time.perf_counter() - t0, "eval": evaluate.last}
    if finished and exp.data.test_split in prep.sources:
        result["test"] = evaluator.test(state.params, say)
        writer.write(step, "test", {k: v for k, v in result["test"].items() if k != "examples"})
    return result
