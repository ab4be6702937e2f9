"""Docking: the fast array engine and the plain Mesa-agent reference give the same distributions.

Distributional equivalence in the sense of Axtell et al. (1996): many seeds of each implementation
on small markets, mean curves equal within sampling error at every step and a two-sample test on
the final customers that does not reject. Also: the implicit complete graph behaves like an
explicit one.
"""

import numpy as np
import pytest
from scipy import stats

from sim.agent_model import AgentMarketModel
from sim.model import MarketModel
from sim.scenario import Scenario, scenario_from_dict

pytestmark = pytest.mark.slow

ALPHA = 0.01  # two-sample tests on final customers must not reject at this level
SEEDS = range(50)

# Stocks compared as they are; flows compared as running totals (steadier, and a drift in a flow
# shows up as a growing gap).
FLOWS = (
    "new_customers_organic",
    "new_customers_ad",
    "new_customers_peer",
    "new_customers_peer_dark",
    "new_customers_search",
    "new_repeat_purchases",
    "shares_tracked",
    "shares_dark",
    "impressions",
    "cost",
)


# A faster funnel than the preset's, so that a small market runs through its S-curve quickly and
# word of mouth (the part most worth docking) drives most of it.
FASTER = {
    "attention->interest": {"base": 0.05, "wom": 0.4},
    "interest->search": {"base": 0.2},
    "search->action": {"base": 0.1, "wom": 0.2},
}


def aisas_market() -> Scenario:
    """A small AISAS market that exercises every rule: two segments with spread-out traits, ads to
    everyone plus a budgeted, scheduled campaign aimed at one segment, tracked and dark shares in
    unequal parts, and search that pays off early (small search_half). In 100 days about three
    quarters of the market become customers."""
    return scenario_from_dict(
        {
            "steps": 100,
            "population": {
                "n": 300,
                "segments": [
                    {
                        "name": "mainstream",
                        "share": 0.7,
                        "ad_susceptibility": {"sd": 0.5},
                        "peer_trust": {"sd": 0.4},
                        "share_propensity": {"sd": 0.5},
                    },
                    {
                        "name": "fans",
                        "share": 0.3,
                        "peer_trust": {"mean": 1.5, "sd": 0.5},
                        "share_propensity": {"mean": 2.0, "sd": 0.8},
                    },
                ],
            },
            "network": {"kind": "watts_strogatz", "k": 8, "p": 0.1},
            "funnel": {"transitions": FASTER},
            "sharing": {"dark": 0.3, "search_half": 20},
            "levers": [
                {"kind": "ads", "reach": 0.05},
                {
                    "kind": "ads",
                    "budget": 0.5,
                    "cpm": 10.0,
                    "segments": ["fans"],
                    "start": 10,
                    "end": 40,
                },
            ],
        }
    )


def curves(model_class, scenario: Scenario, seeds) -> dict[str, np.ndarray]:
    """Column -> array (seeds, steps + 1): stocks as recorded, FLOWS as running totals."""
    runs = [model_class(scenario, seed=s).run().timeseries() for s in seeds]
    out = {}
    for column in runs[0].columns:
        values = np.array([run[column].to_numpy(dtype=float) for run in runs])
        out[column] = values.cumsum(axis=1) if column in FLOWS else values
    return out


