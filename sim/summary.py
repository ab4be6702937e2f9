"""Statistics of a batch experiment: means with 95 % intervals, and paired differences vs the baseline.

Replicate ``r`` runs with the same seed under every strategy (common random numbers), so a
strategy's effect is measured on pairs: ``d_r = x_r(strategy) - x_r(baseline)``. The interval of
the mean of ``d`` is much narrower than the one an unpaired comparison would give, because the
network, the population and most random draws are shared within a pair.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import stdtrit

LEVEL = 0.95
"""Confidence level of every interval."""

HIGHER_IS_BETTER = (
    "final_customers",
    "cum_customers",
    "market_share",
    "purchases",
    "referral_customers",
    "revenue",
    "margin",
    "profit",
    "roi",
    "clv",
    "shares",
    "sharers",
    "viral_k",
)
LOWER_IS_BETTER = ("t10", "t50", "cac")
"""Outcomes with a direction. The others (costs, conversions, sources) describe, not rank: the
cheapest strategy is the one that does nothing."""

HEADLINE = ("cum_customers", "t50", "cac", "profit", "roi", "margin", "viral_k")
"""Outcomes the figures and the report lead with, those a run has, in this order."""


def better(outcome: str) -> str:
    """``"higher"``, ``"lower"`` or ``""`` (no direction) for an outcome column."""
    if outcome in HIGHER_IS_BETTER:
        return "higher"
    if outcome in LOWER_IS_BETTER:
        return "lower"
    return ""


def describe(x: np.ndarray) -> tuple[int, float, float, float, float]:
    """(n, mean, sd, ci_low, ci_high) of the finite values of ``x``; t interval at :data:`LEVEL`.

    The interval is ``mean ± t(1 - (1 - LEVEL) / 2, n - 1) · sd / √n`` (Student 1908); it needs two
    values, so with fewer its bounds are NaN.
    """
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return 0, np.nan, np.nan, np.nan, np.nan
    mean = float(x.mean())
    if n == 1:
        return 1, mean, np.nan, np.nan, np.nan
    sd = float(x.std(ddof=1))
    half = float(stdtrit(n - 1, 0.5 + LEVEL / 2)) * sd / np.sqrt(n)
    return n, mean, sd, mean - half, mean + half


def share_better(d: np.ndarray, direction: str) -> float:
    """Share of pairs in which the strategy beats the baseline (strictly); NaN without a direction."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    if not direction or len(d) == 0:
        return np.nan
    return float(np.mean(d > 0 if direction == "higher" else d < 0))


SUMMARY_COLUMNS = (
    "outcome",
    "better",
    "n",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "n_pairs",
    "diff_mean",
    "diff_ci_low",
    "diff_ci_high",
    "share_better",
)


def summarise(
    runs: pd.DataFrame,
    *,
    baseline: str,
    variant: list[str],
    point: list[str],
    outcomes: list[str],
) -> pd.DataFrame:
    """One row per scenario × strategy variant × sweep point × outcome (``summary.csv``).

    Args:
        runs: one row per run with ``status``, ``scenario``, ``strategy``, ``replicate``, the
            ``variant`` and ``point`` columns and the ``outcomes``; only ``status == "ok"`` counts.
        baseline: the strategy every other is compared with.
        variant: sweep columns that belong to strategies (the baseline has none).
        point: sweep columns shared by every strategy; pairs match on scenario, these and replicate.
        outcomes: numeric columns to summarise.

    Returns:
        Columns scenario, strategy, *variant, *point, then :data:`SUMMARY_COLUMNS`.
    """
    ok = runs[runs["status"] == "ok"]
    pair = ["scenario", *point, "replicate"]
    base = ok[ok["strategy"] == baseline].set_index(pair)[outcomes]
    group = ["scenario", "strategy", *variant, *point]
    rows = []
    for keys, g in ok.groupby(group, sort=False, dropna=False):
        aligned = base.reindex(pd.MultiIndex.from_frame(g[pair]))
        for outcome in outcomes:
            x = g[outcome].to_numpy(dtype=float)
            d = x - aligned[outcome].to_numpy(dtype=float)
            n, mean, sd, lo, hi = describe(x)
            n_pairs, d_mean, _, d_lo, d_hi = describe(d)
            rows.append(
                {
                    **dict(zip(group, keys, strict=True)),
                    "outcome": outcome,
                    "better": better(outcome),
                    "n": n,
                    "mean": mean,
                    "sd": sd,
                    "ci_low": lo,
                    "ci_high": hi,
                    "n_pairs": n_pairs,
                    "diff_mean": d_mean,
                    "diff_ci_low": d_lo,
                    "diff_ci_high": d_hi,
                    "share_better": share_better(d, better(outcome)),
                }
            )
    return pd.DataFrame(rows, columns=[*group, *SUMMARY_COLUMNS])


