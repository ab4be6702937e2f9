"""Agent-steps per second of the array engine and of the Mesa-agent reference, in one run.

    python benchmarks/engine.py [--sizes N ...] [--presets aisas bass] [--steps N] [--json]
                                [--reference-max N] [--engines fast reference] [--repeat R]
                                [--profile] [--threads T]

Both engines run the same scenario: Watts-Strogatz (k = 10, p = 0.1), the preset's funnel and
always-on ads (``--ad-reach``), strong enough that at least 1 % of consumers change stage in most
steps (the share of such "active" steps is reported). Each configuration runs in a fresh
subprocess, so ``peak_rss_mb`` (the child's ``ru_maxrss``) is its own; the child first runs a tiny
model, so numba compilation is not timed. Rates are wall clock over the timed steps:
``agent_steps_per_s`` over all of them, ``agent_steps_per_s_active`` over the active ones only;
``cpu_agent_steps_per_s`` uses the process's CPU time instead (steadier on a shared machine). With
``--repeat R`` each configuration runs R times, each in a fresh process, and the fastest run is kept
(all rates are listed; ``peak_rss_mb`` is the largest of the runs').
``--profile`` adds per-phase milliseconds per step for the fast engine. The fast engine's kernels
use every core unless ``--threads`` says how many threads (``threads`` in the output).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

STEPS = {"aisas": 100, "aida": 100, "referral7": 100, "bass": 15}
"""Default steps per preset: about as long as the market keeps moving from a standing start."""


def scenario_doc(preset: str, n: int, steps: int, ad_reach: float) -> dict[str, Any]:
    """The benchmark scenario as a scenario document."""
    return {
        "name": f"bench-{preset}-{n}",
        "steps": steps,
        "population": {"n": n},
        "network": {"kind": "watts_strogatz", "k": 10, "p": 0.1},
        "funnel": {"preset": preset},
        "levers": [{"kind": "ads", "reach": ad_reach}],
    }


def model_class(engine: str) -> type:
    """The model class of an engine."""
    if engine == "fast":
        from sim.model import MarketModel

        return MarketModel
    from sim.agent_model import AgentMarketModel

    return AgentMarketModel


def _timed(timings: dict[str, float], key: str, func: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            timings[key] += time.perf_counter() - start

    return wrapper


def _profile(model: Any, timings: dict[str, float]) -> None:
    """Time the fast engine's phases: the model's step methods and the engine's kernels."""
    from sim import engine

    for name in ("_levers_act", "_lever_factors", "_share", "_move", "_levers_book"):
        setattr(model, name, _timed(timings, name.lstrip("_"), getattr(model, name)))
    model._record_state = _timed(timings, "record_state", model._record_state)
    model.datacollector.collect = _timed(timings, "collect", model.datacollector.collect)
    for name in ("draw_shares", "count_exposures", "draw_repeats", "apply_transitions"):
        setattr(engine, name, _timed(timings, f"engine.{name}", getattr(engine, name)))
    for lever in model.levers:
        object.__setattr__(lever, "act", _timed(timings, f"{lever.kind}.act", lever.act))


def measure(config: dict[str, Any]) -> dict[str, Any]:
    """Run one configuration in this process and return its figures (see the module docstring)."""
    import numba

    import sim.network
    from sim.scenario import scenario_from_dict

    if config["threads"]:
        numba.set_num_threads(config["threads"])
    cls = model_class(config["engine"])
    preset, n, steps = config["preset"], config["n"], config["steps"]
    warm = scenario_from_dict(scenario_doc(preset, 300, 3, config["ad_reach"]))
    cls(warm, seed=config["seed"]).run()  # compiles (or loads) every kernel the run uses
    rss_base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()[0]

    build: dict[str, float] = defaultdict(float)
    sim.network.watts_strogatz = _timed(build, "graph", sim.network.watts_strogatz)
    scenario = scenario_from_dict(scenario_doc(preset, n, steps, config["ad_reach"]))
    start = time.perf_counter()
    model = cls(scenario, seed=config["seed"])
    init_s = time.perf_counter() - start
    phases: dict[str, float] = defaultdict(float)
    if config["profile"] and config["engine"] == "fast":
        _profile(model, phases)
    return {
        "engine": config["engine"],
        "preset": preset,
        "n": n,
        "steps": steps,
        "threads": numba.get_num_threads() if config["engine"] == "fast" else 1,
        **_timed_run(model, n, steps),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_warmup_mb": rss_base,
        "graph_build_s": build["graph"],
        "init_s": init_s,
        "load_avg_1min": load,
        **(
            {"phases_ms_per_step": {k: 1e3 * v / steps for k, v in phases.items()}}
            if phases
            else {}
        ),
    }


