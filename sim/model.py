"""``MarketModel``: one market under one strategy, stepped with the array engine."""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim import engine
from sim.funnel import DRIVERS, Funnel
from sim.levers import Factor, Lever
from sim.metrics import SOURCES, outcomes, step_columns
from sim.population import Population, Source
from sim.rng import make_rng, stream_key
from sim.scenario import Scenario


def _read(model: mesa.Model, key: str) -> Any:
    return model.record[key]


def record_collector(columns: list[str]) -> mesa.DataCollector:
    """A DataCollector reading each column from ``model.record`` (one row per ``collect``)."""
    return mesa.DataCollector(model_reporters={c: partial(_read, key=c) for c in columns})


def step_record(
    model: Any, counts: np.ndarray, impressions: int, costs: np.ndarray, flows: dict[str, int]
) -> dict[str, Any]:
    """One row of the record: stage ``counts`` now, ``flows`` of the step just taken (none at 0).

    Shared with the agent reference (:mod:`sim.agent_model`). ``model`` provides ``funnel``,
    ``lever_labels``, ``columns``, ``steps``, ``dt`` and ``scenario``; its ``cum_customers`` is
    advanced here. ``flows`` holds the ``new_*`` and ``shares_*`` columns; missing ones are 0.
    """
    brand = model.spec.brand
    new = sum(flows.get(f"new_customers_{s}", 0) for s in SOURCES)
    model.cum_customers += new
    purchases = flows.get("new_purchases", 0) + flows.get("new_repeat_purchases", 0)
    row: dict[str, Any] = {"step": model.steps, "day": model.steps * model.dt}
    row.update({f"n_{s}": int(c) for s, c in zip(model.funnel.stages, counts, strict=True)})
    row["new_customers"] = new
    row["cum_customers"] = model.cum_customers
    row["shares"] = flows.get("shares_tracked", 0) + flows.get("shares_dark", 0)
    row["impressions"] = impressions
    row["revenue"] = purchases * brand.price
    row["margin"] = purchases * brand.margin
    row.update(
        {f"cost_{label}": float(c) for label, c in zip(model.lever_labels, costs, strict=True)}
    )
    row["cost"] = float(costs.sum())
    return {c: row[c] if c in row else int(flows.get(c, 0)) for c in model.columns}


def _split(factor: Factor) -> tuple[float, np.ndarray]:
    """A factor as (scalar, per-consumer array or empty) for the kernels."""
    if np.isscalar(factor):
        return float(factor), np.empty(0)
    return 1.0, np.asarray(factor, dtype=np.float64)


