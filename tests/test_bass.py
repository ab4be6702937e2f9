"""Bass (1969) docking: the ``bass`` preset on the implicit complete graph reproduces the Bass model.

MODEL.md, validation targets: with one step per period (dt = 1) every run of N = 100,000 stays
within 0.01 of the discrete mean-field recursion of the rule the engine implements; with
dt = 0.01 the mean of 20 runs stays within 0.01 of Bass's closed form and the adoption rate peaks
within 0.1 of t* = ln(q/p)/(p+q) = 6.19. A dt = 1 engine lags the closed form: that is
discretisation, not a bug (REFERENCES.md 1.4).
"""

import math
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pytest
from scipy import stats

from sim.experiment import one_thread
from sim.model import MarketModel
from sim.scenario import Scenario, load_scenario

from .conftest import SCENARIOS

pytestmark = pytest.mark.slow

BASS = SCENARIOS / "bass_docking.toml"
TRANSITION = "potential->adopter"


def closed_form(t: np.ndarray, p: float, q: float) -> np.ndarray:
    """Bass's cumulative adoption F(t) with F(0) = 0."""
    e = np.exp(-(p + q) * t)
    return (1 - e) / (1 + q / p * e)


def p_q(scenario: Scenario) -> tuple[float, float]:
    t = scenario.funnel.funnel().transition(TRANSITION)
    return t.base, t.wom


def adoption(args: tuple[Scenario, int]) -> np.ndarray:
    """F at every step of one run (share of the market that has adopted)."""
    scenario, seed = args
    ts = MarketModel(scenario, seed=seed).run().timeseries()
    return ts["n_adopter"].to_numpy() / scenario.population.n


def adoption_curves(scenario: Scenario, seeds, parallel: bool = False) -> np.ndarray:
    """F of each run (rows); long runs are independent, so ``parallel`` spreads them over cores."""
    jobs = [(scenario, s) for s in seeds]
    if not parallel:
        return np.array([adoption(job) for job in jobs])
    workers = min(len(jobs), os.cpu_count() or 1)
    spawn = get_context("spawn")  # numba's OpenMP threads do not survive fork (mesa 3.5 leaves it)
    with ProcessPoolExecutor(max_workers=workers, mp_context=spawn, initializer=one_thread) as pool:
        return np.array(list(pool.map(adoption, jobs)))


@pytest.fixture(scope="module")
def dt1() -> tuple[Scenario, np.ndarray]:
    """The bundled scenario (dt = 1, N = 100,000, 30 steps), 20 runs."""
    scenario = load_scenario(BASS)
    return scenario, adoption_curves(scenario, range(20))


def test_dt1_every_run_follows_the_discrete_recursion(dt1):
    """Each adopter shares every period (p_share = 1) and one share reaches each other consumer
    with probability contacts/(N-1) = 1/(N-1), persuading with probability q; so a potential
    adopter adopts with probability 1 - (1-p)(1 - q/(N-1))^(N F). Its mean-field recursion is
    F(t+1) = F + (1-F)(1 - (1-p)(1 - q/(N-1))^(N F))."""
    scenario, runs = dt1
    sharing, net = scenario.sharing, scenario.network
    assert (scenario.dt, sharing.p_share, sharing.reach, net.contacts) == (1.0, 1.0, 1.0, 1.0)
    p, q = p_q(scenario)
    n = scenario.population.n
    recursion = [0.0]
    for _ in range(scenario.steps):
        f = recursion[-1]
        recursion.append(f + (1 - f) * (1 - (1 - p) * (1 - q / (n - 1)) ** (n * f)))
    recursion = np.array(recursion)

    worst = np.abs(runs - recursion).max(axis=1)
    assert (worst < 0.01).all(), f"largest deviation of each run: {worst.round(4)}"
    # The mean of R runs: within the two-sided 1 % t-quantile, Bonferroni-corrected over the
    # steps, of its standard error at each step (about 4.4 SE with 20 runs). The floor, 5e-4,
    # covers what the mean-field recursion leaves out at N = 100,000 (a finite-N correction of a
    # few 1e-4: REFERENCES.md 1.4 measures 0.0002) and the steps where every run agrees (SE 0).
    r = len(runs)
    se = runs.std(axis=0, ddof=1) / math.sqrt(r)
    k = stats.t.ppf(1 - 0.01 / (2 * scenario.steps), df=r - 1)
    gap = np.abs(runs.mean(axis=0) - recursion)
    assert (gap <= k * se + 5e-4).all(), f"mean off by {gap.max():.4f} at step {gap.argmax()}"