def assert_same_means(a: dict[str, np.ndarray], b: dict[str, np.ndarray], columns) -> float:
    """Mean curves of a and b agree within 4 standard errors (+ 1/seeds) at every step.

    Run s of a and of b use seed s, hence the same market; the per-seed differences are then
    independent across seeds and the standard error of their mean, sd(diff)/sqrt(seeds), is exact
    however the two runs of a pair are correlated. |mean diff| > 4 SE has probability ~2e-4 per
    comparison with 50 seeds (t, 49 df); comparisons along time are strongly correlated, so over
    all steps and columns a false alarm is unlikely, and with fixed seeds the outcome is
    deterministic. The floor, one consumer in one run, is the resolution of the counts.

    Returns the largest |mean diff| / SE seen (for reporting).
    """
    worst = 0.0
    for column in columns:
        diff = a[column] - b[column]
        n = len(diff)
        mean = diff.mean(axis=0)
        se = diff.std(axis=0, ddof=1) / np.sqrt(n)
        bad = np.flatnonzero(np.abs(mean) > 4 * se + 1 / n)
        assert not len(bad), (
            f"{column}: mean curves differ at steps {bad[:10].tolist()}; "
            f"a {a[column].mean(0)[bad[:3]]}, b {b[column].mean(0)[bad[:3]]}, SE {se[bad[:3]]}"
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.abs(mean) / se
        worst = max(worst, float(np.nanmax(np.where(se > 0, z, 0.0))))
    return worst


def stage_columns(scenario: Scenario) -> list[str]:
    return [f"n_{s}" for s in scenario.funnel.funnel().stages] + ["cum_customers"]


def final_customers(c: dict[str, np.ndarray], scenario: Scenario) -> np.ndarray:
    return sum(c[f"n_{s}"][:, -1] for s in scenario.funnel.funnel().customer_stages)


def test_fast_engine_docks_with_agent_reference_on_aisas():
    """Same mean stage curves, acquisition sources, shares and ad spend; same final customers."""
    scenario = aisas_market()
    fast = curves(MarketModel, scenario, SEEDS)
    ref = curves(AgentMarketModel, scenario, SEEDS)
    assert_same_means(fast, ref, stage_columns(scenario) + list(FLOWS))
    # the market must actually move for the comparison to mean anything
    assert 0.1 < fast["cum_customers"][:, -1].mean() / scenario.population.n < 0.9
    a, b = final_customers(fast, scenario), final_customers(ref, scenario)
    assert stats.ks_2samp(a, b).pvalue > ALPHA
    assert stats.mannwhitneyu(a, b).pvalue > ALPHA


def test_fast_engine_docks_with_agent_reference_on_complete_graph():
    """Bass on the implicit complete graph: the reference's Binomial messages match the engine."""
    scenario = scenario_from_dict(
        {
            "steps": 12,  # through the steep part of the curve
            "population": {"n": 300},
            "network": {"kind": "complete", "contacts": 1.0},
            "funnel": {"preset": "bass"},
            "sharing": {"p_share": 1.0, "reach": 1.0, "dark": 0.3},
        }
    )
    seeds = range(80)  # short, cheap runs: more seeds than above for the noisy early steps
    fast = curves(MarketModel, scenario, seeds)
    ref = curves(AgentMarketModel, scenario, seeds)
    assert_same_means(fast, ref, [*stage_columns(scenario), *FLOWS[:4], "shares_dark"])
    mid = 6  # adopters mid-curve, where runs differ most
    assert stats.ks_2samp(fast["n_adopter"][:, mid], ref["n_adopter"][:, mid]).pvalue > ALPHA


def test_implicit_complete_graph_matches_explicit_complete_graph(tmp_path):
    """The never-materialised complete graph and an edge list of every pair give the same
    distributions in the fast engine, for the same reach per pair."""
    n = 150
    u, v = np.triu_indices(n, 1)
    edges = tmp_path / "complete.txt"
    np.savetxt(edges, np.column_stack([u, v]), fmt="%d")
    base = {
        "steps": 80,
        "population": {"n": n},
        "funnel": {"transitions": FASTER},
        "sharing": {"reach": 0.05, "search_half": 20},
        "levers": [{"kind": "ads", "reach": 0.1}],
    }
    implicit = scenario_from_dict({**base, "network": {"kind": "complete", "contacts": n - 1}})
    explicit = scenario_from_dict({**base, "network": {"kind": "edgelist", "path": str(edges)}})
    assert (MarketModel(explicit, seed=0).network.degree() == n - 1).all()
    seeds = range(60)
    a, b = curves(MarketModel, implicit, seeds), curves(MarketModel, explicit, seeds)
    assert_same_means(a, b, stage_columns(implicit) + list(FLOWS))
    assert 0.1 < a["cum_customers"][:, -1].mean() / n < 0.9
    fa, fb = final_customers(a, implicit), final_customers(b, explicit)
    assert stats.ks_2samp(fa, fb).pvalue > ALPHA
