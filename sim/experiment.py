"""Batch experiments: markets × strategies × sweep points × replicates, run anywhere, stored safely.

An experiment file (TOML) names markets (scenario files: what the strategist does not control),
strategies (lever sets or overrides: what they do control; one is the baseline), an optional sweep
(dotted keys to lists, crossed), replicates and one root seed. :func:`expand` turns it into
:class:`RunSpec` s. Replicate ``r`` runs with the same seed under every strategy and sweep point
(common random numbers), so strategies are compared on the same network, consumers and draws.

:func:`run_experiment` runs the specs serially, in a local process pool or on a Dask cluster (the
results are the same), writes each finished run at once to ``DIR/parts/`` (atomically), can resume
a killed batch, and consolidates into ``runs.parquet``, ``steps.parquet``, ``summary.csv``,
``meta.json``, ``figures/`` and ``report.html``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from tqdm import tqdm

from sim import __version__, report, summary
from sim.i18n import Translator, translator
from sim.metrics import clean
from sim.model import MarketModel
from sim.outputs import write_atomic
from sim.population import Source
from sim.scenario import (
    Scenario,
    ScenarioError,
    apply_overrides,
    as_overrides,
    format_errors,
    read_scenario_doc,
    read_toml,
    scenario_from_dict,
)

Value = bool | int | float | str
ID_COLUMNS = ("experiment", "run_id", "scenario", "strategy", "replicate", "seed")
"""Columns that identify a run (the sweep columns come between ``strategy`` and ``replicate``)."""
STATUS_COLUMNS = ("status", "error", "wall_time")
MAX_PROBLEMS = 20
ROW_FILE, ERROR_FILE = "[0-9]" * 7 + ".json", "[0-9]" * 7 + ".error.json"


# ----------------------------------------------------------------------------------------- the file
class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _flatten(table: Any, prefix: str = "") -> Any:
    """``{"network": {"p": 1}}`` -> ``{"network.p": 1}``: TOML reads ``network.p = 1`` as nested."""
    if not isinstance(table, dict):
        return table
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_sweep(sweep: dict[str, Any]) -> dict[str, Any]:
    """Each key has a non-empty list of distinct values of one kind; ``"a,b"`` keys zip lists."""
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{key}: must be a non-empty list of values (got {values!r})")
        width = len(key.split(","))
        rows = [v if width > 1 else [v] for v in values]
        if any(not isinstance(row, list) or len(row) != width for row in rows):
            raise ValueError(f"{key}: each value must be a list of {width} values (got {values!r})")
        for column in zip(*rows, strict=True):
            kinds = {_kind(v) for v in column}
            if None in kinds or len(kinds) > 1:
                raise ValueError(
                    f"{key}: values must be all numbers, all strings or all booleans "
                    f"(got {values!r})"
                )
        if len(set(map(repr, values))) != len(values):
            raise ValueError(f"{key}: values must be distinct (got {values!r})")
    return sweep


def sweep_keys(sweep: dict[str, Any]) -> list[list[str]]:
    """The keys of each sweep entry: ``"a,b"`` (values that vary together) gives ``["a", "b"]``."""
    return [[k.strip() for k in key.split(",")] for key in sweep]


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else None


class Keep(_Table):
    """What each run stores besides its outcomes."""

    steps: bool = Field(True, description="the per-step series (steps.parquet)")
    agents: bool = Field(False, description="every consumer's final state (agents.parquet); large")


class StrategySpec(_Table):
    """A named strategy: lever tables replacing the market's levers, and/or scenario overrides.

    ``sweep`` crosses the strategy's own values (e.g. a reward size): each combination is a
    variant of the strategy, compared with the same baseline runs.
    """

    description: str = ""
    levers: list[dict[str, Any]] | None = Field(
        None, description="replace the market's levers with these; absent = keep them"
    )
    set: dict[str, Any] = Field(default_factory=dict, description="dotted key -> value overrides")
    sweep: dict[str, Any] = Field(default_factory=dict, description="dotted key -> list, crossed")

    _flat = field_validator("set", "sweep", mode="before")(lambda v: _flatten(v))
    _swept = field_validator("sweep")(lambda v: _check_sweep(v))


class Experiment(_Table):
    """A batch experiment, as read from its file.

    Examples:
        >>> load_experiment("experiments/strategy_comparison.toml", ["replicates=3"])
        >>> Experiment(name="t", markets=["baseline.toml"], strategies={"baseline": {}}, replicates=2)
    """

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    markets: list[str] = Field(
        min_length=1, description="scenario files, relative to the experiment file"
    )
    set: dict[str, Any] = Field(
        default_factory=dict, description="dotted key -> value, applied to every market"
    )
    strategies: dict[str, StrategySpec] = Field(min_length=1)
    baseline: str = Field("baseline", description="the strategy the others are compared with")
    sweep: dict[str, Any] = Field(
        default_factory=dict, description="dotted key -> list of values, crossed, for every run"
    )
    replicates: int = Field(ge=1, le=1_000_000, description="runs per combination")
    seed: int = Field(20261123, ge=0, lt=2**63, description="root seed of the replicate seeds")
    steps: int | None = Field(None, ge=1, le=1_000_000, description="steps; absent = each market's")
    keep: Keep = Keep()
    _source: Path = PrivateAttr(Path("experiment.toml"))  # the file; markets are relative to it
    _overrides: tuple[str, ...] = PrivateAttr(())

    _flat = field_validator("set", "sweep", mode="before")(lambda v: _flatten(v))
    _swept = field_validator("sweep")(lambda v: _check_sweep(v))

    @field_validator("strategies")
    @classmethod
    def _names(cls, strategies: dict[str, StrategySpec]) -> dict[str, StrategySpec]:
        for name in strategies:
            if not name or not all(c.isalnum() or c in "_.-" for c in name):
                raise ValueError(f"name {name!r} must be letters, digits, '_', '.' or '-'")
        return strategies

    @model_validator(mode="after")
    def _baseline_and_keys(self) -> Experiment:
        problems = []
        if self.baseline not in self.strategies:
            problems.append(
                f"baseline: {self.baseline!r} is not a strategy; choose one of: "
                f"{', '.join(self.strategies)}"
            )
        elif self.strategies[self.baseline].sweep:
            problems.append(f"strategies.{self.baseline}.sweep: the baseline cannot have a sweep")
        swept = {k for keys in sweep_keys(self.sweep) for k in keys}
        for name, strategy in self.strategies.items():
            for key in {k for keys in sweep_keys(strategy.sweep) for k in keys} & swept:
                problems.append(f"strategies.{name}.sweep: {key!r} is already in the sweep")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def order(self) -> list[str]:
        """Strategy names, the baseline first."""
        return [self.baseline, *(s for s in self.strategies if s != self.baseline)]


def load_experiment(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Experiment:
    """Read, override (``replicates=3``, ``steps=60``) and validate an experiment file.

    Markets are read relative to the file; every run's scenario is checked by :func:`expand`.
    """
    path = Path(path)
    doc = apply_overrides(read_toml(path), list(overrides))
    doc.setdefault("name", path.stem)
    try:
        exp = Experiment.model_validate(doc)
    except ValidationError as err:
        raise ScenarioError(
            [f"{path}: {line}" for line in format_errors(err, Experiment)]
        ) from None
    exp._source, exp._overrides = path, tuple(overrides)
    return exp


# ---------------------------------------------------------------------------------------- expanding
@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run: which market, strategy variant, sweep point and replicate, and the seed to use."""

    experiment: str
    run_id: int
    scenario_name: str
    strategy: str
    sweep: tuple[tuple[str, Value], ...]
    replicate: int
    seed: int
    scenario: Scenario
    keep: Keep

    def ids(self) -> dict[str, Any]:
        """The identifying columns of this run's row."""
        return {
            "experiment": self.experiment,
            "run_id": self.run_id,
            "scenario": self.scenario_name,
            "strategy": self.strategy,
            **dict(self.sweep),
            "replicate": self.replicate,
            "seed": self.seed,
        }


