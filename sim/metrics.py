"""What a run reports: the per-step record's columns and the per-run outcomes computed from them."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.population import Source

if TYPE_CHECKING:
    from sim.model import MarketModel

SOURCES = tuple(s.label for s in Source if s is not Source.NONE)
"""Acquisition sources, as column suffixes: organic, ad, peer, peer_dark, search, seeded."""


def step_columns(
    stages: tuple[str, ...], transitions: tuple[str, ...], levers: tuple[str, ...]
) -> list[str]:
    """Columns of the per-step record, in order: stocks, customer flows, shares, moves, costs."""
    return [
        "step",
        "day",
        *(f"n_{s}" for s in stages),
        "new_customers",
        "cum_customers",
        *(f"new_customers_{s}" for s in SOURCES),
        "new_purchases",
        "shares",
        "shares_tracked",
        "shares_dark",
        "impressions",
        *(f"new_{t.replace('->', '_to_')}" for t in transitions),
        *(f"cost_{lever}" for lever in levers),
        "cost",
    ]


def outcomes(model: MarketModel, steps: pd.DataFrame) -> dict[str, Any]:
    """Per-run outcomes from the model's final state and its per-step frame."""
    pop, funnel, n = model.population, model.funnel, model.population.n
    customers = funnel.role_mask("customer")[pop.stage]
    acquired = pop.acquired_step >= 0
    cum = steps["cum_customers"].to_numpy()
    moves = {
        t: int(steps[f"new_{t.replace('->', '_to_')}"].sum()) for t in model.funnel_arrays.names
    }
    exits: dict[str, int] = {}
    for t, k in moves.items():
        exits[t.split("->")[0]] = exits.get(t.split("->")[0], 0) + k
    total_cost = float(steps["cost"].sum())
    sharers = int((pop.shares_sent > 0).sum())
    referred = int((acquired & np.isin(pop.source, (Source.PEER, Source.PEER_DARK))).sum())
    return {
        "final_customers": int(customers.sum()),
        "cum_customers": int(cum[-1]),
        "market_share": float(customers.sum() / n),
        "t10": _first_step(steps, cum >= 0.1 * n),
        "t50": _first_step(steps, cum >= 0.5 * n),
        "purchases": int(pop.purchases.sum()),
        "conversion": {
            t: (k / exits[t.split("->")[0]] if exits[t.split("->")[0]] else None)
            for t, k in moves.items()
        },
        "total_cost": total_cost,
        "cost_by_lever": {
            c[5:]: float(steps[c].sum()) for c in steps.columns if c.startswith("cost_")
        },
        "cac": total_cost / int(cum[-1]) if cum[-1] else None,
        "customers_by_source": {
            s.label: int((acquired & (pop.source == s)).sum())
            for s in Source
            if s is not Source.NONE
        },
        "shares": int(steps["shares"].sum()),
        "dark_share": _ratio(steps["shares_dark"].sum(), steps["shares"].sum()),
        "sharers": sharers,
        "viral_k": _ratio(referred, sharers),
    }


def _first_step(steps: pd.DataFrame, reached: np.ndarray) -> int | None:
    hit = np.flatnonzero(reached)
    return int(steps["step"].iloc[hit[0]]) if len(hit) else None


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b else None


def clean(x: Any) -> Any:
    """JSON-safe: NaN and infinities become None."""
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
