"""An experiment's figures and its one-page ``report.html`` (self-contained: figures embedded).

The page is meant to be sent to a colleague: what was compared, the winner on each outcome with
its 95 % confidence interval (and whether it is distinguishable from the runner-up), the figures
and the table of headline outcomes.
"""

from __future__ import annotations

import base64
import html
import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim import plots, summary

if TYPE_CHECKING:
    from sim.experiment import Experiment

Figures = dict[str, tuple[str, bytes]]
"""File name -> (caption, PNG bytes)."""


def series_labels(frame: pd.DataFrame, variant: list[str], point: list[str]) -> pd.Series:
    """Each row's series: its strategy variant and sweep point, e.g. ``mgm reward_referrer=10 p=0.1``."""
    return frame.apply(lambda row: summary.label(row, [*variant, *point]), axis=1)


def headline(table: pd.DataFrame) -> list[str]:
    """The headline outcomes this experiment has values for, in :data:`summary.HEADLINE` order."""
    measured = set(table.loc[table["mean"].notna(), "outcome"])
    return [o for o in summary.HEADLINE if o in measured]


def figures(
    runs: pd.DataFrame,
    steps: pd.DataFrame | None,
    table: pd.DataFrame,
    *,
    baseline: str,
    variant: list[str],
    point: list[str],
    groups: list[list[str]],
    sizes: dict[str, int],
) -> Figures:
    """Adoption bands per series, outcomes and differences with intervals, a plot per sweep entry.

    ``groups`` lists the keys that vary together (one sweep entry); the first is the x axis.
    """
    ok = runs[runs["status"] == "ok"]
    if ok.empty:
        return {}
    ok = ok.assign(series=series_labels(ok, variant, point))
    colors = plots.series_colors(list(dict.fromkeys(ok["series"])))
    out: Figures = {}
    if steps is not None:
        frame = steps[["run_id", "scenario", "day", "cum_customers"]].merge(
            ok[["run_id", "series"]], on="run_id"
        )
        frame["share"] = 100 * frame["cum_customers"] / frame["scenario"].map(sizes)
        fig = plots.bands_figure(
            frame,
            x="day",
            y="share",
            series="series",
            panel="scenario",
            colors=colors,
            xlabel="day",
            ylabel="customers acquired, % of the market",
            title="Adoption: mean and 10-90 % band across replicates",
        )
        out["adoption.png"] = (
            "Customers acquired over time: the line is the mean across replicates, the band holds "
            "the middle 80 % of them.",
            plots.png(fig),
        )
    names = headline(table)
    if not names:
        return out
    rows = table[table["outcome"].isin(names)]
    rows = rows.assign(series=series_labels(rows, variant, point))
    for scenario, here in rows.groupby("scenario", sort=False):
        suffix = f" ({scenario})" if rows["scenario"].nunique() > 1 else ""
        slug = f"_{scenario}" if suffix else ""
        fig = plots.intervals_figure(
            here,
            outcomes=names,
            series="series",
            colors=colors,
            est="mean",
            low="ci_low",
            high="ci_high",
            title=f"Outcomes: mean and 95 % confidence interval{suffix}",
        )
        out[f"outcomes{slug}.png"] = (f"Headline outcomes per strategy{suffix}.", plots.png(fig))
        others = here[here["strategy"] != baseline]
        if not others.empty:
            fig = plots.intervals_figure(
                others,
                outcomes=names,
                series="series",
                colors=colors,
                est="diff_mean",
                low="diff_ci_low",
                high="diff_ci_high",
                title=f"Difference from {baseline}: paired, with 95 % confidence interval{suffix}",
                zero=True,
            )
            out[f"differences{slug}.png"] = (
                f"Each strategy minus {baseline}, replicate by replicate (same seeds); an interval "
                f"that excludes the dashed zero line is a difference beyond noise{suffix}.",
                plots.png(fig),
            )
    plotted = set()
    for group in groups:
        key = group[0]
        if rows[key].nunique() < 2 or key in plotted:
            continue  # a key shared by two strategies' sweeps is one plot, a line per strategy
        plotted.add(key)
        others = [k for k in [*variant, *point] if k not in group]
        keyed = rows.assign(series=series_labels(rows, others, []))
        keyed_colors = plots.series_colors(list(dict.fromkeys(keyed["series"])))
        fig = plots.sweep_figure(
            keyed, key=key, outcomes=names, series="series", colors=keyed_colors, title=key
        )
        slug = "".join(c if c.isalnum() else "_" for c in key)
        out[f"sweep_{slug}.png"] = (
            f"Outcomes against {key}: mean and 95 % confidence band.",
            plots.png(fig),
        )
    return out