def replicate_seeds(root: int, replicates: int) -> list[int]:
    """Seed of each replicate: child ``r`` of ``SeedSequence(root)``, so it depends on root and r only.

    Adding replicates keeps the earlier seeds. Seeds fit in 63 bits (scenario seeds are < 2**63).
    """
    children = np.random.SeedSequence(root).spawn(replicates)
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]


def _grid(sweep: dict[str, list]) -> list[dict[str, Value]]:
    """Every point of a sweep: entries crossed, the keys of one ``"a,b"`` entry zipped."""
    entries = [
        [dict(zip(keys, value if len(keys) > 1 else [value], strict=True)) for value in values]
        for keys, values in zip(sweep_keys(sweep), sweep.values(), strict=True)
    ]
    return [
        {k: v for part in point for k, v in part.items()} for point in itertools.product(*entries)
    ]


def expand(exp: Experiment) -> list[RunSpec]:
    """Every run of the experiment, in a fixed order; raise ScenarioError listing bad combinations.

    Order: market, strategy (baseline first), the strategy's own sweep, the sweep, replicate. Each
    combination's scenario is the market file (with its ``extends``), then the experiment's
    ``set``, the strategy's ``levers`` and ``set``, the sweep values and ``steps``, validated like
    a scenario file.
    """
    seeds = replicate_seeds(exp.seed, exp.replicates)
    problems: list[str] = []
    markets = []
    for i, market in enumerate(exp.markets):
        path = exp._source.parent / market
        try:
            doc = read_scenario_doc(path)
        except ScenarioError as err:
            problems += [f"markets.{i}: {line}" for line in err.lines]
            continue
        markets.append((str(doc.get("name", path.stem)), {"name": path.stem, **doc}, path.parent))
    names = [name for name, _, _ in markets]
    if len(set(names)) != len(names):
        problems.append(f"markets: scenario names must be distinct (got {names})")
    specs: list[RunSpec] = []
    for (market, doc, market_dir), strategy in itertools.product(markets, exp.order):
        plan = exp.strategies[strategy]
        for variant, point in itertools.product(_grid(plan.sweep), _grid(exp.sweep)):
            values = {**variant, **point}
            try:
                scenario = _scenario(exp, doc, market_dir, plan, values)
            except ScenarioError as err:
                where = f"market {market}, strategy {strategy}"
                where += "".join(f", {k}={v}" for k, v in values.items())
                problems += [f"{where}: {line}" for line in err.lines]
                continue
            for r, seed in enumerate(seeds):
                run_id = len(specs)
                swept = tuple(values.items())
                specs.append(
                    RunSpec(exp.name, run_id, market, strategy, swept, r, seed, scenario, exp.keep)
                )
    if problems:
        unique = list(dict.fromkeys(problems))
        more = ["... and more problems like these"] if len(unique) > MAX_PROBLEMS else []
        raise ScenarioError(unique[:MAX_PROBLEMS] + more)
    return specs


