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
        "new_repeat_purchases",
        "revenue",
        "margin",
        "shares",
        "shares_tracked",
        "shares_dark",
        "impressions",
        *(f"new_{t.replace('->', '_to_')}" for t in transitions),
        *(f"cost_{lever}" for lever in levers),
        "cost",
    ]


def outcomes(model: MarketModel, steps: pd.DataFrame) -> dict[str, Any]:
    """Per-run outcomes from the model's final state and its per-step frame.

    Money: ``cac`` = marketing cost per acquired customer; ``profit`` = margin - marketing cost;
    ``roi`` = (margin - cost) / cost;
    ``clv`` = margin times the expected discounted purchases of a customer, 1 + r / (c + d), with
    the repeat rate r and churn rate c per customer-day measured in the run and the daily discount
    rate d. Attribution: ``customers_by_source`` is the truth; ``customers_by_source_measured`` is
    what the brand's analytics see, where dark-social and organic customers are both ``direct``.
    """
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
    margin = float(steps["margin"].sum())
    by_source = {
        s.label: int((acquired & (pop.source == s)).sum()) for s in Source if s is not Source.NONE
    }
    measured = {k: v for k, v in by_source.items() if k not in ("organic", "peer_dark")}
    measured["direct"] = by_source["organic"] + by_source["peer_dark"]
    sharers = int((pop.shares_sent > 0).sum())
    customer_days = float(
        steps[[f"n_{s}" for s in funnel.customer_stages]].iloc[:-1].to_numpy().sum() * model.dt
    )
    churn = sum(moves[t] for t in model.churn_transitions)
    discount = model.spec.brand.discount / 365.0
    lifetime = (
        1.0
        + steps["new_repeat_purchases"].sum() / customer_days / (churn / customer_days + discount)
        if customer_days and (churn or discount)
        else None
    )
    return {
        "final_customers": int(customers.sum()),
        "cum_customers": int(cum[-1]),
        "market_share": float(customers.sum() / n),
        "t10": _first_step(steps, cum >= 0.1 * n),
        "t50": _first_step(steps, cum >= 0.5 * n),
        "purchases": int(steps["new_purchases"].sum() + steps["new_repeat_purchases"].sum()),
        "conversion": {
            t: (k / exits[t.split("->")[0]] if exits[t.split("->")[0]] else None)
            for t, k in moves.items()
        },
        "revenue": float(steps["revenue"].sum()),
        "margin": margin,
        "total_cost": total_cost,
        "cost_by_lever": {
            c[5:]: float(steps[c].sum()) for c in steps.columns if c.startswith("cost_")
        },
        "cac": total_cost / int(cum[-1]) if cum[-1] else None,
        "profit": margin - total_cost,
        "roi": (margin - total_cost) / total_cost if total_cost else None,
        "clv": model.spec.brand.margin * lifetime if lifetime is not None else None,
        "customers_by_source": by_source,
        "customers_by_source_measured": measured,
        "referral_customers": by_source["peer"] + by_source["peer_dark"],
        "rewards_paid": float(pop.rewards_received.sum()),
        "shares": int(steps["shares"].sum()),
        "dark_share": _ratio(steps["shares_dark"].sum(), steps["shares"].sum()),
        "sharers": sharers,
        "viral_k": _ratio(by_source["peer"] + by_source["peer_dark"], sharers),
    }


def referral_tree(model: MarketModel) -> pd.DataFrame:
    """Who brought whom: one row per consumer first reached by a peer (referrer, referee, step)."""
    pop = model.population
    referee = np.flatnonzero(pop.referrer >= 0)
    return pd.DataFrame(
        {
            "referrer": pop.referrer[referee],
            "referee": referee,
            "step": pop.touch_step[referee],
            "channel": np.where(pop.source[referee] == Source.PEER_DARK, "dark", "tracked"),
            "customer": pop.acquired_step[referee] >= 0,
        }
    )


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
