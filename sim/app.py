"""The teaching app: a page on which a class watches word of mouth spread through a market.

Start it with ``python run.py app``. A teacher picks a scenario, moves the sliders (each shows its
value and unit), presses Reset, then Step or Play at a chosen speed. The page shows every consumer
on the network coloured by funnel stage, the funnel with the conversion between stages, market
share over time beside the run before (so a lever's effect shows as two lines), the stages day by
day, and an explanation with things to try. A presenter mode enlarges everything for a projector,
and the page speaks English, Traditional or Simplified Chinese.

The page is plain Solara around :class:`sim.model.MarketModel`, not Mesa's SolaraViz: SolaraViz's
controls (play interval, render interval, threads) are for developers, its tabs cannot be named,
and it differs between Mesa 3.3 and 3.5, while this page needs only the model's own interface.
Each browser session holds its own :class:`Lesson` and translator: one server serves a class in
several languages at once. The page offers scenarios by name only and never reads or writes files.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from functools import cache
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import solara
import solara.lab
from scipy.spatial import cKDTree

from sim import layout, svgcharts
from sim.i18n import LANGUAGES, Translator, browser_language, check_language, translator
from sim.i18n import gettext_noop as N_
from sim.model import MarketModel
from sim.plots import stage_colors
from sim.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict
from sim.seeding import RULES

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
START_ENV = "WOM_SIM_APP_SCENARIO"
"""Environment variable through which ``run.py app --scenario FILE`` names the opening scenario."""
LANG_ENV = "WOM_SIM_LANG"
"""Environment variable through which ``run.py app --lang X`` sets the pages' first language."""
DEFAULT = "classroom"
DRAWN = 5000
"""Most consumers drawn; larger markets show a neighbourhood of this many (the page says so)."""
SPEEDS = (1, 2, 5, 10, 20)
"""Play speeds offered, in days per second."""
LANGUAGE_NAMES = {"en": "English", "zh-TW": "繁體中文", "zh-CN": "简体中文"}
"""Each language in its own script, as the picker shows it."""


def stage_label(tr: Translator, stage: str) -> str:
    """A funnel stage's display name in ``tr``'s language (the catalogue's stage labels)."""
    return tr.label("stage", stage)


NETWORKS = {
    N_("small world"): "watts_strogatz",
    N_("hubs (scale-free)"): "barabasi_albert",
    N_("random"): "erdos_renyi",
    N_("communities"): "communities",
    N_("everyone knows everyone"): "complete",
    N_("from file"): "edgelist",
}
"""Network selector labels (English, translated where shown) and the scenario kinds they stand for."""

SEEDING_RULES = {
    "random": N_("at random"),
    "degree": N_("most friends"),
    "pagerank": N_("best connected (PageRank)"),
    "kcore": N_("core of the network (k-core)"),
    "greedy": N_("widest expected reach (greedy)"),
}
"""How each seeding rule of :data:`sim.seeding.RULES` reads on the page."""
assert set(SEEDING_RULES) == set(RULES)


@cache
def catalogue() -> dict[str, Scenario]:
    """The scenarios the page offers, by name: the opening one first, then the bundled ones."""
    found: dict[str, Scenario] = {}
    start = os.environ.get(START_ENV)
    if start:
        scenario = load_scenario(start)
        found[scenario.name] = scenario
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        try:
            scenario = load_scenario(path)
        except ScenarioError as err:  # a broken bundled file should not take the page down
            print(f"warning: {path.name} left out of the app: {err.lines[0]}", file=sys.stderr)
            continue
        found.setdefault(scenario.name, scenario)
    return found


def opening() -> str:
    """Name of the scenario the page opens with."""
    names = list(catalogue())
    return names[0] if os.environ.get(START_ENV) else DEFAULT if DEFAULT in names else names[0]


# ------------------------------------------------------------------------------------ language
def opening_language(headers: dict[str, list[str]] | None) -> str:
    """The page's first language: ``run.py app --lang``, else the browser's, else English."""
    chosen = os.environ.get(LANG_ENV)
    if chosen:
        return check_language(chosen)
    accept = (headers or {}).get("accept-language", [None])[0]
    return browser_language(accept)


# -------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Settings:
    """What the sliders set; :func:`settings_of` reads them from a scenario."""

    n: int
    network: str
    friends: int
    rewiring: float
    ad_reach: float
    wom: float
    content: float
    mgm_reward: float
    seeds: int
    seeding_rule: str
    run: int = 0  # added to the scenario's seed: another run of the same market


def _lever(scenario: Scenario, kind: str) -> Any:
    return next((lever for lever in scenario.levers if lever.kind == kind), None)


