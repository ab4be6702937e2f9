"""Marketing levers: the plug-ins a strategy is made of, each with a schedule, effects and costs.

A lever is a frozen, validated parameter set with four hooks, called by the model in step order:

* ``init(model)`` once, before step 1;
* ``act(model, rng) -> cost``: while scheduled, do what the lever does this step (draw ad
  impressions, place seeds) and return the money it spent doing so;
* ``multipliers(model) -> {target: factor}``: while scheduled, scale drivers. A target is a driver
  for every transition (``"wom"``), one transition's driver (``"attention->interest:base"``), or the
  share probability (``"share"``); a factor is a number or a per-consumer array;
* ``book(model) -> cost``: after transitions, money owed for this step's outcomes (rewards).

Levers never write their parameters or the model's drivers: they return effects, and the model
combines them. Each lever draws from its own random stream, named after its position and kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from sim.model import MarketModel

Factor = float | np.ndarray


class Lever(BaseModel):
    """Base class: the schedule shared by every lever (days; ``end`` is exclusive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
    segments: tuple[str, ...] = Field((), description="segments targeted; empty = everyone")

    @model_validator(mode="after")
    def _one_volume(self) -> Ads:
        if (self.reach is None) == (self.budget is None):
            raise ValueError("give exactly one of reach or budget")
        return self

    def act(self, model: MarketModel, rng: np.random.Generator) -> float:
        """Draw who sees an ad this step and add their impressions; return their cost."""
        pop = model.population
        eligible = model.funnel_arrays.is_ad[pop.stage]
        if self.segments:
            eligible &= np.isin(pop.segment, model.segment_codes(self.segments))
        u = rng.random(pop.n, dtype=np.float32)  # fixed shape: the same draws whatever the state
        if self.reach is not None:
            p = 1.0 - (1.0 - self.reach) ** model.dt
        else:
            wanted = self.budget * model.dt / self.cpm * 1000.0 if self.cpm else np.inf
            p = min(1.0, wanted / max(1, self.frequency * int(eligible.sum())))
        reached = eligible & (u < p)
        model.impressions[reached] += self.frequency
        return float(reached.sum()) * self.frequency * self.cpm / 1000.0


LEVERS: dict[str, type[Lever]] = {"ads": Ads}
"""The registry scenario files name levers by (``kind = "ads"``)."""
