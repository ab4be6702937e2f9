"""Graph generators: exact counts, valid CSR, seed stability, and Watts & Strogatz's small-world figures."""

import math

import networkx as nx
import numpy as np
import pytest

from sim import network as nets

# Watts & Strogatz (1998) Fig. 2 setup, computed with networkx over 10 realisations
# (REFERENCES.md section 4): p -> L(p)/L(0).
WS_PATH_RATIO = {0.01: 0.173, 0.03: 0.119, 0.1: 0.088}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def assert_simple_symmetric(g: nets.Network) -> None:
    """Valid CSR of a simple undirected graph: sorted rows, no self-loops, no repeats, symmetric."""
    assert g.indptr.shape == (g.n + 1,) and g.indptr[0] == 0 and g.indptr[-1] == len(g.indices)
    assert g.indices.dtype == np.int32 and g.indptr.dtype == np.int64
    src = np.repeat(np.arange(g.n), g.degree())
    assert (g.indices >= 0).all() and (g.indices < g.n).all()
    assert not (src == g.indices).any(), "self-loop"
    keys = src * g.n + g.indices
    assert (np.diff(keys) > 0).all(), "rows must be sorted and free of repeated neighbours"
    np.testing.assert_array_equal(np.sort(g.indices * np.int64(g.n) + src), keys, "not symmetric")


# ------------------------------------------------------------------------------------ Watts-Strogatz
@pytest.mark.parametrize(
    "n, k, p",
    [
        (100, 4, 0.0),
        (100, 4, 0.1),
        (1000, 10, 0.1),
        (2000, 6, 0.3),
        (50, 2, 1.0),
        (11, 10, 0.5),  # k = n - 1: complete, nowhere to rewire to
        (12, 10, 1.0),  # dense: some consumers know everyone before their edge is rewired
        (20, 0, 0.5),  # no friends at all
    ],
)
def test_watts_strogatz_counts(n, k, p):
    """n*k/2 edges, a simple symmetric graph, and mean degree exactly k (rewiring keeps edges)."""
    g = nets.watts_strogatz(n, k, p, rng(1))
    assert g.n == n and g.n_edges == n * k // 2
    assert_simple_symmetric(g)
    assert g.degree().sum() == n * k
    # Each consumer keeps the k/2 edges it owns on the ring (only their far end is rewired).
    assert g.degree().min() >= k // 2


@pytest.mark.parametrize("n, k", [(10, 3), (10, 10), (10, 12), (10, -2)])
def test_watts_strogatz_rejects_bad_k(n, k):
    """k must be even and below n, as the ring has no room otherwise."""
    with pytest.raises(
        ValueError, match=f"k must be an even integer >= 0 and < n \\(10\\) \\(got {k}\\)"
    ):
        nets.watts_strogatz(n, k, 0.1, rng())


