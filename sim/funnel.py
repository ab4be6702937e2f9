"""The consumer journey as data: stages, transitions with their drivers, stage roles and presets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

DRIVERS = ("base", "ad", "wom", "search")
"""Independent causes of a transition: ``base`` (organic, per day), ``ad`` (per impression),
``wom`` (per peer share that reaches the consumer) and ``search`` (per day, at full search success)."""


@dataclass(frozen=True)
class Transition:
    """One move ``src -> dst`` whose per-step hazard combines independent drivers.

    h = 1 - (1 - base)^dt (1 - ad)^impressions (1 - wom)^(shares received) (1 - search·S)^dt,
    where S in [0, 1) is the search success given the public shares so far.

    Args:
        src: stage left.
        dst: stage entered.
        base: organic probability per day.
        ad: probability per ad impression.
        wom: probability per peer share received.
        search: probability per day when search success is full.
    """

    src: str
    dst: str
    base: float = 0.0
    ad: float = 0.0
    wom: float = 0.0
    search: float = 0.0

    @property
    def name(self) -> str:
        """The transition's key in scenario files, ``"src->dst"``."""
        return f"{self.src}->{self.dst}"

    def drivers(self) -> tuple[float, ...]:
        """The driver probabilities in :data:`DRIVERS` order."""
        return tuple(getattr(self, d) for d in DRIVERS)


@dataclass(frozen=True)
class Funnel:
    """Stages, transitions and stage roles; the first stage is where every consumer starts.

    Args:
        stages: stage names in journey order.
        transitions: the allowed moves.
        customer_stages: stages whose consumers count as customers (entering one is a purchase).
        sharer_stages: stages whose consumers share about the brand.
        ad_stages: stages that ads can reach.

    Examples:
        >>> Funnel(("potential", "adopter"), (Transition("potential", "adopter", base=0.03),),
        ...        customer_stages=("adopter",), sharer_stages=("adopter",))
        >>> preset("aisas").index("search")
        3
    """

    stages: tuple[str, ...]
    transitions: tuple[Transition, ...]
    customer_stages: tuple[str, ...] = ()
    sharer_stages: tuple[str, ...] = ()
    ad_stages: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not 2 <= len(self.stages) <= 64 or len(set(self.stages)) != len(self.stages):
            raise ValueError(
                f"funnel.stages must be 2 to 64 distinct names (got {len(self.stages)} names, "
                f"{len(set(self.stages))} distinct)"
            )
        known = set(self.stages)
        fields = {
            "customer_stages": "customers",
            "sharer_stages": "sharers",
            "ad_stages": "ad_stages",
        }
        for role, name in fields.items():
            unknown = set(getattr(self, role)) - known
            if unknown:
                raise ValueError(
                    f"funnel.{name} has unknown stage {sorted(unknown)[0]!r}; "
                    f"choose from: {', '.join(self.stages)}"
                )
        seen = set()
        for t in self.transitions:
            for end in (t.src, t.dst):
                if end not in known:
                    raise ValueError(
                        f"funnel transition {t.name} names unknown stage {end!r}; "
                        f"choose from: {', '.join(self.stages)}"
                    )
            if t.src == t.dst or t.name in seen:
                raise ValueError(f"funnel transition {t.name} is a self-loop or repeated")
            seen.add(t.name)
            for d, v in zip(DRIVERS, t.drivers(), strict=True):
                if not 0.0 <= v <= 1.0:
                    raise ValueError(f"funnel.transitions.{t.name}.{d} must be in [0, 1] (got {v})")

    def index(self, stage: str) -> int:
        """The integer code of ``stage`` in the population's stage array."""
        return self.stages.index(stage)

    def transition(self, name: str) -> Transition:
        """The transition called ``"src->dst"``."""
        for t in self.transitions:
            if t.name == name:
                return t
        raise KeyError(name)

    def with_transitions(self, changes: dict[str, dict[str, float]]) -> Funnel:
        """A copy with some transitions' drivers changed, or new transitions added."""
        current = {t.name: t for t in self.transitions}
        for name, values in changes.items():
            src, _, dst = name.partition("->")
            current[name] = replace(current.get(name, Transition(src, dst)), **values)
        return replace(self, transitions=tuple(current.values()))

    def role_mask(self, role: str) -> np.ndarray:
        """Boolean per stage: is it one of the ``role`` stages (``customer``, ``sharer``, ``ad``)?"""
        names = getattr(self, f"{role}_stages")
        return np.array([s in names for s in self.stages])

    def arrays(self) -> FunnelArrays:
        """The compiled form the step kernels read."""
        order = sorted(
            range(len(self.transitions)), key=lambda j: self.index(self.transitions[j].src)
        )
        ts = [self.transitions[j] for j in order]
        src = np.array([self.index(t.src) for t in ts], dtype=np.int64)
        out_ptr = np.searchsorted(src, np.arange(len(self.stages) + 1)).astype(np.int64)
        return FunnelArrays(
            names=tuple(t.name for t in ts),
            src=src,
            dst=np.array([self.index(t.dst) for t in ts], dtype=np.int64),
            drivers=np.array([t.drivers() for t in ts], dtype=np.float64).reshape(len(ts), 4),
            out_ptr=out_ptr,
            is_customer=self.role_mask("customer"),
            is_sharer=self.role_mask("sharer"),
            is_ad=self.role_mask("ad"),
        )