def _scenario(
    exp: Experiment, doc: dict, market_dir: Path, plan: StrategySpec, values: dict[str, Value]
) -> Scenario:
    """One combination's scenario: market, experiment set, strategy levers and set, sweep values."""
    for field, overrides in (("set", exp.set), ("strategy set", plan.set), ("sweep", values)):
        if field == "strategy set" and plan.levers is not None:
            doc = {**doc, "levers": plan.levers}
        try:
            doc = apply_overrides(doc, as_overrides(overrides))
        except ScenarioError as err:
            lines = [f"{field}: {line.removeprefix('--set ')}" for line in err.lines]
            raise ScenarioError(lines) from None
    if exp.steps is not None:
        doc = {**doc, "steps": exp.steps}
    return scenario_from_dict(doc, market_dir)


def sweep_columns(exp: Experiment) -> tuple[list[str], list[str]]:
    """(strategies' own sweep keys, the experiment's sweep keys): the variant and point columns."""
    variant = [k for s in exp.order for keys in sweep_keys(exp.strategies[s].sweep) for k in keys]
    return list(dict.fromkeys(variant)), [k for keys in sweep_keys(exp.sweep) for k in keys]


def sweep_groups(exp: Experiment) -> list[list[str]]:
    """Keys that vary together (one entry of a sweep), each group once: one sweep plot each."""
    groups = [*(g for s in exp.order for g in sweep_keys(exp.strategies[s].sweep))]
    groups += sweep_keys(exp.sweep)
    return [list(g) for g in dict.fromkeys(tuple(g) for g in groups)]


# ------------------------------------------------------------------------------------------ one run
@dataclasses.dataclass
class RunResult:
    """What a run sends back: its row (ids, outcomes, status), and its frames if kept."""

    row: dict[str, Any]
    steps: pd.DataFrame | None = None
    agents: pd.DataFrame | None = None


