"""``python -m benchmarks [NAME ...]``: run the named benchmarks (default: all)."""

from __future__ import annotations

import argparse
import sys

from . import broker, dask, jobs, jobs_overhead, models, models_register, spawn

BENCHMARKS = {"spawn": spawn.main, "broker-latency": broker.latency,
              "broker-throughput": broker.throughput, "jobs-overhead": jobs_overhead.overhead,
              "jobs-firing": jobs.firing, "jobs-tick": jobs.tick_cost,
              "models-register": models_register.run, "models-list": models.listing,
              "dask-ready": dask.ready}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke run")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"No such benchmark: {', '.join(unknown)}. Options: {', '.join(BENCHMARKS)}")
    for name in args.names or BENCHMARKS:
        BENCHMARKS[name](quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
