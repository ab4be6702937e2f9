"""All matplotlib code: the figures a run writes."""

from __future__ import annotations

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
