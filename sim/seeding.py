"""Choosing seed consumers: by chance, by centrality, or by greedy influence maximisation (CELF)."""

from __future__ import annotations

import heapq

import numba
import numpy as np
import scipy.sparse as sp

from sim.network import Network
from sim.rng import uniform

RULES = ("random", "degree", "pagerank", "kcore", "greedy")


def choose_seeds(
    network: Network,
    k: int,
    rule: str,
    rng: np.random.Generator,
    greedy_p: float = 0.05,
    greedy_samples: int = 100,
    greedy_candidates: int = 500,
) -> np.ndarray:
    """The ids of ``k`` seed consumers chosen by ``rule`` (ties broken at random by ``rng``).

    Args:
        network: the social graph.
        k: number of seeds.
        rule: one of :data:`RULES`.
        rng: the seeding lever's own stream.
        greedy_p: edge probability of the independent-cascade influence estimate (greedy only).
        greedy_samples: live-edge samples averaged per influence estimate (greedy only).
        greedy_candidates: highest-degree consumers considered (greedy only).
    """
    n = network.n
    tiebreak = rng.permutation(n)
    if rule == "random" or network.implicit:  # on the complete graph everyone is alike
        return np.sort(rng.choice(n, size=k, replace=False))
    if rule == "degree":
        score = network.degree().astype(float)
    elif rule == "pagerank":
        score = pagerank(network)
    elif rule == "kcore":
        # core number first, degree among equal cores
        score = core_numbers(network) * (n + 1.0) + network.degree()
    elif rule == "greedy":
        key = np.uint64(rng.integers(2**63))
        return celf(network, k, greedy_p, greedy_samples, greedy_candidates, key, tiebreak)
    else:
        raise ValueError(f"unknown seeding rule {rule!r}; choose one of: {', '.join(RULES)}")
    return np.sort(np.lexsort((tiebreak, -score))[:k])


def pagerank(network: Network, damping: float = 0.85, tol: float = 1e-10) -> np.ndarray:
    """PageRank by power iteration on the CSR adjacency (dangling mass spread evenly).

    References:
        Brin, S. & Page, L. (1998). The anatomy of a large-scale hypertextual web search engine.
    """
    n = network.n
    adj = sp.csr_matrix(
        (np.ones(len(network.indices)), network.indices, network.indptr), shape=(n, n)
    )
    deg = network.degree().astype(float)
    x = np.full(n, 1.0 / n)
    for _ in range(200):
        spread = np.divide(x, deg, out=np.zeros(n), where=deg > 0)
        new = damping * (adj @ spread) + (damping * x[deg == 0].sum() + 1.0 - damping) / n
        if np.abs(new - x).sum() < tol:
            return new
        x = new
    return x


@numba.njit(cache=True)
def _core_numbers(indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    # Batagelj & Zaversnik (2003): O(edges) bucket algorithm.
    n = len(indptr) - 1
    deg = np.empty(n, dtype=np.int64)
    for i in range(n):
        deg[i] = indptr[i + 1] - indptr[i]
    max_deg = deg.max() if n else 0
    bin_start = np.zeros(max_deg + 1, dtype=np.int64)
    for i in range(n):
        bin_start[deg[i]] += 1
    start = 0
    for d in range(max_deg + 1):
        count = bin_start[d]
        bin_start[d] = start
        start += count
    pos = np.empty(n, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        pos[i] = bin_start[deg[i]]
        order[pos[i]] = i
        bin_start[deg[i]] += 1
    for d in range(max_deg, 0, -1):
        bin_start[d] = bin_start[d - 1]
    bin_start[0] = 0
    for j in range(n):
        v = order[j]
        for e in range(indptr[v], indptr[v + 1]):
            u = indices[e]
            if deg[u] > deg[v]:
                du = deg[u]
                pu = pos[u]
                pw = bin_start[du]
                w = order[pw]
                if u != w:
                    pos[u], pos[w] = pw, pu
                    order[pu], order[pw] = w, u
                bin_start[du] += 1
                deg[u] -= 1
    return deg


def core_numbers(network: Network) -> np.ndarray:
    """The k-core number of every consumer (the largest k such that it is in the k-core)."""
    return _core_numbers(network.indptr, network.indices)


@numba.njit(cache=True)
def _spread(
    indptr: np.ndarray,
    indices: np.ndarray,
    seeds: np.ndarray,
    p: float,
    samples: int,
    key: np.uint64,
    seen: np.ndarray,
    queue: np.ndarray,
) -> float:
    """Mean cascade size from ``seeds`` over live-edge samples.

    Edge e of sample r is live when its counter-based uniform is below p, so every estimate uses the
    same samples (CELF needs a fixed, submodular estimate).
    """
    total = 0
    for r in range(samples):
        seen[:] = False
        head, tail = 0, 0
        for s in seeds:
            if not seen[s]:
                seen[s] = True
                queue[tail] = s
                tail += 1
        while head < tail:
            v = queue[head]
            head += 1
            for e in range(indptr[v], indptr[v + 1]):
                u = indices[e]
                if not seen[u] and uniform(key, r, e) < p:
                    seen[u] = True
                    queue[tail] = u
                    tail += 1
        total += tail
    return total / samples


def celf(
    network: Network,
    k: int,
    p: float,
    samples: int,
    candidates: int,
    key: np.uint64,
    tiebreak: np.ndarray,
) -> np.ndarray:
    """Greedy influence maximisation with CELF lazy evaluation under independent cascade.

    References:
        Kempe, D., Kleinberg, J. & Tardos, É. (2003). Maximizing the spread of influence through a
        social network. KDD. Leskovec, J. et al. (2007). Cost-effective outbreak detection in
        networks (CELF). KDD.
    """
    n = network.n
    pool = np.lexsort((tiebreak, -network.degree()))[: max(k, min(n, candidates))]
    seen, queue = np.zeros(n, dtype=np.bool_), np.empty(n, dtype=np.int64)

    def spread(seeds: list[int]) -> float:
        arr = np.array(seeds, dtype=np.int64)
        return _spread(network.indptr, network.indices, arr, p, samples, key, seen, queue)

    # heap of (-gain, tiebreak, node, size of the seed set the gain was computed for)
    heap = [(-spread([v]), int(tiebreak[v]), int(v), 0) for v in pool]
    heapq.heapify(heap)
    chosen: list[int] = []
    current = 0.0
    while len(chosen) < k:
        neg_gain, tb, v, fresh_for = heapq.heappop(heap)
        if fresh_for == len(chosen):
            chosen.append(v)
            current -= neg_gain
        else:
            heapq.heappush(heap, (-(spread([*chosen, v]) - current), tb, v, len(chosen)))
    return np.sort(np.array(chosen, dtype=np.int64))
