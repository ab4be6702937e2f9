"""A plain Mesa-agent reference implementation of the market, for docking and for reading.

Each consumer is a :class:`Consumer` agent that holds its own state and draws every random event
literally from Mesa's generators: a sharer shares, each share reaches each friend, a transition
fires. The array engine (:mod:`sim.model` with :mod:`sim.engine`) implements the same rules with
counter-based uniforms and the exact marginal over a share's reach; tests/test_docking.py checks
that both give the same distributions. Both read the same market (network and traits from the
run's named streams) and share the hazard formula (:func:`sim.engine.component_log_survival`) and
the per-step record (:func:`sim.model.step_record`); every rule of the step is written out again
here, so that docking checks it.

Plain Python, so dozens of times slower than the array engine: for reading, teaching and
docking, not for experiments. Of the levers it implements ``ads`` only.
"""

from __future__ import annotations

import math
from collections import Counter

import mesa
import numpy as np
import pandas as pd

from sim.engine import DARK, TRACKED, component_log_survival
from sim.funnel import DRIVERS, Transition
from sim.levers import Ads
from sim.metrics import SOURCES, step_columns
from sim.model import lever_labels, record_collector, step_record
from sim.population import Population, Source
from sim.rng import make_rng
from sim.scenario import Scenario

CAUSES = {"base": Source.ORGANIC, "ad": Source.AD, "search": Source.SEARCH}
"""First-touch source of each driver but ``wom`` (whose source depends on the share's channel)."""


def per_step(p_day: float, dt: float) -> float:
    """The probability per step of length ``dt`` days of an event with probability ``p_day`` a day."""
    return 1.0 - (1.0 - min(p_day, 1.0)) ** dt


class Consumer(mesa.Agent):
    """One consumer: its stage, traits and history, and what reached it this step.

    The model calls the phases of a step for every consumer in turn: :meth:`share` (sharers talk
    to their friends), :meth:`listen` (complete graph only), :meth:`step` (decide the next stage
    from the state at the start of the step) and :meth:`advance` (commit). Decisions read only the
    consumer's own start-of-step state and the shares it received, so the order of consumers
    within a phase does not matter.
    """

    def __init__(
        self,
        model: AgentMarketModel,
        index: int,
        segment: str,
        ad_susceptibility: float,
        peer_trust: float,
        share_propensity: float,
    ):
        super().__init__(model)
        self.index = index  # id in the network (and in the array engine)
        self.segment = segment
        self.ad_susceptibility = ad_susceptibility  # multiplies the ad driver
        self.peer_trust = peer_trust  # multiplies the wom driver
        self.share_propensity = share_propensity  # multiplies the share probability
        self.friends: list[Consumer] = []  # network neighbours (none on the complete graph)
        self.stage = model.funnel.stages[0]
        self.entry_step = 0  # step it entered its stage
        self.source = Source.NONE  # how it was first touched
        self.touch_step = -1
        self.referrer = -1  # index of the consumer whose share first touched it
        self.acquired_step = -1  # step it first became a customer
        self.purchases = 0
        self.shares_sent = 0
        # this step only
        self.impressions = 0  # ad impressions seen
        self.shared = 0  # 0, TRACKED or DARK
        self.inbox: list[Consumer] = []  # senders of the shares that reached it
        self.decision: Transition | None = None
        self.first_touch: tuple[Source, int] = (Source.NONE, -1)
        self.buys_again = False

    def share(self) -> None:
        """Phase 2: a sharer shares with its probability; each friend receives it w.p. ``reach``."""
        model = self.model
        if self.stage not in model.funnel.sharer_stages:
            return
        p = per_step(model.sharing.p_share * self.share_propensity, model.dt)
        if self.random.random() >= p:
            return
        self.shared = DARK if self.random.random() < model.sharing.dark else TRACKED
        self.shares_sent += 1
        for friend in self.friends:
            if self.random.random() < model.reach:
                friend.inbox.append(self)

    def listen(self) -> None:
        """Phase 2 on the complete graph: each other sharer's share reaches it w.p. ``reach``.

        The number of shares of each channel is Binomial(other sharers, reach); their senders are
        distinct sharers chosen uniformly.
        """
        model = self.model
        for kind, sharers in model.sharers.items():
            others = [s for s in sharers if s is not self] if self.shared == kind else sharers
            received = int(self.rng.binomial(len(others), model.reach))
            self.inbox.extend(self.random.sample(others, received))

    def step(self) -> None:
        """Phase 3: a customer may buy again; at most one transition fires, chosen by hazard."""
        model = self.model
        if self.stage in model.funnel.customer_stages:
            self.buys_again = self.random.random() < per_step(model.spec.brand.repeat, model.dt)
        ways_out = model.ways_out[self.stage]
        if not ways_out:
            return
        logs = [
            component_log_survival(
                t.base,
                t.ad * self.ad_susceptibility,
                t.wom * self.peer_trust,
                t.search * model.search_success,
                self.impressions,
                len(self.inbox),
                model.dt,
            )
            for t in ways_out
        ]
        hazards = [1.0 - math.exp(sum(parts)) for parts in logs]
        if self.random.random() >= 1.0 - math.prod(1.0 - h for h in hazards):
            return
        chosen = self.random.choices(range(len(ways_out)), weights=hazards)[0]
        self.decision = ways_out[chosen]
        if self.source is Source.NONE:
            self.first_touch = self._cause(logs[chosen])

    def _cause(self, logs: tuple[float, ...]) -> tuple[Source, int]:
        """The driver that moved it, in proportion to its hazard rate; for a share, its sender."""
        rates = [-x for x in logs]
        if any(math.isinf(r) for r in rates):  # a certain driver: choose among the certain ones
            rates = [1.0 if math.isinf(r) else 0.0 for r in rates]
        driver = self.random.choices(DRIVERS, weights=rates)[0]
        if driver != "wom":
            return CAUSES[driver], -1
        sender = self.random.choice(self.inbox)
        return (Source.PEER if sender.shared == TRACKED else Source.PEER_DARK), sender.index

    def advance(self) -> None:
        """Phase 4: commit the move; book first touch, purchases and acquisition; forget the step."""
        model = self.model
        if self.buys_again:
            self.purchases += 1
            model.repeat_purchases += 1
        t = self.decision
        if t is not None:
            if self.source is Source.NONE:
                self.source, self.referrer = self.first_touch
                self.touch_step = model.steps
            customers = model.funnel.customer_stages
            if t.dst in customers and t.src not in customers:
                if self.acquired_step < 0:
                    self.acquired_step = model.steps
                    model.new_customers[self.source] += 1
                self.purchases += 1
                model.purchases += 1
            model.moves[t.name] += 1
            self.stage, self.entry_step = t.dst, model.steps
        self.impressions, self.shared, self.inbox = 0, 0, []
        self.decision, self.buys_again = None, False


