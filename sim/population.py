"""All per-consumer state, as arrays owned by one object (Starsim's ``People``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

TRAITS = ("ad_susceptibility", "peer_trust", "share_propensity", "price_sensitivity")
"""Per-consumer multipliers with mean 1 within a segment: on the ad driver, on the wom driver, on the
share probability, and on price response (used by economics)."""


class Source(IntEnum):
    """How a consumer was first reached (first touch)."""

    NONE = 0
    ORGANIC = 1
    AD = 2
    PEER = 3
    PEER_DARK = 4
    SEARCH = 5
    SEEDED = 6

    @property
    def label(self) -> str:
        """The lower-case name used in columns and files."""
        return self.name.lower()


@dataclass(frozen=True)
class TraitDist:
    """A trait's distribution in a segment: gamma with this mean and standard deviation (sd 0: fixed)."""

    mean: float = 1.0
    sd: float = 0.0

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` independent values."""
        if self.sd == 0 or size == 0:
            return np.full(size, self.mean)
        shape = (self.mean / self.sd) ** 2
        return rng.gamma(shape, self.sd**2 / self.mean, size=size)


@dataclass(frozen=True)
class Segment:
    """A group of consumers with its share of the population and trait distributions."""

    name: str
    share: float
    traits: tuple[tuple[str, TraitDist], ...] = ()

    def trait(self, name: str) -> TraitDist:
        """The distribution of trait ``name`` (mean 1, sd 0 when not given)."""
        return dict(self.traits).get(name, TraitDist())


def segment_sizes(shares: list[float], n: int) -> np.ndarray:
    """Exact segment sizes summing to n, by largest remainder."""
    raw = np.asarray(shares, dtype=float) / np.sum(shares) * n
    sizes = np.floor(raw).astype(np.int64)
    sizes[np.argsort(sizes - raw)[: n - sizes.sum()]] += 1
    return sizes


@dataclass
class Population:
    """Consumer state arrays, all of length n. ``referrer`` is -1 when nobody referred the consumer."""

    stage: np.ndarray  # int8, index into Funnel.stages
    entry_step: np.ndarray  # int32, step at which the consumer entered its current stage
    source: np.ndarray  # int8, Source of first touch
    referrer: np.ndarray  # int32
    touch_step: np.ndarray  # int32, step of first touch (-1: not yet reached)
    acquired_step: np.ndarray  # int32, step the consumer first became a customer (-1: never)
    purchases: np.ndarray  # int32, purchases so far
    rewards_received: np.ndarray  # float64, money received as referral rewards
    shares_sent: np.ndarray  # int32, shares sent so far
    segment: np.ndarray  # int8, index into the segments
    ad_susceptibility: np.ndarray
    peer_trust: np.ndarray
    share_propensity: np.ndarray
    price_sensitivity: np.ndarray

    @classmethod
    def create(cls, n: int, segments: tuple[Segment, ...], rng: np.random.Generator) -> Population:
        """Everyone in stage 0, unreached; segments assigned in exact proportions, traits drawn."""
        sizes = segment_sizes([s.share for s in segments], n)
        segment = rng.permutation(np.repeat(np.arange(len(segments), dtype=np.int8), sizes))
        traits = {}
        for name in TRAITS:
            values = np.empty(n)
            for code, seg in enumerate(segments):  # trait by trait, so adding one keeps the others
                members = segment == code
                values[members] = seg.trait(name).draw(rng, int(members.sum()))
            traits[name] = values
        return cls(
            stage=np.zeros(n, dtype=np.int8),
            entry_step=np.zeros(n, dtype=np.int32),
            source=np.zeros(n, dtype=np.int8),
            referrer=np.full(n, -1, dtype=np.int32),
            touch_step=np.full(n, -1, dtype=np.int32),
            acquired_step=np.full(n, -1, dtype=np.int32),
            purchases=np.zeros(n, dtype=np.int32),
            rewards_received=np.zeros(n),
            shares_sent=np.zeros(n, dtype=np.int32),
            segment=segment,
            **traits,
        )

    @property
    def n(self) -> int:
        """Number of consumers."""
        return len(self.stage)

    def place(self, who: np.ndarray, stage: int, step: int, source: Source) -> None:
        """Move consumers ``who`` into ``stage`` at ``step`` (seeding), recording their first touch."""
        self.stage[who] = stage
        self.entry_step[who] = step
        fresh = who[self.source[who] == Source.NONE]
        self.source[fresh] = source
        self.touch_step[fresh] = step
