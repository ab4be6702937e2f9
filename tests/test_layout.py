"""Drawing the network and the charts: the community layout, and the SVG charts' geometry."""

import re

import numpy as np
import pytest

from sim import layout, svgcharts
from sim import network as nets


def _distance(pos, pairs):
    return np.sqrt(((pos[pairs[:, 0]] - pos[pairs[:, 1]]) ** 2).sum(axis=1))


@pytest.mark.parametrize(
    "make, ratio",
    [
        (lambda rng: nets.watts_strogatz(300, 6, 0.1, rng), 0.2),
        (lambda rng: nets.watts_strogatz(2000, 6, 0.1, rng), 0.2),
        (lambda rng: nets.barabasi_albert(600, 3, rng), 0.75),
        (lambda rng: nets.erdos_renyi(600, 6 / 599, rng), 0.75),
    ],
    ids=["small world 300", "small world 2000", "hubs 600", "random 600"],
)
def test_friends_are_drawn_close_together(make, ratio):
    """Linked consumers sit closer than random pairs (1.0 for a random placement), every
    position is in the unit square, and no two consumers share a spot.

    Small worlds have short links to show (measured about 0.03 to 0.09); random and scale-free
    graphs have no short embedding in the plane (measured 0.40 to 0.57 over three seeds).
    """
    net = make(np.random.default_rng(3))
    pos = layout.positions(net)
    assert pos.shape == (net.n, 2) and pos.min() >= -1e-9 and pos.max() <= 1 + 1e-9
    pairs = np.random.default_rng(0).integers(0, net.n, size=(5000, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    assert np.median(_distance(pos, net.edges())) < ratio * np.median(_distance(pos, pairs))
    assert len(np.unique(np.round(pos, 5), axis=0)) == net.n


def test_communities_are_drawn_apart():
    """On a network of ten planted communities, a consumer's own community is nearer than the
    others: the median distance inside is under half the median distance across."""
    net = nets.communities(1000, 10, 0.1, 0.001, np.random.default_rng(5))
    pos = layout.positions(net)
    block = np.arange(1000) // 100
    pairs = np.random.default_rng(1).integers(0, 1000, size=(20000, 2))
    same = block[pairs[:, 0]] == block[pairs[:, 1]]
    assert np.median(_distance(pos, pairs[same])) < 0.5 * np.median(_distance(pos, pairs[~same]))


def test_layout_is_cached_and_deterministic():
    """The same network gets the same positions, computed once; another network gets its own."""
    a = nets.watts_strogatz(400, 6, 0.1, np.random.default_rng(1))
    b = nets.watts_strogatz(400, 6, 0.1, np.random.default_rng(1))
    c = nets.watts_strogatz(400, 6, 0.1, np.random.default_rng(2))
    first = layout.positions(a)
    assert layout.positions(b) is first
    layout._cache.clear()
    np.testing.assert_array_equal(layout.positions(b), first)
    assert not np.array_equal(layout.positions(c), first)


def test_complete_graph_is_a_disc_without_links():
    net = nets.complete(500, 5.0)
    pos = layout.positions(net)
    radius = np.sqrt(((pos - pos.mean(axis=0)) ** 2).sum(axis=1))
    assert radius.max() == pytest.approx(0.5, rel=0.02)
    assert layout.sample_edges(net, np.arange(500)).shape == (0, 2)


def test_sample_of_a_large_network_is_one_neighbourhood():
    """Above the limit, the drawn consumers are a connected piece: nearly all of their friends'
    links stay inside the sample, unlike a uniform sample's."""
    net = nets.watts_strogatz(20_000, 6, 0.05, np.random.default_rng(4))
    nodes = layout.sample(net, 1000, np.random.default_rng(0))
    assert len(nodes) == 1000 and np.all(np.diff(nodes) > 0)
    kept = len(layout.sample_edges(net, nodes))
    assert kept > 0.7 * 3 * 1000, "a neighbourhood keeps most of its links"
    uniform = np.sort(np.random.default_rng(0).choice(20_000, 1000, replace=False))
    assert len(layout.sample_edges(net, uniform)) < 0.1 * kept


# ---------------------------------------------------------------------------------------- charts
def _numbers(svg: str, tag: str, attr: str) -> list[float]:
    return [float(x) for x in re.findall(rf'<{tag} [^>]*?\b{attr}="([-\d.]+)"', svg)]


def test_funnel_bars_are_in_proportion_to_the_counts():
    counts = [300, 120, 60, 30, 15, 3]
    svg = svgcharts.funnel(
        list("ABCDEF"),
        counts,
        ["#000"] * 6,
        ["x"] * 6,
        ["40 %", "50 %", "50 %", "50 %", "20 %"],
        "Funnel",
        step=7,
    )
    widths = _numbers(svg, "rect", "width")
    np.testing.assert_allclose(np.array(widths) / widths[0], np.array(counts) / 300, atol=0.01)
    xs = _numbers(svg, "rect", "x")
    centres = np.array(xs) + np.array(widths) / 2
    np.testing.assert_allclose(centres, centres[0], atol=0.2)  # coordinates have one decimal
    assert svg.count("<polygon") == 5 and svg.count("wom-conversion") == 5
    assert 'data-step="7"' in svg and ">↓ 40 %<" in svg


def test_funnel_escapes_its_labels():
    svg = svgcharts.funnel(["<b>"], [1], ["#000"], ["&"], [], "T & <t>", step=0)
    assert "<b>" not in svg.replace('<b>"', "") and "&lt;b&gt;" in svg and "&amp;" in svg


def test_line_chart_keeps_the_planned_days_and_ends_lines_where_the_data_ends():
    """The x axis runs to the run's last day however far the run has got; each line has one
    point per day recorded."""
    days = np.arange(31.0)
    now = svgcharts.Line(days, days / 3, "#0a0", end_label="10 %")
    before = svgcharts.Line(np.arange(121.0), np.linspace(0, 40, 121), "#999", dashed=True)
    svg = svgcharts.lines([before, now], 120, 10, "Share", "day", "%", step=30)
    lines = re.findall(r'<polyline points="([^"]+)"', svg)
    assert [len(p.split()) for p in lines] == [121, 31]
    xs = [float(p.split(",")[0]) for p in lines[0].split()]
    last_now = float(lines[1].split()[-1].split(",")[0])
    assert last_now == pytest.approx(xs[0] + (xs[-1] - xs[0]) * 30 / 120, abs=0.2)
    assert "stroke-dasharray" in svg and ">10 %<" in svg
    assert ">120<" in svg and ">40<" in svg, "axes reach the last day and the highest line"


@pytest.mark.parametrize(
    "top, ticks",
    [(10, [0, 2.5, 5, 7.5, 10]), (300, [0, 100, 200, 300]), (7, [0, 2, 4, 6, 8]), (120, None)],
)
def test_nice_ticks(top, ticks):
    got = svgcharts.nice_ticks(top, 4 if top != 120 else 6)
    assert got[0] == 0 and got[-1] >= top
    if ticks is not None:
        assert got == ticks
    else:
        assert got == [0, 20, 40, 60, 80, 100, 120]