def _timed_run(model: Any, n: int, steps: int) -> dict[str, Any]:
    """Step ``model`` ``steps`` times; rates over all steps and over the active ones."""
    transitions = [f"new_{t.replace('->', '_to_')}" for t in model.funnel_arrays.names]
    wall, cpu, moved = [], 0.0, []
    for _ in range(steps):
        c0, t0 = time.process_time(), time.perf_counter()
        model.step()
        wall.append(time.perf_counter() - t0)
        cpu += time.process_time() - c0
        moved.append(sum(model.record[c] for c in transitions) / n)
    active = [w for w, m in zip(wall, moved, strict=True) if m >= 0.01]
    return {
        "agent_steps_per_s": n * steps / sum(wall),
        "agent_steps_per_s_active": n * len(active) / sum(active) if active else None,
        "active_share": len(active) / steps,
        "cpu_agent_steps_per_s": n * steps / cpu if cpu else None,
        "run_s": sum(wall),
    }


def run_child(config: dict[str, Any]) -> dict[str, Any]:
    """Measure one configuration in a fresh Python process."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed for {config}:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_of(config: dict[str, Any], repeat: int) -> dict[str, Any]:
    """The fastest of ``repeat`` runs, each in its own process; every run's rate is listed."""
    runs = [run_child(config) for _ in range(repeat)]
    best = max(runs, key=lambda r: r["agent_steps_per_s"])
    return {
        **best,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "repeat": repeat,
        "all_agent_steps_per_s": [r["agent_steps_per_s"] for r in runs],
    }


def machine() -> str:
    """CPU model, cores and memory of this machine, for the record."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def _fmt(x: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "-" if x is None else f"{x / scale:.{digits}f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    """The figures as a table, with the speed-up over the reference where both ran."""
    ref = {(r["preset"], r["n"]): r for r in rows if r["engine"] == "reference"}
    head = (
        f"{'engine':9} {'preset':7} {'n':>9} {'steps':>5} {'thr':>3} {'active':>6} {'M/s all':>8} "
        f"{'M/s act':>8} {'M/s cpu':>8} {'x ref':>6} {'peak MB':>8} {'graph s':>7} {'init s':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        other = ref.get((r["preset"], r["n"]))
        ratio = None
        if r["engine"] == "fast" and other and other["agent_steps_per_s_active"]:
            ratio = (r["agent_steps_per_s_active"] or 0) / other["agent_steps_per_s_active"]
        print(
            f"{r['engine']:9} {r['preset']:7} {r['n']:>9,} {r['steps']:>5} {r['threads']:>3} "
            f"{r['active_share']:>6.0%} {_fmt(r['agent_steps_per_s'], 1e6, 2):>8} "
            f"{_fmt(r['agent_steps_per_s_active'], 1e6, 2):>8} "
            f"{_fmt(r['cpu_agent_steps_per_s'], 1e6, 2):>8} {_fmt(ratio, 1, 0):>6} "
            f"{r['peak_rss_mb']:>8.0f} {r['graph_build_s']:>7.2f} {r['init_s']:>6.2f}"
        )
        for phase, ms in r.get("phases_ms_per_step", {}).items():
            print(f"{'':12}{phase:30} {ms:8.2f} ms/step")


def at_least(low: int) -> Any:
    """An argparse type: an integer of at least ``low`` (underscores allowed: 1_000_000)."""

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low} (got {text})")
        return value

    return parse


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sizes = [10_000, 100_000, 1_000_000]
    parser.add_argument("--sizes", nargs="+", type=at_least(20), default=sizes, help="n > k = 10")
    parser.add_argument("--presets", nargs="+", choices=sorted(STEPS), default=["aisas", "bass"])
    parser.add_argument("--engines", nargs="+", choices=["fast", "reference"], default=None)
    parser.add_argument("--steps", type=at_least(1), default=None, help="default: per preset")
    parser.add_argument("--reference-max", type=int, default=100_000, help="largest n for it")
    parser.add_argument("--ad-reach", type=float, default=0.2, help="ads reach per day")
    parser.add_argument("--threads", type=at_least(0), default=0, help="kernel threads; 0: all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=at_least(1), default=1, help="runs per row; best kept")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--profile", action="store_true", help="per-phase timings (fast engine)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return
    if not 0 < args.ad_reach <= 1:
        parser.error(f"--ad-reach must be in (0, 1] (got {args.ad_reach})")
    engines = args.engines or ["fast", "reference"]
    if not args.json:
        print(f"{machine()}; {time.strftime('%Y-%m-%d %H:%M')}")
    rows = []
    for preset in args.presets:
        for n in sorted(args.sizes):
            for engine in engines:
                if engine == "reference" and n > args.reference_max:
                    continue
                config = {
                    "engine": engine,
                    "preset": preset,
                    "n": n,
                    "steps": args.steps or STEPS[preset],
                    "seed": args.seed,
                    "ad_reach": args.ad_reach,
                    "threads": args.threads,
                    "profile": args.profile,
                }
                rows.append(best_of(config, args.repeat))
                if args.json:
                    print(json.dumps(rows[-1]), flush=True)
    if not args.json:
        print_table(rows)


if __name__ == "__main__":
    main()