# ------------------------------------------------------------------------------------------- page
def render(
    exp: Experiment,
    runs: pd.DataFrame,
    table: pd.DataFrame,
    figures: Figures,
    meta: dict[str, Any],
    *,
    variant: list[str],
    point: list[str],
) -> str:
    """The report page as one HTML string with the figures inlined."""
    ok = runs[runs["status"] == "ok"]
    names = headline(table)
    best = summary.winners(runs, table, variant=variant, point=point, outcomes=names)
    counts = (
        f"{len(runs)} runs: {runs['scenario'].nunique()} market(s) × "
        f"{table.groupby(['strategy', *variant], dropna=False).ngroups or len(exp.strategies)} "
        f"strategy variant(s) × {_points(exp)} sweep point(s) × {exp.replicates} replicates"
    )
    failed = len(runs) - len(ok)
    parts = [
        f"<h1>{_e(exp.name)}</h1>",
        f"<p class=lead>{_e(exp.description)}</p>" if exp.description else "",
        f"<p class=meta>{_e(counts)}; {failed} failed. Run {_e(meta['finished'])} on "
        f"{_e(meta['engine'])}; wom-sim {_e(meta['versions']['wom-sim'])}"
        f"{_commit(meta)}.</p>",
        "<h2>What was compared</h2>",
        _compared(exp),
        "<h2>Winners</h2>",
        _winners(best, point, exp.baseline) if not best.empty else "<p>No successful runs.</p>",
        "<h2>Figures</h2>",
        *(
            f'<figure><img alt="{_e(name)}" src="data:image/png;base64,'
            f'{base64.b64encode(data).decode()}"><figcaption>{_e(caption)}</figcaption></figure>'
            for name, (caption, data) in figures.items()
        ),
        "<h2>Table</h2>",
        _table(table[table["outcome"].isin(names)], variant, point),
        "<h2>How to read this</h2>",
        _method(exp),
    ]
    body = "\n".join(p for p in parts if p)
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(exp.name)}: experiment report</title><style>{STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.lead{font-size:1.1em} .meta{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
th,td{padding:.25em .6em;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
figure{margin:1.2em 0} img{max-width:100%} figcaption{color:#555;font-size:.9em}
.yes{color:#1a7f37} .no{color:#9a6700} code{background:#f4f4f4;padding:0 .2em}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def fmt(x: Any) -> str:
    """A number for people: thousands separated, about three significant digits; '–' if missing."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, str):
        return x
    if abs(x) >= 100 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:.3g}"


def interval(lo: float, hi: float) -> str:
    """``[lo, hi]``, or nothing when the interval is undefined (fewer than two replicates)."""
    return "" if pd.isna(lo) or pd.isna(hi) else f" [{fmt(lo)}, {fmt(hi)}]"


def _points(exp: Experiment) -> int:
    return math.prod(len(v) for v in exp.sweep.values()) if exp.sweep else 1


def _commit(meta: dict[str, Any]) -> str:
    git = meta.get("git") or {}
    if not git:
        return ""
    return f", commit {_e(git['commit'][:10])}" + (" (with local changes)" if git["dirty"] else "")


def _compared(exp: Experiment) -> str:
    rows = []
    for name in exp.order:
        s = exp.strategies[name]
        if s.levers is None:
            levers = "the market's own levers"
        elif not s.levers:
            levers = "no levers"
        else:
            levers = "; ".join(_lever_text(lever) for lever in s.levers)
        extra = [f"{k} = {v}" for k, v in s.set.items()]
        extra += [f"{k} ∈ {v}" for k, v in s.sweep.items()]
        note = " (baseline)" if name == exp.baseline else ""
        rows.append(
            f"<tr><td><b>{_e(name)}</b>{note}</td><td>{_e(s.description)}</td>"
            f"<td>{_e(levers)}</td><td>{_e('; '.join(extra))}</td></tr>"
        )
    markets = ", ".join(f"<code>{_e(m)}</code>" for m in exp.markets)
    sweep = "; ".join(f"<code>{_e(k)}</code> ∈ {_e(v)}" for k, v in exp.sweep.items())
    common = "; ".join(f"<code>{_e(k)}</code> = {_e(v)}" for k, v in exp.set.items())
    return (
        f"<p>Markets: {markets}{'; with ' + common if common else ''}."
        f"{' Swept for every strategy: ' + sweep + '.' if sweep else ''} "
        f"{exp.replicates} replicates per combination, steps: "
        f"{exp.steps if exp.steps else 'each market’s own'}; root seed {exp.seed}.</p>"
        "<table><tr><th>strategy</th><th>description</th><th>levers</th><th>overrides, sweep</th>"
        f"</tr>{''.join(rows)}</table>"
    )


def _lever_text(lever: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in lever.items() if k != "kind")
    return f"{lever.get('kind', '?')}({params})"


def _winners(best: pd.DataFrame, point: list[str], baseline: str) -> str:
    rows = []
    for r in best.to_dict("records"):
        where = ", ".join([r["scenario"], *(f"{k}={r[k]}" for k in point)])
        if pd.isna(r["lead_mean"]):
            lead = "–"
        elif pd.isna(r["lead_ci_low"]) or r["lead_ci_low"] <= 0 <= r["lead_ci_high"]:
            lead = f"<span class=no>not distinguishable from {_e(r['runner_up'])}</span>"
        else:
            lead = (
                f"<span class=yes>beats {_e(r['runner_up'])} by {fmt(r['lead_mean'])}"
                f"{interval(r['lead_ci_low'], r['lead_ci_high'])}</span>"
            )
        vs_base = (
            "is the baseline"
            if r["winner"].split(" ")[0] == baseline
            else f"{fmt(r['diff_mean'])}{interval(r['diff_ci_low'], r['diff_ci_high'])}; "
            f"better in {fmt(100 * r['share_better'])} % of replicates"
        )
        rows.append(
            f"<tr><td>{_e(where)}</td><td>{_e(r['outcome'])} ({_e(r['better'])} is better)</td>"
            f"<td><b>{_e(r['winner'])}</b></td><td class=n>{fmt(r['mean'])}"
            f"{interval(r['ci_low'], r['ci_high'])}</td><td>{vs_base}</td><td>{lead}</td></tr>"
        )
    return (
        "<table><tr><th>market, point</th><th>outcome</th><th>winner</th>"
        "<th>mean [95 % CI]</th><th>vs baseline [95 % CI]</th><th>vs runner-up</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _table(table: pd.DataFrame, variant: list[str], point: list[str]) -> str:
    rows = []
    for r in table.to_dict("records"):
        name = summary.label(pd.Series(r), [*variant, *point])
        share = "–" if pd.isna(r["share_better"]) else f"{fmt(100 * r['share_better'])} %"
        rows.append(
            f"<tr><td>{_e(r['scenario'])}</td><td>{_e(name)}</td><td>{_e(r['outcome'])}</td>"
            f"<td class=n>{fmt(r['mean'])}{interval(r['ci_low'], r['ci_high'])}</td>"
            f"<td class=n>{fmt(r['sd'])}</td><td class=n>{fmt(r['diff_mean'])}"
            f"{interval(r['diff_ci_low'], r['diff_ci_high'])}</td><td class=n>{share}</td>"
            f"<td class=n>{r['n']}</td></tr>"
        )
    return (
        "<p>Headline outcomes; <code>summary.csv</code> beside this page has every outcome.</p>"
        "<table><tr><th>market</th><th>strategy</th><th>outcome</th><th>mean [95 % CI]</th>"
        "<th>SD</th><th>vs baseline [95 % CI]</th><th>better than baseline</th><th>runs</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _method(exp: Experiment) -> str:
    return (
        "<p>Every strategy ran on the same replicates: replicate <i>r</i> uses the same seed under "
        "every strategy (common random numbers), so it has the same social network, the same "
        "consumers and the same random draws wherever the strategies do not differ. A strategy's "
        f"effect is the difference from <b>{_e(exp.baseline)}</b> within each replicate; its "
        "interval is much narrower than comparing two separate sets of runs would give. "
        "Intervals are 95 % Student-t intervals of the mean across replicates; a difference whose "
        "interval excludes 0 is beyond the noise of the simulation (for this model and its "
        "assumptions, not for a real market). Outcomes that some runs never reach (such as the day "
        "half the market is a customer, <code>t50</code>) are averaged over the runs that reach "
        "them; the runs column says how many.</p>"
        "<p>Files beside this page: <code>summary.csv</code> (every outcome), "
        "<code>runs.parquet</code> (one row per run, with its seed), <code>steps.parquet</code> "
        "(one row per run and step), <code>meta.json</code> (the resolved experiment, seeds, "
        "versions, commit, times) and <code>figures/</code>.</p>"
    )
