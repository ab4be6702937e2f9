"""Marketing levers: direction of effects (paired replicates), exact money, schedules, bad input."""

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.model import MarketModel
from sim.scenario import scenario_from_dict
from sim.seeding import _spread, choose_seeds

ADS = {"kind": "ads", "reach": 0.02, "cpm": 8.0}
SEEDS = range(20)


def market(levers=(), ads=True, **changes) -> dict:
    doc = {"steps": 100, "population": {"n": 2000}, "levers": [ADS, *levers] if ads else [*levers]}
    doc.update(changes)
    return doc


def outcomes(doc: dict, seeds=SEEDS) -> list[dict]:
    scenario = scenario_from_dict(doc)
    return [MarketModel(scenario, seed=s).run().outcomes() for s in seeds]


def assert_raises(base: list[dict], treated: list[dict], metric, what: str) -> None:
    """Mean paired difference (same seeds: common random numbers) above 3 standard errors."""
    diff = np.array([metric(t) - metric(b) for b, t in zip(base, treated, strict=True)])
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    assert diff.mean() > 3 * se, (
        f"expected {what} to rise: mean diff {diff.mean():.4g}, SE {se:.3g}"
    )


@pytest.fixture(scope="module")
def baseline() -> list[dict]:
    return outcomes(market())


def test_mgm_raises_shares_referrals_and_k(baseline):
    """A referral reward raises shares, referral customers and the viral coefficient."""
    treated = outcomes(market([{"kind": "mgm", "reward_referrer": 20.0, "reward_referee": 20.0}]))
    assert_raises(baseline, treated, lambda o: o["shares"], "shares")
    assert_raises(baseline, treated, lambda o: o["referral_customers"], "referral customers")
    assert_raises(baseline, treated, lambda o: o["viral_k"], "viral K")


def test_content_raises_attention_to_interest(baseline):
    """Content quality raises the attention->interest conversion."""
    treated = outcomes(market([{"kind": "content", "quality": 1.0}]))
    assert_raises(
        baseline,
        treated,
        lambda o: o["conversion"]["attention->interest"],
        "attention->interest conversion",
    )


def test_search_raises_search_to_action(baseline):
    """Search visibility raises the search->action conversion."""
    treated = outcomes(market([{"kind": "search", "lift": 1.0}]))
    assert_raises(
        baseline, treated, lambda o: o["conversion"]["search->action"], "search->action conversion"
    )


def test_retention_lowers_churn():
    """A loyalty programme lowers the share of customers' exits that are churn."""
    churny = {"transitions": {"action->unaware": {"base": 0.01}, "share->unaware": {"base": 0.01}}}
    base = outcomes(market(funnel=churny, steps=160))  # long enough for many customers to churn
    treated = outcomes(
        market([{"kind": "retention", "churn_reduction": 0.5}], funnel=churny, steps=160)
    )
    churn = lambda o: -(o["conversion"]["action->unaware"] or 0.0)  # noqa: E731
    assert_raises(base, treated, churn, "churn reduction")


def test_more_ad_reach_more_ad_customers(baseline):
    """Five times the ad reach brings more ad-sourced customers."""
    treated = outcomes(market([{**ADS, "reach": 0.1}], ads=False))
    assert_raises(baseline, treated, lambda o: o["customers_by_source"]["ad"], "ad customers")


@pytest.mark.parametrize("rule", ["degree", "pagerank"])
def test_hub_seeding_beats_random_on_barabasi_albert(rule):
    """On a scale-free market, seeding hubs beats seeding at random (customers by day 60)."""
    net = {"kind": "barabasi_albert", "m": 3}
    seed = {"kind": "seeding", "k": 20, "cost_per_seed": 0.0}
    rnd = outcomes(market([{**seed, "rule": "random"}], ads=False, steps=60, network=net))
    hub = outcomes(market([{**seed, "rule": rule}], ads=False, steps=60, network=net))
    assert_raises(rnd, hub, lambda o: o["cum_customers"], f"{rule} over random seeding")


