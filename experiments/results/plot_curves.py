"""Learning curves of a run from its own metrics: BLEU and loss against steps and wall time.

    python experiments/results/plot_curves.py WORKDIR OUT.png [--title TEXT]

Reads WORKDIR/metrics.jsonl (what `jaxformer train` writes), so the plot shows exactly what the
run logged: training loss (label-smoothed, per target token) and validation loss and sacreBLEU
(greedy, on the validation subset the config names) at every evaluation. Also prints the
time-to-BLEU figures (first evaluation reaching each threshold), which compare across hardware.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read(workdir: Path) -> list[dict]:
    path = workdir / "metrics.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist; pass the workdir of a `jaxformer train` run")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    # A resumed run logs some steps twice: keep the last record of each (split, step).
    last = {(r["split"], r["step"]): r for r in rows}
    return sorted(last.values(), key=lambda r: (r["time"], r["step"]))


def time_to_bleu(evals: list[dict], t0: float, thresholds=(20, 25, 30, 35, 38)) -> list[tuple[float, int, float]]:
    out = []
    for th in thresholds:
        hit = next((r for r in evals if r.get("bleu", 0) >= th), None)
        if hit is not None:
            out.append((th, hit["step"], (hit["time"] - t0) / 60))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workdir", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--title", default="")
    a = p.parse_args(argv)
    rows = read(a.workdir)
    train = [r for r in rows if r["split"] == "train"]
    evals = [r for r in rows if r["split"] == "eval"]
    if not train:
        raise SystemExit(f"{a.workdir} has no training records yet")
    starts = [r for r in rows if r["split"] == "start"]
    # Minutes from the start of the training loop (after data preparation), or for runs that
    # predate the "start" record, from the first logged step.
    t0 = starts[0]["time"] if starts else train[0]["time"]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for col, (xname, xf) in enumerate((("step", lambda r: r["step"]),
                                       ("minutes of training", lambda r: (r["time"] - t0) / 60))):
        ax = axes[0][col]
        ax.plot([xf(r) for r in train], [r["loss"] for r in train], label="train loss (smoothed CE)", lw=1)
        ax.plot([xf(r) for r in evals], [r["loss"] for r in evals], "o-", label="validation loss", ms=3)
        ax.set_xlabel(xname)
        ax.set_ylabel("loss per target token")
        ax.legend()
        ax = axes[1][col]
        ax.plot([xf(r) for r in evals if "bleu" in r], [r["bleu"] for r in evals if "bleu" in r], "o-", ms=3)
        ax.set_xlabel(xname)
        ax.set_ylabel("validation sacreBLEU (greedy)")
        ax.grid(alpha=0.3)
    fig.suptitle(a.title or str(a.workdir))
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")
    for th, step, minutes in time_to_bleu(evals, t0):
        print(f"validation BLEU >= {th}: step {step}, {minutes:.1f} min")


if __name__ == "__main__":
    main()