class AgentMarketModel(mesa.Model):
    """The reference market: the rules of :class:`sim.model.MarketModel`, one agent at a time.

    The same scenario and seed give the same network and traits as ``MarketModel`` (both draw them
    from the run's named streams); the step's randomness comes from Mesa's own generators, seeded
    with the run seed.

    Args:
        scenario: the market and strategy (defaults: :class:`Scenario`'s); levers: ``ads`` only.
        seed: root seed; defaults to ``scenario.seed``.

    Examples:
        >>> AgentMarketModel(Scenario(steps=30, population={"n": 300}), seed=7).run().timeseries()
    """

    def __init__(self, scenario: Scenario | None = None, seed: int | None = None):
        scenario = scenario if scenario is not None else Scenario()
        seed = scenario.seed if seed is None else int(seed)
        super().__init__(rng=seed)
        self.spec, self.seed, self.dt = scenario, seed, scenario.dt
        self.sharing = scenario.sharing
        self.funnel = scenario.funnel.funnel()
        self.funnel_arrays = self.funnel.arrays()  # the record's transition order
        self.ways_out = {
            s: [t for t in self.funnel.transitions if t.src == s] for s in self.funnel.stages
        }
        self.levers = scenario.lever_objects
        other = sorted({lever.kind for lever in self.levers if not isinstance(lever, Ads)})
        if other:
            raise NotImplementedError(f"the agent reference implements ads only, not: {other}")
        self.lever_labels = lever_labels(self.levers)

        n = scenario.population.n
        network = scenario.network.build(n, make_rng(seed, "network"))
        specs = scenario.population.segments
        traits = Population.create(n, tuple(s.segment() for s in specs), make_rng(seed, "traits"))
        self.consumers = [
            Consumer(
                self,
                i,
                specs[traits.segment[i]].name,
                float(traits.ad_susceptibility[i]),
                float(traits.peer_trust[i]),
                float(traits.share_propensity[i]),
            )
            for i in range(n)
        ]
        self.complete = network.implicit
        if self.complete:  # per pair: a share reaches `contacts` of the n - 1 others on average
            self.reach = self.sharing.reach * min(1.0, network.contacts / max(1, n - 1))
        else:
            self.reach = self.sharing.reach
            for i, consumer in enumerate(self.consumers):
                ids = network.indices[network.indptr[i] : network.indptr[i + 1]]
                consumer.friends = [self.consumers[j] for j in ids]
        self.sharers: dict[int, list[Consumer]] = {TRACKED: [], DARK: []}
        self.public_shares = 0  # tracked shares so far: what search can find

        self.moves: Counter[str] = Counter()  # this step's tallies, filled by the agents
        self.new_customers: Counter[Source] = Counter()
        self.purchases = 0
        self.repeat_purchases = 0
        self.cum_customers = 0
        self.cum_cost = np.zeros(len(self.levers))  # spend per lever before the step in progress
        self.columns = step_columns(self.funnel.stages, self.funnel_arrays.names, self.lever_labels)
        self.record = step_record(self, self._counts(), 0, self.cum_cost.copy(), {})
        self.datacollector = record_collector(self.columns)
        self.datacollector.collect(self)

    @property
    def search_success(self) -> float:
        """Chance a search finds convincing public word of mouth, rising with public shares."""
        return self.public_shares / (self.public_shares + self.sharing.search_half)

    def step(self) -> None:
        """One step: ads, shares, decisions, commits, record (the order of ``MarketModel``)."""
        day = (self.steps - 1) * self.dt
        self.moves, self.new_customers = Counter(), Counter()
        self.purchases = self.repeat_purchases = 0
        costs = np.array(
            [
                self._show_ads(ads, spent) if ads.active(day) else 0.0
                for ads, spent in zip(self.levers, self.cum_cost, strict=True)
            ]
        )
        impressions = sum(c.impressions for c in self.consumers)
        self.agents.do("share")
        self.sharers = {
            kind: [c for c in self.consumers if c.shared == kind] for kind in (TRACKED, DARK)
        }
        if self.complete:
            self.agents.do("listen")
        self.agents.do("step")
        self.agents.do("advance")
        tracked, dark = len(self.sharers[TRACKED]), len(self.sharers[DARK])
        self.public_shares += tracked
        flows = {f"new_customers_{s}": self.new_customers[Source[s.upper()]] for s in SOURCES}
        flows.update({f"new_{t.replace('->', '_to_')}": k for t, k in self.moves.items()})
        flows.update(shares_tracked=tracked, shares_dark=dark)
        flows.update(new_purchases=self.purchases, new_repeat_purchases=self.repeat_purchases)
        self.cum_cost += costs
        self.record = step_record(self, self._counts(), impressions, costs, flows)
        self.datacollector.collect(self)

    def _show_ads(self, ads: Ads, spent: float) -> float:
        """Phase 1: each targeted consumer in an ad stage sees the ad with the lever's probability.

        The probability is the lever's reach per step or, with a budget, the impressions it buys
        spread evenly over the targeted consumers, and no more than what is left of its total
        budget after ``spent`` buys. Returns the cost.
        """
        targeted = [
            c
            for c in self.consumers
            if c.stage in self.funnel.ad_stages and (not ads.segments or c.segment in ads.segments)
        ]
        if ads.reach is not None:
            p = per_step(ads.reach, self.dt)
        else:
            bought = ads.budget * self.dt / ads.cpm * 1000.0 if ads.cpm else math.inf
            p = min(1.0, bought / max(1, ads.frequency * len(targeted)))
        if ads.total_budget is not None and ads.cpm:
            left = max(0.0, ads.total_budget - spent) / ads.cpm * 1000.0
            p = min(p, left / max(1, ads.frequency * len(targeted)))
        shown = 0
        for consumer in targeted:
            if self.random.random() < p:
                consumer.impressions += ads.frequency
                shown += ads.frequency
        return shown * ads.cpm / 1000.0

    def _counts(self) -> list[int]:
        counts = Counter(c.stage for c in self.consumers)
        return [counts[s] for s in self.funnel.stages]

    def run(self, steps: int | None = None) -> AgentMarketModel:
        """Take ``steps`` steps (default: the scenario's); return self for chaining."""
        for _ in range(self.spec.steps if steps is None else steps):
            self.step()
        return self

    def timeseries(self) -> pd.DataFrame:
        """One row per step from step 0, with the columns of ``MarketModel.timeseries()``."""
        return self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
