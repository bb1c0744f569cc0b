"""The periodic actions of the training loop, one by one, with stand-ins for the checkpoint
manager, the metric writer and the clock: when each takes its turn and what it leaves in the step's
`Tick` for the next (the loop end to end is tests/test_loop.py)."""

import os
import signal

import jax
import jax.numpy as jnp
import pytest

from jaxformer import budget, periodic
from jaxformer.config import ConfigError
from jaxformer.nonfinite import NonFiniteGuard
from jaxformer.save_errors import SaveGuard
from test_budget import FakeClock


def tick(step, finished=False, nonfinite=0.0, **kw):
    metrics = {"loss": jnp.float32(2.0), "accuracy": jnp.float32(0.5), "learning_rate": jnp.float32(1e-3),
               "tokens": jnp.float32(30.0), "nonfinite": jnp.float32(nonfinite)}
    return periodic.Tick(step, state=kw.pop("state", None), metrics=metrics, target_slots=40, finished=finished, **kw)


class Recorder:
    """Stands in for the metric writer, the progress line and the checkpoint manager."""

    def __init__(self):
        self.calls = []
        self.directory = "ckpt"

    def __getattr__(self, name):
        return lambda *a, **k: self.calls.append((name, *a)) or 1.0

    def latest_step(self):
        return 3


def steps_of(rec, name):
    return [c[1] for c in rec.calls if c[0] == name]


def test_every_is_due_on_multiples_and_at_the_finish():
    every = periodic.Every(3)
    assert [s for s in range(1, 10) if every.due(tick(s))] == [3, 6, 9]
    assert every.due(tick(7, finished=True))


def test_the_time_limit_finishes_the_run_once_the_agreed_clock_passes_the_budget(monkeypatch):
    monkeypatch.setattr(budget, "time", FakeClock(1.0))
    said = []
    limit = periodic.TimeLimit(budget.TimeBudget(3.0), said.append)
    ticks = [tick(s) for s in range(1, 4)]
    for t in ticks:
        limit(t)
    assert [t.finished for t in ticks] == [False, False, True]
    assert said == ["time budget of 3s reached at step 3"]
    last = tick(4, finished=True)  # already the last step: finished, nothing more to say
    limit(last)
    assert last.finished and len(said) == 1
    unlimited = periodic.TimeLimit(budget.TimeBudget(0.0), said.append)
    t = tick(1)
    unlimited(t)
    assert not t.finished


def test_report_writes_at_its_cadence_with_the_fill_and_the_dropped_updates():
    progress, writer, guard = Recorder(), Recorder(), NonFiniteGuard(5)
    report, count = periodic.Report(2, progress, writer, guard, Recorder()), periodic.CountNonFinite(guard)
    for s, bad in ((1, 1.0), (2, 0.0), (3, 0.0), (4, 1.0), (5, 0.0)):
        t = tick(s, finished=s == 5, nonfinite=bad)
        count(t)
        report(t)
    assert steps_of(writer, "write") == [2, 4, 5] and steps_of(progress, "report") == [2, 4, 5]
    written = [c[3] for c in writer.calls]
    assert [m["dropped_updates"] for m in written] == [1, 2, 2] and written[0]["target_fill"] == 30.0 / 40
    assert len(steps_of(progress, "add_tokens")) == 5  # the tokens of every step count


def test_dropped_updates_past_the_limit_stop_the_run_before_a_save():
    guard, ckpt = NonFiniteGuard(0), Recorder()
    save = periodic.Checkpoint(1, SaveGuard(ckpt, "stop"), guard, lambda: {})
    t = tick(4, nonfinite=1.0)
    periodic.CountNonFinite(guard)(t)
    with pytest.raises(ConfigError, match="NaN or infinite at step 4 .* the last good checkpoint is step 3"):
        save(t)
    assert steps_of(ckpt, "save") == []


def test_evaluate_runs_on_its_cadence_and_at_the_finish_and_leaves_its_scores():
    writer, said, seen = Recorder(), [], []

    def scores(params):
        seen.append(params)
        return {"loss": 1.0, "perplexity": 2.7, "bleu": 10.0, "chrf": 30.0, "examples": [("a", "b", "c")]}

    evaluate = periodic.Evaluate(4, scores, writer, said.append)
    ticks = [tick(s, finished=s == 6, state=type("S", (), {"params": s})()) for s in range(1, 7)]
    for t in ticks:
        evaluate(t)
    assert seen == [4, 6] and [t.evaluation is not None for t in ticks] == [False] * 3 + [True, False, True]
    assert steps_of(writer, "write") == [4, 6] and "examples" not in writer.calls[0][3]
    assert said[0] == "eval 4: loss 1.000  ppl 2.70  BLEU 10.00  chrF 30.00" and evaluate.last["bleu"] == 10.0


