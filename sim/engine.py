"""The array step: compiled kernels from start-of-step state to this step's shares and transitions.

Everything here is a pure function of arrays; ``MarketModel.step`` calls them in order. A share that
reaches a consumer persuades it with probability ``wom``, and each neighbour's share reaches it with
probability ``reach``, so one neighbour share is worth ``1 - reach·wom`` of survival. The kernels use
that exact marginal instead of drawing every edge (the Mesa reference draws every edge; the docking
tests check both give the same distributions).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from sim.population import Source
from sim.rng import uniform

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


@numba.njit(cache=True)
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
    n_tracked = 0
    n_dark = 0
    per_consumer = len(mult_array) > 0
    for i in range(len(stage)):
        shared[i] = 0
        if not is_sharer[stage[i]]:
            continue
        p_day = p_share * mult * share_propensity[i]
        if per_consumer:
            p_day *= mult_array[i]
        p = 1.0 - (1.0 - min(p_day, 1.0)) ** dt
        u = uniform(key, step, i)
        if u < p * dark:
            shared[i] = DARK
            n_dark += 1
            shares_sent[i] += 1
        elif u < p:
            shared[i] = TRACKED
            n_tracked += 1
            shares_sent[i] += 1
    return n_tracked, n_dark


@numba.njit(cache=True)
def count_exposures(
    indptr: np.ndarray, indices: np.ndarray, shared: np.ndarray, exposures: np.ndarray
) -> None:
    """Phase 2b: neighbour shares received by each consumer, by kind (row 0 tracked, row 1 dark)."""
    exposures[:] = 0
    for s in range(len(shared)):
        kind = shared[s]
        if kind == 0:
            continue
        for e in range(indptr[s], indptr[s + 1]):
            exposures[kind - 1, indices[e]] += 1


@numba.njit(cache=True)
def _pick_referrer(
    i: int,
    kind: int,
    v: float,
    implicit: bool,
    indptr: np.ndarray,
    indices: np.ndarray,
    shared: np.ndarray,
    sharers: np.ndarray,
) -> int:
    """A uniformly chosen sender of a share of ``kind`` that reached consumer ``i``."""
    if implicit:
        # sharers: sorted ids of this kind's sharers; choose among them, skipping i itself
        pos = np.searchsorted(sharers, i)
        is_self = pos < len(sharers) and sharers[pos] == i
        count = len(sharers) - is_self
        pick = min(int(v * count), count - 1)
        return sharers[pick + 1 if is_self and pick >= pos else pick]
    count = 0
    for e in range(indptr[i], indptr[i + 1]):
        count += shared[indices[e]] == kind
    pick = min(int(v * count), count - 1)
    for e in range(indptr[i], indptr[i + 1]):
        if shared[indices[e]] == kind:
            if pick == 0:
                return indices[e]
            pick -= 1
    return -1


@numba.njit(cache=True)
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

    Args:
        rates: (transitions, 4) effective driver probabilities: lever scalars applied, wom times
            reach, search times search success.
        arr_t, arr_d, arr_vals: per-consumer lever factors on transition arr_t[k] (-1: all) and
            driver arr_d[k], values arr_vals[k].
        n_shared: neighbour-equivalent shares (tracked, dark) for the implicit complete graph.
        moves: out, moves per transition this step.
        new_customers: out, first-time customers by Source this step.

    Returns:
        Purchases made by entering a customer stage this step.
    """
    n_transitions = len(dst)
    log_surv = np.zeros((n_transitions, 4))
    h = np.zeros(n_transitions)
    n_arr = len(arr_t)
    # Fast path: a consumer with no impressions, no shares received and no per-consumer factors
    # has its stage's "idle" probability of moving; hazards are computed only when it moves.
    p_idle = np.zeros(len(out_ptr) - 1)
    for s in range(len(out_ptr) - 1):
        total = _hazards(
            0,
            out_ptr[s],
            out_ptr[s + 1],
            rates,
            arr_t[:0],
            arr_d[:0],
            arr_vals,
            1.0,
            1.0,
            0,
            0,
            dt,
            log_surv,
            h,
        )
        p_idle[s] = 1.0 - math.exp(total)
    purchases_made = 0
    for i in range(len(stage)):
        s = stage[i]
        lo, hi = out_ptr[s], out_ptr[s + 1]
        if lo == hi:
            continue
        if implicit:
            e_tracked = n_shared[0] - (shared[i] == TRACKED)
            e_dark = n_shared[1] - (shared[i] == DARK)
        else:
            e_tracked = exposures[0, i]
            e_dark = exposures[1, i]
        idle = impressions[i] == 0 and e_tracked + e_dark == 0 and n_arr == 0
        if idle:
            p_any = p_idle[s]
        else:
            total = _hazards(
                i,
                lo,
                hi,
                rates,
                arr_t,
                arr_d,
                arr_vals,
                rel_ad[i],
                rel_wom[i],
                impressions[i],
                e_tracked + e_dark,
                dt,
                log_surv,
                h,
            )
            p_any = 1.0 - math.exp(total)
        if p_any <= 0.0:
            continue
        u = uniform(key_move, step, i)
        if u >= p_any:
            continue
        if idle:
            _hazards(i, lo, hi, rates, arr_t, arr_d, arr_vals, 1.0, 1.0, 0, 0, dt, log_surv, h)
        # choose the transition in proportion to its hazard
        x = u / p_any
        h_sum = 0.0
        for t in range(lo, hi):
            h_sum += h[t]
        x *= h_sum
        chosen = hi - 1
        for t in range(lo, hi):
            if x < h[t]:
                chosen = t
                break
            x -= h[t]
        moves[chosen] += 1
        new = dst[chosen]
        if source[i] == _NONE:
            # three attribution draws per consumer: driver, kind of share, referrer
            driver = _pick_driver(log_surv, chosen, uniform(key_attr, step, 3 * i))
            src = int(_DRIVER_SOURCE[driver])
            if driver == 2:
                kind = TRACKED
                if uniform(key_attr, step, 3 * i + 1) * (e_tracked + e_dark) >= e_tracked:
                    kind, src = DARK, _PEER_DARK
                pool = sharers_tracked if kind == TRACKED else sharers_dark
                v = uniform(key_attr, step, 3 * i + 2)
                referrer[i] = _pick_referrer(i, kind, v, implicit, indptr, indices, shared, pool)
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
    return purchases_made