def test_watts_strogatz_p0_is_the_ring_lattice():
    """With p = 0 each consumer is linked to exactly its k nearest ring neighbours."""
    n, k = 30, 6
    g = nets.watts_strogatz(n, k, 0.0, rng())
    for i in range(n):
        want = sorted({(i + d) % n for d in range(-k // 2, k // 2 + 1) if d})
        assert list(g.indices[g.indptr[i] : g.indptr[i + 1]]) == want


def test_watts_strogatz_p1_rewires_almost_everything():
    """With p = 1 few ring edges survive (each has about a k/n chance to land back on the ring)."""
    n, k = 2000, 10
    ring = {tuple(e) for e in nets.watts_strogatz(n, k, 0.0, rng()).edges()}
    kept = sum(tuple(e) in ring for e in nets.watts_strogatz(n, k, 1.0, rng(2)).edges())
    # A rewired edge (u, w) is a ring edge only if w is within k/2 of u: about k/n = 0.5%
    # of 10,000 edges = 50 expected; 150 is far beyond any sampling error.
    assert kept < 150, f"expected about 50 ring edges left at p=1, got {kept}"


def test_watts_strogatz_seed_stable():
    """The same seed gives the same graph; another seed gives a different one."""
    a = nets.watts_strogatz(500, 6, 0.2, rng(7))
    b = nets.watts_strogatz(500, 6, 0.2, rng(7))
    c = nets.watts_strogatz(500, 6, 0.2, rng(8))
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not np.array_equal(a.edges(), c.edges()), "another seed should rewire other edges"


def _mean_distance(g: nx.Graph, sources: np.ndarray) -> float:
    """Mean shortest-path length from ``sources`` to every other node (BFS with networkx)."""
    total = sum(sum(nx.single_source_shortest_path_length(g, int(s)).values()) for s in sources)
    return total / (len(sources) * (g.number_of_nodes() - 1))


@pytest.mark.slow
@pytest.mark.parametrize("p", sorted(WS_PATH_RATIO))
def test_watts_strogatz_small_world_figures(p):
    """C(p)/C(0) follows (1-p)^3 and L(p)/L(0) matches Watts & Strogatz's Fig. 2 (n=1000, k=10)."""
    n, k = 1000, 10
    lattice = nets.watts_strogatz(n, k, 0.0, rng()).to_networkx()
    c0 = nx.average_clustering(lattice)
    assert c0 == pytest.approx(3 * (k - 2) / (4 * (k - 1)))  # ring lattice: 0.6667
    l0 = _mean_distance(
        lattice, np.array([0])
    )  # the ring is vertex-transitive: one source is exact
    assert l0 == pytest.approx(50.45, abs=0.005)

    pick = rng(99)
    cs, ls = [], []
    for seed in range(10):
        g = nets.watts_strogatz(n, k, p, rng(seed)).to_networkx()
        assert nx.is_connected(g)
        cs.append(nx.average_clustering(g))
        # 100 BFS sources per graph instead of all 1000 (1.2 s per graph): the per-source mean
        # distance varies by 11% (p = 0.01; measured), so 1000 sampled sources give L to 0.4%.
        ls.append(_mean_distance(g, pick.choice(n, 100, replace=False)))
    c_ratio, l_ratio = np.mean(cs) / c0, np.mean(ls) / l0
    assert abs(c_ratio - (1 - p) ** 3) <= 0.02, f"C(p)/C(0) = {c_ratio:.3f} vs (1-p)^3 at p={p}"
    want = WS_PATH_RATIO[p]
    assert abs(l_ratio / want - 1) <= 0.10, f"L(p)/L(0) = {l_ratio:.3f}, table {want} at p={p}"


# ------------------------------------------------------------------------------- Barabasi-Albert
@pytest.mark.parametrize("n, m", [(10, 1), (100, 3), (2000, 5), (50, 49)])
def test_barabasi_albert_counts(n, m):
    """A star on m+1 nodes, then m edges per newcomer: m + (n-m-1)*m edges, newcomers' degree >= m."""
    g = nets.barabasi_albert(n, m, rng(3))
    assert g.n_edges == m + (n - m - 1) * m
    assert_simple_symmetric(g)
    assert g.degree()[m + 1 :].min(initial=m) >= m
    if n > 20 * m:  # the star's leaves start at degree 1 but soon collect links as early nodes
        assert g.degree().min() >= m
    assert nx.is_connected(g.to_networkx())


def test_barabasi_albert_heavy_tail():
    """Preferential attachment makes hubs: the largest degree is many times the mean."""
    g = nets.barabasi_albert(20_000, 3, rng(4))
    deg = g.degree()
    # BA's largest degree grows like m*sqrt(n) (about 400 here), against mean 2m = 6; a
    # G(n, p) graph of the same mean would top out near 20.
    assert deg.max() > 20 * deg.mean(), f"max degree {deg.max()} vs mean {deg.mean():.1f}"
    # Power-law tail P(k) ~ k^-3: about (m/k)^2 of consumers have degree >= k; at k = 30 that is 1%.
    share = (deg >= 30).mean()
    assert 0.005 < share < 0.02, f"share with degree >= 30 is {share:.4f}, expected about 0.01"


def test_barabasi_albert_seed_stable():
    """The same seed gives the same graph; another seed gives a different one."""
    a, b, c = (nets.barabasi_albert(300, 2, rng(s)) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)


# ----------------------------------------------------------------------------------- Erdos-Renyi
@pytest.mark.parametrize("n, p", [(2000, 0.001), (2000, 0.01), (500, 0.1), (300, 0.5)])
def test_erdos_renyi_edge_count(n, p):
    """The edge count is Binomial(n(n-1)/2, p): within 4 standard errors of its mean."""
    g = nets.erdos_renyi(n, p, rng(6))
    pairs = n * (n - 1) / 2
    mean, se = pairs * p, math.sqrt(pairs * p * (1 - p))
    assert abs(g.n_edges - mean) <= 4 * se, f"{g.n_edges} edges, expected {mean:.0f} +- {se:.0f}"
    assert_simple_symmetric(g)


@pytest.mark.parametrize("p, edges", [(0.0, 0), (1.0, 150 * 149 // 2)])
def test_erdos_renyi_degenerate(p, edges):
    """p = 0 gives no edges; p = 1 gives the complete graph."""
    g = nets.erdos_renyi(150, p, rng())
    assert g.n_edges == edges
    assert_simple_symmetric(g)


# ----------------------------------------------------------------------------------- communities
def test_communities_within_and_across_counts():
    """Edges inside and across the equal blocks are each within 4 SE of their binomial means."""
    n, blocks, p_in, p_out = 2000, 4, 0.02, 0.001
    g = nets.communities(n, blocks, p_in, p_out, rng(7))
    assert_simple_symmetric(g)
    e = g.edges()
    size = n // blocks
    inside = int((e[:, 0] // size == e[:, 1] // size).sum())
    across = g.n_edges - inside
    pairs_in = blocks * size * (size - 1) / 2
    pairs_out = n * (n - 1) / 2 - pairs_in
    for got, pairs, p in ((inside, pairs_in, p_in), (across, pairs_out, p_out)):
        mean, se = pairs * p, math.sqrt(pairs * p * (1 - p))
        assert abs(got - mean) <= 4 * se, f"{got} edges, expected {mean:.0f} +- {se:.0f}"


def test_communities_isolated_blocks():
    """With p_out = 0 no edge crosses blocks, and p_in = 1 makes each block a clique."""
    g = nets.communities(60, 3, 1.0, 0.0, rng())
    assert g.n_edges == 3 * (20 * 19 // 2)
    assert nx.number_connected_components(g.to_networkx()) == 3


# --------------------------------------------------------------------------------------- complete
def test_complete_is_implicit():
    """The complete graph stores no edges yet reports degree n-1 and n(n-1)/2 edges."""
    g = nets.complete(1000, 2.5)
    assert g.implicit and g.contacts == 2.5
    assert len(g.indices) == 0
    assert (g.degree() == 999).all()
    assert g.n_edges == 1000 * 999 // 2


def test_complete_edges_match_networkx():
    """Its edge list, when asked for, is networkx's complete graph."""
    g = nets.complete(12, 1.0)
    assert nx.utils.graphs_equal(g.to_networkx(), nx.complete_graph(12))


# --------------------------------------------------------------------------------------- edgelist
def test_read_edgelist(tmp_path):
    """Comments are skipped, repeats and self-loops dropped, n is the largest id + 1."""
    path = tmp_path / "friends.txt"
    path.write_text(
        "# who knows whom\n"
        "0 1\n"
        "1 0   # the same friendship, written the other way\n"
        "1 2\n"
        "1 2\n"
        "3 3\n"
        "\n"
        "2 7 0.5\n"  # extra columns (weights) are ignored
    )
    g = nets.read_edgelist(path)
    assert g.n == 8  # ids 4, 5, 6 are consumers without friends
    assert g.edges().tolist() == [[0, 1], [1, 2], [2, 7]]
    assert_simple_symmetric(g)
    assert g.degree().tolist() == [1, 2, 2, 0, 0, 0, 0, 1]


@pytest.mark.parametrize(
    "text, match",
    [
        ("# nothing\n", "has no edges"),
        ("0 1\n-1 2\n", "has node id -1; ids must be 0..n-1"),
        ("0 1\n1 99999999999\n", "has node id 99999999999; ids must be 0..n-1"),
    ],
)
def test_read_edgelist_rejects(tmp_path, text, match):
    """An empty file or an id outside 0..2**31-2 is a ValueError naming the problem."""
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        nets.read_edgelist(path)


def test_from_edges_drops_loops_and_repeats():
    """Endpoints in any order collapse to one undirected edge each; self-loops vanish."""
    g = nets.from_edges(4, np.array([0, 1, 2, 3, 3]), np.array([1, 0, 2, 0, 0]), "test")
    assert g.edges().tolist() == [[0, 1], [0, 3]]
    assert_simple_symmetric(g)
