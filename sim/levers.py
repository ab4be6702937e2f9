"""Marketing levers: the plug-ins a strategy is made of, each with a schedule, effects and costs.

A lever is a frozen, validated parameter set with four hooks, called by the model in step order:

* ``init(model)`` once, before step 1;
* ``act(model, rng) -> cost``: while scheduled, do what the lever does this step (draw ad
  impressions, place seeds) and return the money it spent doing so;
* ``multipliers(model) -> {target: factor}``: while scheduled, scale drivers. A target is a driver
  for every transition (``"wom"``), one transition's driver (``"attention->interest:base"``), all
  drivers of one transition (``"search->action"``), the share probability (``"share"``) or the
  repeat-purchase probability (``"repeat"``); a factor is a number or a per-consumer array;
* ``book(model) -> cost``: after transitions, money owed for this step's outcomes (rewards).

Levers never write their parameters or the model's drivers: they return effects, and the model
combines them. Each lever draws from its own random stream, named after its kind (numbered when
a kind repeats), so adding a lever never shifts another's draws. Effect sizes are parameters with
defaults marked "assumption" in their descriptions: published work gives directions and orders of
magnitude (REFERENCES.md section 6), not these numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim import engine
from sim.seeding import RULES, choose_seeds

if TYPE_CHECKING:
    from sim.funnel import Funnel
    from sim.model import MarketModel

Factor = float | np.ndarray


class Lever(BaseModel):
    """Base class: the schedule shared by every lever (days; ``end`` is exclusive)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    kind: str
    start: float = Field(0.0, ge=0, description="first day the lever is active; day")
    end: float | None = Field(
        None, ge=0, description="day the lever stops (exclusive); none = never"
    )
    pulse_on: float | None = Field(
        None, gt=0, description="flighting: days on per cycle; none = always on"
    )
    pulse_off: float = Field(0.0, ge=0, description="flighting: days off per cycle; day")

    @model_validator(mode="after")
    def _schedule_in_order(self) -> Lever:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end must be greater than start ({self.start}) (got {self.end})")
        return self

    def active(self, day: float) -> bool:
        """Is the lever scheduled on ``day`` (the day the current step starts)?"""
        if day < self.start or (self.end is not None and day >= self.end):
            return False
        if self.pulse_on is None:
            return True
        return (day - self.start) % (self.pulse_on + self.pulse_off) < self.pulse_on

    def check(self, funnel: Funnel, n: int) -> list[str]:
        """Problems with this lever in a given market (field-relative messages; none by default)."""
        return []

    def first_step(self, model: MarketModel) -> bool:
        """Is the step in progress the first one of the lever's schedule?"""
        return self.start <= model.day < self.start + model.dt

    def init(self, model: MarketModel) -> None:
        """Prepare before the first step (nothing by default)."""

    def act(self, model: MarketModel, rng: np.random.Generator) -> float:
        """Act this step; return the money spent (nothing by default)."""
        return 0.0

    def multipliers(self, model: MarketModel) -> dict[str, Factor]:
        """Factors on drivers this step (none by default)."""
        return {}

    def book(self, model: MarketModel) -> float:
        """Money owed for this step's outcomes (nothing by default)."""
        return 0.0


