"""Stylized facts of diffusion on networks (MODEL.md validation targets), on paired replicates."""

import numpy as np
import pytest

from sim.model import MarketModel
from sim.scenario import load_scenario

from .conftest import SCENARIOS

SEEDS = range(16)


def classroom_runs(*overrides: str, seeds=SEEDS) -> list:
    scenario = load_scenario(SCENARIOS / "classroom.toml", ["population.n=1000", *overrides])
    return [MarketModel(scenario, seed=s).run().timeseries() for s in seeds]


def t_half(ts) -> float:
    """Day by which half of the market was acquired (the run's end if never)."""
    hit = np.flatnonzero(ts["cum_customers"].to_numpy() >= 0.5 * ts["n_unaware"].iloc[0])
    return float(ts["day"].iloc[hit[0]] if len(hit) else ts["day"].iloc[-1])


def assert_earlier(fast: list, slow: list, what: str) -> None:
    """Paired over seeds, the mean difference in t50 is below zero by more than 3 SE."""
    diff = np.array([t_half(f) - t_half(s) for f, s in zip(fast, slow, strict=True)])
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    assert diff.mean() < -3 * se, (
        f"expected {what}: mean t50 difference {diff.mean():.2f} (SE {se:.2f})"
    )


@pytest.fixture(scope="module")
def baseline() -> list:
    return classroom_runs()


def test_adoption_is_s_shaped(baseline):
    """New customers rise then fall: the peak of the adoption rate is inside the run."""
    for ts in baseline:
        rate = ts["new_customers"].rolling(7, center=True).mean().to_numpy()
        peak = int(np.nanargmax(rate))
        assert 10 < peak < len(rate) - 10, f"adoption peak at the edge (step {peak})"
        cum = ts["cum_customers"].to_numpy()
        assert cum[peak] < 0.9 * cum[-1], "most adoption should come after the start of the peak"


def test_more_word_of_mouth_spreads_faster(baseline):
    """More sharing (p_share) moves half-adoption earlier."""
    assert_earlier(classroom_runs("sharing.p_share=0.9"), baseline, "more sharing to be faster")


def test_rewiring_spreads_faster_at_equal_degree():
    """Shortcuts (rewiring p = 0.3) spread faster than a ring lattice (p = 0) of the same degree."""
    assert_earlier(
        classroom_runs("network.p=0.3"),
        classroom_runs("network.p=0.0"),
        "a small world to beat a ring lattice",
    )