def test_dt1_lags_the_closed_form(dt1):
    """One step per period is explicit-Euler-like: it lags Bass's continuous curve by up to ~0.1
    (0.099 for this rule in REFERENCES.md 1.4) and adoption peaks in period 8, not at t* = 6.19.
    Discretisation, not a bug: the dt = 0.01 test below closes the gap."""
    scenario, runs = dt1
    p, q = p_q(scenario)
    t = np.arange(scenario.steps + 1) * scenario.dt
    lag = closed_form(t, p, q) - runs.mean(axis=0)
    assert (lag[1:16] > 0).all(), "behind the closed form all the way up the S-curve"
    assert 0.08 < lag.max() < 0.12
    assert 7 <= t[lag.argmax()] <= 9
    assert np.diff(runs.mean(axis=0)).argmax() + 1 == 8  # the largest increment is period 7 -> 8


def peak_time(f: np.ndarray, dt: float) -> float:
    """When the adoption rate dF/dt peaks, from F on a fine grid.

    The rate is flat at its top (0.1 period away it is only 0.2 % lower), so the arg max of a
    moving average wanders by +-0.3 period with 20 runs of 100,000. Instead: start at the arg max
    of a 0.5-period moving average, then fit a parabola to the rate over +-1.5 periods and move to
    its vertex until it settles (a local quadratic smoother; on the exact Bass curve it finds t*
    to 1e-4, and on these runs halves of the runs agree within 0.04).
    """
    rate = np.diff(f) / dt
    t = (np.arange(len(rate)) + 0.5) * dt  # each increment belongs to the middle of its step
    w = round(0.5 / dt)
    smooth = np.convolve(rate, np.ones(w) / w, mode="same")
    centre = t[smooth[w:-w].argmax() + w]
    for _ in range(5):
        near = np.abs(t - centre) <= 1.5
        a, b, _ = np.polyfit(t[near] - centre, rate[near], 2)
        centre -= b / (2 * a)
    return float(centre)


def test_small_dt_matches_the_closed_form():
    """dt = 0.01: the mean of 20 runs within 0.01 of F(t) at every step, peak within 0.1 of t*.

    Rates are given per period and turned into per-step probabilities as 1 - (1 - x)^dt, whose
    small-dt limit is the rate -ln(1 - x). To make the limit exactly Bass's p and q: base =
    1 - e^-p (rate p), and p_share = 1 - e^-1, so that an adopter shares at rate 1 per period and
    each share persuades a given consumer with q/(N-1): imitation at rate q F. (With base = p, the
    limit rate would be -ln(1 - 0.03) = 0.0305, 1.5 % high: the +0.004 in F of MODEL.md's note.)
    What remains is O(dt): the recursion of this rule at dt = 0.01 trails F(t) by at most 0.0036,
    and sampling adds about 0.0008 (one SE) with 20 runs, well inside 0.01.
    """
    p, q, dt = 0.03, 0.38, 0.01
    scenario = load_scenario(
        BASS,
        [
            f"dt={dt}",
            "steps=2000",
            f'funnel.transitions."{TRANSITION}".base={1 - math.exp(-p)}',
            f"sharing.p_share={1 - math.exp(-1)}",
        ],
    )
    assert p_q(load_scenario(BASS)) == (p, q)
    runs = adoption_curves(scenario, range(20), parallel=True)  # 20 x 2000 steps of 100,000
    mean = runs.mean(axis=0)
    t = np.arange(len(mean)) * dt
    gap = np.abs(mean - closed_form(t, p, q))
    assert gap.max() < 0.01, f"mean off the closed form by {gap.max():.4f} at t = {t[gap.argmax()]}"
    t_star = math.log(q / p) / (p + q)
    assert abs(t_star - 6.19) < 0.005
    assert abs(peak_time(mean, dt) - t_star) < 0.1
