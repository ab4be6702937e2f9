"""Where to draw each consumer of a network: a community layout, computed once per network.

Friend groups are found with Louvain (networkx, seeded), each group is laid out on its own with a
force-directed (Fruchterman–Reingold) kernel, and the groups, as discs sized by membership, are
then laid out with a force layout of their own that keeps them apart. The picture shows what
matters for word of mouth: tight groups, and the few links between them along which a brand jumps.
Scale-free networks are left as one group, so their hubs sit in the middle. The complete graph has
no structure to show: a disc. Positions are cached per network (same edges, same positions), so
Reset with unchanged settings costs nothing.

References:
    Fruchterman, T. M. J. & Reingold, E. M. (1991). Graph drawing by force-directed placement.
    Software: Practice and Experience 21(11):1129–1164.
    Blondel, V. D. et al. (2008). Fast unfolding of communities in large networks.
    J. Stat. Mech. P10008.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import networkx as nx
import numba
import numpy as np

from sim.network import Network

CACHE_SIZE = 16
"""Layouts kept (a few networks per session, a few sessions per server)."""
_cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()


def sample(network: Network, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Consumers to draw (sorted ids): everyone if at most ``limit``, else a neighbourhood.

    The neighbourhood grows breadth-first from a random consumer (restarting elsewhere when a
    component is used up), which keeps local structure visible where a uniform sample of a sparse
    graph would show scattered dots. The complete graph has no structure: a uniform sample.
    """
    if network.n <= limit:
        return np.arange(network.n)
    if network.implicit:
        return np.sort(rng.choice(network.n, limit, replace=False))
    seen = np.zeros(network.n, dtype=bool)
    order: list[int] = []
    queue: list[int] = []
    while len(order) < limit:
        if not queue:
            queue.append(int(rng.choice(np.flatnonzero(~seen))))
            seen[queue[0]] = True
        node = queue.pop(0)
        order.append(node)
        for nb in network.indices[network.indptr[node] : network.indptr[node + 1]]:
            if not seen[nb]:
                seen[nb] = True
                queue.append(int(nb))
    return np.sort(np.array(order))


def sample_edges(network: Network, nodes: np.ndarray) -> np.ndarray:
    """Edges among ``nodes`` (sorted ids), as pairs of positions in ``nodes``."""
    if network.implicit:
        return np.empty((0, 2), dtype=np.int64)
    where = np.full(network.n, -1)
    where[nodes] = np.arange(len(nodes))
    edges = where[network.edges()]
    return edges[(edges >= 0).all(axis=1)]


