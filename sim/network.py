"""Social graphs over consumers, generated straight into CSR arrays from the run's network stream.

Generators keep networkx's parameter names (``n``, ``k``, ``p``, ``m``) and never loop over edges in
Python, so a million consumers with ``k = 10`` build in seconds. The complete graph is never
materialised: its peer exposure is computed from counts.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numba
import numpy as np


@dataclass(frozen=True)
class Network:
    """An undirected graph as CSR arrays: the neighbours of ``i`` are ``indices[indptr[i]:indptr[i+1]]``.

    Args:
        n: number of consumers.
        indptr: int64 offsets, length n + 1 (empty for the implicit complete graph).
        indices: int32 neighbour ids.
        kind: the generator's name.
        contacts: for the implicit complete graph only, how many consumers one share reaches on
            average; each other consumer is reached with probability ``contacts / (n - 1)``.
    """

    n: int
    indptr: np.ndarray
    indices: np.ndarray
    kind: str
    contacts: float = 0.0

    @property
    def implicit(self) -> bool:
        """True for the complete graph, whose edges are never stored."""
        return self.kind == "complete"

    @property
    def n_edges(self) -> int:
        """Undirected edge count."""
        if self.implicit:
            return self.n * (self.n - 1) // 2
        return len(self.indices) // 2

    def degree(self) -> np.ndarray:
        """Neighbours per consumer."""
        if self.implicit:
            return np.full(self.n, self.n - 1, dtype=np.int64)
        return np.diff(self.indptr)

    def edges(self) -> np.ndarray:
        """The undirected edges as an (n_edges, 2) array with ``u < v``, sorted."""
        if self.implicit:
            u, v = np.triu_indices(self.n, 1)
            return np.column_stack([u, v])
        src = np.repeat(np.arange(self.n), np.diff(self.indptr))
        keep = src < self.indices
        return np.column_stack([src[keep], self.indices[keep]])

    def to_networkx(self) -> nx.Graph:
        """A networkx copy, for display and analysis of small graphs."""
        g = nx.Graph()
        g.add_nodes_from(range(self.n))
        g.add_edges_from(map(tuple, self.edges()))
        return g


@numba.njit(cache=True)
def _csr(n: int, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counting sort of both directions of every edge into CSR (O(edges), no argsort)."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    for e in range(len(u)):
        indptr[u[e] + 1] += 1
        indptr[v[e] + 1] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    fill = indptr[:-1].copy()
    indices = np.empty(2 * len(u), dtype=np.int32)
    for e in range(len(u)):
        a, b = u[e], v[e]
        indices[fill[a]] = b
        fill[a] += 1
        indices[fill[b]] = a
        fill[b] += 1
    for i in range(n):  # sorted neighbour lists make the graph independent of edge order
        _sort_row(indices, indptr[i], indptr[i + 1])
    return indptr, indices


@numba.njit(cache=True)
def _sort_row(indices: np.ndarray, lo: int, hi: int) -> None:
    """Sort ``indices[lo:hi]`` in place: insertion sort for short rows (ten times faster there)."""
    if hi - lo > 16:
        indices[lo:hi].sort()
        return
    for a in range(lo + 1, hi):
        x = indices[a]
        b = a - 1
        while b >= lo and indices[b] > x:
            indices[b + 1] = indices[b]
            b -= 1
        indices[b + 1] = x


def _distinct(keys: np.ndarray) -> np.ndarray:
    """The sorted distinct values of an int array, like ``np.unique`` but sort-based.

    numpy 2.4's ``np.unique`` hashes before sorting and took 12 s on 5 million int64 keys here,
    against 0.8 s for a sort.
    """
    keys = np.sort(keys)
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return keys[first]


def from_edges(n: int, u: np.ndarray, v: np.ndarray, kind: str) -> Network:
    """A network from undirected edge endpoints; self-loops and repeated edges are dropped."""
    u, v = np.minimum(u, v).astype(np.int64), np.maximum(u, v).astype(np.int64)
    keys = _distinct(u[u != v] * n + v[u != v])
    indptr, indices = _csr(n, keys // n, keys % n)
    return Network(n=n, indptr=indptr, indices=indices, kind=kind)


_CHUNK = 1 << 20  # uniforms per draw when choosing which edges rewire


def _clashes(n: int, half: int, slots: np.ndarray, far: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Positions in ``slots`` of the rewired edges that are self-loops or repeat another edge.

    Within a repeated pair a ring edge keeps it, else the rewired edge of lowest slot; ``ring``
    marks the slots that are ring edges (never rewired, or reverted).
    """
    near = slots // half
    bad = near == far
    # a ring edge joins a to a + d for d in 1..half, in slot a·half + d - 1: look from both ends
    for a, b in ((near, far), (far, near)):
        d = (b - a) % n
        on_ring = (d >= 1) & (d <= half)
        bad |= on_ring & ring[np.where(on_ring, a * half + d - 1, 0)]
    keys = np.minimum(near, far) * n + np.maximum(near, far)
    order = np.argsort(keys, kind="stable")
    bad[order[1:]] |= keys[order[1:]] == keys[order[:-1]]
    return np.flatnonzero(bad)