def settings_of(scenario: Scenario) -> Settings:
    """The slider positions that stand for ``scenario`` as it is (0 = lever not used)."""
    net, n = scenario.network, scenario.population.n
    mean_degree = {
        "watts_strogatz": lambda: net.k,
        "barabasi_albert": lambda: 2 * net.m,
        "erdos_renyi": lambda: net.p * (n - 1),
        "communities": lambda: (
            net.p_in * (n / net.blocks - 1) + net.p_out * n * (1 - 1 / net.blocks)
        ),
        "complete": lambda: net.contacts,
        "edgelist": lambda: 2 * len(np.loadtxt(net.path, ndmin=2)) / n,
    }[net.kind]()
    rewiring = {
        "watts_strogatz": lambda: net.p,
        "communities": lambda: net.p_out * n * (1 - 1 / net.blocks) / max(mean_degree, 1e-9),
    }.get(net.kind, lambda: 0.1)()
    ads, content = _lever(scenario, "ads"), _lever(scenario, "content")
    mgm, seeding = _lever(scenario, "mgm"), _lever(scenario, "seeding")
    return Settings(
        n=n,
        network=next(label for label, kind in NETWORKS.items() if kind == net.kind),
        friends=int(np.clip(2 * round(mean_degree / 2), 2, 20)),
        rewiring=round(float(rewiring), 2),
        ad_reach=ads.reach if ads is not None and ads.reach is not None else 0.0,
        wom=1.0,
        content=content.quality if content is not None else 0.0,
        mgm_reward=mgm.reward_referrer if mgm is not None else 0.0,
        seeds=seeding.k if seeding is not None else 0,
        seeding_rule=seeding.rule if seeding is not None else "degree",
    )


