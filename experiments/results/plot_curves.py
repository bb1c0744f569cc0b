"""Learning curves of a run from its own metrics: BLEU and loss against steps and wall time.

    python experiments/results/plot_curves.py WORKDIR OUT.png [--title TEXT] [--also WORKDIR ...]

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


def curves(workdir: Path) -> tuple[list[dict], list[dict], float]:
    """(train records, eval records, t0) of one run."""
    rows = read(workdir)
    train = [r for r in rows if r["split"] == "train"]
    evals = [r for r in rows if r["split"] == "eval"]
    if not train:
        raise SystemExit(f"{workdir} has no training records yet")
    starts = [r for r in rows if r["split"] == "start"]
    # Minutes from the start of the training loop (after data preparation), or for runs that
    # predate the "start" record, from the first logged step.
    return train, evals, starts[0]["time"] if starts else train[0]["time"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workdir", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--title", default="")
    p.add_argument("--also", type=Path, nargs="*", default=[],
                   help="more workdirs drawn on the same axes, labelled by their directory names")
    a = p.parse_args(argv)
    runs = [(d, *curves(d)) for d in [a.workdir, *a.also]]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for n, (workdir, train, evals, t0) in enumerate(runs):
        name = f"{workdir.name}: " if len(runs) > 1 else ""
        color = f"C{n}"
        for col, (xname, xf) in enumerate((("step", lambda r: r["step"]),
                                           ("minutes of training", lambda r: (r["time"] - t0) / 60))):
            ax = axes[0][col]
            ax.plot([xf(r) for r in train], [r["loss"] for r in train], color=color, alpha=0.5, lw=1,
                    label=f"{name}train loss (smoothed CE)")
            ax.plot([xf(r) for r in evals], [r["loss"] for r in evals], "o-", color=color, ms=3,
                    label=f"{name}validation loss")
            ax.set_xlabel(xname)
            ax.set_ylabel("loss per target token")
            ax.legend(fontsize=7 if len(runs) > 1 else None)
            ax = axes[1][col]
            ax.plot([xf(r) for r in evals if "bleu" in r], [r["bleu"] for r in evals if "bleu" in r], "o-",
                    color=color, ms=3, label=workdir.name)
            ax.set_xlabel(xname)
            ax.set_ylabel("validation sacreBLEU (greedy)")
            ax.grid(alpha=0.3)
            if len(runs) > 1:
                ax.legend(fontsize=7)
        for th, step, minutes in time_to_bleu(evals, t0):
            print(f"{name}validation BLEU >= {th}: step {step}, {minutes:.1f} min")
    fig.suptitle(a.title or ", ".join(str(r[0]) for r in runs))
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