def test_greedy_seeding_at_least_as_good_as_degree():
    """On a small graph, CELF greedy seeds spread at least as far as the highest-degree ones."""
    scenario = scenario_from_dict(
        market(network={"kind": "barabasi_albert", "m": 2}, population={"n": 400})
    )
    net = MarketModel(scenario, seed=3).network
    rng = np.random.default_rng(0)
    greedy = choose_seeds(net, 5, "greedy", rng, greedy_p=0.1, greedy_samples=200)
    degree = choose_seeds(net, 5, "degree", rng)
    # judge both on fresh cascade samples, not the ones greedy optimised on
    seen, queue = np.zeros(net.n, dtype=np.bool_), np.empty(net.n, dtype=np.int64)
    spread = [
        _spread(net.indptr, net.indices, s, 0.1, 2000, np.uint64(99), seen, queue)
        for s in (greedy, degree)
    ]
    # 2000 samples of cascades of a few dozen nodes: SE of each mean well under 1 node
    assert spread[0] >= spread[1] - 1.0, f"greedy {spread[0]:.2f} < degree {spread[1]:.2f}"
    runs = {
        rule: outcomes(
            market(
                [{"kind": "seeding", "k": 5, "rule": rule, "greedy_p": 0.1}],
                network={"kind": "barabasi_albert", "m": 2},
                population={"n": 400},
                ads=False,
            ),
            seeds=range(30),
        )
        for rule in ("greedy", "degree")
    }
    diff = np.array(
        [
            g["cum_customers"] - d["cum_customers"]
            for g, d in zip(runs["greedy"], runs["degree"], strict=True)
        ]
    )
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    assert diff.mean() > -3 * se, f"greedy worse than degree: {diff.mean():.2f} (SE {se:.2f})"


def test_seeding_cost_is_k_times_cost_per_seed():
    """Only seeding: the total cost is exactly k x cost per seed, booked on the first day."""
    doc = market([{"kind": "seeding", "k": 25, "cost_per_seed": 40.0, "start": 10}], ads=False)
    model = MarketModel(scenario_from_dict(doc), seed=1).run()
    ts = model.timeseries()
    assert ts["cost"].sum() == 25 * 40.0
    assert ts.loc[ts["cost"] > 0, "step"].tolist() == [11]  # the step that starts on day 10
    assert model.outcomes()["customers_by_source"]["seeded"] == 25


def test_ads_total_budget_spends_exactly_the_cap():
    """A capped campaign spends its total budget to the cent, then stops showing ads."""
    ads = {"kind": "ads", "reach": 0.5, "frequency": 2, "cpm": 8.0, "total_budget": 30.0}
    model = MarketModel(scenario_from_dict(market([ads], ads=False)), seed=3).run()
    ts = model.timeseries()
    assert ts["cost_ads"].sum() == pytest.approx(30.0)  # 3,750 impressions, 2 per consumer
    spending = ts.loc[ts["cost_ads"] > 0, "step"].tolist()
    assert spending == [1, 2]  # ~16 a step, so the second step gets what is left: 14
    assert (ts.loc[ts["step"] > 2, "impressions"] == 0).all()


def test_ads_budget_cap_keeps_the_smallest_draws():
    """When the cap binds, exactly ``limit`` consumers are reached: those with the smallest draws."""
    from sim import engine
    from sim.rng import uniforms

    rng = np.random.default_rng(0)
    stage, segment = rng.integers(0, 3, 5000).astype(np.int8), np.zeros(5000, dtype=np.int8)
    key, bits = np.uint64(99), engine.stage_bits(np.array([True, True, False]))
    free, capped = np.zeros(5000, np.int32), np.zeros(5000, np.int32)
    n_free = engine.reach_ads(stage, bits, segment, np.int64(-1), 0.3, 5000, key, 4, 1, free)
    n_capped = engine.reach_ads(stage, bits, segment, np.int64(-1), 0.3, 400, key, 4, 1, capped)
    u = uniforms(key, 4, 5000)
    assert n_free == free.sum() > 400 and n_capped == capped.sum() == 400
    assert not (capped & ~free).any()
    assert u[capped == 1].max() < u[(free == 1) & (capped == 0)].min()
    eligible = stage < 2
    assert abs(n_free - 0.3 * eligible.sum()) < 4 * np.sqrt(0.3 * 0.7 * eligible.sum())


