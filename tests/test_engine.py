"""The compiled kernels' shortcuts (batches, idle stages, the screening bound, compact counts)
decide exactly what the plain rule decides, consumer by consumer."""

import math

import numba
import numpy as np
import pandas as pd
import pytest

from sim import engine
from sim import network as nets
from sim.funnel import preset
from sim.model import MarketModel
from sim.population import Source
from sim.rng import uniforms
from sim.scenario import scenario_from_dict

log_survival = engine.component_log_survival  # compiled: log1p(-1) is -inf, as in the kernels


def market(n: int = 3000, seed: int = 0):
    """A mid-run AISAS market on a small world: mixed stages, traits, ads and shares."""
    rng = np.random.default_rng(seed)
    net = nets.watts_strogatz(n, 10, 0.1, rng)
    stage = rng.choice(6, size=n, p=[0.5, 0.2, 0.1, 0.05, 0.05, 0.1]).astype(np.int8)
    shared = np.where(stage == 5, rng.integers(0, 3, size=n), 0).astype(np.int8)
    impressions = (rng.random(n) < 0.3).astype(np.int32) * rng.integers(
        1, 4, size=n, dtype=np.int32
    )
    traits = rng.gamma(4.0, 0.25, size=(2, n))
    return net, stage, shared, impressions, traits


def test_count_stages_is_bincount():
    stage = np.random.default_rng(1).choice(
        7, size=10_001, p=[0.7, 0.1, 0.1, 0.05, 0.03, 0.02, 0.0]
    )
    stage = stage.astype(np.int8)
    np.testing.assert_array_equal(engine.count_stages(stage, 7), np.bincount(stage, minlength=7))


@pytest.mark.parametrize("hub", [100, 300, 70_000])
def test_exposures_count_every_share_in_a_compact_buffer(hub):
    """Pushed from sharers in batches: the same counts as np.add.at over every sharing edge."""
    rng = np.random.default_rng(hub)
    n = max(2 * hub, 5000)
    u = np.concatenate([np.zeros(hub, np.int64), rng.integers(0, n, size=20_000)])
    v = np.concatenate([np.arange(1, hub + 1), rng.integers(0, n, size=20_000)])
    net = nets.from_edges(n, u, v, "test")
    buffer = engine.exposure_buffer(net)
    expected_dtype = np.uint8 if hub < 255 else np.uint16 if hub < 65535 else np.int32
    assert buffer.dtype == expected_dtype and buffer.shape == (2, n)
    shared = rng.integers(0, 3, size=n).astype(np.int8)
    engine.count_exposures(net.indptr, net.indices, shared, buffer)
    src = np.repeat(np.arange(n), net.degree())
    want = np.zeros((2, n), np.int64)
    for kind in (engine.TRACKED, engine.DARK):
        sends = shared[src] == kind
        np.add.at(want[kind - 1], net.indices[sends], 1)
    np.testing.assert_array_equal(buffer, want)


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_draw_shares_follows_the_rule(dt):
    """One uniform per sharer: dark below p·dark, tracked below p, else nothing."""
    n, key, step = 4000, np.uint64(99), 7
    _, stage, _, _, traits = market(n)
    is_sharer = np.array([False, False, False, False, True, True])
    shared, sent = np.full(n, 9, np.int8), np.zeros(n, np.int32)
    counts = engine.draw_shares(
        stage, is_sharer, traits[0], 0.3, 1.5, np.empty(0), 0.4, dt, key, step, shared, sent
    )
    u = uniforms(key, step, n)
    p = 1.0 - (1.0 - np.minimum(0.3 * 1.5 * traits[0], 1.0)) ** dt
    want = np.where(is_sharer[stage], np.where(u < p * 0.4, 2, np.where(u < p, 1, 0)), 0)
    np.testing.assert_array_equal(shared, want)
    np.testing.assert_array_equal(sent, want > 0)
    assert counts == ((want == 1).sum(), (want == 2).sum())


def plain_moves(
    stage, rates, reach, out_ptr, dst, impressions, exposures, traits, factor, dt, key, step
):
    """Each consumer's next stage by the rule written out, with no shortcut."""
    u = uniforms(key, step, len(stage))
    new = stage.copy()
    for i, s in enumerate(stage):
        lo, hi = out_ptr[s], out_ptr[s + 1]
        logs = []
        for t in range(lo, hi):
            b, a, w, sr = (
                rates[t, 0],
                rates[t, 1] * traits[0, i],
                rates[t, 2] * traits[1, i],
                rates[t, 3],
            )
            if factor is not None and factor[0] == t:
                b, a, w, sr = (
                    b * factor[1][i],
                    a * factor[1][i],
                    w * factor[1][i],
                    sr * factor[1][i],
                )
            w = reach * min(w, 1.0)  # reached, then persuaded with at most certainty
            logs.append(sum(log_survival(b, a, w, sr, impressions[i], exposures[i], dt)))
        p_any = 1.0 - math.exp(sum(logs))
        if hi == lo or u[i] >= p_any:
            continue
        h = [1.0 - math.exp(lt) for lt in logs]
        x = u[i] / p_any * sum(h)
        chosen = hi - 1
        for t in range(lo, hi):
            if x < h[t - lo]:
                chosen = t
                break
            x -= h[t - lo]
        new[i] = dst[chosen]
    return new


