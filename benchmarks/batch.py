"""Runs per second of a scenario (default: the baseline), serially and with a process pool.

    python benchmarks/batch.py [--scenario PATH] [--runs N] [--workers 1 2] [--dask] [--json]

Each run is one replicate of an experiment, run by :func:`sim.experiment.execute` the way
``run.py experiment`` runs it (outcomes plus the per-step series sent back), on one thread per
process (pool workers always are; serial runs here are, so that they measure one core). Serial runs start
after one warm-up run in this process; a pool's figure includes starting its spawned workers
(imports, loading the compiled kernels), which is part of what a batch costs, and
``steady_runs_per_s`` leaves it out (runs after each worker's first, over the time they took).

``--dask`` also runs the batch on a local Dask cluster (a scheduler and one single-threaded worker
process per pool worker, on 127.0.0.1), the path ``--scheduler`` takes, and reports Dask's overhead
per run: the extra time a worker spends per run compared with the process pool of the same size,
``workers x (1/steady Dask rate - 1/steady pool rate)``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from typing import Any

from sim.experiment import Keep, RunSpec, execute, one_thread, replicate_seeds, run_one
from sim.scenario import load_scenario


def specs(path: str, runs: int) -> list[RunSpec]:
    """``runs`` replicates of the scenario at ``path``, with an experiment's replicate seeds."""
    scenario = load_scenario(path)
    return [
        RunSpec("bench", r, scenario.name, "baseline", (), r, seed, scenario, Keep())
        for r, seed in enumerate(replicate_seeds(scenario.seed, runs))
    ]


def measure(batch: list[RunSpec], workers: int, client: Any = None) -> dict[str, Any]:
    """Run the batch on ``workers`` processes (1: serially, here), or on Dask; return its rates."""
    start = time.perf_counter()
    finished = []
    for result in execute(batch, workers=workers, client=client):
        if result.row["status"] != "ok":
            raise RuntimeError(result.row["error"])
        finished.append(time.perf_counter() - start)
    wall = finished[-1]
    warm = finished[workers - 1] if workers > 1 else 0.0  # each worker's first run is done
    steady = (len(finished) - workers) / (wall - warm) if workers > 1 else len(finished) / wall
    return {
        "engine": "dask" if client is not None else "pool" if workers > 1 else "serial",
        "workers": workers,
        "runs": len(batch),
        "wall_s": wall,
        "runs_per_s": len(batch) / wall,
        "steady_runs_per_s": steady,
        "load_avg_1min": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="scenarios/baseline.toml")
    parser.add_argument("--runs", type=int, default=50, help="runs per measurement")
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--dask", action="store_true", help="also on a local Dask cluster")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)
    if args.runs < 1 or min(args.workers) < 1:
        parser.error("--runs and --workers must be >= 1")
    if args.dask and importlib.util.find_spec("distributed") is None:
        parser.error('--dask needs dask: pip install -e ".[distributed]"')
    batch = specs(args.scenario, args.runs)
    one_thread()
    run_one(batch[0])  # compiles (or loads) the kernels in this process
    rows = [measure(batch, workers) for workers in args.workers]
    if args.dask:
        rows += [on_dask(batch, workers) for workers in args.workers if workers > 1]
    for row in rows:
        row = {"scenario": batch[0].scenario_name, **row}
        if args.json:
            print(json.dumps(row), flush=True)
            continue
        print(
            f"{row['scenario']}: {row['engine']}, {row['workers']} worker(s), {row['runs']} runs "
            f"in {row['wall_s']:.2f} s = {row['runs_per_s']:.1f} runs/s "
            f"(steady {row['steady_runs_per_s']:.1f}); load {row['load_avg_1min']:.1f}"
        )
    pools = {r["workers"]: r for r in rows if r["engine"] == "pool"}
    for row in (r for r in rows if r["engine"] == "dask"):
        pool, w = pools[row["workers"]], row["workers"]
        extra = w * (1 / row["steady_runs_per_s"] - 1 / pool["steady_runs_per_s"])
        print(f"Dask overhead per run with {w} workers: {1e3 * extra:.1f} ms")


def on_dask(batch: list[RunSpec], workers: int) -> dict[str, Any]:
    """The batch on a local Dask cluster of ``workers`` single-threaded worker processes."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        return measure(batch, workers, client)


if __name__ == "__main__":
    main()