def run_one(spec: RunSpec) -> RunResult:
    """Run one spec. An exception becomes a row with status ``error`` and its message: the batch goes on."""
    start = time.perf_counter()
    try:
        model = MarketModel(spec.scenario, seed=spec.seed).run()
        outcomes = flatten_outcomes(model.outcomes())
        steps = model.timeseries() if spec.keep.steps else None
        agents = agent_frame(model) if spec.keep.agents else None
    except Exception as err:
        return failed(spec, f"{type(err).__name__}: {err}", time.perf_counter() - start)
    wall = time.perf_counter() - start
    row = {**spec.ids(), **outcomes, "status": "ok", "error": "", "wall_time": wall}
    for frame in (steps, agents):
        if frame is not None:
            frame.insert(0, "run_id", spec.run_id)
    return RunResult(row, steps, agents)


def one_thread() -> None:
    """Compiled kernels on one thread in this thread: batches run in parallel already."""
    numba.set_num_threads(1)


def run_alone(spec: RunSpec) -> RunResult:
    """:func:`run_one` on one thread (for Dask workers, which may run several runs at once)."""
    one_thread()
    return run_one(spec)


def failed(spec: RunSpec, message: str, wall: float = float("nan")) -> RunResult:
    """The result of a run that raised (or whose worker was lost)."""
    return RunResult({**spec.ids(), "status": "error", "error": message, "wall_time": wall})