def test_ads_reach_only_their_segments():
    """Ads targeted at one segment give impressions to that segment only, at the set reach."""
    segments = [{"name": "young", "share": 0.5}, {"name": "old", "share": 0.5}]
    ads = {"kind": "ads", "reach": 0.3, "segments": ["young"]}
    doc = market([ads], ads=False, population={"n": 20000, "segments": segments})
    model = MarketModel(scenario_from_dict(doc), seed=5)
    model.step()
    young = model.population.segment == 0
    assert model.impressions[~young].sum() == 0
    reached = (model.impressions[young] > 0).mean()  # everyone starts unaware: ad-reachable
    assert abs(reached - 0.3) < 4 * np.sqrt(0.3 * 0.7 / young.sum())


def test_mgm_rewards_are_both_rewards_per_referred_customer():
    """MGM: rewards paid = (referrer + referee reward) x referred consumers who first bought."""
    doc = market([{"kind": "mgm", "reward_referrer": 7.0, "reward_referee": 3.0, "start": 20}])
    model = MarketModel(scenario_from_dict(doc), seed=2).run()
    pop, ts = model.population, model.timeseries()
    referred = ((pop.referrer >= 0) & (pop.acquired_step > 20)).sum()  # steps from day 20 on
    assert referred > 0
    assert ts["cost_mgm"].sum() == pytest.approx(10.0 * referred)
    assert pop.rewards_received.sum() == pytest.approx(10.0 * referred)


def test_sources_add_up_and_measured_differs_by_dark_social():
    """Customers by source add up; measured and true attribution differ by dark-social ones only."""
    doc = market([{"kind": "seeding", "k": 10}, {"kind": "search"}])
    o = MarketModel(scenario_from_dict(doc), seed=4).run().outcomes()
    true, measured = o["customers_by_source"], o["customers_by_source_measured"]
    assert sum(true.values()) == o["cum_customers"] == sum(measured.values())
    assert measured["direct"] == true["organic"] + true["peer_dark"]
    for key in ("ad", "peer", "search", "seeded"):
        assert measured[key] == true[key]
    assert true["peer_dark"] > 0


LATE = {
    "ads": {"kind": "ads", "reach": 0.2},
    "content": {"kind": "content", "quality": 1.0},
    "mgm": {"kind": "mgm"},
    "seeding": {"kind": "seeding", "k": 30},
    "search": {"kind": "search"},
    "retention": {"kind": "retention"},
}


@pytest.mark.parametrize("kind", sorted(LATE))
def test_lever_outside_schedule_changes_nothing(kind):
    """Before its start a lever costs nothing and the run is identical to the baseline."""
    start = 40
    base = MarketModel(scenario_from_dict(market()), seed=6).run().timeseries()
    late = MarketModel(scenario_from_dict(market([{**LATE[kind], "start": start}])), seed=6)
    ts = late.run().timeseries()
    before = ts["day"] <= start  # rows up to the end of the step that ends on day 40
    cost_col = f"cost_{kind}" if kind != "ads" else "cost_ads_2"
    assert (ts.loc[before, cost_col] == 0).all()
    common = [c for c in base.columns if not c.startswith("cost")]
    pd.testing.assert_frame_equal(base.loc[before, common], ts.loc[before, common])
    assert not base[common].equals(ts[common]), "the lever should change the run once it starts"


@pytest.mark.parametrize(
    "lever, field",
    [
        ({"kind": "content", "quality": 1.5}, "levers.0.quality"),
        ({"kind": "mgm", "reward_referrer": -1}, "levers.0.reward_referrer"),
        ({"kind": "seeding", "rule": "loudest"}, "levers.0.rule"),
        ({"kind": "seeding", "k": 5000}, "levers.0.k"),
        ({"kind": "search", "transition": "search->buy"}, "levers.0.transition"),
        ({"kind": "retention", "churn_reduction": 2}, "levers.0.churn_reduction"),
        ({"kind": "ads", "reach": 0.1, "budget": 10.0}, "levers.0"),
        ({"kind": "content", "start": 10, "end": 5}, "levers.0"),
    ],
)
def test_bad_lever_parameters_exit_2(tmp_path, capsys, lever, field):
    """Bad lever parameters get one line naming the field and exit code 2."""
    import tomli_w

    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps({"population": {"n": 1000}, "levers": [lever]}))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {field}"), err