@pytest.mark.parametrize("with_factor", [False, True])
def test_apply_transitions_decides_like_the_plain_rule(with_factor):
    """Idle stages, the screening bound and batching change no consumer's move.

    Heavy ads and shares put most consumers past the shortcuts; a per-consumer factor on the
    search->action transition (as MGM gives) exercises the factor path.
    """
    n, key, step, dt = 3000, np.uint64(5), 3, 1.0
    net, stage, shared, impressions, traits = market(n)
    fa = preset("aisas").arrays()
    rates = fa.drivers.copy()
    rates[:, 1] *= 5.0  # strong ads and word of mouth: many consumers move
    rates[:, 2] *= 8.0  # with reach 0.5 and high peer trust, some persuade with certainty
    rates[:, 3] *= 0.4
    exposures = engine.exposure_buffer(net)
    engine.count_exposures(net.indptr, net.indices, shared, exposures)
    factor = None
    arr_t, arr_d, arr_vals = np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, n))
    if with_factor:
        t = fa.names.index("search->action")
        values = 1.0 + 3.0 * (np.arange(n) % 2)
        factor = (t, values)
        arr_t, arr_d = np.full(4, t, np.int64), np.arange(4, dtype=np.int64)
        arr_vals = np.tile(values, (4, 1))
    want = plain_moves(
        stage,
        rates,
        0.5,
        fa.out_ptr,
        fa.dst,
        impressions,
        exposures.sum(axis=0),
        traits,
        factor,
        dt,
        key,
        step,
    )
    got, source, referrer = stage.copy(), np.zeros(n, np.int8), np.full(n, -1, np.int32)
    moves = np.zeros(len(fa.names), np.int64)
    bookkeeping = [np.zeros(n, np.int32), np.zeros(n, np.int32)]  # entry_step, purchases
    steps = [np.full(n, -1, np.int32), np.full(n, -1, np.int32)]  # touch_step, acquired_step
    engine.apply_transitions(
        got,
        bookkeeping[0],
        source,
        referrer,
        bookkeeping[1],
        *steps,
        fa.out_ptr,
        fa.dst,
        rates,
        0.5,
        arr_t,
        arr_d,
        arr_vals,
        traits[0],
        traits[1],
        impressions,
        exposures,
        False,
        np.zeros(2, np.int64),
        shared,
        np.empty(0, np.int64),
        np.empty(0, np.int64),
        net.indptr,
        net.indices,
        fa.is_customer,
        dt,
        key,
        np.uint64(6),
        step,
        moves,
        np.zeros(len(Source), np.int64),
    )
    assert (got != stage).mean() > 0.05, "the market should be moving"
    np.testing.assert_array_equal(got, want)
    assert moves.sum() == (got != stage).sum()
    # a first touch by a share names a neighbour who shared through that channel
    for kind, src in ((engine.TRACKED, Source.PEER), (engine.DARK, Source.PEER_DARK)):
        touched = np.flatnonzero(source == src)
        assert len(touched) > 20
        for i in touched:
            assert referrer[i] in net.indices[net.indptr[i] : net.indptr[i + 1]]
            assert shared[referrer[i]] == kind


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
def test_results_do_not_depend_on_the_number_of_threads():
    """Chunks on 1 or 2 threads: the same run, bit for bit (draws are counter-based)."""
    doc = {
        "steps": 40,
        "population": {"n": 3 * (1 << 14) + 5},  # several chunks, the last one short
        "levers": [{"kind": "ads", "reach": 0.2}, {"kind": "mgm"}, {"kind": "retention"}],
    }
    runs = []
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            model = MarketModel(scenario_from_dict(doc), seed=8).run()
            pop = model.population
            runs.append((model.timeseries(), pop.stage, pop.source, pop.referrer, pop.purchases))
    finally:
        numba.set_num_threads(before)
    one, two = runs
    pd.testing.assert_frame_equal(one[0], two[0])
    for a, b in zip(one[1:], two[1:], strict=True):
        np.testing.assert_array_equal(a, b)
    assert one[0]["cum_customers"].iloc[-1] > 1000