def flatten_outcomes(outcomes: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested outcomes as columns, e.g. ``conversion["a->b"]`` -> ``conversion_a_to_b``.

    Missing values (None, e.g. ``t50`` not reached) become NaN.
    """
    flat: dict[str, Any] = {}
    for key, value in clean(outcomes).items():
        name = f"{prefix}{key}".replace("->", "_to_")
        if isinstance(value, dict):
            flat.update(flatten_outcomes(value, f"{name}_"))
        else:
            flat[name] = np.nan if value is None else value
    return flat


def agent_frame(model: MarketModel) -> pd.DataFrame:
    """Every consumer's final state: one row per consumer, stage/segment/source as names."""
    pop = model.population
    columns = {
        f.name: getattr(pop, f.name)
        for f in dataclasses.fields(pop)
        if isinstance(getattr(pop, f.name), np.ndarray)
    }
    frame = pd.DataFrame({"consumer": np.arange(pop.n), **columns})
    frame["stage"] = pd.Categorical.from_codes(pop.stage, model.funnel.stages)
    frame["segment"] = pd.Categorical.from_codes(pop.segment, model.segment_names)
    frame["source"] = pd.Series(pop.source).map({s.value: s.label for s in Source})
    return frame


# ------------------------------------------------------------------------------------------ engines
def connect(address: str) -> Any:
    """A Dask client of the scheduler at ``address``; ScenarioError if dask is missing or it is down."""
    try:
        from distributed import Client
    except ImportError:
        raise ScenarioError(
            ['--scheduler needs dask: pip install -e ".[distributed]" (here and on the workers)']
        ) from None
    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        raise ScenarioError([f"--scheduler {address}: cannot connect ({err})"]) from None


def execute(specs: list[RunSpec], workers: int = 1, client: Any = None) -> Iterator[RunResult]:
    """Results of ``specs`` as they finish, in any order.

    On Dask if ``client`` is given, else in ``workers`` local processes (1: serially, here). A run
    whose worker is lost comes back as an error row, like a run that raised.
    """
    if client is not None:
        yield from _on_dask(specs, client)
    elif workers == 1:
        yield from map(run_one, specs)
    else:
        yield from _in_pool(specs, workers)


def _in_pool(specs: list[RunSpec], workers: int) -> Iterator[RunResult]:
    # mesa forces "spawn" anyway; saying it keeps Linux and macOS alike. One pool for the batch.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=one_thread)
    try:
        futures = {pool.submit(run_one, spec): spec for spec in specs}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as err:  # the worker died (e.g. out of memory)
                yield failed(futures[future], f"worker lost: {type(err).__name__}: {err}")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _on_dask(specs: list[RunSpec], client: Any) -> Iterator[RunResult]:
    from distributed import as_completed as dask_completed

    # pure=False: replicates with equal arguments must all run, not be deduplicated.
    futures = client.map(run_alone, specs, pure=False)
    spec_of = {future.key: spec for future, spec in zip(futures, specs, strict=True)}
    try:
        for future in dask_completed(futures):
            try:
                yield future.result()
            except Exception as err:  # e.g. KilledWorker
                yield failed(spec_of[future.key], f"worker lost: {type(err).__name__}: {err}")
            future.release()
    finally:
        client.cancel(futures)


# ------------------------------------------------------------------------------------------ storage
class Store:
    """An experiment's folder, where each finished run is on disk at once.

    Every file is written under a temporary name and renamed, so a killed batch keeps every
    finished run and never leaves half a file.

    ``parts/NNNNNNN.json`` is a finished run's row, written after its ``.steps.parquet`` and
    ``.agents.parquet``, so its presence means the run is complete; a run that raised leaves
    ``NNNNNNN.error.json`` instead, and is run again on resume.
    """

    def __init__(self, out: Path):
        self.out, self.parts = out, out / "parts"
        self.plan = self.parts / "plan.json"

    def complete(self, fingerprint: str) -> bool:
        """Did this folder's last batch finish every run of this experiment without an error?"""
        try:
            meta = json.loads((self.out / "meta.json").read_text())
        except (OSError, ValueError):
            return False
        return meta.get("fingerprint") == fingerprint and meta.get("failed") == 0

    def open(self, fingerprint: str, resume: bool) -> tuple[set[int], str]:
        """Prepare the folder; return (ids of runs already finished, start time of the batch).

        Without ``resume`` earlier parts are dropped. With it, they must come from the same
        experiment (same runs, scenarios and seeds), and their finished runs are kept.
        """
        if self.out.exists() and not self.out.is_dir():
            raise ScenarioError([f"--out {self.out}: is a file, not a folder"])
        if resume and self.plan.is_file():
            plan = json.loads(self.plan.read_text())
            if plan["fingerprint"] != fingerprint:
                raise ScenarioError(
                    [
                        f"--resume: {self.parts} holds another experiment (other runs, scenarios "
                        "or seeds); run without --resume to start over, or choose another --out"
                    ]
                )
            for tmp in self.parts.glob(".*.tmp"):
                tmp.unlink()  # a write cut short by the kill
            finished = {int(p.name[:7]) for p in self.parts.glob(ROW_FILE)}
            return finished, plan["started"]
        shutil.rmtree(self.parts, ignore_errors=True)
        started = _now()
        write_atomic(self.plan, json.dumps({"fingerprint": fingerprint, "started": started}))
        return set(), started

    def put(self, result: RunResult) -> None:
        """Write a run's files; its row last (JSON: exact floats, and 100 times faster than Parquet)."""
        stem = self.parts / f"{result.row['run_id']:07d}"
        if result.row["status"] != "ok":
            write_atomic(stem.with_suffix(".error.json"), json.dumps(result.row))
            return
        for name, frame in (("steps", result.steps), ("agents", result.agents)):
            if frame is not None:
                write_atomic(stem.with_suffix(f".{name}.parquet"), _parquet(frame, None))
        write_atomic(stem.with_suffix(".json"), json.dumps(result.row))
        stem.with_suffix(".error.json").unlink(missing_ok=True)

    def load(self, columns: list[str]) -> tuple[pd.DataFrame, dict[str, pd.DataFrame | None]]:
        """All runs as one frame sorted by run id (``columns`` first), and the kept per-run frames."""
        files = {int(p.name[:7]): p for p in self.parts.glob(ERROR_FILE)}
        files |= {int(p.name[:7]): p for p in self.parts.glob(ROW_FILE)}
        runs = pd.DataFrame([json.loads(files[i].read_text()) for i in sorted(files)])
        outcomes = [c for c in runs.columns if c not in (*columns, *STATUS_COLUMNS)]
        for column in outcomes:
            if runs[column].dtype == object:  # only missing values so far (every run failed)
                runs[column] = pd.to_numeric(runs[column])
        runs = runs[[*columns, *outcomes, *STATUS_COLUMNS]]
        ok = set(runs.loc[runs["status"] == "ok", "run_id"])
        frames = {}
        for name in ("steps", "agents"):
            parts = [
                pd.read_parquet(self.parts / f"{i:07d}.{name}.parquet")
                for i in sorted(ok)
                if (self.parts / f"{i:07d}.{name}.parquet").is_file()
            ]
            frames[name] = (
                runs[columns].merge(pd.concat(parts, ignore_index=True), on="run_id")
                if parts
                else None
            )
        return runs, frames

    def discard(self) -> None:
        """Remove the parts once consolidated (kept while some runs failed, for ``--resume``)."""
        shutil.rmtree(self.parts, ignore_errors=True)


def _parquet(frame: pd.DataFrame, compression: str | None = "zstd") -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, compression=compression)
    return buffer.getvalue()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def fingerprint(specs: list[RunSpec]) -> str:
    """A hash of every run's identity, scenario, seed and what it keeps, and of the package version."""
    index: dict[int, int] = {}
    scenarios = []
    for spec in specs:
        if id(spec.scenario) not in index:
            index[id(spec.scenario)] = len(scenarios)
            scenarios.append(spec.scenario.to_dict())
    runs = [(spec.ids(), index[id(spec.scenario)], spec.keep.model_dump()) for spec in specs]
    payload = {"version": __version__, "scenarios": scenarios, "runs": runs}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# -------------------------------------------------------------------------------------- the batch
