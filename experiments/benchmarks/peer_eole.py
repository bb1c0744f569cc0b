"""Runs eole (the peer of `peer_multi30k`) under the peer's own Python, with a wall-clock budget.

    PEER_PYTHON experiments/benchmarks/peer_eole.py [--budget SECONDS] [--threads N] [--json-config F]
        train|predict EOLE_ARGS...

This file imports only eole, torch and the standard library: eole 0.6.4 pins dependencies
(torch, protobuf, spacy, datasets, ...) that cannot share jaxformer's environment, so it runs in
its own virtual environment and `peer_multi30k` calls it as a subprocess.

eole has no time limit (its training loop stops at `train_steps`, or on early stopping at a
validation). `--budget` adds one without touching eole's files: the batches the training loop
pulls (`Trainer._accum_batches`) end once SECONDS of wall-clock time have passed since the loop
asked for its first batch, checked after each update, so the loop ends as it does at
`train_steps`: eole saves its final checkpoint and returns. The budget clock starts where
jaxformer's `train.max_train_seconds` starts (the training loop, after data and model set-up),
and the last line printed is one JSON record: the updates done and the seconds they took.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Iterator

RESULT_PREFIX = "peer_eole result: "


def _budgeted(budget_s: float, record: dict[str, Any]):
    """A replacement for eole's Trainer._accum_batches that stops after `budget_s` seconds."""
    from eole.trainer import Trainer

    accum = Trainer._accum_batches

    def _accum_batches(self, iterator) -> Iterator:
        record["trainer"] = self
        start = record["start"] = time.perf_counter()
        try:
            for item in accum(self, iterator):
                yield item
                record["end"] = time.perf_counter()  # the update of `item` is done
                if record["end"] - start >= budget_s:
                    record["stopped_by_budget"] = True
                    return
        finally:
            record.setdefault("end", time.perf_counter())

    return _accum_batches


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=0.0, help="training seconds (0: eole's own train_steps only)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--json-config", help="a config as JSON: written next to it as YAML (with eole's own PyYAML) "
                   "and passed to eole as --config")
    p.add_argument("command", choices=["train", "predict"])
    a, eole_args = p.parse_known_args(argv)

    import torch
    torch.set_num_threads(a.threads)
    from eole.bin.main import main as eole_main
    from eole.trainer import Trainer

    record: dict[str, Any] = {}
    if a.command == "train":
        Trainer._accum_batches = _budgeted(a.budget if a.budget > 0 else math.inf, record)
    if a.json_config:
        import yaml
        path = Path(a.json_config).with_suffix(".yaml")
        path.write_text(yaml.safe_dump(json.loads(Path(a.json_config).read_text()), sort_keys=False))
        eole_args += ["--config", str(path)]
    sys.argv = ["eole", a.command, *eole_args]
    eole_main()
    if a.command == "train":
        if "trainer" not in record:
            raise SystemExit("peer_eole: eole's training loop never started")
        trainer = record["trainer"]
        out = {"steps": trainer.optim.training_step - 1, "train_seconds": record["end"] - record["start"],
               "budget_s": a.budget, "stopped_by_budget": record.get("stopped_by_budget", False),
               "threads": torch.get_num_threads(), "torch": torch.__version__}
        print(RESULT_PREFIX + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
