"""The array step: compiled kernels from start-of-step state to this step's shares and transitions.

Everything here is a pure function of arrays; ``MarketModel.step`` calls them in order. A share that
reaches a consumer persuades it with probability ``wom`` (times its peer trust and lever factors, at
most 1), and each neighbour's share reaches it with probability ``reach``, so one neighbour share is
worth ``1 - reach·wom`` of survival. The kernels use
that exact marginal instead of drawing every edge (the Mesa reference draws every edge; the docking
tests check both give the same distributions).

Speed (benchmarks/README.md has the figures): every draw is counter-based, so a consumer's outcome
does not depend on the order in which consumers are visited or skipped. That lets the kernels skip
work without changing a single result: consumers whose hazards equal their stage's take the stage's
precomputed probability, an upper bound screens out most of the others before any log or exp, and
the sparse phases (sharers, exposed consumers, movers) go in batches whose scattered memory reads
are issued together. tests/test_engine.py checks each shortcut against the plain rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numba
import numpy as np

from sim.population import Source
from sim.rng import uniform

if TYPE_CHECKING:
    from sim.network import Network

TRACKED, DARK = 1, 2  # share kinds in ``shared``; 0 = did not share
_DRIVER_SOURCE = np.array([Source.ORGANIC, Source.AD, Source.PEER, Source.SEARCH], dtype=np.int8)
_NONE, _PEER_DARK = int(Source.NONE), int(Source.PEER_DARK)  # plain ints for the kernels


@numba.njit(cache=True)
def component_log_survival(
    base: float, ad: float, wom: float, search: float, impressions: int, exposures: int, dt: float
) -> tuple[float, float, float, float]:
    """Log of the probability that each driver does *not* move a consumer this step.

    Args:
        base: organic probability per day.
        ad: probability per impression.
        wom: probability per neighbour share (already times reach).
        search: search probability per day (already times search success).
        impressions: ad impressions received this step.
        exposures: neighbour shares this step.
        dt: step length in days.
    """
    lb = dt * math.log1p(-min(base, 1.0)) if base > 0 else 0.0
    la = impressions * math.log1p(-min(ad, 1.0)) if ad > 0 and impressions > 0 else 0.0
    lw = exposures * math.log1p(-min(wom, 1.0)) if wom > 0 and exposures > 0 else 0.0
    ls = dt * math.log1p(-min(search, 1.0)) if search > 0 else 0.0
    return lb, la, lw, ls


@numba.njit(inline="always")
def _per_step(p_day: float, dt: float) -> float:
    """The probability per step of ``dt`` days of an event with probability ``p_day`` a day."""
    q = 1.0 - min(p_day, 1.0)
    return 1.0 - (q if dt == 1.0 else q**dt)  # pow(q, 1.0) == q exactly: skip its cost


@numba.njit(inline="always")
def _batch(codes: np.ndarray, selected: np.ndarray, start: int, ids: np.ndarray) -> tuple[int, int]:
    """The next consumers ``i >= start`` with ``selected[codes[i]]``, at most ``len(ids)`` of them.

    Writes their ids into ``ids`` and returns (how many, where to resume). The sparse phases handle
    a batch at a time so that the memory reads of its consumers overlap: a loop that branches on
    every consumer waits for each scattered read in turn.
    """
    k = 0
    i = start
    while i < len(codes) and k < len(ids):
        ids[k] = i
        k += selected[codes[i]]
        i += 1
    return k, i


def stage_bits(mask: np.ndarray) -> np.int64:
    """A boolean per stage (or segment) as a bit set, bit s for code s (at most 64 codes).

    Kernels test membership with ``(bits >> code) & 1``: unlike a table lookup, that vectorises.
    """
    bits = sum(1 << int(s) for s in np.flatnonzero(mask))
    return np.array([bits], dtype=np.uint64).view(np.int64)[0]  # bit 63 is the sign bit


@numba.njit(inline="always")
def _in(bits: np.int64, code: int) -> int:
    """1 if ``code`` is in the bit set ``bits``, else 0."""
    return (bits >> np.int64(code)) & 1


@numba.njit(cache=True, parallel=True)
def reach_ads(
    stage: np.ndarray,
    ad_stages: np.int64,
    segment: np.ndarray,
    segments: np.int64,
    p: float,
    limit: int,
    key: np.uint64,
    step: int,
    frequency: int,
    impressions: np.ndarray,
) -> int:
    """Phase 1 for one ads lever: who sees its ad this step; returns how many consumers it reached.

    A consumer in ``ad_stages`` and ``segments`` (bit sets) is reached if its uniform is below
    ``p``, and gets ``frequency`` impressions. If more than ``limit`` would be reached (the budget
    runs out), only the ``limit`` with the smallest uniforms are.
    """
    n = len(stage)
    if limit < n:
        hits = 0
        for i in numba.prange(n):
            hits += (
                _in(ad_stages, stage[i]) & _in(segments, segment[i]) & (uniform(key, step, i) < p)
            )
        if hits > limit:
            draws = np.empty(hits)
            k = 0
            for i in range(n):
                u = uniform(key, step, i)
                if _in(ad_stages, stage[i]) & _in(segments, segment[i]) and u < p:
                    draws[k] = u
                    k += 1
            p = np.sort(draws)[limit] if limit > 0 else 0.0
    reached = 0
    for i in numba.prange(n):
        hit = _in(ad_stages, stage[i]) & _in(segments, segment[i]) & (uniform(key, step, i) < p)
        impressions[i] += hit * frequency
        reached += hit
    return reached


@numba.njit(cache=True, parallel=True)
def count_targeted(
    stage: np.ndarray, ad_stages: np.int64, segment: np.ndarray, segments: np.int64
) -> int:
    """Consumers in ``ad_stages`` and ``segments`` (bit sets): whom an ads budget is spread over."""
    count = 0
    for i in numba.prange(len(stage)):
        count += _in(ad_stages, stage[i]) & _in(segments, segment[i])
    return count


_BATCH = 256  # consumers per batch: the batch buffers stay in the L1 cache
_CHUNK = 1 << 14  # consumers per parallel task


@contextmanager
def kernel_threads(n: int) -> Iterator[None]:
    """Kernels for a market of n consumers on this thread's threads, or on one for one chunk.

    Within one chunk there is nothing to share out, and waking threads would cost time.
    """
    before = numba.get_num_threads()
    numba.set_num_threads(before if n > _CHUNK else 1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


@numba.njit(inline="always")
def _chunks(n: int) -> int:
    """Parallel tasks for n consumers: chunks of consumers, each on one thread.

    Chunks share no consumer and their tallies are integers summed at the end, so results do not
    depend on the number of threads.
    """
    return (n + _CHUNK - 1) // _CHUNK


_IS_SHARE = np.array([False, True, True])  # by value of ``shared``


@numba.njit(cache=True, parallel=True)
def draw_shares(
    stage: np.ndarray,
    is_sharer: np.ndarray,
    share_propensity: np.ndarray,
    p_share: float,
    mult: float,
    mult_array: np.ndarray,
    dark: float,
    dt: float,
    key: np.uint64,
    step: int,
    shared: np.ndarray,
    shares_sent: np.ndarray,
) -> tuple[int, int]:
    """Phase 2a: which sharers share this step, and through which channel.

    One uniform per sharer decides both: it shares if ``u < p`` and the share is dark social if
    ``u < p·dark``. Writes ``shared`` (0, TRACKED or DARK), counts ``shares_sent`` and returns the
    (tracked, dark) share counts.
    """
    shared[:] = 0
    per_consumer = len(mult_array) > 0
    scale = p_share * mult
    n_chunks = _chunks(len(stage))
    counts = np.zeros((n_chunks, 3), dtype=np.int64)  # by kind
    for c in numba.prange(n_chunks):
        ids = np.empty(_BATCH, dtype=np.int64)
        chunk = stage[: min(len(stage), (c + 1) * _CHUNK)]
        start = c * _CHUNK
        while start < len(chunk):
            k, start = _batch(chunk, is_sharer, start, ids)
            for j in range(k):
                i = ids[j]
                p_day = scale * share_propensity[i]
                if per_consumer:
                    p_day *= mult_array[i]
                p = _per_step(p_day, dt)
                u = uniform(key, step, i)
                kind = (u < p) * (TRACKED + (u < p * dark))  # branch-free; p·dark <= p
                shared[i] = kind
                shares_sent[i] += kind != 0
                counts[c, kind] += 1
    return counts[:, TRACKED].sum(), counts[:, DARK].sum()


@numba.njit(cache=True, parallel=True)
def count_stages(stage: np.ndarray, n_stages: int) -> np.ndarray:
    """Consumers per stage, like ``np.bincount`` at a fraction of its cost on int8 stages.

    One vectorised compare-and-count per stage over each chunk, which stays in the cache.
    """
    n_chunks = _chunks(len(stage))
    tallies = np.zeros((n_chunks, n_stages), dtype=np.int64)
    for c in numba.prange(n_chunks):
        part = stage[c * _CHUNK : (c + 1) * _CHUNK]
        for s in range(n_stages):
            count = 0
            for x in part:
                count += x == s
            tallies[c, s] = count
    return tallies.sum(axis=0)


def exposure_buffer(network: Network) -> np.ndarray:
    """A (2, n) buffer for :func:`count_exposures`, in the smallest dtype that holds any degree.

    One byte per consumer and kind on most graphs keeps the buffer in cache while shares scatter.
    """
    if network.implicit:
        return np.zeros((2, 0), dtype=np.int32)
    top = int(network.degree().max()) if network.n else 0
    dtype = np.uint8 if top <= 255 else np.uint16 if top <= 65535 else np.int32
    return np.zeros((2, network.n), dtype=dtype)


@numba.njit(cache=True)
def count_exposures(
    indptr: np.ndarray, indices: np.ndarray, shared: np.ndarray, exposures: np.ndarray
) -> None:
    """Phase 2b: neighbour shares received by each consumer, by kind (row 0 tracked, row 1 dark).

    Pushed from the sharers only, a batch of sharers at a time (see :func:`_batch`).
    """
    exposures[:] = 0
    ids = np.empty(_BATCH, dtype=np.int64)
    lo = np.empty(_BATCH, dtype=np.int64)
    hi = np.empty(_BATCH, dtype=np.int64)
    first = np.empty(_BATCH, dtype=np.int64)
    start = 0
    while start < len(shared):
        k, start = _batch(shared, _IS_SHARE, start, ids)
        for j in range(k):
            lo[j], hi[j] = indptr[ids[j]], indptr[ids[j] + 1]
        for j in range(k):  # each sharer's first neighbour read ahead of the scatter
            first[j] = indices[lo[j]] if hi[j] > lo[j] else -1
        for j in range(k):
            if first[j] < 0:
                continue
            row = shared[ids[j]] - 1
            exposures[row, first[j]] += 1
            for e in range(lo[j] + 1, hi[j]):
                exposures[row, indices[e]] += 1


@numba.njit(cache=True)
def _pick_sharer(i: int, v: float, sharers: np.ndarray) -> int:
    """Complete graph: a uniformly chosen one of ``sharers`` (sorted ids) other than ``i``."""
    pos = np.searchsorted(sharers, i)
    is_self = pos < len(sharers) and sharers[pos] == i
    count = len(sharers) - is_self
    pick = min(int(v * count), count - 1)
    return sharers[pick + 1 if is_self and pick >= pos else pick]


@numba.njit(cache=True)
def _nth_sharing_neighbour(
    first: int, lo: int, hi: int, indices: np.ndarray, shared: np.ndarray, kind: int, nth: int
) -> int:
    """The ``nth`` (from 0) of the neighbours ``indices[lo:hi]`` that shared ``kind``.

    ``first`` is ``indices[lo]``, read ahead by the caller.
    """
    for e in range(lo, hi):
        neighbour = indices[e] if e > lo else first
        if shared[neighbour] == kind:
            if nth == 0:
                return neighbour
            nth -= 1
    return -1


@numba.njit(cache=True, parallel=True)
def apply_transitions(
    stage: np.ndarray,
    entry_step: np.ndarray,
    source: np.ndarray,
    referrer: np.ndarray,
    purchases: np.ndarray,
    touch_step: np.ndarray,
    acquired_step: np.ndarray,
    out_ptr: np.ndarray,
    dst: np.ndarray,
    rates: np.ndarray,
    reach: float,
    arr_t: np.ndarray,
    arr_d: np.ndarray,
    arr_vals: np.ndarray,
    rel_ad: np.ndarray,
    rel_wom: np.ndarray,
    impressions: np.ndarray,
    exposures: np.ndarray,
    implicit: bool,
    n_shared: np.ndarray,
    shared: np.ndarray,
    sharers_tracked: np.ndarray,
    sharers_dark: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    is_customer: np.ndarray,
    dt: float,
    key_move: np.uint64,
    key_attr: np.uint64,
    step: int,
    moves: np.ndarray,
    new_customers: np.ndarray,
) -> int:
    """Phases 3-4: hazards from start-of-step state, one draw per consumer, moves applied.

    Each consumer's move depends only on its own state and this step's impressions and exposures,
    so updating in place equals a synchronous update. At most one transition fires per consumer:
    it fires with probability 1 - prod(1 - h_t), and it is chosen in proportion to h_t. On a first
    touch, the cause is the driver drawn in proportion to its hazard rate (-log survival).

    A consumer whose stage's hazards cannot depend on it this step (no impressions where ads
    count, no shares where word of mouth counts, no per-consumer lever factor) takes its stage's
    precomputed probability, so most consumers cost one uniform.

    Args:
        rates: (transitions, 4) effective driver probabilities: lever scalars applied, search
            times search success.
        reach: probability that a neighbour's share reaches the consumer; a share that reaches it
            persuades with probability min(wom x peer trust x lever factors, 1).
        arr_t, arr_d, arr_vals: per-consumer lever factors on transition arr_t[k] (-1: all) and
            driver arr_d[k], values arr_vals[k].
        n_shared: neighbour-equivalent shares (tracked, dark) for the implicit complete graph.
        moves: out, moves per transition this step.
        new_customers: out, first-time customers by Source this step.

    Returns:
        Purchases made by entering a customer stage this step.
    """
    n_stages, n_transitions = len(out_ptr) - 1, len(dst)
    # This step's constants: base and search log-survival per transition (the same for everyone
    # unless a per-consumer factor touches the transition) and, per stage, what can make a
    # consumer's hazards differ from the stage's idle ones.
    fixed = np.zeros((n_transitions, 2))
    per_consumer = np.zeros(n_transitions, dtype=np.bool_)
    for t in range(n_transitions):
        lb, _, _, ls = component_log_survival(rates[t, 0], 0.0, 0.0, rates[t, 3], 0, 0, dt)
        fixed[t, 0], fixed[t, 1] = lb, ls
        for k in range(len(arr_t)):
            per_consumer[t] |= arr_t[k] == -1 or arr_t[k] == t
    sensitive = np.zeros(n_stages, dtype=np.uint8)  # _FACTOR | _AD | _WOM bits, see _needs
    p_idle = np.zeros(n_stages)
    log_surv = np.zeros((n_transitions, 4))
    lt = np.zeros(n_transitions)
    for s in range(n_stages):
        for t in range(out_ptr[s], out_ptr[s + 1]):
            sensitive[s] |= _needs(per_consumer[t], rates[t, 1] > 0, rates[t, 2] > 0)
        p_idle[s] = 1.0 - math.exp(
            _log_survival(
                0,
                out_ptr[s],
                out_ptr[s + 1],
                0,
                0,
                rates,
                reach,
                fixed,
                per_consumer,
                arr_t,
                arr_d,
                arr_vals,
                rel_ad,
                rel_wom,
                dt,
                log_surv,
                lt,
            )
        )
    # Stages as bit sets (see stage_bits): always candidates, candidates if they got an ad or a share
    always = by_ad = by_wom = np.int64(0)
    for s in range(n_stages):
        bit = np.int64(1) << np.int64(s)
        always |= bit * (sensitive[s] & _FACTOR != 0)
        by_ad |= bit * (sensitive[s] & _AD != 0)
        by_wom |= bit * (sensitive[s] & _WOM != 0)
    if implicit and n_shared[0] + n_shared[1] > 0:
        always |= by_wom  # all but perhaps a lone sharer got a share: a superset is enough
    # Stages in at most 8 groups by idle probability (one stage a group in funnels of up to 8)
    levels = np.zeros(8)
    groups = np.zeros(3, dtype=np.int64)  # bit b of a stage's group number, as bit sets
    for r, s in enumerate(np.argsort(p_idle)):
        g = r * 8 // max(n_stages, 8)
        levels[g] = max(levels[g], p_idle[s])
        for b in range(3):
            groups[b] |= np.int64((g >> b) & 1) << np.int64(s)
    candidate = _candidates(
        stage,
        always,
        by_ad,
        by_wom,
        impressions,
        exposures,
        implicit,
        groups,
        levels,
        key_move,
        step,
    )
    n = len(stage)
    n_chunks = _chunks(n)
    moves_by = np.zeros((n_chunks, n_transitions), dtype=np.int64)
    new_by = np.zeros((n_chunks, len(new_customers)), dtype=np.int64)
    bought = np.zeros(n_chunks, dtype=np.int64)
    stride = _coprime_stride(n_chunks)
    for j in numba.prange(n_chunks):
        c = j * stride % n_chunks  # each thread's share of chunks spread over the market
        bought[c] = _move_chunk(
            c * _CHUNK,
            min(n, (c + 1) * _CHUNK),
            candidate,
            sensitive,
            p_idle,
            fixed,
            per_consumer,
            stage,
            entry_step,
            source,
            referrer,
            purchases,
            touch_step,
            acquired_step,
            out_ptr,
            dst,
            rates,
            reach,
            arr_t,
            arr_d,
            arr_vals,
            rel_ad,
            rel_wom,
            impressions,
            exposures,
            implicit,
            n_shared,
            shared,
            sharers_tracked,
            sharers_dark,
            indptr,
            indices,
            is_customer,
            dt,
            key_move,
            key_attr,
            step,
            moves_by[c],
            new_by[c],
        )
    moves += moves_by.sum(axis=0)
    new_customers += new_by.sum(axis=0)
    return bought.sum()


@numba.njit(cache=True)
def _coprime_stride(n: int) -> int:
    """A stride near 0.618 n with no common factor with n: ``j * stride % n`` visits all of 0..n-1.

    Threads take consecutive runs of j; the stride spreads each run over the whole market, so the
    busy parts of a market (where shares spread, say) are split between threads.
    """
    stride = max(1, int(n * 0.618))
    while np.gcd(stride, n) != 1:
        stride += 1
    return stride


@numba.njit(cache=True)
def _move_chunk(
    first: int,
    end: int,
    candidate: np.ndarray,
    sensitive: np.ndarray,
    p_idle: np.ndarray,
    fixed: np.ndarray,
    per_consumer: np.ndarray,
    stage: np.ndarray,
    entry_step: np.ndarray,
    source: np.ndarray,
    referrer: np.ndarray,
    purchases: np.ndarray,
    touch_step: np.ndarray,
    acquired_step: np.ndarray,
    out_ptr: np.ndarray,
    dst: np.ndarray,
    rates: np.ndarray,
    reach: float,
    arr_t: np.ndarray,
    arr_d: np.ndarray,
    arr_vals: np.ndarray,
    rel_ad: np.ndarray,
    rel_wom: np.ndarray,
    impressions: np.ndarray,
    exposures: np.ndarray,
    implicit: bool,
    n_shared: np.ndarray,
    shared: np.ndarray,
    sharers_tracked: np.ndarray,
    sharers_dark: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    is_customer: np.ndarray,
    dt: float,
    key_move: np.uint64,
    key_attr: np.uint64,
    step: int,
    moves: np.ndarray,
    new_customers: np.ndarray,
) -> int:
    """Hazards, draws and moves of consumers ``first`` to ``end - 1`` (see apply_transitions).

    Returns the purchases made by entering a customer stage. A function of its own, not the body of
    apply_transitions' parallel loop: numba compiles a large parallel loop body far more slowly
    (about 6 s more on first use, measured), and every user pays that once.
    """
    n_transitions = len(dst)
    log_surv = np.zeros((n_transitions, 4))
    lt = np.zeros(n_transitions)
    h = np.zeros(n_transitions)
    purchases_made = 0
    ids = np.empty(_BATCH, dtype=np.int64)
    draws = np.empty(_BATCH)
    traits = np.empty((_BATCH, 2))
    first_touch = np.empty(_BATCH, dtype=np.bool_)
    late = np.empty(_BATCH, dtype=np.int64)  # movers whose referrer is picked in phase 4
    late_kind = np.empty(_BATCH, dtype=np.int8)
    late_nth = np.empty(_BATCH, dtype=np.int64)
    lo_hi = np.empty((_BATCH, 2), dtype=np.int64)
    ahead = np.empty(_BATCH, dtype=np.int64)
    for start in range(first, end, _BATCH):
        # 1. the batch's candidates, without branches
        k = m = 0
        for i in range(start, min(start + _BATCH, end)):
            ids[k] = i
            k += candidate[i]
        # 2. what they need from scattered memory, read together so that the cache misses overlap
        for j in range(k):
            draws[j] = uniform(key_move, step, ids[j])
            traits[j, 0], traits[j, 1] = rel_ad[ids[j]], rel_wom[ids[j]]
            first_touch[j] = source[ids[j]] == _NONE
        # 3. hazards and moves
        for j in range(k):
            i, u = ids[j], draws[j]
            s = stage[i]
            lo, hi = out_ptr[s], out_ptr[s + 1]
            e_tracked, e_dark = _received(i, implicit, n_shared, shared, exposures)
            n_exp, n_imp = e_tracked + e_dark, impressions[i]
            idle = sensitive[s] & _needs(True, n_imp > 0, n_exp > 0) == 0
            if idle:
                p_any = p_idle[s]
            else:
                if not sensitive[s] & _FACTOR:
                    # Screen: p_any <= p_idle + the sum of count·p/(1-p) over the ad and wom
                    # terms (1 - e^-x <= x; -log(1-p) <= p/(1-p)). A draw above that bound, with a
                    # margin far wider than rounding, cannot move: most exposed consumers skip
                    # log and exp.
                    bound = p_idle[s]
                    for t in range(lo, hi):
                        if n_imp > 0:
                            bound += _odds(rates[t, 1] * traits[j, 0], n_imp)
                        if n_exp > 0:
                            bound += _odds(reach * min(rates[t, 2] * traits[j, 1], 1.0), n_exp)
                    if u >= bound * (1.0 + 1e-12) + 1e-14:
                        continue
                p_any = 1.0 - math.exp(
                    _log_survival(
                        i,
                        lo,
                        hi,
                        n_imp,
                        n_exp,
                        rates,
                        reach,
                        fixed,
                        per_consumer,
                        arr_t,
                        arr_d,
                        arr_vals,
                        rel_ad,
                        rel_wom,
                        dt,
                        log_surv,
                        lt,
                    )
                )
            if u >= p_any:
                continue
            if idle:
                _log_survival(
                    i,
                    lo,
                    hi,
                    0,
                    0,
                    rates,
                    reach,
                    fixed,
                    per_consumer,
                    arr_t,
                    arr_d,
                    arr_vals,
                    rel_ad,
                    rel_wom,
                    dt,
                    log_surv,
                    lt,
                )
            # choose the transition in proportion to its hazard
            h_sum = 0.0
            for t in range(lo, hi):
                h[t] = 1.0 - math.exp(lt[t])
                h_sum += h[t]
            x = u / p_any
            x *= h_sum
            chosen = hi - 1
            for t in range(lo, hi):
                if x < h[t]:
                    chosen = t
                    break
                x -= h[t]
            moves[chosen] += 1
            new = dst[chosen]
            if first_touch[j]:
                # three attribution draws per consumer: driver, kind of share, referrer
                driver = _pick_driver(log_surv, chosen, uniform(key_attr, step, 3 * i))
                src = int(_DRIVER_SOURCE[driver])
                if driver == 2:  # the referrer: a uniformly chosen sender of the drawn kind
                    kind, count = TRACKED, e_tracked
                    if uniform(key_attr, step, 3 * i + 1) * (e_tracked + e_dark) >= e_tracked:
                        kind, count, src = DARK, e_dark, _PEER_DARK
                    v = uniform(key_attr, step, 3 * i + 2)
                    if implicit:
                        pool = sharers_tracked if kind == TRACKED else sharers_dark
                        referrer[i] = _pick_sharer(i, v, pool)
                    else:  # picked in phase 4, once the batch's neighbour lists are read
                        late[m], late_kind[m] = i, kind
                        late_nth[m] = min(int(v * count), count - 1)
                        m += 1
                source[i] = src
                touch_step[i] = step
            if is_customer[new] and not is_customer[s]:
                if acquired_step[i] < 0:
                    new_customers[source[i]] += 1
                    acquired_step[i] = step
                purchases[i] += 1
                purchases_made += 1
            stage[i] = new
            entry_step[i] = step
        # 4. referrers, with each neighbour list's first read issued ahead
        for j in range(m):
            lo_hi[j, 0], lo_hi[j, 1] = indptr[late[j]], indptr[late[j] + 1]
        for j in range(m):
            ahead[j] = indices[lo_hi[j, 0]]  # a consumer reached by a share has a neighbour
        for j in range(m):
            referrer[late[j]] = _nth_sharing_neighbour(
                ahead[j], lo_hi[j, 0], lo_hi[j, 1], indices, shared, late_kind[j], late_nth[j]
            )
    return purchases_made


_FACTOR, _AD, _WOM = np.uint8(1), np.uint8(2), np.uint8(4)


@numba.njit(cache=True, parallel=True)
def _candidates(
    stage: np.ndarray,
    always: np.int64,
    by_ad: np.int64,
    by_wom: np.int64,
    impressions: np.ndarray,
    exposures: np.ndarray,
    implicit: bool,
    groups: np.ndarray,
    levels: np.ndarray,
    key: np.uint64,
    step: int,
) -> np.ndarray:
    """1 for each consumer who may move this step, else 0: one vectorised pass over everyone.

    A consumer may move if its stage is in ``always``, in ``by_ad`` and it got an impression, in
    ``by_wom`` and it got a share, or if its draw is below its stage group's level (``groups``:
    three bit sets, bit b of each stage's group number). The exact test comes after.
    """
    l0, l1, l2, l3, l4, l5, l6, l7 = levels  # a level by a sum of products: no table lookup
    b0, b1, b2 = groups
    tracked_in, dark_in = exposures[0], exposures[1]
    out = np.empty(len(stage), dtype=np.uint8)
    for i in numba.prange(len(stage)):
        s = np.int64(stage[i])
        shared_in = 0 if implicit else (tracked_in[i] | dark_in[i]) != 0
        bit = (always >> s) | ((by_ad >> s) & (impressions[i] != 0)) | ((by_wom >> s) & shared_in)
        g = ((b0 >> s) & 1) | (((b1 >> s) & 1) << 1) | (((b2 >> s) & 1) << 2)
        level = (
            l0 * (g == 0)
            + l1 * (g == 1)
            + l2 * (g == 2)
            + l3 * (g == 3)
            + l4 * (g == 4)
            + l5 * (g == 5)
            + l6 * (g == 6)
            + l7 * (g == 7)
        )
        out[i] = (bit & 1) | (uniform(key, step, i) < level)
    return out


@numba.njit(inline="always")
def _needs(factor: bool, ad: bool, wom: bool) -> np.uint8:
    """Bits of what can set a consumer's hazards apart: a per-consumer factor, ads, shares.

    A stage is marked with what its transitions respond to, a consumer with what it got this
    step; where the two share no bit, the stage's idle probability is the consumer's.
    """
    return np.uint8(_FACTOR * factor | _AD * ad | _WOM * wom)


@numba.njit(inline="always")
def _received(
    i: int, implicit: bool, n_shared: np.ndarray, shared: np.ndarray, exposures: np.ndarray
) -> tuple[int, int]:
    """Shares consumer i received this step, as (tracked, dark)."""
    if implicit:  # everyone's shares but its own
        return n_shared[0] - (shared[i] == TRACKED), n_shared[1] - (shared[i] == DARK)
    return np.int64(exposures[0, i]), np.int64(exposures[1, i])


@numba.njit(inline="always")
def _odds(p: float, count: int) -> float:
    """``count · p / (1 - p)``, an upper bound of ``-count · log(1 - p)`` (inf for p >= 1)."""
    if p <= 0.0:
        return 0.0
    return count * p / (1.0 - p) if p < 1.0 else math.inf


@numba.njit(inline="always")
def _log_survival(
    i: int,
    lo: int,
    hi: int,
    impressions: int,
    exposures: int,
    rates: np.ndarray,
    reach: float,
    fixed: np.ndarray,
    per_consumer: np.ndarray,
    arr_t: np.ndarray,
    arr_d: np.ndarray,
    arr_vals: np.ndarray,
    rel_ad: np.ndarray,
    rel_wom: np.ndarray,
    dt: float,
    log_surv: np.ndarray,
    lt: np.ndarray,
) -> float:
    """Consumer i's log-survival of transitions lo..hi-1; returns that of none firing.

    Writes each transition's terms by driver into ``log_surv`` and their sum into ``lt``.
    ``fixed`` holds each transition's base and search terms, used unless ``per_consumer[t]``.
    """
    total = 0.0
    for t in range(lo, hi):
        if per_consumer[t]:
            b, a, w, sr = (
                rates[t, 0],
                rates[t, 1] * rel_ad[i],
                rates[t, 2] * rel_wom[i],
                rates[t, 3],
            )
            for k in range(len(arr_t)):
                if arr_t[k] == -1 or arr_t[k] == t:
                    f = arr_vals[k, i]
                    d = arr_d[k]
                    if d == 0:
                        b *= f
                    elif d == 1:
                        a *= f
                    elif d == 2:
                        w *= f
                    else:
                        sr *= f
            w = reach * min(w, 1.0)  # a share reaches, then persuades with at most certainty
            lb, la, lw, ls = component_log_survival(b, a, w, sr, impressions, exposures, dt)
        else:
            a = rates[t, 1] * rel_ad[i] if impressions > 0 else 0.0
            w = reach * min(rates[t, 2] * rel_wom[i], 1.0) if exposures > 0 else 0.0
            _, la, lw, _ = component_log_survival(0.0, a, w, 0.0, impressions, exposures, dt)
            lb, ls = fixed[t, 0], fixed[t, 1]
        log_surv[t, 0], log_surv[t, 1], log_surv[t, 2], log_surv[t, 3] = lb, la, lw, ls
        lt[t] = lb + la + lw + ls
        total += lt[t]
    return total


@numba.njit(cache=True)
def _pick_driver(log_surv: np.ndarray, t: int, v: float) -> int:
    """The driver that caused transition ``t``, drawn in proportion to its hazard rate."""
    n_inf = 0
    total = 0.0
    for d in range(4):
        r = -log_surv[t, d]
        if math.isinf(r):
            n_inf += 1
        else:
            total += r
    x = v * (n_inf if n_inf > 0 else total)
    last = 0
    for d in range(4):
        r = -log_surv[t, d]
        if n_inf > 0:
            r = 1.0 if math.isinf(r) else 0.0
        if r > 0:
            last = d
            if x < r:
                return d
            x -= r
    return last


@numba.njit(cache=True, parallel=True)
def draw_repeats(
    stage: np.ndarray,
    is_customer: np.ndarray,
    p_repeat: float,
    mult: float,
    mult_array: np.ndarray,
    dt: float,
    key: np.uint64,
    step: int,
    purchases: np.ndarray,
) -> int:
    """Phase 5a: customers who buy again this step (probability per day ``p_repeat``, times levers).

    Returns the number of repeat purchases; ``purchases`` is counted up for each buyer.
    """
    per_consumer = len(mult_array) > 0
    n_chunks = _chunks(len(stage))
    repeats = np.zeros(n_chunks, dtype=np.int64)
    for c in numba.prange(n_chunks):
        p = _per_step(p_repeat * mult, dt)
        ids = np.empty(_BATCH, dtype=np.int64)
        chunk = stage[: min(len(stage), (c + 1) * _CHUNK)]
        start = c * _CHUNK
        while start < len(chunk):
            k, start = _batch(chunk, is_customer, start, ids)
            for j in range(k):
                i = ids[j]
                if per_consumer:
                    p = _per_step(p_repeat * mult * mult_array[i], dt)
                if uniform(key, step, i) < p:
                    purchases[i] += 1
                    repeats[c] += 1
    return repeats.sum()