@dataclasses.dataclass
class ExperimentResult:
    """A finished batch: its folder, frames and counts."""

    out: Path
    runs: pd.DataFrame
    summary: pd.DataFrame
    engine: str
    seconds: float
    resumed: int

    @property
    def failed(self) -> int:
        """Runs that raised."""
        return int((self.runs["status"] != "ok").sum())

    def describe(self, tr: Translator | None = None) -> str:
        """One line: runs, failures, time, where the results are (in the translator's language)."""
        tr = tr or translator()
        done = len(self.runs) - self.resumed
        rate = (
            tr(", {rate} runs/s").format(rate=f"{done / self.seconds:.2f}")
            if done and self.seconds > 0
            else ""
        )
        resumed = tr(", {n} resumed from disk").format(n=self.resumed) if self.resumed else ""
        return tr(
            "{name}: {runs} runs ({failed} failed{resumed}) in {seconds} s on {engine}{rate}; "
            "wrote {path}/"
        ).format(
            name=self.runs["experiment"].iloc[0],
            runs=len(self.runs),
            failed=self.failed,
            resumed=resumed,
            seconds=f"{self.seconds:.1f}",
            engine=self.engine,
            rate=rate,
            path=self.out,
        )

    def failures(self, limit: int = 5) -> list[str]:
        """The first failed runs and their errors, one line each."""
        bad = self.runs[self.runs["status"] != "ok"]
        lines = [
            f"run {r.run_id} ({r.scenario}, {r.strategy}, replicate {r.replicate}): {r.error}"
            for r in bad.head(limit).itertuples()
        ]
        return lines + ([f"... and {len(bad) - limit} more"] if len(bad) > limit else [])


class Interrupted(Exception):
    """The batch was stopped (Ctrl-C); its finished runs are on disk for ``--resume``."""


