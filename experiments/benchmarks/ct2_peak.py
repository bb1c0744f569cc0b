"""The jnp.dot rate of this machine, measured in a worker held to the benchmark's threads."""

from experiments.benchmarks.common import matmul_peak, worker_main

if __name__ == "__main__":
    worker_main(lambda args: matmul_peak())
