"""All benchmarks in one command: `python -m experiments.benchmarks [train decode scaling packing]`.

Each prints its Markdown table and writes experiments/results/benchmarks/NAME.json (scaling also
a PNG). On two CPU cores the four take about 30 minutes; run them on an otherwise idle machine.
"""

import sys

from experiments.benchmarks import decode, packing, scaling, train

ALL = {"train": train.main, "decode": decode.main, "scaling": scaling.main, "packing": packing.main}

if __name__ == "__main__":
    names = sys.argv[1:] or list(ALL)
    unknown = [n for n in names if n not in ALL]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {list(ALL)}")
    for name in names:
        print(f"\n## {name}\n", flush=True)
        ALL[name]([])