def transition_roles(funnel: Funnel) -> tuple[tuple[str, ...], ...]:
    """Names of the purchase, churn and share-fatigue transitions of a funnel.

    Purchase: non-customer to customer; churn: customer to non-customer; share fatigue: sharer to a
    customer stage that does not share.
    """
    cust, share = set(funnel.customer_stages), set(funnel.sharer_stages)
    ts = funnel.transitions
    return (
        tuple(t.name for t in ts if t.src not in cust and t.dst in cust),
        tuple(t.name for t in ts if t.src in cust and t.dst not in cust),
        tuple(t.name for t in ts if t.src in share and t.dst in cust and t.dst not in share),
    )


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
      5. book-keeping     -> repeat purchases (drawn from start-of-step stages), revenue, margin,
                             lever costs (``act`` + ``book``, e.g. referral rewards); collect

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
        super().__init__(rng=seed)
        self.spec, self.seed, self.dt = scenario, seed, scenario.dt
        self.funnel = scenario.funnel.funnel()
        self.funnel_arrays = self.funnel.arrays()
        n = scenario.population.n
        self.network = scenario.network.build(n, make_rng(seed, "network"))
        self.segment_names = tuple(s.name for s in scenario.population.segments)
        segments = tuple(s.segment() for s in scenario.population.segments)
        self.population = Population.create(n, segments, make_rng(seed, "traits"))
        self.levers: tuple[Lever, ...] = scenario.lever_objects
        self.lever_labels = lever_labels(self.levers)
        # a lever's stream is named by its kind and rank among levers of that kind, so adding a
        # lever (even of the same kind, after it) never shifts another lever's draws
        ranks = [
            sum(x.kind == lever.kind for x in self.levers[:i])
            for i, lever in enumerate(self.levers)
        ]
        self.lever_rngs = [
            make_rng(seed, f"lever:{lever.kind}:{rank}")
            for lever, rank in zip(self.levers, ranks, strict=True)
        ]
        self.cum_cost = np.zeros(len(self.levers))  # spend per lever before the step in progress
        self._keys = {
            name: stream_key(seed, name)
            for name in ("sharing", "transitions", "attribution", "repeat")
        }
        self.purchase_transitions, self.churn_transitions, self.fatigue_transitions = (
            transition_roles(self.funnel)
        )

        self.impressions = np.zeros(n, dtype=np.int32)  # this step's ad impressions per consumer
        self.shared = np.zeros(n, dtype=np.int8)  # this step's share per consumer: 0, TRACKED, DARK
        self.exposures = engine.exposure_buffer(self.network)  # shares received: tracked, dark
        self.public_shares = 0  # tracked shares so far: what search can find
        self.cum_customers = 0
        self.columns = step_columns(self.funnel.stages, self.funnel_arrays.names, self.lever_labels)
        self.counts = engine.count_stages(self.population.stage, len(self.funnel.stages))
        self.flows: dict[str, Any] = {}  # the step in progress's flows, filled phase by phase
        self.record: dict[str, Any] = {}
        self._record_state(np.zeros(len(self.levers)))
        self.datacollector = record_collector(self.columns)
        for lever in self.levers:
            lever.init(self)
        self.datacollector.collect(self)

    @property
    def day(self) -> float:
        """Day at the start of the step in progress."""
        return (self.steps - 1) * self.dt

    @property
    def n_customers(self) -> int:
        """Consumers in customer stages at the start of the step in progress."""
        return int(self.counts[self.funnel_arrays.is_customer].sum())

    def segment_codes(self, names: tuple[str, ...]) -> np.ndarray:
        """Integer codes of segments, for comparing with ``population.segment``."""
        return np.array([self.segment_names.index(s) for s in names], dtype=np.int8)

    def spent(self, lever: Lever) -> float:
        """What ``lever`` has cost before the step in progress."""
        return float(self.cum_cost[next(i for i, x in enumerate(self.levers) if x is lever)])

    @property
    def search_success(self) -> float:
        """Chance a search finds convincing public word of mouth, rising with public shares."""
        half = self.spec.sharing.search_half
        return self.public_shares / (self.public_shares + half)

    def place_seeds(self, who: np.ndarray) -> None:
        """Make consumers ``who`` sharers now (seeding).

        Those not yet customers count as acquired by seeding, without a purchase.
        """
        pop = self.population
        stage = self.funnel.index(self.funnel.sharer_stages[0])
        pop.place(who, stage, self.steps, Source.SEEDED)
        if self.funnel_arrays.is_customer[stage]:
            new = who[pop.acquired_step[who] < 0]
            pop.acquired_step[new] = self.steps
            self.flows["new_customers_seeded"] = self.flows.get("new_customers_seeded", 0) + len(
                new
            )

    # ----------------------------------------------------------------------------------- the step
    def step(self) -> None:
        """Advance one step in the documented order."""
        self.flows = {}
        active = [lever.active(self.day) for lever in self.levers]
        with engine.kernel_threads(self.population.n):
            costs = self._levers_act(active)
            factors = self._lever_factors(active)
            n_shared, sharers = self._share(factors)
            self._move(factors, n_shared, sharers)
            costs += self._levers_book(active)
            self._record_state(costs)
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

    def _lever_factors(self, active: list[bool]) -> dict[Any, Factor]:
        """Active levers' factors combined.

        Keys are ``"share"``, ``"repeat"`` or (transition, driver), transition -1 meaning all.
        """
        names = self.funnel_arrays.names
        combined: dict[Any, Factor] = {}
        for lever, on in zip(self.levers, active, strict=True):
            if not on:
                continue
            for target, factor in lever.multipliers(self).items():
                transition, _, driver = target.rpartition(":")
                if target in ("share", "repeat"):
                    keys = [target]
                elif target in names:
                    keys = [(names.index(target), d) for d in range(len(DRIVERS))]
                elif driver in DRIVERS and (not transition or transition in names):
                    keys = [(names.index(transition) if transition else -1, DRIVERS.index(driver))]
                else:
                    raise ValueError(f"lever {lever.kind} returned unknown target {target!r}")
                for key in keys:
                    combined[key] = combined.get(key, 1.0) * factor
        return combined

    def _share(self, factors: dict[Any, Factor]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        pop, sharing = self.population, self.spec.sharing
        scalar, array = _split(factors.get("share", 1.0))
        tracked, dark = engine.draw_shares(
            pop.stage,
            self.funnel_arrays.is_sharer,
            pop.share_propensity,
            sharing.p_share,
            scalar,
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
        self.flows["shares_tracked"], self.flows["shares_dark"] = tracked, dark
        return np.array([tracked, dark], dtype=np.int64), sharers

    def _move(self, factors: dict[Any, Factor], n_shared: np.ndarray, sharers) -> None:
        fa, pop, net = self.funnel_arrays, self.population, self.network
        scalar, array = _split(factors.get("repeat", 1.0))
        self.flows["new_repeat_purchases"] = engine.draw_repeats(
            pop.stage,
            fa.is_customer,
            self.spec.brand.repeat,
            scalar,
            array,
            self.dt,
            self._keys["repeat"],
            self.steps,
            pop.purchases,
        )
        reach = self.spec.sharing.reach
        if net.implicit:
            reach *= min(1.0, net.contacts / max(1, net.n - 1))
        rates = fa.drivers.copy()
        arrays = []
        for key, factor in factors.items():
            if isinstance(key, str):
                continue
            t, d = key
            if np.isscalar(factor):
                rates[slice(None) if t == -1 else t, d] *= factor
            else:
                arrays.append((t, d, np.asarray(factor, dtype=np.float64)))
        rates[:, 3] *= self.search_success
        arr_t = np.array([a[0] for a in arrays], dtype=np.int64)
        arr_d = np.array([a[1] for a in arrays], dtype=np.int64)
        arr_vals = np.stack([a[2] for a in arrays]) if arrays else np.empty((0, pop.n))
        moves = np.zeros(len(fa.names), dtype=np.int64)
        new_customers = np.zeros(len(Source), dtype=np.int64)
        self.flows["new_purchases"] = engine.apply_transitions(
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
            reach,
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
        for s in SOURCES:
            code = Source[s.upper()]
            self.flows[f"new_customers_{s}"] = self.flows.get(f"new_customers_{s}", 0) + int(
                new_customers[code]
            )
        for name, k in zip(fa.names, moves, strict=True):
            self.flows[f"new_{name.replace('->', '_to_')}"] = int(k)

    def _record_state(self, costs: np.ndarray) -> None:
        """This step's row: stocks from the state now, flows from the step just taken."""
        self.counts = engine.count_stages(self.population.stage, len(self.funnel.stages))
        self.cum_cost += costs
        impressions = int(self.impressions.sum()) if self.steps else 0
        self.record = step_record(self, self.counts, impressions, costs, self.flows)

    # ------------------------------------------------------------------------------------ results
    def run(self, steps: int | None = None) -> MarketModel:
        """Take ``steps`` steps (default: the scenario's); return self for chaining."""
        for _ in range(self.spec.steps if steps is None else steps):
            self.step()
        return self

    def timeseries(self) -> pd.DataFrame:
        """One row per step from step 0, in :func:`sim.metrics.step_columns` order."""
        return self.datacollector.get_model_vars_dataframe().reset_index(drop=True)

    def outcomes(self) -> dict[str, Any]:
        """The run's outcomes (see :func:`sim.metrics.outcomes`)."""
        return outcomes(self, self.timeseries())