def _settle(
    n: int,
    half: int,
    slots: np.ndarray,
    far: np.ndarray,
    ring: np.ndarray,
    rng: np.random.Generator,
    patience: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Redraw the far ends of the rewired edges until none is a self-loop or a repeat.

    The clashing edges are redrawn together, in slot order. An edge that still clashes after
    ``patience`` rounds almost surely starts at a consumer who already knows everyone (k close to
    n): it goes back to its ring end and stays, as networkx skips such rewirings. Ring edges never
    clash with each other, so this always ends. Returns the rewired slots left and their far ends.
    """
    attempt = 0
    while len(bad := _clashes(n, half, slots, far, ring)):
        attempt += 1
        if attempt <= patience:
            far[bad] = rng.integers(0, n, size=len(bad))
        else:  # each revert turns more edges into ring edges
            ring[slots[bad]] = True
            keep = np.ones(len(slots), dtype=bool)
            keep[bad] = False
            slots, far, attempt = slots[keep], far[keep], 0
    return slots, far


def watts_strogatz(n: int, k: int, p: float, rng: np.random.Generator) -> Network:
    """Watts–Strogatz small world: a ring of k nearest neighbours with edges rewired w.p. p.

    Each edge's far end is rewired with probability p, avoiding self-loops and repeated edges, so
    the edge count stays n·k/2. Only the rewired edges are held besides the CSR arrays, so ten
    million consumers build in a few seconds and a few hundred megabytes.

    References:
        Watts, D. J. & Strogatz, S. H. (1998). Collective dynamics of 'small-world' networks.
        Nature 393:440–442.
    """
    if k % 2 or not 0 <= k < n:
        raise ValueError(f"k must be an even integer >= 0 and < n ({n}) (got {k})")
    half = k // 2
    # Edge slot e = i·half + j - 1 joins i to (i + j) mod n, j = 1..half, unless rewired. The
    # uniforms are those of one rng.random(n·half) call, drawn in chunks to bound memory.
    ring = np.empty(n * half, dtype=bool)
    for a in range(0, len(ring), _CHUNK):
        ring[a : a + _CHUNK] = rng.random(min(_CHUNK, len(ring) - a)) >= p
    slots = np.flatnonzero(~ring)
    far = rng.integers(0, n, size=len(slots))
    slots, far = _settle(n, half, slots, far, ring, rng)
    near = np.repeat(np.arange(n, dtype=np.int32), half)
    ends = np.tile(np.arange(1, half + 1, dtype=np.int32), n)
    ends += near
    ends %= n
    ends[slots] = far
    indptr, indices = _csr(n, near, ends)
    return Network(n=n, indptr=indptr, indices=indices, kind="watts_strogatz")


@numba.njit(cache=True)
def _ba_edges(n: int, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Start from a star on m + 1 nodes (networkx's default); each new node links to m distinct
    # nodes drawn in proportion to degree from the list of edge endpoints.
    n_edges = m + (n - m - 1) * m
    u = np.empty(n_edges, dtype=np.int32)
    v = np.empty(n_edges, dtype=np.int32)
    ends = np.empty(2 * n_edges, dtype=np.int32)
    for j in range(m):
        u[j], v[j] = 0, j + 1
        ends[2 * j], ends[2 * j + 1] = 0, j + 1
    e, n_ends = m, 2 * m
    targets = np.empty(m, dtype=np.int32)
    for new in range(m + 1, n):
        got = 0
        while got < m:
            t = ends[rng.integers(0, n_ends)]
            dup = False
            for q in range(got):
                dup = dup or targets[q] == t
            if not dup:
                targets[got] = t
                got += 1
        for q in range(m):
            u[e], v[e] = new, targets[q]
            ends[n_ends], ends[n_ends + 1] = new, targets[q]
            e += 1
            n_ends += 2
    return u, v


def barabasi_albert(n: int, m: int, rng: np.random.Generator) -> Network:
    """Barabási–Albert preferential attachment: each new consumer links to m existing ones.

    References:
        Barabási, A.-L. & Albert, R. (1999). Emergence of scaling in random networks.
        Science 286:509–512.
    """
    u, v = _ba_edges(n, m, rng)
    indptr, indices = _csr(n, u, v)
    return Network(n=n, indptr=indptr, indices=indices, kind="barabasi_albert")


def _random_pairs(
    rng: np.random.Generator, a: tuple[int, int], b: tuple[int, int], p: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each pair between node ranges a and b (within a range when a == b) linked with probability p."""
    na, nb = a[1] - a[0], b[1] - b[0]
    same = a == b
    pairs = na * (na - 1) // 2 if same else na * nb
    target = rng.binomial(pairs, p) if pairs else 0
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < target:  # draw pairs with replacement, keep distinct ones, top up
        # Oversample by the share of pairs already taken, so dense graphs (p near 1) fill up in
        # a few rounds instead of a coupon collector's many; sparse ones draw what is missing.
        missing = target - len(keys)
        x = rng.integers(0, na, size=missing + missing * len(keys) // (pairs - len(keys)) + 16)
        x += a[0]
        y = rng.integers(0, nb, size=len(x)) + b[0]
        ok = x != y
        lo, hi = np.minimum(x[ok], y[ok]), np.maximum(x[ok], y[ok])
        keys = _distinct(np.concatenate([keys, lo * (1 << 32) + hi]))
    keys = rng.permutation(keys)[:target]
    return keys >> 32, keys & ((1 << 32) - 1)


def erdos_renyi(n: int, p: float, rng: np.random.Generator) -> Network:
    """Erdős–Rényi G(n, p): each pair linked independently with probability p."""
    u, v = _random_pairs(rng, (0, n), (0, n), p)
    return from_edges(n, u, v, "erdos_renyi")


def communities(
    n: int, blocks: int, p_in: float, p_out: float, rng: np.random.Generator
) -> Network:
    """Stochastic block model: ``blocks`` equal communities, pairs linked with p_in inside, p_out across."""
    bounds = np.linspace(0, n, blocks + 1).astype(np.int64)
    ranges = [(int(bounds[i]), int(bounds[i + 1])) for i in range(blocks)]
    us, vs = [], []
    for i, a in enumerate(ranges):
        for b in ranges[i:]:
            u, v = _random_pairs(rng, a, b, p_in if a == b else p_out)
            us.append(u)
            vs.append(v)
    return from_edges(n, np.concatenate(us), np.concatenate(vs), "communities")


def complete(n: int, contacts: float) -> Network:
    """The complete graph, never materialised; a share reaches each other consumer w.p. contacts/(n-1)."""
    empty = np.zeros(0, dtype=np.int64)
    return Network(
        n=n, indptr=empty, indices=empty.astype(np.int32), kind="complete", contacts=contacts
    )


def read_edgelist(path: Path) -> Network:
    """A graph from a text file of ``u v`` lines (integer ids 0..n-1; ``#`` starts a comment)."""
    with warnings.catch_warnings():  # an empty file is reported below, as one line
        warnings.simplefilter("ignore", UserWarning)
        data = np.loadtxt(path, dtype=np.int64, comments="#", ndmin=2, usecols=(0, 1))
    if data.size == 0:
        raise ValueError(f"{path} has no edges")
    bad = data[(data < 0) | (data >= np.iinfo(np.int32).max)]  # CSR indices are int32
    if bad.size:
        raise ValueError(f"{path} has node id {bad[0]}; ids must be 0..n-1 with n < 2**31")
    n = int(data.max()) + 1
    return from_edges(n, data[:, 0], data[:, 1], "edgelist")