@numba.njit(cache=True)
def _hazards(
    i: int,
    lo: int,
    hi: int,
    rates: np.ndarray,
    arr_t: np.ndarray,
    arr_d: np.ndarray,
    arr_vals: np.ndarray,
    rel_ad: float,
    rel_wom: float,
    impressions: int,
    exposures: int,
    dt: float,
    log_surv: np.ndarray,
    h: np.ndarray,
) -> float:
    """Consumer i's hazards of transitions lo..hi-1 into ``h`` (components into ``log_surv``).

    Returns the log of the probability that none of them fires.
    """
    total = 0.0
    for t in range(lo, hi):
        b, a, w, sr = rates[t, 0], rates[t, 1] * rel_ad, rates[t, 2] * rel_wom, rates[t, 3]
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
        lb, la, lw, ls = component_log_survival(b, a, w, sr, impressions, exposures, dt)
        log_surv[t, 0], log_surv[t, 1], log_surv[t, 2], log_surv[t, 3] = lb, la, lw, ls
        lt = lb + la + lw + ls
        h[t] = 1.0 - math.exp(lt)
        total += lt
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


@numba.njit(cache=True)
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
    n_repeats = 0
    per_consumer = len(mult_array) > 0
    for i in range(len(stage)):
        if not is_customer[stage[i]]:
            continue
        p_day = p_repeat * mult
        if per_consumer:
            p_day *= mult_array[i]
        if uniform(key, step, i) < 1.0 - (1.0 - min(p_day, 1.0)) ** dt:
            purchases[i] += 1
            n_repeats += 1
    return n_repeats