@dataclass(frozen=True)
class FunnelArrays:
    """A funnel as arrays: transitions sorted by source stage, with a CSR pointer per stage."""

    names: tuple[str, ...]
    src: np.ndarray
    dst: np.ndarray
    drivers: np.ndarray  # (transitions, 4) in DRIVERS order
    out_ptr: np.ndarray  # transitions out of stage s are out_ptr[s]:out_ptr[s + 1]
    is_customer: np.ndarray
    is_sharer: np.ndarray
    is_ad: np.ndarray


def _aisas() -> Funnel:
    # Rates per day; all are assumptions chosen so a 10,000-consumer market with modest ads
    # moves visibly within six months. AISAS itself publishes no rates (REFERENCES.md, AISAS note).
    t = Transition
    return Funnel(
        stages=("unaware", "attention", "interest", "search", "action", "share"),
        transitions=(
            t("unaware", "attention", base=0.0002, ad=0.03, wom=0.2, search=0.002),
            t("attention", "interest", base=0.02, ad=0.02, wom=0.2),
            t("attention", "unaware", base=0.01),  # forgetting
            t("interest", "search", base=0.08, wom=0.1),
            t("interest", "attention", base=0.01),  # interest decays
            t("search", "action", base=0.02, wom=0.1, search=0.3),
            t("search", "interest", base=0.05),  # search found nothing convincing
            t("action", "share", base=0.1),
            t("action", "unaware", base=0.001),  # churn
            t("share", "action", base=0.05),  # share fatigue
            t("share", "unaware", base=0.001),  # churn
        ),
        customer_stages=("action", "share"),
        sharer_stages=("share",),
        ad_stages=("unaware", "attention", "interest"),
    )


def _aida() -> Funnel:
    t = Transition
    return Funnel(
        stages=("unaware", "attention", "interest", "desire", "action"),
        transitions=(
            t("unaware", "attention", base=0.0002, ad=0.03, wom=0.05),
            t("attention", "interest", base=0.01, ad=0.02, wom=0.05),
            t("attention", "unaware", base=0.02),
            t("interest", "desire", base=0.03, ad=0.01, wom=0.05),
            t("interest", "attention", base=0.02),
            t("desire", "action", base=0.05),
            t("desire", "interest", base=0.02),
            t("action", "unaware", base=0.001),
        ),
        customer_stages=("action",),
        sharer_stages=("action",),
        ad_stages=("unaware", "attention", "interest", "desire"),
    )


def _referral7() -> Funnel:
    t = Transition
    return Funnel(
        stages=("unaware", "aware", "like", "trust", "try", "buy", "repurchase", "refer"),
        transitions=(
            t("unaware", "aware", base=0.0002, ad=0.03, wom=0.05),
            t("aware", "like", base=0.02, ad=0.01, wom=0.06),
            t("aware", "unaware", base=0.02),
            t("like", "trust", base=0.02, wom=0.08),
            t("like", "aware", base=0.01),
            t("trust", "try", base=0.03, wom=0.03),
            t("try", "buy", base=0.1),
            t("try", "trust", base=0.05),
            t("buy", "repurchase", base=0.03),
            t("buy", "unaware", base=0.002),
            t("repurchase", "refer", base=0.05),
            t("repurchase", "unaware", base=0.001),
            t("refer", "repurchase", base=0.1),
        ),
        customer_stages=("buy", "repurchase", "refer"),
        sharer_stages=("refer",),
        ad_stages=("unaware", "aware", "like"),
    )


def _bass() -> Funnel:
    # Bass (1969) with the mean-field averages of Sultan, Farley & Lehmann (1990): p = 0.03, q = 0.38
    # per period. On the complete graph with contacts = 1, one share reaches each other consumer with
    # probability 1/(n-1), so wom = q gives the hazard 1 - (1-p)(1 - q/(n-1))^adopters.
    return Funnel(
        stages=("potential", "adopter"),
        transitions=(Transition("potential", "adopter", base=0.03, wom=0.38),),
        customer_stages=("adopter",),
        sharer_stages=("adopter",),
        ad_stages=("potential",),
    )


PRESETS = {"aisas": _aisas, "aida": _aida, "referral7": _referral7, "bass": _bass}


def preset(name: str) -> Funnel:
    """A bundled funnel: ``aisas`` (default), ``aida``, ``referral7`` or ``bass``."""
    if name not in PRESETS:
        raise ValueError(f"unknown funnel preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]()