def test_checkpoints_on_cadence_evaluation_interruption_and_finish_ranked_by_float_scores():
    ckpt = Recorder()
    save = periodic.Checkpoint(5, SaveGuard(ckpt, "stop"), NonFiniteGuard(0), lambda: {"train_seconds": 1.0})
    cases = {1: tick(1), 5: tick(5), 6: tick(6, evaluation={"bleu": 3.0, "sentences": 8, "signature": "x"}),
             7: tick(7, interrupted="SIGTERM"), 8: tick(8), 9: tick(9, finished=True)}
    for t in cases.values():
        save(t)
    assert steps_of(ckpt, "save") == [5, 6, 7, 9] and [t.saved for t in cases.values()] == [False, True, True, True,
                                                                                            False, True]
    saves = [c for c in ckpt.calls if c[0] == "save"]
    scores = {c[1]: c[4] for c in saves}
    assert scores[6] == {"bleu": 3.0} and scores[5] is None and saves[0][3] == {"train_seconds": 1.0}


def test_the_training_clock_restarts_after_an_evaluation_or_a_save():
    progress = Recorder()
    clock = periodic.TrainingClock(progress)
    for t in (tick(1), tick(2, saved=True), tick(3, evaluation={}), tick(4)):
        clock(t)
    assert steps_of(progress, "pause_done") == [2, 3]


def test_stop_after_counts_the_steps_of_this_call():
    stop = periodic.StopAfter(3)
    stop.start(10)
    ticks = [tick(s) for s in range(11, 15)]
    for t in ticks:
        stop(t)
    assert [t.interrupted for t in ticks] == ["", "", "stop_after", "stop_after"]
    never = periodic.StopAfter(None)
    never.start(0)
    t = tick(1000)
    never(t)
    assert t.interrupted == ""


def test_sigterm_and_ctrl_c_interrupt_after_the_step_and_a_second_ctrl_c_at_once():
    before = signal.getsignal(signal.SIGTERM)
    with periodic.Preemption(every=5) as preemption:
        t = tick(1)
        preemption(t)
        assert t.interrupted == ""
        os.kill(os.getpid(), signal.SIGTERM)
        t = tick(2)
        preemption(t)
        assert t.interrupted == "SIGTERM"  # one process: no need to wait for an agreement step
    assert signal.getsignal(signal.SIGTERM) is before
    with periodic.Preemption(every=1) as preemption:
        os.kill(os.getpid(), signal.SIGINT)
        t = tick(1)
        preemption(t)
        assert t.interrupted == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)


def test_profile_traces_the_steps_in_its_range_and_stops_when_the_run_ends_inside(monkeypatch, tmp_path):
    calls = []
    def start_trace(directory, profiler_options):
        assert profiler_options.python_tracer_level == 0  # no Python tracer (Profile's docstring)
        calls.append(("start", directory))
    monkeypatch.setattr(jax.profiler, "start_trace", start_trace)
    monkeypatch.setattr(jax.profiler, "stop_trace", lambda: calls.append(("stop",)))
    profile = periodic.Profile(tmp_path, (2, 4), enabled=True)
    profile.start(0)
    for s in range(1, 7):
        profile(tick(s, state=jnp.zeros(())))
        calls.append(("after", s))
    profile.end()
    assert calls == [("after", 1), ("start", str(tmp_path)), ("after", 2), ("after", 3), ("stop",), ("after", 4),
                     ("after", 5), ("after", 6)]
    calls.clear()
    resumed = periodic.Profile(tmp_path, (2, 4), enabled=True)
    resumed.start(2)  # resumed exactly where the trace begins
    resumed(tick(3, finished=True))
    resumed.end()  # the run ended inside the range
    assert calls == [("start", str(tmp_path)), ("stop",)]
    other = periodic.Profile(tmp_path, (2, 4), enabled=False)  # not process 0
    other.start(2)
    other(tick(3))
    assert calls == [("start", str(tmp_path)), ("stop",)]
