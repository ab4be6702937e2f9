"""All matplotlib code: the figures a run writes, in the reader's language.

Every function that makes text takes a :class:`~sim.i18n.Translator` (English by default) and
typesets with the Chinese font of :mod:`sim.fonts` as the fallback for glyphs the usual font lacks.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib import animation
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sim import fonts
from sim.i18n import Translator, translator
from sim.network import Network

STAGE_COLORS = (
    "#c8c8c8",
    "#9ecae1",
    "#4292c6",
    "#fdae6b",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#e377c2",
)


_TYPESETTING = threading.RLock()


def font_families(lang: str) -> list[str]:
    """The font list for text in ``lang``: the configured font, then the Chinese one for its glyphs.

    English falls back to Chinese too, for Chinese names of scenarios or strategies.
    """
    cjk = fonts.chinese(lang)
    return list(dict.fromkeys([*matplotlib.rcParams["font.family"], *([cjk] if cjk else [])]))


@contextlib.contextmanager
def typeset(tr: Translator) -> Iterator[None]:
    """Text made inside uses :func:`font_families` of the translator's language.

    Text keeps the fonts it was made with, so figures are drawn and saved correctly anywhere;
    only making them holds a lock, as matplotlib's settings are shared by the threads of a server.
    """
    with _TYPESETTING, matplotlib.rc_context({"font.family": font_families(tr.lang)}):
        yield


def stage_colors(stages: tuple[str, ...]) -> dict[str, str]:
    """A fixed colour per stage, in journey order (grey first: not yet reached)."""
    return {s: STAGE_COLORS[i % len(STAGE_COLORS)] for i, s in enumerate(stages)}


def adoption_figure(
    steps: pd.DataFrame,
    n: int,
    customer_stages: tuple[str, ...],
    title: str,
    tr: Translator | None = None,
):
    """Customers over time: acquired so far and current, as shares of the market, with new ones."""
    tr = tr or translator()
    with typeset(tr):
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, height_ratios=(2, 1))
        current = steps[[f"n_{s}" for s in customer_stages]].sum(axis=1)
        top.plot(
            steps["day"],
            100 * steps["cum_customers"] / n,
            color="#e6550d",
            lw=2,
            label=tr("acquired so far"),
        )
        top.plot(steps["day"], 100 * current / n, color="#31a354", lw=2, label=tr("customers now"))
        top.set_ylabel(tr("% of the market"))
        top.set_ylim(0, max(5.0, 105 * steps["cum_customers"].max() / n))
        top.legend(loc="upper left", frameon=False)
        top.set_title(title)
        bottom.bar(
            steps["day"],
            steps["new_customers"],
            width=steps["day"].diff().median() or 1.0,
            color="#fdae6b",
        )
        bottom.set_ylabel(tr("new customers"))
        bottom.set_xlabel(tr("day"))
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
    return fig


def stages_figure(
    steps: pd.DataFrame, stages: tuple[str, ...], title: str, tr: Translator | None = None
):
    """Consumers in each funnel stage over time, stacked."""
    tr = tr or translator()
    with typeset(tr):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        counts = steps[[f"n_{s}" for s in stages]].to_numpy().T
        draw_stages(ax, steps["day"].to_numpy(), counts, stages, tr=tr)
        ax.set_title(title)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        fig.tight_layout()
    return fig


def save(fig, path: Path) -> None:
    """Write a figure as PNG and release it."""
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------- live views: app and animation
def draw_stages(
    ax,
    days: np.ndarray,
    counts: np.ndarray,
    stages: tuple[str, ...],
    horizon: float | None = None,
    tr: Translator | None = None,
) -> None:
    """Consumers in each stage (rows of ``counts``) over ``days``, stacked in journey order.

    ``horizon`` fixes the x-axis to the planned run length, so a live chart fills up as days pass.
    Call it inside :func:`typeset` for Chinese.
    """
    tr = tr or translator()
    colors = stage_colors(stages)
    labels = [tr.label("stage", s) for s in stages]
    ax.stackplot(days, *counts, labels=labels, colors=[colors[s] for s in stages])
    ax.set_xlim(days[0], max(horizon or days[-1], days[0] + 1))
    ax.set_ylim(0, max(1, counts.sum(axis=0).max()))
    ax.set_xlabel(tr("day"))
    ax.set_ylabel(tr("consumers"))
    ax.spines[["top", "right"]].set_visible(False)


def draw_funnel(
    ax, counts: np.ndarray, stages: tuple[str, ...], tr: Translator | None = None
) -> None:
    """Consumers per stage now, as a funnel: centred bars in journey order from the top.

    Call it inside :func:`typeset` for Chinese.
    """
    tr = tr or translator()
    colors = stage_colors(stages)
    y = np.arange(len(stages))[::-1]
    ax.barh(y, counts, left=-counts / 2, height=0.8, color=[colors[s] for s in stages])
    for yi, stage, count in zip(y, stages, counts, strict=True):
        ax.text(
            0, yi, f"{tr.label('stage', stage)}  {count:,}", ha="center", va="center", fontsize=8
        )
    half = max(1, counts.sum()) / 2
    ax.set_xlim(-half, half)
    ax.set_ylim(-0.6, len(stages) - 0.4)
    ax.set_axis_off()


def network_sample(network: Network, limit: int, rng: np.random.Generator) -> np.ndarray:
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


def network_layout(network: Network, nodes: np.ndarray, seed: int) -> np.ndarray:
    """Positions (len(nodes), 2) of the drawn consumers; computed once, then only colours change.

    Small worlds keep their ring (consumer ids are ring positions), so shortcuts show as chords;
    the complete graph is a disc; other graphs get a seeded spring layout.
    """
    k = len(nodes)
    if network.kind == "watts_strogatz":
        angle = 2 * np.pi * np.arange(k) / k
        return np.column_stack([np.cos(angle), np.sin(angle)])
    if network.implicit:
        r, angle = np.sqrt(np.arange(k) + 0.5), np.arange(k) * np.pi * (3 - np.sqrt(5))
        return np.column_stack([r * np.cos(angle), r * np.sin(angle)])
    graph = nx.Graph()
    graph.add_nodes_from(range(k))
    graph.add_edges_from(map(tuple, _sample_edges(network, nodes)))
    pos = nx.spring_layout(graph, seed=seed)
    return np.array([pos[i] for i in range(k)])


def _sample_edges(network: Network, nodes: np.ndarray) -> np.ndarray:
    """Edges among ``nodes``, as pairs of positions in ``nodes``."""
    if network.implicit:
        return np.empty((0, 2), dtype=np.int64)
    where = np.full(network.n, -1)
    where[nodes] = np.arange(len(nodes))
    edges = where[network.edges()]
    return edges[(edges >= 0).all(axis=1)]


class NetworkView:
    """A network drawn once on ``ax``; :meth:`paint` recolours the consumers by funnel stage.

    Args:
        ax: the axes to draw on.
        network: the market's network.
        stages: the funnel's stages, in journey order.
        limit: most consumers to draw; larger markets show a sample (see :func:`network_sample`).
        seed: seed of the sample and the layout (display only: never the model's streams).
        tr: the language of the legend and caption (English by default).
    """

    def __init__(
        self,
        ax,
        network: Network,
        stages: tuple[str, ...],
        limit: int = 400,
        seed: int = 0,
        tr: Translator | None = None,
    ):
        self.tr = tr or translator()
        self.n = network.n
        self.nodes = network_sample(network, limit, np.random.default_rng(seed))
        pos = network_layout(network, self.nodes, seed)
        segments = pos[_sample_edges(network, self.nodes)]
        ax.add_collection(LineCollection(segments, colors="#999999", linewidths=0.4, alpha=0.5))
        colors = stage_colors(stages)
        self._palette = np.array([matplotlib.colors.to_rgba(colors[s]) for s in stages])
        size = float(np.clip(6000 / len(self.nodes), 4, 80))
        self.dots = ax.scatter(pos[:, 0], pos[:, 1], s=size, linewidths=0.3, edgecolors="white")
        self.dots.set_zorder(2)
        ax.set_aspect("equal")
        ax.set_axis_off()
        handles = [
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                color=colors[s],
                label=self.tr.label("stage", s),
                markersize=6,
            )
            for s in stages
        ]
        with typeset(self.tr):
            ax.legend(
                handles=handles,
                loc="center left",
                bbox_to_anchor=(1.0, 0.5),
                frameon=False,
                fontsize=8,
            )

    @property
    def caption(self) -> str:
        """What the picture shows: everyone, or which sample."""
        if len(self.nodes) == self.n:
            return self.tr("All {n} consumers.").format(n=f"{self.n:,}")
        return self.tr("A sample: {drawn} of {n} consumers; the charts count everyone.").format(
            drawn=f"{len(self.nodes):,}", n=f"{self.n:,}"
        )

    def paint(self, stage: np.ndarray) -> None:
        """Colour each drawn consumer by its stage (indices into the funnel's stages)."""
        self.dots.set_facecolor(self._palette[stage[self.nodes]])


class FunnelView:
    """The funnel now (bars) above the stages over time (stacked area); redrawn on every update."""

    def __init__(
        self,
        bars_ax,
        history_ax,
        stages: tuple[str, ...],
        horizon: float | None = None,
        tr: Translator | None = None,
    ):
        self.bars_ax, self.history_ax = bars_ax, history_ax
        self.stages, self.horizon = stages, horizon
        self.tr = tr or translator()

    def draw(self, days: np.ndarray, counts: np.ndarray) -> None:
        """Show the state of the last day: ``counts`` is (stages, days)."""
        with typeset(self.tr):
            self.bars_ax.clear()
            self.history_ax.clear()
            draw_funnel(self.bars_ax, counts[:, -1], self.stages, self.tr)
            draw_stages(self.history_ax, days, counts, self.stages, self.horizon, self.tr)


def network_figure(
    network: Network, stages: tuple[str, ...], limit: int = 400, tr: Translator | None = None
) -> tuple[Figure, NetworkView]:
    """A figure of its own (no pyplot: safe in a server) holding a :class:`NetworkView`.

    Margins are fixed rather than computed by a layout engine, which would double each redraw.
    """
    tr = tr or translator()
    with typeset(tr):
        fig = Figure(figsize=(4.8, 3.5))
        view = NetworkView(fig.add_axes((0.0, 0.0, 0.75, 1.0)), network, stages, limit, tr=tr)
    return fig, view


def funnel_figure(
    stages: tuple[str, ...], horizon: float | None = None, tr: Translator | None = None
) -> tuple[Figure, FunnelView]:
    """A figure of its own holding a :class:`FunnelView`: funnel above, stages over time below."""
    tr = tr or translator()
    with typeset(tr):
        fig = Figure(figsize=(4.8, 3.8))
        bars = fig.add_axes((0.02, 0.62, 0.96, 0.37))
        history = fig.add_axes((0.17, 0.12, 0.81, 0.46))
    return fig, FunnelView(bars, history, stages, horizon, tr)


def diffusion_figure(
    network: Network,
    stages: tuple[str, ...],
    horizon: float | None = None,
    limit: int = 400,
    tr: Translator | None = None,
) -> tuple[Figure, NetworkView, FunnelView]:
    """For slides: the network on the left, the funnel and stages over time on the right."""
    tr = tr or translator()
    with typeset(tr):
        fig = Figure(figsize=(11.0, 5.0))
        net = NetworkView(fig.add_axes((0.0, 0.02, 0.38, 0.84)), network, stages, limit, tr=tr)
        bars = fig.add_axes((0.52, 0.55, 0.46, 0.33))
        funnel = FunnelView(bars, fig.add_axes((0.57, 0.1, 0.41, 0.4)), stages, horizon, tr)
    return fig, net, funnel


def can_write(suffix: str) -> bool:
    """Is a movie writer for this file type installed (``.gif``: pillow; ``.mp4``: ffmpeg)?"""
    return animation.writers.is_available({".gif": "pillow", ".mp4": "ffmpeg"}.get(suffix, ""))


def write_movie(fig: Figure, draw_frame, frames: int, path: Path, fps: int) -> None:
    """Render ``draw_frame(i)`` for each of ``frames`` frames into a GIF or MP4 at ``path``."""
    writer = {".gif": animation.PillowWriter, ".mp4": animation.FFMpegWriter}[path.suffix](fps=fps)
    movie = animation.FuncAnimation(fig, draw_frame, frames=frames, repeat=False)
    movie.save(path, writer=writer, dpi=100)


# --------------------------------------------------------------------------------- experiments
def series_colors(labels: list[str]) -> dict[str, str]:
    """A fixed colour per series label (strategy variant), in order, shared by all the figures."""
    palette = plt.get_cmap("tab10").colors
    return {label: matplotlib.colors.to_hex(palette[i % 10]) for i, label in enumerate(labels)}


def bands_figure(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    series: str,
    panel: str,
    colors: dict[str, str],
    xlabel: str,
    ylabel: str,
    title: str,
    band: tuple[float, float] = (0.1, 0.9),
    tr: Translator | None = None,
):
    """Mean of ``y`` against ``x`` per series, with a band between two quantiles across runs.

    One panel per value of ``panel`` (a market); ``frame`` has one row per run × ``x``.
    """
    tr = tr or translator()
    with typeset(tr):
        panels = list(dict.fromkeys(frame[panel]))
        fig, axes = plt.subplots(
            1, len(panels), figsize=(3 + 5 * len(panels), 4.5), sharey=True, squeeze=False
        )
        for ax, name in zip(axes[0], panels, strict=True):
            for label, group in frame[frame[panel] == name].groupby(series, sort=False):
                by_x = group.groupby(x)[y]
                lo, hi = by_x.quantile(band[0]), by_x.quantile(band[1])
                ax.fill_between(lo.index, lo, hi, color=colors[label], alpha=0.18, lw=0)
                ax.plot(lo.index, by_x.mean(), color=colors[label], lw=2, label=label)
            ax.set_title(name if len(panels) > 1 else "")
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3)
            ax.spines[["top", "right"]].set_visible(False)
        axes[0][0].set_ylabel(ylabel)
        axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        fig.suptitle(title)
        fig.tight_layout()
    return fig


def intervals_figure(
    table: pd.DataFrame,
    *,
    outcomes: list[str],
    series: str,
    colors: dict[str, str],
    est: str,
    low: str,
    high: str,
    title: str,
    zero: bool = False,
    tr: Translator | None = None,
):
    """Per outcome, a point and its confidence interval for each series (one panel per outcome).

    ``table`` has one row per series × outcome; ``zero`` draws the no-difference line.
    """
    tr = tr or translator()
    with typeset(tr):
        cols = min(3, len(outcomes))
        rows = -(-len(outcomes) // cols)
        labels = list(dict.fromkeys(table[series]))
        fig, axes = plt.subplots(
            rows,
            cols,
            figsize=(4.5 * cols + 2, 0.9 + rows * (0.8 + 0.32 * len(labels))),
            squeeze=False,
            sharey=True,
        )
        for ax in axes.flat[len(outcomes) :]:
            ax.set_visible(False)
        for ax, outcome in zip(axes.flat, outcomes, strict=False):
            here = table[table["outcome"] == outcome].set_index(series).reindex(labels)
            for y, label in enumerate(labels):
                row = here.loc[label]
                err = [[row[est] - row[low]], [row[high] - row[est]]]
                ax.errorbar(row[est], y, xerr=err, fmt="o", color=colors[label], capsize=3)
            if zero:
                ax.axvline(0, color="#555555", lw=1, ls="--")
            ax.set_yticks(range(len(labels)), labels)
            ax.set_ylim(len(labels) - 0.5, -0.5)  # first series on top
            ax.set_xlabel(tr.outcome(outcome))
            ax.grid(axis="x", alpha=0.3)
            ax.spines[["top", "right"]].set_visible(False)
        fig.suptitle(title)
        fig.tight_layout()
    return fig


def sweep_figure(
    table: pd.DataFrame,
    *,
    key: str,
    outcomes: list[str],
    series: str,
    colors: dict[str, str],
    title: str,
    tr: Translator | None = None,
):
    """Outcome means with 95 % bands against one swept value, a line per series.

    Rows without a value for ``key`` (e.g. the baseline, when a strategy sweeps its own lever) are
    drawn as a dashed reference line with its band across the whole range.
    """
    tr = tr or translator()
    with typeset(tr):
        cols = min(3, len(outcomes))
        rows = -(-len(outcomes) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols + 2, 3.6 * rows), squeeze=False)
        for ax in axes.flat[len(outcomes) :]:
            ax.set_visible(False)
        values = table[key].dropna()
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        positive = values[values > 0] if numeric else values
        wide = numeric and len(positive) > 1 and positive.max() / positive.min() > 100
        for ax, outcome in zip(axes.flat, outcomes, strict=False):
            here = table[table["outcome"] == outcome]
            for label, group in here.groupby(series, sort=False):
                color = colors[label]
                if group[key].isna().all():
                    ref = group.iloc[0]
                    ax.axhline(ref["mean"], color=color, ls="--", lw=1.5, label=label)
                    ax.axhspan(ref["ci_low"], ref["ci_high"], color=color, alpha=0.12, lw=0)
                    continue
                group = group.dropna(subset=[key])
                x = group[key] if numeric else group[key].astype(str)
                ax.fill_between(x, group["ci_low"], group["ci_high"], color=color, alpha=0.18, lw=0)
                ax.plot(x, group["mean"], "o-", color=color, lw=2, label=label)
            if wide and (values == 0).any():
                ax.set_xscale("symlog", linthresh=positive.min())
            elif wide:
                ax.set_xscale("log")
            ax.set_xlabel(key)
            ax.set_ylabel(tr.outcome(outcome))
            ax.grid(alpha=0.3)
            ax.spines[["top", "right"]].set_visible(False)
        axes.flat[min(len(outcomes), cols) - 1].legend(
            loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False
        )
        fig.suptitle(title)
        fig.tight_layout()
    return fig


def png(fig) -> bytes:
    """A figure as PNG bytes (for atomic writes and embedding in HTML); releases the figure."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
