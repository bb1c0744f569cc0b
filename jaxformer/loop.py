"""The training loop: data -> sharded jitted steps -> metrics -> Orbax checkpoints -> periodic
evaluation (loss, and BLEU by decoding) -> final test BLEU.

Resuming is exact: a checkpoint holds the state after `step` updates and the data iterator
state after `step` batches, so an interrupted run continues with the same batches and updates
(with `train.decay_over="time"` the rate follows the clock, so only the batches are the same).
It also holds the training seconds used, so a time budget spans resumes. SIGTERM (preemption)
makes a final save before exit, and so does Ctrl-C (SIGINT; a second one interrupts at once);
with several processes they agree on the step to stop at. Process 0 holds the workdir's lock
(`jaxformer.lock`) for the whole run. The workdir's disk is checked before anything else
(`jaxformer.storage`), and a save it refuses later is handled as train.on_save_error says
(`jaxformer.save_errors`).
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from jaxformer import checkpoint, decode, evaluate, lock, sharding, storage, train
from jaxformer.budget import TimeBudget
from jaxformer.config import ConfigError, ExperimentConfig
from jaxformer.data import pipeline
from jaxformer.data.prefetch import Prefetch
from jaxformer.data.tokenizer import save_to_workdir
from jaxformer.losses import summarize
from jaxformer.metrics import MetricWriter, Progress
from jaxformer.nonfinite import NonFiniteGuard
from jaxformer.save_errors import SaveGuard

MODEL_FIELDS = ("inputs", "targets", "inputs_segmentation", "inputs_position",
                "targets_segmentation", "targets_position")


def global_batch(batch: dict[str, np.ndarray], mesh, rules, fields=MODEL_FIELDS) -> dict[str, jax.Array]:
    """This process's rows -> global arrays laid over the batch axes of the mesh."""
    out = {}
    for k in fields:
        if k in batch:
            local = np.asarray(batch[k])
            shape = (local.shape[0] * jax.process_count(), *local.shape[1:])
            split = _batch_ways(mesh, rules)
            if shape[0] % split:
                raise ConfigError(f"a batch of {shape[0]} rows cannot be split over the {split} devices of the "
                                  "mesh's batch axes; make data.batch_size (or the bucket rows) a multiple of it")
            out[k] = jax.make_array_from_process_local_data(sharding.batch_sharding(mesh, rules, local.ndim), local, shape)
    return out


def _batch_ways(mesh, rules) -> int:
    """Into how many parts the batch axis is split: the product of the mesh axes it maps to."""
    spec = sharding.logical_to_spec(("batch",), rules)[0] or ()
    return int(np.prod([mesh.shape[a] for a in ((spec,) if isinstance(spec, str) else spec)]))


def gather_data_states(state: dict[str, Any]) -> dict[str, Any]:
    """Every process's data iterator state in one dict (Orbax writes the JSON item from process 0
    only): {"processes": [state of process 0, state of process 1, ...]} with several processes."""
    if jax.process_count() == 1:
        return state
    raw = np.frombuffer(json.dumps(state).encode(), np.uint8)
    size = int(np.max(multihost_utils.process_allgather(np.asarray([raw.size], np.int64))))
    padded = np.zeros(size, np.uint8)
    padded[: raw.size] = raw
    rows = multihost_utils.process_allgather(padded)  # [processes, size]
    return {"processes": [json.loads(bytes(r).rstrip(b"\0").decode()) for r in np.asarray(rows)]}