class Ads(Lever):
    """Paid advertising: impressions to consumers in ad-reachable stages.

    Either ``reach`` (share of the targeted consumers reached per day) or ``budget`` (money per day,
    bought at ``cpm``) sets the volume; each reached consumer gets ``frequency`` impressions.

    Examples:
        >>> Ads(reach=0.05, cpm=8.0)
        >>> Ads(budget=500.0, cpm=8.0, segments=("young",), start=30, end=60)
    """

    kind: Literal["ads"] = "ads"
    reach: float | None = Field(
        None, ge=0, le=1, description="share of targeted consumers reached per day"
    )
    budget: float | None = Field(None, ge=0, description="money spent per day; currency/day")
    cpm: float = Field(8.0, ge=0, description="cost per 1000 impressions; currency (assumption)")
    frequency: int = Field(1, ge=1, le=100, description="impressions per reached consumer per step")
    segments: tuple[str, ...] = Field(
        (), strict=False, description="segments targeted; empty = everyone"
    )
    total_budget: float | None = Field(
        None, ge=0, description="cap on the campaign's total spend; currency; none = no cap"
    )

    @model_validator(mode="after")
    def _one_volume(self) -> Ads:
        if (self.reach is None) == (self.budget is None):
            raise ValueError(
                f"give exactly one of reach or budget (got reach={self.reach}, budget={self.budget})"
            )
        return self

    def act(self, model: MarketModel, rng: np.random.Generator) -> float:
        """Draw who sees an ad this step and add their impressions; return their cost.

        One key a step from the lever's stream feeds counter-based uniforms, one per consumer.
        """
        pop = model.population
        ad_stages = engine.stage_bits(model.funnel_arrays.is_ad)
        segments = np.int64(-1)  # every segment
        if self.segments:
            codes = np.arange(len(model.segment_names))
            segments = engine.stage_bits(np.isin(codes, model.segment_codes(self.segments)))
        if self.reach is not None:
            p = 1.0 - (1.0 - self.reach) ** model.dt
        else:
            wanted = self.budget * model.dt / self.cpm * 1000.0 if self.cpm else np.inf
            targeted = engine.count_targeted(pop.stage, ad_stages, pop.segment, segments)
            p = min(1.0, wanted / max(1, self.frequency * targeted))
        limit = pop.n
        if self.total_budget is not None and self.cpm:
            affordable = int((self.total_budget - model.spent(self)) / self.cpm * 1000.0)
            limit = min(pop.n, max(0, affordable // self.frequency))
        key = np.uint64(rng.bit_generator.random_raw())
        reached = engine.reach_ads(
            pop.stage,
            ad_stages,
            pop.segment,
            segments,
            p,
            limit,
            key,
            model.steps,
            self.frequency,
            model.impressions,
        )
        return reached * self.frequency * self.cpm / 1000.0


def _check_transition(name: str, funnel: Funnel) -> list[str]:
    names = [t.name for t in funnel.transitions]
    if name in names:
        return []
    return [f"transition: unknown transition {name!r}; choose one of: {', '.join(names)}"]


class Content(Lever):
    """Content marketing and storytelling: more interest from attention, more persuasive shares.

    Examples:
        >>> Content(quality=0.8, cost_per_day=300.0)
        >>> Content(quality=0.5, transition="aware->like", start=30)
    """

    kind: Literal["content"] = "content"
    quality: float = Field(0.5, ge=0, le=1, description="content quality; 0 none, 1 best in class")
    interest_lift: float = Field(
        1.0, ge=0, description="relative lift of the transition at quality 1 (assumption)"
    )
    wom_lift: float = Field(
        0.5, ge=0, description="relative lift of share persuasiveness at quality 1 (assumption)"
    )
    transition: str = Field("attention->interest", description="the step content moves")
    cost_per_day: float = Field(
        200.0, ge=0, description="production cost; currency/day (assumption)"
    )

    def check(self, funnel: Funnel, n: int) -> list[str]:
        """The transition must exist."""
        return _check_transition(self.transition, funnel)

    def act(self, model: MarketModel, rng: np.random.Generator) -> float:
        """Content is paid per day while it runs."""
        return self.cost_per_day * model.dt

    def multipliers(self, model: MarketModel) -> dict[str, Factor]:
        """More attention->interest, more persuasive shares."""
        return {
            self.transition: 1.0 + self.interest_lift * self.quality,
            "wom": 1.0 + self.wom_lift * self.quality,
        }


class Mgm(Lever):
    """Member-get-member referral programme: both sides are paid when a referred consumer first buys.

    Rewards act with diminishing returns, ``lift * (1 - exp(-reward / reward_scale))``: on the share
    probability of sharers (the referrer's reward), and on referred consumers' purchase
    transitions (the referee's reward, scaled by their price sensitivity). A referral code travels
    with the share, so referrals through dark social are rewarded too.

    Examples:
        >>> Mgm(reward_referrer=10.0, reward_referee=10.0)
        >>> Mgm(reward_referrer=25.0, reward_referee=0.0, start=60, end=120)

    References:
        Schmitt, P., Skiera, B. & Van den Bulte, C. (2011). Referral programs and customer value.
        Journal of Marketing 75(1):46-59 (a EUR 25 reward; referred customers worth >= 16 % more).
    """

    kind: Literal["mgm"] = "mgm"
    reward_referrer: float = Field(10.0, ge=0, description="paid to the referrer; currency")
    reward_referee: float = Field(10.0, ge=0, description="paid to the new customer; currency")
    share_lift: float = Field(
        1.0, ge=0, description="max relative lift of sharing from the referrer reward (assumption)"
    )
    conversion_lift: float = Field(
        0.5, ge=0, description="max relative lift of referred purchase (assumption)"
    )
    reward_scale: float = Field(
        20.0,
        gt=0,
        description="reward at which 63 % of the max lift is reached; currency (assumption)",
    )

    def _saturation(self, reward: float | np.ndarray) -> float | np.ndarray:
        return 1.0 - np.exp(-np.asarray(reward) / self.reward_scale)

    def multipliers(self, model: MarketModel) -> dict[str, Factor]:
        """Sharers share more; referred consumers buy more readily."""
        pop = model.population
        referee = 1.0 + self.conversion_lift * self._saturation(
            self.reward_referee * pop.price_sensitivity
        )
        referee = np.where(pop.referrer >= 0, referee, 1.0)
        effects: dict[str, Factor] = {
            "share": 1.0 + self.share_lift * float(self._saturation(self.reward_referrer))
        }
        for name in model.purchase_transitions:
            effects[name] = referee
        return effects

    def book(self, model: MarketModel) -> float:
        """Pay both rewards for every referred consumer who became a customer this step."""
        pop = model.population
        referees = np.flatnonzero((pop.acquired_step == model.steps) & (pop.referrer >= 0))
        pop.rewards_received[referees] += self.reward_referee
        np.add.at(pop.rewards_received, pop.referrer[referees], self.reward_referrer)
        return len(referees) * (self.reward_referrer + self.reward_referee)


class Seeding(Lever):
    """Seeding (influencers, employees, free product): k chosen consumers become sharers on day one.

    Examples:
        >>> Seeding(k=50, rule="degree", cost_per_seed=100.0)
        >>> Seeding(k=20, rule="greedy", greedy_p=0.05, start=14)
    """

    kind: Literal["seeding"] = "seeding"
    k: int = Field(20, ge=1, description="number of seeds")
    rule: Literal["random", "degree", "pagerank", "kcore", "greedy"] = Field(
        "degree", description=f"how seeds are chosen: {', '.join(RULES)}"
    )
    cost_per_seed: float = Field(
        50.0, ge=0, description="free product and fee per seed; currency (assumption)"
    )
    greedy_p: float = Field(
        0.05,
        gt=0,
        le=1,
        description="edge probability of the greedy influence estimate (assumption)",
    )
    greedy_samples: int = Field(
        100, ge=1, le=10_000, description="cascade samples per greedy influence estimate"
    )
    greedy_candidates: int = Field(
        500, ge=1, description="highest-degree consumers the greedy rule considers"
    )

    def check(self, funnel: Funnel, n: int) -> list[str]:
        """There must be enough consumers and a sharer stage."""
        problems = [] if self.k <= n else [f"k must be <= population.n ({n}) (got {self.k})"]
        if not funnel.sharer_stages:
            problems.append("kind: seeding needs a funnel with sharer stages")
        return problems

    def act(self, model: MarketModel, rng: np.random.Generator) -> float:
        """On the first scheduled step, choose the seeds and make them sharers."""
        if not self.first_step(model):
            return 0.0
        seeds = choose_seeds(
            model.network,
            self.k,
            self.rule,
            rng,
            self.greedy_p,
            self.greedy_samples,
            self.greedy_candidates,
        )
        model.place_seeds(seeds)
        return self.k * self.cost_per_seed


class Search(Lever):
    """Search visibility (SEO/SEM): those who search find the brand more easily.

    Examples:
        >>> Search(lift=1.0, cost_per_day=150.0)
        >>> Search(lift=0.5, start=0, end=90)
    """

    kind: Literal["search"] = "search"
    lift: float = Field(1.0, ge=0, description="relative lift of the transition (assumption)")
    transition: str = Field("search->action", description="the step search visibility moves")
    cost_per_day: float = Field(150.0, ge=0, description="SEO/SEM spend; currency/day (assumption)")

    def check(self, funnel: Funnel, n: int) -> list[str]:
        """The transition must exist."""
        return _check_transition(self.transition, funnel)

    def act(self, model: MarketModel, rng: np.random.Generator) -> float:
        """Search visibility is paid per day."""
        return self.cost_per_day * model.dt

    def multipliers(self, model: MarketModel) -> dict[str, Factor]:
        """Every driver of the search step scaled up."""
        return {self.transition: 1.0 + self.lift}


class Retention(Lever):
    """Loyalty and gamification (points, streaks, lotteries): less churn, more repeats and sharing.

    Examples:
        >>> Retention(churn_reduction=0.5, cost_per_customer=0.02)
        >>> Retention(repeat_lift=1.0, fatigue_reduction=0.3, start=90)
    """

    kind: Literal["retention"] = "retention"
    churn_reduction: float = Field(
        0.3, ge=0, le=1, description="relative cut of churn transitions (assumption)"
    )
    repeat_lift: float = Field(
        0.3, ge=0, description="relative lift of repeat purchase (assumption)"
    )
    fatigue_reduction: float = Field(
        0.3, ge=0, le=1, description="relative cut of share fatigue (assumption)"
    )
    cost_per_customer: float = Field(
        0.02, ge=0, description="programme cost per current customer; currency/day (assumption)"
    )

    def act(self, model: MarketModel, rng: np.random.Generator) -> float:
        """Paid per current customer per day."""
        return self.cost_per_customer * model.n_customers * model.dt

    def multipliers(self, model: MarketModel) -> dict[str, Factor]:
        """Churn and share-fatigue transitions slowed, repeat purchase raised."""
        effects: dict[str, Factor] = {"repeat": 1.0 + self.repeat_lift}
        for name in model.churn_transitions:
            effects[name] = 1.0 - self.churn_reduction
        for name in model.fatigue_transitions:
            effects[name] = 1.0 - self.fatigue_reduction
        return effects


LEVERS: dict[str, type[Lever]] = {
    "ads": Ads,
    "content": Content,
    "mgm": Mgm,
    "seeding": Seeding,
    "search": Search,
    "retention": Retention,
}
"""The registry scenario files name levers by (``kind = "ads"``)."""