def positions(network: Network, nodes: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Positions (len(nodes), 2) in the unit square of the consumers ``nodes`` (default: all).

    The layout's longer side is horizontal, and it fills [0, 1] on that side. Cached per network.
    """
    nodes = np.arange(network.n) if nodes is None else nodes
    digest = hashlib.blake2b(digest_size=16)
    for part in (network.kind.encode(), nodes, network.indptr, network.indices):
        digest.update(memoryview(np.ascontiguousarray(part)).cast("B"))
    key = (digest.hexdigest(), seed)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    edges = sample_edges(network, nodes)
    if network.implicit:
        pos = _disc(len(nodes))
    else:
        groups = (
            np.zeros(len(nodes), dtype=np.int64)
            if network.kind == "barabasi_albert"
            else _groups(len(nodes), edges, seed)
        )
        pos = _grouped(len(nodes), edges, groups, np.random.default_rng(seed))
    pos = _fit(pos)
    pos.setflags(write=False)
    _cache[key] = pos
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return pos


def _disc(k: int) -> np.ndarray:
    """``k`` points spread evenly over a disc (a sunflower spiral)."""
    r, angle = np.sqrt(np.arange(k) + 0.5), np.arange(k) * np.pi * (3 - np.sqrt(5))
    return np.column_stack([r * np.cos(angle), r * np.sin(angle)])


def _groups(k: int, edges: np.ndarray, seed: int) -> np.ndarray:
    """A group number per node: Louvain communities (isolated nodes are groups of one)."""
    graph = nx.Graph()
    graph.add_nodes_from(range(k))
    graph.add_edges_from(map(tuple, edges))
    found = nx.community.louvain_communities(graph, seed=seed)
    groups = np.empty(k, dtype=np.int64)
    for g, members in enumerate(sorted(found, key=min)):
        groups[list(members)] = g
    return groups


def _grouped(k: int, edges: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each group laid out alone in a disc of area about its size, the discs then placed."""
    n_groups = int(groups.max()) + 1
    size = np.bincount(groups, minlength=n_groups)
    local = np.empty((k, 2))
    inside = groups[edges[:, 0]] == groups[edges[:, 1]]
    order = np.argsort(groups, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(size)])
    where = np.empty(k, dtype=np.int64)  # position of each node within its group
    where[order] = np.arange(k) - np.repeat(bounds[:-1], size)
    by_group = edges[inside][np.argsort(groups[edges[inside, 0]], kind="stable")]
    edge_bounds = np.searchsorted(groups[by_group[:, 0]], np.arange(n_groups + 1))
    for g in range(n_groups):
        members = order[bounds[g] : bounds[g + 1]]
        if len(members) == 1:
            local[members] = 0.0
            continue
        sub = where[by_group[edge_bounds[g] : edge_bounds[g + 1]]]
        indptr, indices = _csr(len(members), sub)
        start = rng.random((len(members), 2)) * np.sqrt(len(members))
        pos = _spring(indptr, indices, start, 150)
        pos -= pos.mean(axis=0)
        reach = np.sqrt((pos**2).sum(axis=1)).max()
        local[members] = pos / reach * np.sqrt(len(members)) if reach > 0 else 0.0
    if n_groups == 1:
        return local
    radius = np.sqrt(size) + 0.5
    across = groups[edges[~inside]]
    weight = np.zeros((n_groups, n_groups))
    np.add.at(weight, (across[:, 0], across[:, 1]), 1.0)
    weight += weight.T
    return local + _place_discs(radius, weight, rng)[groups]