def saved_progress(data_item: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """(data iterator states, training seconds used) of a checkpoint's JSON item. Checkpoints
    written before the time budget was saved hold the iterator states alone (and 0 seconds)."""
    if "data_iterator" in data_item:
        return data_item["data_iterator"], float(data_item.get("train_seconds", 0.0))
    return data_item, 0.0


def own_data_state(saved: dict[str, Any]) -> dict[str, Any]:
    """This process's part of a state written by `gather_data_states`."""
    states = saved["processes"] if "processes" in saved else [saved]
    if len(states) != jax.process_count():
        raise ConfigError(f"the checkpoint holds the data positions of {len(states)} processes but this run has "
                          f"{jax.process_count()}; resume with {len(states)} processes or start a new --workdir")
    return states[jax.process_index()]


class _Preempted:
    """Turns SIGTERM and SIGINT (Ctrl-C) into a flag the loop checks after each step; a second
    SIGINT raises KeyboardInterrupt as usual (the checkpoint manager still closes in a finally).

    With several processes the signal reaches them at different steps, but they must stop (and
    save, a collective) at the same one: `agreed(step)` is the flag of any process, taken every
    `every` steps, else False.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.flag = False
        self.name = ""  # of the first signal received
        self._old: dict[int, Any] = {}

    def __enter__(self):
        for sig in self.SIGNALS:
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.flag and signum == signal.SIGINT and self.name == "SIGINT":
            raise KeyboardInterrupt  # Ctrl-C twice: stop now
        self.flag = True
        self.name = self.name or signal.Signals(signum).name

    def agreed(self, step: int, every: int) -> bool:
        if jax.process_count() == 1:
            return self.flag
        if step % max(every, 1):
            return False
        return bool(np.max(multihost_utils.process_allgather(np.int32(self.flag))))

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def translate_set(params, ev: pipeline.EvalSet, exp: ExperimentConfig, mesh, tokenizer, beam_size: int = 1) -> list[str]:
    """Greedy (or beam) translations of every example of `ev`, in input order."""
    hyps: list[str | None] = [None] * len(ev.sources)
    for b in ev.batches:
        src = global_batch(b, mesh, exp.mesh.rules, ("inputs",))["inputs"]
        t = exp.train
        if beam_size > 1:
            out = decode.beam_search(params, src, config=exp.model, beam_size=beam_size, alpha=t.beam_alpha,
                                     max_len=t.max_decode_length, convention=t.search_convention,
                                     force_eos=t.force_eos)[0][:, 0]
        else:
            out = decode.greedy(params, src, config=exp.model, max_len=t.max_decode_length, force_eos=t.force_eos)
        out = multihost_utils.process_allgather(out, tiled=True)
        idx = multihost_utils.process_allgather(jnp.asarray(b["index"]), tiled=True)
        for row, i in zip(np.asarray(out), np.asarray(idx)):
            if i >= 0:
                hyps[int(i)] = tokenizer.decode(row)
    return [h if h is not None else "" for h in hyps]


def evaluate_split(state, prep, exp: ExperimentConfig, mesh, eval_step, split: str, *,
                   bleu_examples: int | None, beam_size: int = 1,
                   sets: dict[tuple[str, int | None], pipeline.EvalSet] | None = None) -> dict[str, Any]:
    """Validation loss over the whole split, and BLEU / chrF over its first `bleu_examples`.

    `sets` memoises the tokenized batches across calls: a split is read and tokenized once a run.
    """
    sets = {} if sets is None else sets

    def eval_set(limit: int | None) -> pipeline.EvalSet:
        if (split, limit) not in sets:
            sets[(split, limit)] = pipeline.eval_set(prep, split, limit=limit, process_index=jax.process_index(),
                                                     process_count=jax.process_count())
        return sets[(split, limit)]

    ev = eval_set(None)
    sums = {"loss": 0.0, "nll": 0.0, "correct": 0.0, "tokens": 0.0}
    for b in ev.batches:
        s = eval_step(state.params, global_batch(b, mesh, exp.mesh.rules, ("inputs", "targets")))
        for k in sums:
            sums[k] += float(s[k])
    out: dict[str, Any] = {k: float(v) for k, v in summarize({k: jnp.asarray(v) for k, v in sums.items()}).items()}
    if bleu_examples != 0:
        small = eval_set(bleu_examples)
        hyps = translate_set(state.params, small, exp, mesh, prep.tokenizer, beam_size)
        out.update(evaluate.scores(hyps, small.references, target_lang=exp.data.target_lang if beam_size > 1 else None))
        out["beam_size"] = beam_size
        out["sentences"] = len(hyps)
        out["examples"] = [(s, h, r) for s, h, r in zip(small.sources[:3], hyps[:3], small.references[:3])]
    return out


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


def _run(exp: ExperimentConfig, workdir: str | Path, cleanup: contextlib.ExitStack, *,
         log: Callable[..., None] = print, stop_after: int | None = None) -> dict[str, Any]:
    """Trains `exp` in `workdir` (resuming from its latest checkpoint) and returns the final metrics.

    `stop_after` ends the process's work after that many steps of this call (tests use it to
    simulate an interruption); the run can be resumed later.
    """
    workdir = Path(workdir).absolute()
    main = jax.process_index() == 0
    say = log if main else (lambda *a, **k: None)
    mesh = sharding.make_mesh(exp.mesh.data, exp.mesh.fsdp, exp.mesh.tensor)  # checked before any data work
    if main:
        checkpoint.write_config(workdir, exp)

    # Data: process 0 builds the dataset and tokenizer once; the others then read them.
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

    step_fn, eval_step, shard = train.compile_steps(exp, mesh)
    if main and (stale := checkpoint.remove_unfinished_saves(workdir)):
        say(f"removed {len(stale)} unfinished checkpoint folder(s) of an interrupted save: {', '.join(stale)}")
    ckpt = checkpoint.Checkpoints(workdir, keep=exp.train.keep_checkpoints, best_metric=exp.train.best_metric or None)
    cleanup.callback(ckpt.close)  # idempotent: the normal path closes it below
    train_it = Prefetch(iter(pipeline.train_batches(prep, process_index=jax.process_index(),
                                                    process_count=jax.process_count())))
    saver = SaveGuard(ckpt, exp.train.on_save_error, log=say)
    writer = MetricWriter(workdir, enabled=main, log=say)

    start = ckpt.latest_step()
    used_s = 0.0
    imported = ckpt.read_data(0).get(checkpoint.IMPORTED) if start == 0 else None
    if imported:  # fine-tune an imported model: its parameters, a fresh optimiser under this config
        params = jax.device_put(ckpt.restore_params_as_saved(0), shard.params)
        state = jax.jit(lambda p: train.state_from_params(exp, p), out_shardings=shard)(params)
        say(f"fine-tuning the model imported from {imported} with a fresh optimiser")
    elif start is not None:
        abstract = jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                                jax.eval_shape(lambda: train.init_state(exp)), shard)
        state, saved = ckpt.restore(start, abstract)
        data_state, used_s = saved_progress(saved)
        if data_state:
            train_it.set_state(own_data_state(data_state))
        say(f"resumed from step {start} in {workdir}" + (f" ({used_s:.0f}s of training used)" if used_s else ""))
    else:
        start = 0
        state = jax.jit(lambda: train.init_state(exp), out_shardings=shard)()
    say(f"model: {sum(x.size for x in jax.tree.leaves(state.params)):,} parameters; mesh {dict(mesh.shape)} "
        f"({exp.mesh.rules}); {jax.process_count()} process(es); {exp.train.num_steps} steps")

    total = exp.train.num_steps
    budget = TimeBudget(exp.train.max_train_seconds, used_s, sync_every=exp.train.log_every)
    progress = Progress(total, start, print_fn=say,
                        time_budget_s=max(budget.remaining(), 1e-3) if budget.limit > 0 else 0.0)
    last_eval: dict[str, Any] = {}
    eval_sets: dict[tuple[str, int | None], pipeline.EvalSet] = {}
    t0 = time.perf_counter()
    writer.write(start, "start", {"resumed": start > 0})  # the wall clock of learning curves starts here
    step = start
    nonfinite = NonFiniteGuard(exp.train.skip_nonfinite)
    if budget.spent():  # a finished time-budgeted run launched again: straight to the test
        say(f"the time budget of {exp.train.max_train_seconds:.0f}s was used up at step {start}")
        total = start
    with sharding.use_rules(mesh, exp.mesh.rules), _Preempted() as preempted, contextlib.closing(train_it):
        profile = exp.train.profile_steps
        profiling = False  # a run resumed inside the profiled range has no trace to stop
        while step < total:
            if profile and step == profile[0] and main:
                jax.profiler.start_trace(str(workdir / "profile"))
                profiling = True
            batch = global_batch(next(train_it), mesh, exp.mesh.rules)
            state, metrics = step_fn(state, batch, budget.fraction())
            step += 1
            budget.sync(step)
            nonfinite.add(step, metrics["nonfinite"])
            if profiling and len(profile) > 1 and step == profile[1]:
                jax.block_until_ready(state)
                jax.profiler.stop_trace()
                profiling = False
            progress.add_tokens(float(metrics["tokens"]))
            if step % exp.train.log_every == 0 or step == total:
                m = jax.device_get(metrics)
                m["dropped_updates"] = nonfinite.check(ckpt)  # stops the run past train.skip_nonfinite
                m["target_fill"] = float(m["tokens"]) / batch["targets"].size  # non-pad share of target slots
                m["tokens_per_s"] = progress.report(step, m)
                writer.write(step, "train", m)
            is_eval = step % exp.train.eval_every == 0 or step == total
            if is_eval:
                last_eval = evaluate_split(state, prep, exp, mesh, eval_step, exp.data.eval_split,
                                           bleu_examples=exp.train.eval_bleu_examples, sets=eval_sets)
                shown = {k: v for k, v in last_eval.items() if k != "examples"}
                writer.write(step, "eval", shown)
                say(f"eval {step}: loss {last_eval['loss']:.3f}  ppl {last_eval['perplexity']:.2f}"
                    + (f"  BLEU {last_eval['bleu']:.2f}  chrF {last_eval['chrf']:.2f}" if "bleu" in last_eval else ""))
            out_of_time = budget.spent()
            if out_of_time and not is_eval:  # the time budget ends the run like its last step
                last_eval = evaluate_split(state, prep, exp, mesh, eval_step, exp.data.eval_split,
                                           bleu_examples=exp.train.eval_bleu_examples, sets=eval_sets)
                writer.write(step, "eval", {k: v for k, v in last_eval.items() if k != "examples"})
                is_eval = True
            signalled = preempted.agreed(step, exp.train.log_every)
            stopping = signalled or (stop_after is not None and step - start >= stop_after)
            if is_eval or step % exp.train.checkpoint_every == 0 or stopping or out_of_time:
                nonfinite.check(ckpt)  # never a checkpoint after too many dropped updates
                saver.save(step, state, {"data_iterator": gather_data_states(train_it.get_state()),
                                         "train_seconds": budget.elapsed()},
                           {k: v for k, v in last_eval.items() if isinstance(v, float)} if is_eval else None,
                           last=stopping or out_of_time or step >= total)
            if is_eval or step % exp.train.checkpoint_every == 0:
                progress.pause_done(step)
            if out_of_time:
                say(f"time budget of {exp.train.max_train_seconds:.0f}s reached at step {step}")
                total = step
                break
            if stopping:
                say(f"stopping at step {step} ({preempted.name or 'a signal' if signalled else 'stop_after'}); "
                    "checkpoint saved")
                break
    if profiling:  # the run ended inside the profiled range
        jax.profiler.stop_trace()
    saver.finish()
    ckpt.close()
    result: dict[str, Any] = {"step": step, "train_seconds": time.perf_counter() - t0, "eval": last_eval}
    if step >= total and exp.data.test_split in prep.sources:
        test = evaluate_split(state, prep, exp, mesh, eval_step, exp.data.test_split, bleu_examples=None,
                              beam_size=exp.train.test_beam_size, sets=eval_sets)
        writer.write(step, "test", {k: v for k, v in test.items() if k != "examples"})
        result["test"] = test
        say(f"test ({exp.data.test_split}, {test['sentences']} sentences, beam {test['beam_size']}): "
            f"sacreBLEU {test['bleu']:.2f}  chrF {test['chrf']:.2f}  ({test['bleu_signature']})"
            + (f"\n  tokenized BLEU {test['tok_bleu']:.2f} (the paper's method, not comparable)" if "tok_bleu" in test else ""))
        for s, h, r in test["examples"]:
            say(f"  source:     {s}\n  hypothesis: {h}\n  reference:  {r}")
    writer.close()
    return result
