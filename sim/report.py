"""An experiment's figures and its one-page ``report.html`` (self-contained: figures embedded).

The page is meant to be sent to a colleague: what was compared, the winner on each outcome with
its 95 % confidence interval (and whether it is distinguishable from the runner-up), the figures
and the table of headline outcomes. It is written in one language (``tr``); identifiers from the
files (outcomes, strategies, keys) are shown beside their translated names, so the page can be
read next to ``summary.csv``. A Chinese page embeds the glyphs it uses.
"""

from __future__ import annotations

import base64
import html
import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim import fonts, plots, summary
from sim.i18n import Translator, translator

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
    tr: Translator | None = None,
) -> Figures:
    """Adoption bands per series, outcomes and differences with intervals, a plot per sweep entry.

    ``groups`` lists the keys that vary together (one sweep entry); the first is the x axis.
    Titles, labels and captions are in the translator's language (English by default).
    """
    tr = tr or translator()
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
            xlabel=tr("day"),
            ylabel=tr("% of the market acquired"),
            title=tr("Adoption: mean and 10-90 % band across replicates"),
            tr=tr,
        )
        out["adoption.png"] = (
            tr(
                "Customers acquired over time: the line is the mean across replicates, the band "
                "holds the middle 80 % of them."
            ),
            plots.png(fig),
        )
    names = headline(table)
    if not names:
        return out
    rows = table[table["outcome"].isin(names)]
    rows = rows.assign(series=series_labels(rows, variant, point))
    for scenario, here in rows.groupby("scenario", sort=False):
        several = rows["scenario"].nunique() > 1
        suffix = (
            tr.pgettext("market suffix", " ({market})").format(market=scenario) if several else ""
        )
        slug = f"_{scenario}" if several else ""
        fig = plots.intervals_figure(
            here,
            outcomes=names,
            series="series",
            colors=colors,
            est="mean",
            low="ci_low",
            high="ci_high",
            title=tr("Outcomes: mean and 95 % confidence interval") + suffix,
            tr=tr,
        )
        caption = tr("Headline outcomes per strategy{market}.").format(market=suffix)
        out[f"outcomes{slug}.png"] = (caption, plots.png(fig))
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
                title=tr(
                    "Difference from {baseline}: paired, with 95 % confidence interval"
                ).format(baseline=baseline)
                + suffix,
                zero=True,
                tr=tr,
            )
            caption = tr(
                "Each strategy minus {baseline}, replicate by replicate (same seeds); an interval "
                "that excludes the dashed zero line is a difference beyond noise{market}."
            ).format(baseline=baseline, market=suffix)
            out[f"differences{slug}.png"] = (caption, plots.png(fig))
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
            keyed, key=key, outcomes=names, series="series", colors=keyed_colors, title=key, tr=tr
        )
        slug = "".join(c if c.isalnum() else "_" for c in key)
        out[f"sweep_{slug}.png"] = (
            tr("Outcomes against {key}: mean and 95 % confidence band.").format(key=key),
            plots.png(fig),
        )
    return out


# ------------------------------------------------------------------------------------------- page
HTML_LANG = {"en": "en", "zh-TW": "zh-Hant-TW", "zh-CN": "zh-Hans-CN"}
"""The page's ``lang`` attribute: browsers pick Taiwan or mainland glyph forms by it."""