def winners(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    variant: list[str],
    point: list[str],
    outcomes: list[str],
) -> pd.DataFrame:
    """The best strategy variant per scenario × sweep point × outcome with a direction.

    Beside the winner's mean and interval and its difference from the baseline, its paired lead
    over the runner-up (how much better, so positive: lower values count as better where lower is
    better) tells whether the win is more than noise (the lead's interval excludes 0).

    Returns:
        Columns: scenario, *point, outcome, better, winner, runner_up, n, mean, ci_low, ci_high,
        diff_mean, diff_ci_low, diff_ci_high, share_better, lead_mean, lead_ci_low, lead_ci_high.
    """
    ok = runs[runs["status"] == "ok"]
    keys = ["strategy", *variant]
    rows = []
    for where, table in summary.groupby(["scenario", *point], sort=False, dropna=False):
        where = where if isinstance(where, tuple) else (where,)
        for outcome in outcomes:
            direction = better(outcome)
            ranked = table[(table["outcome"] == outcome) & table["mean"].notna()]
            if not direction or ranked.empty:
                continue
            ranked = ranked.sort_values("mean", ascending=direction == "lower", kind="stable")
            first = ranked.iloc[0]
            row = {**dict(zip(["scenario", *point], where, strict=True)), "outcome": outcome}
            row |= {"better": direction, "winner": label(first, variant), "runner_up": ""}
            row |= first[["n", "mean", "ci_low", "ci_high", "diff_mean", "diff_ci_low"]].to_dict()
            row |= first[["diff_ci_high", "share_better"]].to_dict()
            row |= {"lead_mean": np.nan, "lead_ci_low": np.nan, "lead_ci_high": np.nan}
            if len(ranked) > 1:
                second = ranked.iloc[1]
                here = ok[_matches(ok, ["scenario", *point], where)]
                a = here[_matches(here, keys, first[keys])].set_index("replicate")[outcome]
                b = here[_matches(here, keys, second[keys])].set_index("replicate")[outcome]
                gain = (a - b.reindex(a.index)).to_numpy(float) * (
                    1 if direction == "higher" else -1
                )
                _, lead, _, lead_lo, lead_hi = describe(gain)
                row |= {"runner_up": label(second, variant), "lead_mean": lead}
                row |= {"lead_ci_low": lead_lo, "lead_ci_high": lead_hi}
            rows.append(row)
    return pd.DataFrame(rows)


def label(row: pd.Series, variant: list[str]) -> str:
    """A strategy variant's name: the strategy, then its own sweep values (``mgm reward=10``)."""
    values = [f"{k.rsplit('.', 1)[-1]}={value_text(row[k])}" for k in variant if pd.notna(row[k])]
    return " ".join([str(row["strategy"]), *values])


def value_text(x: object) -> str:
    """A sweep value as short text: numbers with ``%g``, anything else as it is."""
    is_number = isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)
    return f"{x:g}" if is_number else str(x)


def _matches(frame: pd.DataFrame, columns: list[str], values) -> pd.Series:
    """Rows whose ``columns`` equal ``values``, NaN matching NaN."""
    mask = pd.Series(True, index=frame.index)
    for column, value in zip(columns, list(values), strict=True):
        mask &= frame[column].isna() if pd.isna(value) else frame[column] == value
    return mask