def run_experiment(
    exp: Experiment,
    out: Path | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = True,
    figures: bool = True,
    lang: str = "en",
) -> ExperimentResult | None:
    """Run every run of ``exp`` not yet on disk in ``out`` and write the consolidated results.

    Args:
        exp: the experiment (see :func:`load_experiment`).
        out: the folder; default ``results/<experiment name>/``.
        workers: local processes; default one per CPU; 1 runs serially in this process.
        scheduler: address of a Dask scheduler (``tcp://host:8786``) to run on instead.
        resume: keep the runs a killed batch left in ``out`` and run only the others.
        progress: show a progress bar on stderr (only when it is a terminal).
        figures: write ``figures/`` and ``report.html`` (seconds of plotting; the data files are
            always written).
        lang: the language of the figures and the report (see :data:`sim.i18n.LANGUAGES`); the
            data files are the same in every language.

    Returns:
        The result, or None when ``resume`` found the batch already complete.

    Raises:
        ScenarioError: bad input, before anything is written.
        ValueError: ``lang`` is not one of :data:`sim.i18n.LANGUAGES`.
        Interrupted: on Ctrl-C, once the runs finished so far are safe.
    """
    tr = translator(lang) if figures else None  # a bad language fails here, before any run
    out = Path("results") / exp.name if out is None else out
    specs = expand(exp)
    store = Store(out)
    key = fingerprint(specs)
    if resume and store.complete(key):
        return None
    client = connect(scheduler) if scheduler else None
    workers = max(1, min(workers or os.cpu_count() or 1, len(specs)))
    engine = f"dask {scheduler}" if client else "1 process (serial)"
    engine = f"{workers} local processes" if not client and workers > 1 else engine
    try:
        finished, started = store.open(key, resume)
        todo = [s for s in specs if s.run_id not in finished]
        clock = time.perf_counter()
        bar = tqdm(
            total=len(specs),
            initial=len(specs) - len(todo),
            desc=exp.name,
            unit="run",
            file=sys.stderr,
            disable=None if progress else True,
        )
        try:
            with bar:
                for result in execute(todo, workers, client):
                    store.put(result)
                    bar.update()
        except KeyboardInterrupt:
            done = len(list(store.parts.glob(ROW_FILE)))
            raise Interrupted(
                f"interrupted: {done} of {len(specs)} runs are on disk in {store.parts}; "
                "finish them with --resume"
            ) from None
        seconds = time.perf_counter() - clock
    finally:
        if client is not None:
            client.close()
    variant, point = sweep_columns(exp)
    ids = ["experiment", "run_id", "scenario", "strategy", *variant, *point, "replicate", "seed"]
    runs, frames = store.load(ids)
    outcomes = [c for c in runs.columns if c not in (*ids, *STATUS_COLUMNS)]
    table = summary.summarise(
        runs, baseline=exp.baseline, variant=variant, point=point, outcomes=outcomes
    )
    result = ExperimentResult(out, runs, table, engine, seconds, len(specs) - len(todo))
    meta = {
        "experiment": exp.name,
        "file": str(exp._source),
        "overrides": list(exp._overrides),
        "resolved": exp.model_dump(mode="json"),
        "seeds": replicate_seeds(exp.seed, exp.replicates),
        "runs": len(runs),
        "failed": result.failed,
        "resumed": result.resumed,
        "engine": engine,
        "started": started,
        "finished": _now(),
        "seconds": round(seconds, 3),
        "fingerprint": key,
        "lang": lang,
        "versions": _versions(),
        "git": _git(),
    }
    sizes = {s.scenario_name: s.scenario.population.n for s in specs}
    _write_outputs(out, exp, runs, frames, table, meta, sizes, tr)
    if result.failed == 0:
        store.discard()
    return result


def _write_outputs(
    out: Path,
    exp: Experiment,
    runs: pd.DataFrame,
    frames: dict[str, pd.DataFrame | None],
    table: pd.DataFrame,
    meta: dict[str, Any],
    sizes: dict[str, int],
    tr: Translator | None,
) -> None:
    """Consolidated files, each written atomically; meta.json last.

    ``sizes`` (consumers per market) scales the adoption figure; ``figures/`` and the report are
    written in the language of ``tr``, or not at all without one.
    """
    write_atomic(out / "runs.parquet", _parquet(runs))
    for name, frame in frames.items():
        if frame is not None:
            write_atomic(out / f"{name}.parquet", _parquet(frame))
    write_atomic(out / "summary.csv", table.to_csv(index=False))
    if tr is not None:
        variant, point = sweep_columns(exp)
        made = report.figures(
            runs,
            frames["steps"],
            table,
            baseline=exp.baseline,
            variant=variant,
            point=point,
            groups=sweep_groups(exp),
            sizes=sizes,
            tr=tr,
        )
        _replace_dir(out / "figures", {name: png for name, (_, png) in made.items()})
        page = report.render(exp, runs, table, made, meta, variant=variant, point=point, tr=tr)
        write_atomic(out / "report.html", page)
    write_atomic(out / "meta.json", json.dumps(clean(meta), indent=2) + "\n")


def _replace_dir(final: Path, files: dict[str, bytes]) -> None:
    """Replace folder ``final`` by one holding ``files``, built beside it and renamed into place."""
    new = final.with_name(f".{final.name}.new")
    old = final.with_name(f".{final.name}.old")
    for stale in (new, old):
        shutil.rmtree(stale, ignore_errors=True)
    new.mkdir(parents=True)
    for name, data in files.items():
        (new / name).write_bytes(data)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0], "wom-sim": __version__}
    for package in ("numpy", "pandas", "mesa", "numba", "networkx", "scipy", "pydantic", "pyarrow"):
        found[package] = version(package)
    for package in ("dask", "distributed"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def _git() -> dict[str, Any]:
    """The commit of the source tree, and whether it had uncommitted changes; {} outside git.

    Changes under ``results/`` do not count: they are outputs (the bundled experiments' own).
    """
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!results"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if head.returncode != 0:
        return {}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
