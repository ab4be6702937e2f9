"""All matplotlib code: the figures a run writes."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

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


def stage_colors(stages: tuple[str, ...]) -> dict[str, str]:
    """A fixed colour per stage, in journey order (grey first: not yet reached)."""
    return {s: STAGE_COLORS[i % len(STAGE_COLORS)] for i, s in enumerate(stages)}


def adoption_figure(steps: pd.DataFrame, n: int, customer_stages: tuple[str, ...], title: str):
    """Customers over time: acquired so far and current, as shares of the market, with new ones."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, height_ratios=(2, 1))
    current = steps[[f"n_{s}" for s in customer_stages]].sum(axis=1)
    top.plot(
        steps["day"],
        100 * steps["cum_customers"] / n,
        color="#e6550d",
        lw=2,
        label="acquired so far",
    )
    top.plot(steps["day"], 100 * current / n, color="#31a354", lw=2, label="customers now")
    top.set_ylabel("% of the market")
    top.set_ylim(0, max(5.0, 105 * steps["cum_customers"].max() / n))
    top.legend(loc="upper left", frameon=False)
    top.set_title(title)
    bottom.bar(
        steps["day"],
        steps["new_customers"],
        width=steps["day"].diff().median() or 1.0,
        color="#fdae6b",
    )
    bottom.set_ylabel("new customers")
    bottom.set_xlabel("day")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def stages_figure(steps: pd.DataFrame, stages: tuple[str, ...], title: str):
    """Consumers in each funnel stage over time, stacked."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = stage_colors(stages)
    ax.stackplot(
        steps["day"],
        *(steps[f"n_{s}"] for s in stages),
        labels=stages,
        colors=[colors[s] for s in stages],
    )
    ax.set_xlim(steps["day"].min(), steps["day"].max())
    ax.set_ylim(0, steps[[f"n_{s}" for s in stages]].sum(axis=1).max())
    ax.set_xlabel("day")
    ax.set_ylabel("consumers")
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def save(fig, path: Path) -> None:
    """Write a figure as PNG and release it."""
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
):
    """Mean of ``y`` against ``x`` per series, with a band between two quantiles across runs.

    One panel per value of ``panel`` (a market); ``frame`` has one row per run × ``x``.
    """
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
):
    """Per outcome, a point and its confidence interval for each series (one panel per outcome).

    ``table`` has one row per series × outcome; ``zero`` draws the no-difference line.
    """
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
        ax.set_xlabel(outcome)
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
):
    """Outcome means with 95 % bands against one swept value, a line per series.

    Rows without a value for ``key`` (e.g. the baseline, when a strategy sweeps its own lever) are
    drawn as a dashed reference line with its band across the whole range.
    """
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
        ax.set_ylabel(outcome)
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
