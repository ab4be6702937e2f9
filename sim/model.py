"""``MarketModel``: one market under one strategy, stepped with the array engine."""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim import engine
from sim.funnel import DRIVERS
from sim.levers import Lever
from sim.metrics import SOURCES, outcomes, step_columns
from sim.population import Population, Source
from sim.rng import make_rng, stream_key
from sim.scenario import Scenario


def _read(model: MarketModel, key: str) -> Any:
    return model.record[key]


def lever_labels(levers: tuple[Lever, ...]) -> tuple[str, ...]:
    """Column labels of the levers: the kind, numbered when a kind appears more than once."""
    counts = Counter(lever.kind for lever in levers)
    seen: Counter[str] = Counter()
    labels = []
    for lever in levers:
        seen[lever.kind] += 1
        labels.append(lever.kind if counts[lever.kind] == 1 else f"{lever.kind}_{seen[lever.kind]}")
    return tuple(labels)


class MarketModel(mesa.Model):
    """One market under one strategy; one step is ``dt`` days (default one).

    Step order (all consumers update synchronously from the state at step start):
      1. levers act       -> ad impressions per consumer, seeds placed; their cost
      2. sharers share    -> which sharers share (tracked or dark), shares received per consumer
      3. hazards          -> per transition, from stage, traits, impressions, shares, lever factors
      4. transitions      -> one draw per consumer, applied together; entry_step/source/referrer set
      5. book-keeping     -> purchases, costs (levers' ``book``); ``datacollector.collect(self)``

    Args:
        scenario: the market and strategy (defaults: :class:`Scenario`'s).
        seed: root seed; defaults to ``scenario.seed``. The same scenario and seed give the same run.

    Examples:
        >>> MarketModel(load_scenario("scenarios/baseline.toml")).run()
        >>> MarketModel(Scenario(steps=30), seed=7).run().timeseries()
    """

    def __init__(self, scenario: Scenario | None = None, seed: int | None = None):
        scenario = scenario if scenario is not None else Scenario()
        seed = scenario.seed if seed is None else int(seed)
        super().__init__(seed=seed)
        self.scenario, self.seed, self.dt = scenario, seed, scenario.dt
        self.funnel = scenario.funnel.funnel()
        self.funnel_arrays = self.funnel.arrays()
        n = scenario.population.n
        self.network = scenario.network.build(n, make_rng(seed, "network"))
        self.segment_names = tuple(s.name for s in scenario.population.segments)
        segments = tuple(s.segment() for s in scenario.population.segments)
        self.population = Population.create(n, segments, make_rng(seed, "traits"))
        self.levers: tuple[Lever, ...] = scenario.lever_objects
        self.lever_labels = lever_labels(self.levers)
        self.lever_rngs = [make_rng(seed, f"lever:{label}") for label in self.lever_labels]
        self._keys = {
            name: stream_key(seed, name) for name in ("sharing", "transitions", "attribution")
        }

        self.impressions = np.zeros(n, dtype=np.int32)  # this step's ad impressions per consumer
        self.shared = np.zeros(n, dtype=np.int8)  # this step's share per consumer: 0, TRACKED, DARK
        self.exposures = np.zeros((2, 0 if self.network.implicit else n), dtype=np.int32)
        self.public_shares = 0  # tracked shares so far: what search can find
        self.cum_customers = 0
        self.columns = step_columns(self.funnel.stages, self.funnel_arrays.names, self.lever_labels)
        self.record: dict[str, Any] = {}
        self._record_state(costs=np.zeros(len(self.levers)), moves=None, flows={})
        self.datacollector = mesa.DataCollector(
            model_reporters={c: partial(_read, key=c) for c in self.columns}
        )
        for lever in self.levers:
            lever.init(self)
        self.datacollector.collect(self)

    @property
    def step_count(self) -> int:
        """Steps completed (Mesa counts the step in progress)."""
        return self.steps

    @property
    def day(self) -> float:
        """Day at the start of the step in progress."""
        return (self.steps - 1) * self.dt

    def segment_codes(self, names: tuple[str, ...]) -> np.ndarray:
        """Integer codes of segments, for comparing with ``population.segment``."""
        return np.array([self.segment_names.index(s) for s in names], dtype=np.int8)

    @property
    def search_success(self) -> float:
        """Chance a search finds convincing public word of mouth, rising with public shares."""
        half = self.scenario.sharing.search_half
        return self.public_shares / (self.public_shares + half)

    # ----------------------------------------------------------------------------------- the step
    def step(self) -> None:
        """Advance one step in the documented order."""
        active = [lever.active(self.day) for lever in self.levers]
        costs = self._levers_act(active)
        factors = self._lever_factors(active)
        n_shared, sharers = self._share(factors)
        moves, flows = self._move(factors, n_shared, sharers)
        costs += self._levers_book(active)
        self._record_state(costs, moves, flows)
        self.datacollector.collect(self)

    def _levers_act(self, active: list[bool]) -> np.ndarray:
        self.impressions[:] = 0
        return np.array(
            [
                lever.act(self, rng) if on else 0.0
                for lever, rng, on in zip(self.levers, self.lever_rngs, active, strict=True)
            ]
        )

    def _levers_book(self, active: list[bool]) -> np.ndarray:
        return np.array(
            [lever.book(self) if on else 0.0 for lever, on in zip(self.levers, active, strict=True)]
        )

    def _lever_factors(self, active: list[bool]) -> dict[tuple[int, int], Any]:
        """Active levers' factors combined: (transition or -1 for all, driver or -1 for share) -> factor."""
        names = self.funnel_arrays.names
        combined: dict[tuple[int, int], Any] = {}
        for lever, on in zip(self.levers, active, strict=True):
            if not on:
                continue
            for target, factor in lever.multipliers(self).items():
                transition, _, driver = target.rpartition(":")
                if target == "share":
                    key = (-1, -1)
                elif driver in DRIVERS and (not transition or transition in names):
                    key = (names.index(transition) if transition else -1, DRIVERS.index(driver))
                else:
                    raise ValueError(f"lever {lever.kind} returned unknown target {target!r}")
                combined[key] = combined.get(key, 1.0) * factor
        return combined

    def _share(
        self, factors: dict[tuple[int, int], Any]
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        pop, sharing = self.population, self.scenario.sharing
        share = factors.get((-1, -1), 1.0)
        scalar, array = (
            (share, np.empty(0)) if np.isscalar(share) else (1.0, np.asarray(share, float))
        )
        tracked, dark = engine.draw_shares(
            pop.stage,
            self.funnel_arrays.is_sharer,
            pop.share_propensity,
            sharing.p_share,
            float(scalar),
            array,
            sharing.dark,
            self.dt,
            self._keys["sharing"],
            self.steps,
            self.shared,
            pop.shares_sent,
        )
        if self.network.implicit:
            sharers = (
                np.flatnonzero(self.shared == engine.TRACKED),
                np.flatnonzero(self.shared == engine.DARK),
            )
        else:
            engine.count_exposures(
                self.network.indptr, self.network.indices, self.shared, self.exposures
            )
            sharers = (np.empty(0, np.int64), np.empty(0, np.int64))
        return np.array([tracked, dark], dtype=np.int64), sharers

    def _move(self, factors, n_shared, sharers) -> tuple[np.ndarray, dict[str, int]]:
        fa, pop, net = self.funnel_arrays, self.population, self.network
        reach = self.scenario.sharing.reach
        if net.implicit:
            reach *= min(1.0, net.contacts / max(1, net.n - 1))
        rates = fa.drivers.copy()
        arrays = []
        for (t, d), factor in factors.items():
            if d == -1:
                continue
            if np.isscalar(factor):
                rates[slice(None) if t == -1 else t, d] *= factor
            else:
                arrays.append((t, d, np.asarray(factor, dtype=np.float64)))
        rates[:, 2] *= reach
        rates[:, 3] *= self.search_success
        arr_t = np.array([a[0] for a in arrays], dtype=np.int64)
        arr_d = np.array([a[1] for a in arrays], dtype=np.int64)
        arr_vals = np.stack([a[2] for a in arrays]) if arrays else np.empty((0, pop.n))
        moves = np.zeros(len(fa.names), dtype=np.int64)
        new_customers = np.zeros(len(Source), dtype=np.int64)
        purchases = engine.apply_transitions(
            pop.stage,
            pop.entry_step,
            pop.source,
            pop.referrer,
            pop.purchases,
            pop.touch_step,
            pop.acquired_step,
            fa.out_ptr,
            fa.dst,
            rates,
            arr_t,
            arr_d,
            arr_vals,
            pop.ad_susceptibility,
            pop.peer_trust,
            self.impressions,
            self.exposures,
            net.implicit,
            n_shared,
            self.shared,
            sharers[0],
            sharers[1],
            net.indptr,
            net.indices,
            fa.is_customer,
            self.dt,
            self._keys["transitions"],
            self._keys["attribution"],
            self.steps,
            moves,
            new_customers,
        )
        self.public_shares += int(n_shared[0])
        flows = {f"new_customers_{s}": int(new_customers[Source[s.upper()]]) for s in SOURCES}
        flows["new_purchases"] = purchases
        flows["shares_tracked"], flows["shares_dark"] = int(n_shared[0]), int(n_shared[1])
        return moves, flows

    def _record_state(
        self, costs: np.ndarray, moves: np.ndarray | None, flows: dict[str, int]
    ) -> None:
        """This step's row: stocks from the state now, flows from the step just taken."""
        stages, names = self.funnel.stages, self.funnel_arrays.names
        counts = np.bincount(self.population.stage, minlength=len(stages))
        new = sum(flows.get(f"new_customers_{s}", 0) for s in SOURCES)
        self.cum_customers += new
        row: dict[str, Any] = {"step": self.steps, "day": self.steps * self.dt}
        row.update({f"n_{s}": int(c) for s, c in zip(stages, counts, strict=True)})
        row["new_customers"] = new
        row["cum_customers"] = self.cum_customers
        row.update({f"new_customers_{s}": flows.get(f"new_customers_{s}", 0) for s in SOURCES})
        row["new_purchases"] = flows.get("new_purchases", 0)
        row["shares_tracked"] = flows.get("shares_tracked", 0)
        row["shares_dark"] = flows.get("shares_dark", 0)
        row["shares"] = row["shares_tracked"] + row["shares_dark"]
        row["impressions"] = int(self.impressions.sum()) if moves is not None else 0
        for t, k in zip(names, moves if moves is not None else np.zeros(len(names)), strict=True):
            row[f"new_{t.replace('->', '_to_')}"] = int(k)
        for label, c in zip(self.lever_labels, costs, strict=True):
            row[f"cost_{label}"] = float(c)
        row["cost"] = float(costs.sum())
        self.record = {c: row[c] for c in self.columns}

    # ------------------------------------------------------------------------------------ results
    def run(self, steps: int | None = None) -> MarketModel:
        """Take ``steps`` steps (default: the scenario's); return self for chaining."""
        for _ in range(self.scenario.steps if steps is None else steps):
            self.step()
        return self

    def timeseries(self) -> pd.DataFrame:
        """One row per step from step 0, in :func:`sim.metrics.step_columns` order."""
        return self.datacollector.get_model_vars_dataframe().reset_index(drop=True)

    def outcomes(self) -> dict[str, Any]:
        """The run's outcomes (see :func:`sim.metrics.outcomes`)."""
        return outcomes(self, self.timeseries())