def _csr(k: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both directions of ``edges`` among ``k`` nodes, as CSR arrays."""
    u = np.concatenate([edges[:, 0], edges[:, 1]])
    v = np.concatenate([edges[:, 1], edges[:, 0]])
    order = np.argsort(u, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(u, minlength=k))]).astype(np.int64)
    return indptr, v[order].astype(np.int64)


def _place_discs(radius: np.ndarray, weight: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Centres of discs of ``radius`` that do not overlap; linked discs (``weight``) drawn close."""
    m = len(radius)
    angle = 2 * np.pi * (np.cumsum(radius) - radius / 2) / radius.sum()  # in order round a circle
    pos = np.column_stack([np.cos(angle), np.sin(angle)]) * radius.sum() / np.pi
    pos += rng.normal(scale=0.1, size=(m, 2)) * radius[:, None]
    pull = np.log1p(weight) / max(1.0, np.log1p(weight).max())
    gap = radius[:, None] + radius[None, :]
    iterations = 300
    for it in range(iterations):
        step = radius.mean() * (1.0 - it / iterations) + 0.05
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.sqrt((delta**2).sum(axis=2)) + np.eye(m)
        unit = delta / dist[:, :, None]
        push = np.where(dist < gap, (gap - dist), 0.0) + 0.5 * gap**2 / dist / m
        np.fill_diagonal(push, 0.0)
        force = (unit * (push - pull * dist / gap.mean())[:, :, None]).sum(axis=1)
        force -= 0.05 * (pos - pos.mean(axis=0))
        length = np.sqrt((force**2).sum(axis=1, keepdims=True)) + 1e-12
        pos += force / length * np.minimum(length, step)
    for _ in range(200):  # then remove any overlap left
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.sqrt((delta**2).sum(axis=2)) + np.eye(m)
        overlap = np.where(dist < gap, gap - dist, 0.0)
        np.fill_diagonal(overlap, 0.0)
        if overlap.max() < 1e-3:
            break
        pos += 0.5 * (delta / dist[:, :, None] * overlap[:, :, None]).sum(axis=1)
    return pos


@numba.njit(cache=True)
def _spring(
    indptr: np.ndarray, indices: np.ndarray, pos: np.ndarray, iterations: int
) -> np.ndarray:
    """Fruchterman–Reingold with ideal distance 1 and repulsion cut off at 2 (a cell grid).

    The cut-off keeps each iteration linear in nodes and edges; a weak pull to the centre keeps
    pieces from drifting apart.
    """
    n = pos.shape[0]
    cell = 2.0
    disp = np.zeros_like(pos)
    order = np.empty(n, np.int64)
    cid = np.empty(n, np.int64)
    t0 = max(1.0, np.sqrt(n) / 10.0)
    for it in range(iterations):
        temperature = t0 * (1.0 - it / iterations) + 0.01
        disp[:] = 0.0
        lo_x, lo_y = pos[:, 0].min(), pos[:, 1].min()
        nx_ = int((pos[:, 0].max() - lo_x) / cell) + 1
        ny_ = int((pos[:, 1].max() - lo_y) / cell) + 1
        for i in range(n):
            cid[i] = int((pos[i, 0] - lo_x) / cell) * ny_ + int((pos[i, 1] - lo_y) / cell)
        start = np.zeros(nx_ * ny_ + 1, np.int64)
        for i in range(n):
            start[cid[i] + 1] += 1
        for c in range(nx_ * ny_):
            start[c + 1] += start[c]
        fill = start[:-1].copy()
        for i in range(n):
            order[fill[cid[i]]] = i
            fill[cid[i]] += 1
        for i in range(n):
            cx, cy = cid[i] // ny_, cid[i] % ny_
            for ax in range(max(cx - 1, 0), min(cx + 2, nx_)):
                for ay in range(max(cy - 1, 0), min(cy + 2, ny_)):
                    c = ax * ny_ + ay
                    for q in range(start[c], start[c + 1]):
                        j = order[q]
                        if j == i:
                            continue
                        dx, dy = pos[i, 0] - pos[j, 0], pos[i, 1] - pos[j, 1]
                        d2 = dx * dx + dy * dy
                        if d2 < cell * cell:
                            if d2 < 1e-12:  # on top of each other: a fixed nudge apart
                                dx, dy = 1e-3 * ((i - j) % 7 - 3), 1e-3
                                d2 = dx * dx + dy * dy
                            disp[i, 0] += dx / d2
                            disp[i, 1] += dy / d2
            for q in range(indptr[i], indptr[i + 1]):
                j = indices[q]
                dx, dy = pos[i, 0] - pos[j, 0], pos[i, 1] - pos[j, 1]
                d = np.sqrt(dx * dx + dy * dy)
                disp[i, 0] -= dx * d
                disp[i, 1] -= dy * d
        mx, my = pos[:, 0].mean(), pos[:, 1].mean()
        for i in range(n):
            dx = disp[i, 0] - 0.02 * (pos[i, 0] - mx)
            dy = disp[i, 1] - 0.02 * (pos[i, 1] - my)
            d = np.sqrt(dx * dx + dy * dy)
            if d > 0:
                s = min(d, temperature) / d
                pos[i, 0] += dx * s
                pos[i, 1] += dy * s
    return pos


def _fit(pos: np.ndarray) -> np.ndarray:
    """Turned so the longer side is horizontal, then scaled into the unit square, centred."""
    pos = pos - pos.mean(axis=0)
    if len(pos) > 2:
        _, vectors = np.linalg.eigh(np.cov(pos.T))
        pos = pos @ vectors[:, ::-1]
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    span = float(max((hi - lo).max(), 1e-12))
    return (pos - lo) / span + (1 - (hi - lo) / span) / 2