def render(
    exp: Experiment,
    runs: pd.DataFrame,
    table: pd.DataFrame,
    figures: Figures,
    meta: dict[str, Any],
    *,
    variant: list[str],
    point: list[str],
    tr: Translator | None = None,
) -> str:
    """The report page as one HTML string with the figures inlined, in the translator's language."""
    tr = tr or translator()
    ok = runs[runs["status"] == "ok"]
    names = headline(table)
    best = summary.winners(runs, table, variant=variant, point=point, outcomes=names)
    variants = table.groupby(["strategy", *variant], dropna=False).ngroups or len(exp.strategies)
    counts = tr(
        "{runs} runs: {markets} market(s) × {variants} strategy variant(s) × {points} sweep "
        "point(s) × {replicates} replicates; {failed} failed."
    ).format(
        runs=len(runs),
        markets=runs["scenario"].nunique(),
        variants=variants,
        points=_points(exp),
        replicates=exp.replicates,
        failed=len(runs) - len(ok),
    )
    provenance = tr("Run {finished} on {engine}; wom-sim {version}{commit}.").format(
        finished=_e(meta["finished"]),
        engine=_e(meta["engine"]),
        version=_e(meta["versions"]["wom-sim"]),
        commit=_commit(meta, tr),
    )
    parts = [
        f"<h1>{_e(exp.name)}</h1>",
        f"<p class=lead>{_e(tr(exp.description))}</p>" if exp.description else "",
        f"<p class=meta>{_e(counts)} {provenance}</p>",
        _h2(tr("What was compared")),
        _compared(exp, tr),
        _h2(tr("Winners")),
        (
            _winners(best, point, exp.baseline, tr)
            if not best.empty
            else _p(tr("No successful runs."))
        ),
        _h2(tr("Figures")),
        *(
            f'<figure><img alt="{_e(name)}" src="data:image/png;base64,'
            f'{base64.b64encode(data).decode()}"><figcaption>{_e(caption)}</figcaption></figure>'
            for name, (caption, data) in figures.items()
        ),
        _h2(tr("Table")),
        _table(table[table["outcome"].isin(names)], variant, point, tr),
        _h2(tr("How to read this")),
        _method(exp, tr),
    ]
    body = "\n".join(p for p in parts if p)
    title = tr("{name}: experiment report").format(name=exp.name)
    style = STYLE + _chinese_style(title + body, tr.lang)
    return (
        f"<!doctype html>\n<html lang={HTML_LANG[tr.lang]}><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><style>{style}</style></head>\n"
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
.id{color:#777;font-size:.85em}
"""

CHINESE_FONTS = {
    "zh-TW": '"PingFang TC","Microsoft JhengHei","Noto Sans CJK TC"',
    "zh-CN": '"PingFang SC","Microsoft YaHei","Noto Sans CJK SC"',
}
"""Common Chinese fonts, for a page written where no Chinese font was installed to embed."""


def _chinese_style(text: str, lang: str) -> str:
    """For a Chinese page: its embedded glyphs first, then the usual fonts (empty for English).

    The embedded font holds only the page's non-ASCII characters, so Latin text still comes from
    the system font. It goes first because Chromium re-lays out text in a web font that loads
    late only when that font is the first of the list (bold headings kept boxes otherwise).
    """
    if lang not in CHINESE_FONTS:
        return ""
    face = fonts.web_font_css(text, lang)
    embedded = f"'{fonts.WEB_FAMILY}'," if face else ""
    return f"{face}\nbody{{font-family:{embedded}system-ui,{CHINESE_FONTS[lang]},sans-serif}}\n"


def _h2(text: str) -> str:
    return f"<h2>{_e(text)}</h2>"


def _p(text: str) -> str:
    return f"<p>{_e(text)}</p>"


def _header(*cells: str) -> str:
    return "".join(f"<th>{_e(c)}</th>" for c in cells)


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


def _commit(meta: dict[str, Any], tr: Translator) -> str:
    git = meta.get("git") or {}
    if not git:
        return ""
    if git["dirty"]:
        return _e(tr(", commit {commit} (with local changes)").format(commit=git["commit"][:10]))
    return _e(tr(", commit {commit}").format(commit=git["commit"][:10]))


def _outcome(name: str, tr: Translator) -> str:
    """An outcome's translated name with its column name, as HTML."""
    return f"{_e(tr.outcome(name))} <code class=id>{_e(name)}</code>"


def _compared(exp: Experiment, tr: Translator) -> str:
    comma = tr.pgettext("list separator", ", ")
    rows = []
    for name in exp.order:
        s = exp.strategies[name]
        if s.levers is None:
            levers = tr("the market's own levers")
        elif not s.levers:
            levers = tr("no levers")
        else:
            levers = "; ".join(_lever_text(lever, tr) for lever in s.levers)
        extra = [f"{k} = {v}" for k, v in s.set.items()]
        extra += [f"{k} ∈ {v}" for k, v in s.sweep.items()]
        note = _e(tr(" (baseline)")) if name == exp.baseline else ""
        description = tr(s.description) if s.description else ""
        rows.append(
            f"<tr><td><b>{_e(name)}</b>{note}</td><td>{_e(description)}</td>"
            f"<td>{_e(levers)}</td><td>{_e('; '.join(extra))}</td></tr>"
        )
    markets = comma.join(f"<code>{_e(m)}</code>" for m in exp.markets)
    sweep = "; ".join(f"<code>{_e(k)}</code> ∈ {_e(v)}" for k, v in exp.sweep.items())
    common = "; ".join(f"<code>{_e(k)}</code> = {_e(v)}" for k, v in exp.set.items())
    steps = exp.steps if exp.steps else _e(tr("each market’s own"))
    text = tr("Markets: {markets}.").format(markets=markets)
    if common:
        text = tr("Markets: {markets}; with {overrides}.").format(markets=markets, overrides=common)
    if sweep:
        text += " " + tr("Swept for every strategy: {sweep}.").format(sweep=sweep)
    text += " " + tr(
        "{replicates} replicates per combination, steps: {steps}; root seed {seed}."
    ).format(replicates=exp.replicates, steps=steps, seed=exp.seed)
    head = _header(tr("strategy"), tr("description"), tr("levers"), tr("overrides, sweep"))
    return f"<p>{text}</p><table><tr>{head}</tr>{''.join(rows)}</table>"


def _lever_text(lever: dict[str, Any], tr: Translator) -> str:
    params = ", ".join(f"{k}={v}" for k, v in lever.items() if k != "kind")
    return f"{tr.label('lever', lever.get('kind', '?'))} ({params})"


def _winners(best: pd.DataFrame, point: list[str], baseline: str, tr: Translator) -> str:
    rows = []
    for r in best.to_dict("records"):
        where = ", ".join([r["scenario"], *(f"{k}={r[k]}" for k in point)])
        runner_up = _e(r["runner_up"])
        if pd.isna(r["lead_mean"]):
            lead = "–"
        elif pd.isna(r["lead_ci_low"]) or r["lead_ci_low"] <= 0 <= r["lead_ci_high"]:
            text = _e(tr("not distinguishable from {runner_up}")).format(runner_up=runner_up)
            lead = f"<span class=no>{text}</span>"
        else:
            text = _e(tr("beats {runner_up} by {lead}")).format(
                runner_up=runner_up,
                lead=fmt(r["lead_mean"]) + interval(r["lead_ci_low"], r["lead_ci_high"]),
            )
            lead = f"<span class=yes>{text}</span>"
        if r["winner"].split(" ")[0] == baseline:
            vs_base = _e(tr("is the baseline"))
        else:
            vs_base = _e(tr("{difference}; better in {share} % of replicates")).format(
                difference=fmt(r["diff_mean"]) + interval(r["diff_ci_low"], r["diff_ci_high"]),
                share=fmt(100 * r["share_better"]),
            )
        direction = {"higher": tr("higher is better"), "lower": tr("lower is better")}
        rows.append(
            f"<tr><td>{_e(where)}</td><td>{_outcome(r['outcome'], tr)}<br>"
            f"<span class=id>{_e(direction[r['better']])}</span></td>"
            f"<td><b>{_e(r['winner'])}</b></td><td class=n>{fmt(r['mean'])}"
            f"{interval(r['ci_low'], r['ci_high'])}</td><td>{vs_base}</td><td>{lead}</td></tr>"
        )
    head = _header(
        tr("market, point"),
        tr("outcome"),
        tr("winner"),
        tr("mean [95 % CI]"),
        tr("vs baseline [95 % CI]"),
        tr("vs runner-up"),
    )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _table(table: pd.DataFrame, variant: list[str], point: list[str], tr: Translator) -> str:
    rows = []
    for r in table.to_dict("records"):
        name = summary.label(pd.Series(r), [*variant, *point])
        share = "–" if pd.isna(r["share_better"]) else f"{fmt(100 * r['share_better'])} %"
        rows.append(
            f"<tr><td>{_e(r['scenario'])}</td><td>{_e(name)}</td>"
            f"<td>{_outcome(r['outcome'], tr)}</td>"
            f"<td class=n>{fmt(r['mean'])}{interval(r['ci_low'], r['ci_high'])}</td>"
            f"<td class=n>{fmt(r['sd'])}</td><td class=n>{fmt(r['diff_mean'])}"
            f"{interval(r['diff_ci_low'], r['diff_ci_high'])}</td><td class=n>{share}</td>"
            f"<td class=n>{r['n']}</td></tr>"
        )
    head = _header(
        tr("market"),
        tr("strategy"),
        tr("outcome"),
        tr("mean [95 % CI]"),
        tr("SD"),
        tr("vs baseline [95 % CI]"),
        tr("better than baseline"),
        tr("runs"),
    )
    intro = tr("Headline outcomes; <code>summary.csv</code> beside this page has every outcome.")
    return f"<p>{intro}</p><table><tr>{head}</tr>{''.join(rows)}</table>"


def _method(exp: Experiment, tr: Translator) -> str:
    how = tr(
        "Every strategy ran on the same replicates: replicate <i>r</i> uses the same seed under "
        "every strategy (common random numbers), so it has the same social network, the same "
        "consumers and the same random draws wherever the strategies do not differ. A strategy's "
        "effect is the difference from <b>{baseline}</b> within each replicate; its interval is "
        "much narrower than comparing two separate sets of runs would give. Intervals are 95 % "
        "Student-t intervals of the mean across replicates; a difference whose interval excludes "
        "0 is beyond the noise of the simulation (for this model and its assumptions, not for a "
        "real market). Outcomes that some runs never reach (such as the day half the market is a "
        "customer, <code>t50</code>) are averaged over the runs that reach them; the runs column "
        "says how many."
    ).format(baseline=_e(exp.baseline))
    files = tr(
        "Files beside this page: <code>summary.csv</code> (every outcome), "
        "<code>runs.parquet</code> (one row per run, with its seed), <code>steps.parquet</code> "
        "(one row per run and step), <code>meta.json</code> (the resolved experiment, seeds, "
        "versions, commit, times) and <code>figures/</code>."
    )
    return f"<p>{how}</p><p>{files}</p>"