def _network_doc(kind: str, n: int, friends: int, rewiring: float) -> dict[str, Any]:
    """A network table with about ``friends`` links per consumer."""
    if kind == "watts_strogatz":
        return {"kind": kind, "k": friends, "p": rewiring}
    if kind == "barabasi_albert":
        return {"kind": kind, "m": friends // 2}
    if kind == "erdos_renyi":
        return {"kind": kind, "p": friends / (n - 1)}
    if kind == "communities":
        blocks = int(np.clip(n // 50, 2, 20))
        size = n / blocks
        p_in = min(1.0, friends * (1 - rewiring) / (size - 1))
        return {
            "kind": kind,
            "blocks": blocks,
            "p_in": p_in,
            "p_out": friends * rewiring / (n - size),
        }
    return {"kind": kind, "contacts": float(friends)}


def _with_lever(levers: list[dict], kind: str, values: dict[str, Any] | None) -> list[dict]:
    """``levers`` with the first of ``kind`` updated (added if missing); removed if ``values`` is None.

    A None among ``values`` removes that field.
    """
    at = next((i for i, lever in enumerate(levers) if lever["kind"] == kind), None)
    if values is None:
        return [lever for i, lever in enumerate(levers) if i != at]
    old = {"kind": kind} if at is None else levers[at]
    new = {k: v for k, v in {**old, **values}.items() if v is not None}
    return (
        [*levers, new] if at is None else [new if i == at else lev for i, lev in enumerate(levers)]
    )


def wom_rates(scenario: Scenario) -> dict[str, float]:
    """Each funnel move's probability per share received, where it has one.

    The only place the app reads the funnel's transitions; transitions keyed by channel (the
    engine being rewritten) expose ``rate("wom")``, the current ones ``wom``.
    """
    rates = {}
    for move in scenario.funnel.funnel().transitions:
        rate = move.rate("wom") if hasattr(move, "rate") else move.wom
        if rate:
            rates[move.name] = rate
    return rates


def customise(scenario: Scenario, settings: Settings) -> Scenario:
    """``scenario`` changed where ``settings`` differ from :func:`settings_of` it (``run`` aside)."""
    was = settings_of(scenario)
    doc = scenario.to_dict()
    changed = {
        f.name
        for f in fields(Settings)
        if f.name != "run" and getattr(settings, f.name) != getattr(was, f.name)
    }
    if changed:
        doc["name"] = f"{scenario.name}-custom"
    if "n" in changed:
        doc["population"]["n"] = settings.n
    kind = NETWORKS[settings.network]
    if changed & {"n", "network", "friends", "rewiring"} and kind != "edgelist":
        doc["network"] = _network_doc(kind, settings.n, settings.friends, settings.rewiring)
    if "wom" in changed:
        edits = doc["funnel"].setdefault("transitions", {})
        for name, rate in wom_rates(scenario).items():
            edits[name] = {**edits.get(name, {}), "wom": min(1.0, rate * settings.wom)}
    levers = doc.get("levers", [])
    if "ad_reach" in changed:
        reach = {"reach": settings.ad_reach, "budget": None} if settings.ad_reach else None
        levers = _with_lever(levers, "ads", reach)
    if "content" in changed:
        quality = {"quality": settings.content} if settings.content else None
        levers = _with_lever(levers, "content", quality)
    if "mgm_reward" in changed:
        reward = settings.mgm_reward
        rewards = {"reward_referrer": reward, "reward_referee": reward} if reward else None
        levers = _with_lever(levers, "mgm", rewards)
    if changed & {"seeds", "seeding_rule"}:
        seeding = {"k": settings.seeds, "rule": settings.seeding_rule} if settings.seeds else None
        levers = _with_lever(levers, "seeding", seeding)
    doc["levers"] = levers
    return scenario_from_dict(doc)


# ----------------------------------------------------------------------------------------- knobs
_INTEGERS = {f.name for f in fields(Settings) if f.type == "int"}


@dataclass(frozen=True)
class Knob:
    """One slider: the setting it moves, its label, its value with the unit, its range.

    The slider moves in display units (``factor`` times the setting, e.g. percent for shares);
    ``unit`` is the message that shows the value (``{value}`` in it), ``off`` the one shown at 0.
    """

    key: str
    label: str
    unit: str
    lo: float
    hi: float
    step: float
    factor: float = 1.0
    off: str = ""
    digits: int = 0

    def shown(self, settings: Settings) -> float:
        """The slider position that stands for ``settings``."""
        return round(getattr(settings, self.key) * self.factor, self.digits)

    def value(self, position: float) -> Any:
        """The setting at slider ``position``."""
        exact = position / self.factor
        return round(exact) if self.key in _INTEGERS else exact

    def describe(self, settings: Settings, tr: Translator) -> str:
        """The value with its unit, as the page shows it: "20 % of prospects per day"."""
        shown = self.shown(settings)
        if shown == 0 and self.off:
            return tr(self.off)
        number = f"{shown:,.{self.digits}f}"
        return tr(self.unit).format(value=number)


KNOBS = (
    Knob("n", N_("Consumers"), N_("{value} in the market"), 50, 5000, 50),
    Knob("friends", N_("Friends per consumer"), N_("{value} on average"), 2, 20, 2),
    Knob("rewiring", N_("Shortcuts"), N_("{value} % of links"), 0, 100, 1, factor=100),
    Knob(
        "ad_reach",
        N_("Ad reach"),
        N_("{value} % of prospects per day"),
        0,
        50,
        1,
        factor=100,
        off=N_("off (no ads)"),
    ),
    Knob(
        "wom",
        N_("Word-of-mouth strength"),
        N_("{value} × the scenario's"),
        0,
        3,
        0.1,
        digits=1,
    ),
    Knob(
        "content",
        N_("Content quality"),
        N_("{value} out of 10"),
        0,
        10,
        1,
        factor=10,
        off=N_("off (no content programme)"),
    ),
    Knob(
        "mgm_reward",
        N_("Referral reward"),
        N_("{value} per customer, to each side"),
        0,
        50,
        1,
        off=N_("off (no referral programme)"),
    ),
    Knob(
        "seeds",
        N_("Seeded consumers"),
        N_("{value} get the product on day 1"),
        0,
        50,
        1,
        off=N_("none"),
    ),
    Knob("run", N_("Run"), N_("number {value}: another roll of the dice"), 0, 99, 1),
)
KNOB = {knob.key: knob for knob in KNOBS}
MARKET_KNOBS = ("n", "friends", "rewiring")
LEVER_KNOBS = ("ad_reach", "wom", "content", "mgm_reward", "seeds")
REWIRING_LABELS = {"small world": N_("Shortcuts"), "communities": N_("Links across groups")}


def knob_range(knob: Knob, settings: Settings) -> tuple[float, float]:
    """The slider's range, widened to take in the scenario's own value."""
    return knob.lo, max(knob.hi, knob.shown(settings))


def labelled(tr: Translator, label: str, value: str) -> str:
    """The text ``label: value`` as the language writes it (Chinese uses a full-width colon)."""
    return tr("{label}: {value}").format(label=label, value=value)


def describe_setting(key: str, settings: Settings, tr: Translator) -> str:
    """One setting as "label: value unit", as in the legend of the run before."""
    if key == "network":
        return labelled(tr, tr("Network"), tr(settings.network))
    if key == "seeding_rule":
        return labelled(tr, tr("Seeds chosen"), tr(SEEDING_RULES[settings.seeding_rule]))
    knob = KNOB[key]
    label = REWIRING_LABELS.get(settings.network, knob.label) if key == "rewiring" else knob.label
    return labelled(tr, tr(label), knob.describe(settings, tr))


def differences(before: Settings, now: Settings) -> list[str]:
    """The settings that differ, in slider order."""
    return [f.name for f in fields(Settings) if getattr(before, f.name) != getattr(now, f.name)]


# ------------------------------------------------------------------------------------- the run
@dataclass(frozen=True)
class Trace:
    """What a finished or abandoned run leaves for comparison: its market share day by day."""

    scenario: str
    settings: Settings
    days: np.ndarray
    share: np.ndarray


class Run:
    """One market as the class plays it: the model, what it was built from, and its history.

    Keeps per day the stage counts and the market share (customers now, % of consumers), and per
    consumer the furthest stage reached so far (the funnel counts who ever got that far).
    """

    def __init__(self, scenario: str, settings: Settings):
        if scenario not in catalogue():  # names only: the page cannot be made to open files
            raise ValueError(
                f"unknown scenario {scenario!r}; choose one of: {', '.join(catalogue())}"
            )
        base = catalogue()[scenario]
        self.scenario, self.settings = scenario, settings
        self.model = MarketModel(customise(base, settings), seed=base.seed + settings.run)
        stages = self.model.funnel.stages
        self.customer = np.array([s in self.model.funnel.customer_stages for s in stages])
        self.days: list[float] = []
        self.counts: list[np.ndarray] = []
        self.share: list[float] = []
        self.furthest = self.model.population.stage.copy()
        self._record()

    def _record(self) -> None:
        record, stages = self.model.record, self.model.funnel.stages
        counts = np.array([record[f"n_{s}"] for s in stages])
        self.days.append(float(record["day"]))
        self.counts.append(counts)
        self.share.append(100.0 * counts[self.customer].sum() / self.model.population.n)
        np.maximum(self.furthest, self.model.population.stage, out=self.furthest)

    @property
    def horizon(self) -> float:
        """The last day of the run."""
        return self.model.spec.steps * self.model.dt

    @property
    def finished(self) -> bool:
        """Has the run reached the scenario's last day?"""
        return self.model.steps >= self.model.spec.steps

    def step(self) -> None:
        """One day (no-op once finished)."""
        if not self.finished:
            self.model.step()
            self._record()

    def reached(self) -> np.ndarray:
        """Consumers who have reached each stage or a later one at some time in this run."""
        per_stage = np.bincount(self.furthest, minlength=len(self.model.funnel.stages))
        return per_stage[::-1].cumsum()[::-1]

    def trace(self) -> Trace:
        """Market share day by day so far."""
        return Trace(self.scenario, self.settings, np.array(self.days), np.array(self.share))

    def outcomes(self) -> dict[str, Any]:
        """The model's outcomes (the only call beyond the model's stepping and state)."""
        return self.model.outcomes()


class Lesson:
    """What one browser session is playing: a scenario, the sliders, the run and the run before.

    Sliders change :attr:`settings`; :meth:`reset` builds a new run from them and keeps the old
    one's market share as :attr:`before`. A lock keeps Play's thread and the buttons apart.
    """

    def __init__(self, scenario: str):
        self.lock = threading.RLock()
        self.scenario = scenario
        self.settings = settings_of(catalogue()[scenario])
        self.run = Run(scenario, self.settings)
        self.before: Trace | None = None

    @property
    def pending(self) -> bool:
        """Do the sliders differ from what the current run was built from?"""
        return (self.scenario, self.settings) != (self.run.scenario, self.run.settings)

    def set(self, key: str, value: Any) -> None:
        """Move one slider (takes effect on :meth:`reset`)."""
        self.settings = replace(self.settings, **{key: value})

    def choose(self, scenario: str) -> None:
        """Start ``scenario`` afresh, with the sliders at its values."""
        with self.lock:
            self.scenario = scenario
            self.settings = settings_of(catalogue()[scenario])
            self.reset()

    def reset(self) -> None:
        """A new run from the sliders; the current one, if it has begun, becomes the one before."""
        with self.lock:
            if self.run.model.steps:
                self.before = self.run.trace()
            self.run = Run(self.scenario, self.settings)

    def step(self) -> None:
        """One day of the current run."""
        with self.lock:
            self.run.step()


@dataclass(frozen=True)
class Picture:
    """The network as the browser draws it: who is drawn (``ids``) and ``data``, a JSON text.

    ``data`` holds the positions (unit square, x and y in turn), the links (pairs of indices into
    ``ids``), each dot's size relative to the rest (by number of friends), the friends, the
    consumer numbers, and ``spacing``, the median distance from a dot to its nearest neighbour,
    which sets the size of the dots. One text, sent once per network: the page's renderer does
    not walk it, as it would a list of thousands of numbers on every redraw.
    """

    ids: np.ndarray
    data: str


def picture(model: MarketModel) -> Picture:
    """The drawing of ``model``'s network: everyone up to :data:`DRAWN`, positions cached."""
    network = model.network
    ids = layout.sample(network, DRAWN, np.random.default_rng(0))
    pos = layout.positions(network, ids)
    if network.implicit:
        degree, sizes = np.full(len(ids), round(network.contacts)), np.ones(len(ids))
    else:
        degree = network.degree()[ids]
        sizes = np.clip(np.sqrt(degree / max(float(degree.mean()), 1.0)), 0.75, 2.5)
    nearest = cKDTree(pos).query(pos, k=2)[0][:, 1] if len(ids) > 1 else np.ones(1)
    data = {
        "positions": np.round(pos, 4).ravel().tolist(),
        "edges": layout.sample_edges(network, ids).ravel().tolist(),
        "sizes": np.round(sizes, 2).tolist(),
        "degrees": degree.tolist(),
        "numbers": (ids + 1).tolist(),
        "spacing": float(np.median(nearest)),
    }
    return Picture(ids=ids, data=json.dumps(data, separators=(",", ":")))


def stage_text(codes: np.ndarray) -> str:
    """Stage codes as text, one character each (code + 48: printable for up to 64 stages)."""
    return (codes.astype(np.uint8) + 48).tobytes().decode("ascii")


# ------------------------------------------------------------------------------------ components
@solara.component_vue("network_canvas.vue")
def NetworkCanvas(
    network: str,
    stages: str,
    colors: list,
    step: int,
    node_scale: float,
    stage_names: list,
    tip_format: str,
):
    """The consumers on their network, drawn on a canvas in the browser (network_canvas.vue).

    ``network`` is :attr:`Picture.data`, ``stages`` the :func:`stage_text` of the drawn consumers.
    """


STYLE = """
.wom-page { padding: 8px 16px 16px 16px; max-width: 2200px; margin: 0 auto; }
.wom-header { display: flex; align-items: center; gap: 16px; flex-wrap: wrap;
              border-bottom: 1px solid #e0e0e0; padding-bottom: 6px; margin-bottom: 10px; }
.wom-title { font-size: 1.45rem; font-weight: 600; flex: 1 1 auto; }
.wom-panel { flex: 0 0 22rem; max-width: 22rem; position: sticky; top: 8px; padding-right: 10px;
              padding-top: 10px; max-height: calc(100vh - 84px); overflow-y: auto; }
.wom-panel .v-input { margin-top: 0; padding-top: 0; }
.wom-panel .v-input--is-label-active, .wom-panel .v-select { margin-top: 4px; }
.wom-panel .v-slider { min-height: 24px; }
.wom-main { flex: 1 1 0; min-width: 0; }
.wom-knob-label { font-size: 0.95rem; line-height: 1.25; margin-top: 4px; }
.wom-knob-label b { font-weight: 600; }
.wom-knob-value { color: #1a5fb4; font-weight: 600; }
.wom-section { font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.06em; color: #666;
               margin-top: 12px; border-top: 1px solid #eee; padding-top: 6px; }
.wom-monitors { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 6px; }
.wom-monitor { border: 1px solid #e3e3e3; border-radius: 8px; padding: 6px 12px; min-width: 8.5rem;
               background: #fafafa; }
.wom-monitor-label { font-size: 0.85rem; color: #555; }
.wom-monitor-value { font-size: 1.6rem; font-weight: 600; line-height: 1.2; }
.wom-network-column { flex: 1 1 0; min-width: 0; }
.wom-chart-column { flex: 0 1 30rem; max-width: 42%; }
.wom-network-panel { height: calc(100vh - 330px); min-height: 340px; }
.wom-legend-chip { display: inline-flex; align-items: center; gap: 4px; margin-right: 9px;
                   font-size: 0.88rem; white-space: nowrap; }
.wom-legend-dot { width: 0.85em; height: 0.85em; border-radius: 50%; display: inline-block; }
.wom-caption { font-size: 0.85rem; color: #555; }
.wom-about { max-width: 60rem; font-size: 1rem; line-height: 1.5; }
.wom-about h3 { margin-top: 0.8em; }
.wom-pending { color: #a15c00; font-size: 0.9rem; }
.wom-line-legend { font-size: 0.9rem; line-height: 1.35; margin-left: 2.2rem; }
.wom-line-key { display: inline-block; width: 1.8em; margin-right: 0.5em; vertical-align: middle; }
.wom-line-now { border-top: 3px solid #1a7f37; }
.wom-line-before { border-top: 3px dashed #9a9a9a; }
"""
PRESENTER_STYLE = "html { font-size: 20px !important; }"


@solara.component
def Header(tr: Translator, lang: solara.Reactive[str], presenter: solara.Reactive[bool]):
    """Title, language picker and presenter switch."""
    with solara.Div(classes=["wom-header"]):
        solara.Text(tr("Word of mouth: watch a market catch on"), classes=["wom-title"])
        solara.Select(
            tr("Language"),
            value=LANGUAGE_NAMES[lang.value],
            values=[LANGUAGE_NAMES[code] for code in LANGUAGES],
            on_value=lambda name: lang.set(
                next(code for code, shown in LANGUAGE_NAMES.items() if shown == name)
            ),
            classes=["wom-language"],
            style={"max-width": "11rem"},
        )
        solara.Switch(
            label=tr("Presenter mode"),
            value=presenter,
            classes=["wom-presenter-switch"],
        )


def _knob_label(tr: Translator, label: str, value: str) -> None:
    bold = f"<b>{escape(label)}</b>"
    shown = f"<span class='wom-knob-value'>{escape(value)}</span>"
    solara.HTML(tag="div", unsafe_innerHTML=labelled(tr, bold, shown), classes=["wom-knob-label"])


@solara.component
def KnobSlider(knob: Knob, settings: Settings, tr: Translator, on_change: Callable, label: str):
    """One slider with its label and its value in words, e.g. "Ad reach: 20 % of prospects"."""
    lo, hi = knob_range(knob, settings)
    with solara.Div(classes=[f"wom-knob-{knob.key}"]):
        _knob_label(tr, tr(label), knob.describe(settings, tr))
        if knob.digits:
            solara.SliderFloat(
                "",
                value=knob.shown(settings),
                min=lo,
                max=hi,
                step=knob.step,
                on_value=lambda v: on_change(knob.key, knob.value(v)),
                thumb_label=False,
            )
        else:
            solara.SliderInt(
                "",
                value=int(knob.shown(settings)),
                min=int(lo),
                max=int(hi),
                step=int(knob.step),
                on_value=lambda v: on_change(knob.key, knob.value(v)),
                thumb_label=False,
            )


@solara.component
def Controls(
    lesson: Lesson,
    tr: Translator,
    playing: solara.Reactive[bool],
    speed: solara.Reactive[int],
    refresh: Callable[[], None],
    shows: tuple,
    presenter: bool,
):
    """Scenario, Reset / Step / Play, speed, and the sliders (grouped: the market, the levers).

    ``shows`` is what the controls depend on (scenario, sliders, run, whether it has ended): they
    redraw when it changes, not on every day the run moves on. In presenter mode only the buttons
    and the speed are shown, in one row: the screen is left to what the class watches.
    """
    run, settings = lesson.run, lesson.settings

    def change(key: str, value: Any) -> None:
        lesson.set(key, value)
        refresh()

    def reset() -> None:
        playing.set(False)
        lesson.reset()
        refresh()

    def step() -> None:
        lesson.step()
        refresh()

    def choose(name: str) -> None:
        playing.set(False)
        lesson.choose(name)
        refresh()

    def buttons() -> None:
        with solara.Row(gap="8px", style={"flex-wrap": "wrap", "align-items": "center"}):
            solara.Button(
                tr("Reset"),
                icon_name="mdi-restart",
                on_click=reset,
                color="warning" if lesson.pending else None,
                classes=["wom-reset"],
            )
            solara.Button(
                tr("Step"),
                icon_name="mdi-step-forward",
                on_click=step,
                disabled=playing.value or run.finished,
                classes=["wom-step"],
            )
            solara.Button(
                tr("Pause") if playing.value else tr("Play"),
                icon_name="mdi-pause" if playing.value else "mdi-play",
                on_click=lambda: playing.set(not playing.value),
                disabled=run.finished and not playing.value,
                color="primary",
                classes=["wom-play"],
            )

    def speed_slider() -> None:
        with solara.Div(classes=["wom-knob-speed"]):
            _knob_label(tr, tr("Speed"), tr("{value} days per second").format(value=speed.value))
            solara.SliderInt(
                "",
                value=SPEEDS.index(speed.value),
                min=0,
                max=len(SPEEDS) - 1,
                on_value=lambda i: speed.set(SPEEDS[i]),
                thumb_label=False,
            )

    if presenter:
        with solara.Row(gap="28px", style={"align-items": "center", "margin-bottom": "6px"}):
            buttons()
            with solara.Div(style={"width": "16rem"}):
                speed_slider()
        return
    solara.Select(
        tr("Scenario"),
        value=lesson.scenario,
        values=list(catalogue()),
        on_value=choose,
        classes=["wom-scenario"],
    )
    solara.Text(tr(catalogue()[lesson.scenario].description), classes=["wom-caption"])
    with solara.Div(style={"margin-top": "10px"}):
        buttons()
    solara.Text(  # always there (empty if nothing is pending): a steady layout keeps slider focus
        tr("Press Reset to start a market with these settings.") if lesson.pending else "",
        classes=["wom-pending"],
    )
    speed_slider()
    solara.Text(tr("The market"), classes=["wom-section"])
    network_labels = [label for label in NETWORKS if label != "from file"]
    if settings.network == "from file":
        solara.Text(labelled(tr, tr("Network"), tr("from file")), classes=["wom-knob-label"])
    else:
        solara.Select(
            tr("Network"),
            value=tr(settings.network),
            values=[tr(label) for label in network_labels],
            on_value=lambda shown: change(
                "network", next(label for label in network_labels if tr(label) == shown)
            ),
            classes=["wom-network-kind"],
        )
    for key in MARKET_KNOBS:
        if settings.network == "from file":
            break
        if key == "rewiring" and settings.network not in REWIRING_LABELS:
            continue
        label = REWIRING_LABELS.get(settings.network, KNOB[key].label)
        KnobSlider(
            KNOB[key], settings, tr, change, label if key == "rewiring" else KNOB[key].label
        ).key(key)
    solara.Text(tr("Marketing levers"), classes=["wom-section"])
    for key in LEVER_KNOBS:
        KnobSlider(KNOB[key], settings, tr, change, KNOB[key].label).key(key)
    solara.Select(
        tr("Seeds chosen"),
        value=tr(SEEDING_RULES[settings.seeding_rule]),
        values=[tr(label) for label in SEEDING_RULES.values()],
        on_value=lambda shown: change(
            "seeding_rule", next(r for r, label in SEEDING_RULES.items() if tr(label) == shown)
        ),
        disabled=not settings.seeds,
        classes=["wom-seeding-rule"],
    )
    KnobSlider(KNOB["run"], settings, tr, change, KNOB["run"].label).key("run")


def monitor_values(run: Run, tr: Translator) -> dict[str, tuple[str, str]]:
    """The monitors: css key -> (label, value)."""
    out = run.outcomes()
    day, cac, k = run.model.steps * run.model.dt, out["cac"], out["viral_k"]
    by_friends = out["referral_customers"] / out["cum_customers"] if out["cum_customers"] else None
    na = tr("n/a")
    return {
        "day": (tr("Day"), tr("{day} of {days}").format(day=f"{day:g}", days=f"{run.horizon:g}")),
        "customers": (tr("Customers now"), f"{out['final_customers']:,}"),
        "share": (tr("Market share"), f"{100 * out['market_share']:.1f} %"),
        "cac": (tr("Cost per customer"), f"{cac:,.2f}" if cac is not None else na),
        "k": (tr("Viral coefficient K"), f"{k:.2f}" if k is not None else na),
        "friends": (
            tr("Won by friends"),
            f"{100 * by_friends:.0f} %" if by_friends is not None else na,
        ),
    }


MONITOR_HINTS = {
    "day": N_("One step is one day."),
    "customers": N_("Consumers who have bought and not left."),
    "share": N_("Customers now, as a share of all consumers."),
    "cac": N_("Marketing money spent per customer won so far."),
    "k": N_("Customers won by word of mouth per customer; above 1, the brand spreads by itself."),
    "friends": N_("Share of the customers won so far who came through a friend."),
}


@solara.component
def Monitors(run: Run, tr: Translator, version: int):
    """A row of large numbers: day, customers, market share, cost per customer, K, won by friends.

    One HTML element (hints as tooltips of the browser's own): fewer widgets to reconcile on each
    redraw.
    """
    boxes = "".join(
        f"<div class='wom-monitor' title='{escape(tr(MONITOR_HINTS[key]), quote=True)}'>"
        f"<div class='wom-monitor-label'>{escape(label)}</div>"
        f"<div class='wom-monitor-value'><span class='wom-{key}'>{escape(value)}</span></div></div>"
        for key, (label, value) in monitor_values(run, tr).items()
    )
    solara.HTML(tag="div", unsafe_innerHTML=boxes, classes=["wom-monitors"])


@solara.component
def NetworkPanel(run: Run, tr: Translator, scale: float, version: int):
    """Every consumer (up to :data:`DRAWN`) on the network, coloured by stage now, with a legend."""
    drawing = solara.use_memo(lambda: picture(run.model), [id(run)])
    stages = run.model.funnel.stages
    colors = list(stage_colors(stages).values())
    now = run.counts[-1]
    with solara.Column(gap="4px"):
        chips = "".join(
            f"<span class='wom-legend-chip'><span class='wom-legend-dot' "
            f"style='background:{color}'></span>{escape(stage_label(tr, stage))} "
            f"<b>{count:,}</b></span>"
            for stage, color, count in zip(stages, colors, now, strict=True)
        )
        solara.HTML(tag="div", unsafe_innerHTML=chips, style="line-height: 1.8")
        with solara.Div(classes=["wom-network-panel"]):
            NetworkCanvas(
                network=drawing.data,
                stages=stage_text(run.model.population.stage[drawing.ids]),
                colors=colors,
                step=run.model.steps,
                node_scale=scale,
                stage_names=[stage_label(tr, s) for s in stages],
                tip_format=tr("Consumer {id}: {stage}, {friends} friends"),
            )
        n, drawn = run.model.population.n, len(drawing.ids)
        caption = (
            tr(
                "All {n} consumers; bigger dots have more friends. Hover over a dot to see who it is."
            )
            if drawn == n
            else tr("{drawn} of {n} consumers (one neighbourhood); the numbers count everyone.")
        )
        solara.Text(caption.format(n=f"{n:,}", drawn=f"{drawn:,}"), classes=["wom-caption"])


def funnel_chart(run: Run, tr: Translator, scale: float) -> str:
    """The funnel as SVG: who has reached each stage, and the conversion from stage to stage."""
    stages, n = run.model.funnel.stages, run.model.population.n
    reached = run.reached()
    names = [tr("All consumers"), *(stage_label(tr, s) for s in stages[1:])]
    shares = [f"{100 * c / n:.0f} %" for c in reached]
    conversions = [
        tr("{value} % got on").format(value=f"{100 * b / a:.0f}") if a else "–"
        for a, b in itertools.pairwise(reached)
    ]
    return svgcharts.funnel(
        names,
        [int(c) for c in reached],
        list(stage_colors(stages).values()),
        shares,
        conversions,
        tr("How far consumers got"),
        run.model.steps,
        scale,
    )


def share_legend(lesson: Lesson, tr: Translator) -> list[tuple[str, str]]:
    """The share chart's legend: (which line, what it is), the current run first.

    The run before is described by what differs from now (at most two settings, or the
    scenario), so the class reads the lever's before and after off the chart.
    """
    run, before = lesson.run, lesson.before
    if before is None:
        return [("now", tr("This run"))]
    if before.scenario != run.scenario:
        now, then = run.scenario, before.scenario
    else:
        changed = differences(before.settings, run.settings)
        more = "; …" if len(changed) > 2 else ""
        now = "; ".join(describe_setting(k, run.settings, tr) for k in changed[:2]) + more
        then = "; ".join(describe_setting(k, before.settings, tr) for k in changed[:2]) + more
        if not changed:
            now = then = tr("same settings")
    return [
        ("now", tr("Now: {what}").format(what=now)),
        ("before", tr("Before: {what}").format(what=then)),
    ]


def share_chart(lesson: Lesson, tr: Translator, scale: float) -> str:
    """Market share over time as HTML: the chart, the run before dashed grey, and the legend."""
    run, before = lesson.run, lesson.before
    series = []
    if before is not None:
        series.append(
            svgcharts.Line(
                before.days,
                before.share,
                svgcharts.BEFORE_COLOR,
                width=2.5,
                dashed=True,
                end_label=f"{before.share[-1]:.0f} %",
            )
        )
    series.append(
        svgcharts.Line(
            np.array(run.days),
            np.array(run.share),
            svgcharts.NOW_COLOR,
            end_label=f"{run.share[-1]:.0f} %",
        )
    )
    horizon = max(run.horizon, before.days[-1] if before is not None else 0.0)
    chart = svgcharts.lines(
        series,
        horizon,
        10.0,
        tr("Market share over time"),
        tr("day"),
        tr("customers, % of all consumers"),
        run.model.steps,
        scale,
    )
    legend = "".join(
        f"<div class='wom-line-legend wom-legend-{which}'><span class='wom-line-key "
        f"wom-line-{which}'></span>{escape(text)}</div>"
        for which, text in share_legend(lesson, tr)
    )
    return chart + legend


def stages_chart(run: Run, tr: Translator, scale: float) -> str:
    """Consumers in each stage but the first, day by day, stacked (the first would dwarf them)."""
    stages = run.model.funnel.stages
    counts = np.array(run.counts).T
    note = tr("Not drawn: {stage} {count}").format(
        stage=stage_label(tr, stages[0]), count=f"{counts[0, -1]:,}"
    )
    return svgcharts.stacked(
        np.array(run.days),
        counts[1:],
        [stage_label(tr, s) for s in stages[1:]],
        list(stage_colors(stages).values())[1:],
        run.horizon,
        tr("Consumers in each stage, day by day"),
        tr("day"),
        tr("consumers"),
        run.model.steps,
        scale,
        note=note,
    )


ABOUT = (
    ("h", N_("What is it")),
    (
        "p",
        N_(
            "A market of consumers linked by friendships. Each consumer is at a stage of the AISAS "
            "journey: attention, interest, search, action (bought) and share (tells friends), or "
            "still unaware. Ads and friends move people along; customers who share pull their "
            "friends in. The network lights up as word of mouth spreads."
        ),
    ),
    ("h", N_("How it works")),
    (
        "p",
        N_(
            "One step is one day. Ads reach a share of the prospects each day. Each sharer shares "
            "with some probability; each friend hears it with some probability and is persuaded "
            "with the word-of-mouth strength. People also forget, lose interest and, rarely, leave."
        ),
    ),
    (
        "p",
        N_(
            "The levers: content turns attention into interest and makes shares more persuasive; "
            "a referral reward makes customers share more and referred friends buy more readily, "
            "and pays both sides; seeding gives the product to a few consumers chosen by a rule, "
            "who start sharing on day one."
        ),
    ),
    (
        "p",
        N_(
            "Cost per customer is the marketing money spent per customer won. The viral "
            "coefficient K is the number of customers each customer wins by word of mouth: above "
            "1, the brand spreads by itself. The funnel counts everyone who has reached a stage "
            "at some time in this run."
        ),
    ),
    ("p", N_("Sliders take effect when you press Reset. The run before stays on the chart.")),
    ("h", N_("Things to try")),
    ("li", N_("Set shortcuts to 0 % (a ring: word of mouth crawls), then to 30 % (it jumps).")),
    ("li", N_("Turn ad reach to 0. Does anything happen? Now add 5 seeded consumers.")),
    ("li", N_("On the hubs network, compare seeds chosen at random and by most friends.")),
    (
        "li",
        N_("Halve the word-of-mouth strength. What happens to K and to the cost per customer?"),
    ),
    ("li", N_("Raise the referral reward: more customers, but at what cost per customer?")),
    ("li", N_("Change only the run number: how much of what you see is luck?")),
)


def about_html(tr: Translator) -> str:
    """The explanation for a class, translated, as HTML."""
    parts, items = [], []
    for kind, text in ABOUT:
        if kind == "li":
            items.append(f"<li>{escape(tr(text))}</li>")
            continue
        parts.append({"h": "<h3>{}</h3>", "p": "<p>{}</p>"}[kind].format(escape(tr(text))))
    return "".join(parts) + f"<ul>{''.join(items)}</ul>"


@solara.component
def Page():
    """The app: controls on the left; the numbers, and tabs with the pictures, on the right."""
    lang = solara.use_reactive(
        solara.use_memo(lambda: opening_language(solara.lab.headers.value), [])
    )
    presenter = solara.use_reactive(False)
    playing = solara.use_reactive(False)
    speed = solara.use_reactive(5)
    tab = solara.use_reactive(0)
    version, set_version = solara.use_state(0)  # bumped to redraw after the lesson changed
    lesson = solara.use_memo(lambda: Lesson(opening()), [])
    tr = solara.use_memo(lambda: translator(lang.value), [lang.value])
    scale = 1.35 if presenter.value else 1.0  # dots; the page's own text grows by CSS
    chart_scale = 1.15 if presenter.value else 1.0  # charts also grow with the wider column

    refresh = solara.use_memo(lambda: lambda: set_version(lambda k: k + 1), [])

    def play() -> None:
        """Step at the chosen speed until paused or the run ends (in a thread of its own)."""
        due = time.monotonic()
        while playing.value and not lesson.run.finished:
            due = max(due + 1.0 / speed.value, time.monotonic() - 0.5)
            time.sleep(max(0.0, due - time.monotonic()))
            if not playing.value:
                break
            lesson.step()
            refresh()
        playing.set(False)

    solara.lab.use_task(play, dependencies=[playing.value], prefer_threaded=True)

    solara.Title(tr("Word of mouth: watch a market catch on"))
    solara.Style(STYLE + (PRESENTER_STYLE if presenter.value else ""))
    run = lesson.run
    with solara.Column(classes=["wom-page"], gap="0px"):
        Header(tr, lang, presenter)
        shows = (lesson.scenario, lesson.settings, id(run), run.finished)
        with solara.Row(gap="24px", style={"align-items": "flex-start"}):
            if not presenter.value:
                with solara.Column(classes=["wom-panel"], gap="2px"):
                    Controls(lesson, tr, playing, speed, refresh, shows, False)
            with solara.Column(classes=["wom-main"], gap="4px"):
                if presenter.value:
                    Controls(lesson, tr, playing, speed, refresh, shows, True)
                Monitors(run, tr, version)
                with solara.lab.Tabs(value=tab, lazy=True):
                    with solara.lab.Tab(tr("Network, funnel and market share")):
                        with solara.Row(gap="20px", style={"align-items": "flex-start"}):
                            with solara.Div(classes=["wom-network-column"]):
                                NetworkPanel(run, tr, scale, version)
                            with solara.Column(gap="14px", classes=["wom-chart-column"]):
                                solara.HTML(
                                    tag="div", unsafe_innerHTML=funnel_chart(run, tr, chart_scale)
                                )
                                solara.HTML(
                                    tag="div", unsafe_innerHTML=share_chart(lesson, tr, chart_scale)
                                )
                    with solara.lab.Tab(tr("Stages day by day")):
                        solara.HTML(tag="div", unsafe_innerHTML=stages_chart(run, tr, chart_scale))
                    with solara.lab.Tab(tr("About this model")):
                        solara.HTML(
                            tag="div", unsafe_innerHTML=about_html(tr), classes=["wom-about"]
                        )
