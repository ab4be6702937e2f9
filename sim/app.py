"""The teaching app: a Mesa SolaraViz page on which a class watches word of mouth spread.

Start it with ``python run.py app``. The page offers the bundled scenarios (and the one given with
``--scenario``) by name only: nothing on it reads or writes files on the server. Sliders change a
copy of the chosen scenario; Mesa's Reset builds the market again from them.
"""

from __future__ import annotations

import html
import os
import sys
from dataclasses import dataclass, fields, replace
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np
import solara
from mesa.visualization import SolaraViz

from sim import plots
from sim.animate import stage_history
from sim.model import MarketModel
from sim.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict
from sim.seeding import RULES

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
START_ENV = "WOM_SIM_APP_SCENARIO"
"""Environment variable through which ``run.py app --scenario FILE`` names the opening scenario."""
DEFAULT = "classroom"
DRAWN = 400  # most consumers drawn; a dense spring layout of 400 takes about half a second

NETWORKS = {
    "small world": "watts_strogatz",
    "hubs (scale-free)": "barabasi_albert",
    "random": "erdos_renyi",
    "communities": "communities",
    "everyone knows everyone": "complete",
    "from file": "edgelist",
}
"""Network selector labels and the scenario kinds they stand for."""


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


def customise(scenario: Scenario, settings: Settings) -> Scenario:
    """``scenario`` changed where ``settings`` differ from :func:`settings_of` it."""
    was = settings_of(scenario)
    doc = scenario.to_dict()
    changed = {
        f.name for f in fields(Settings) if getattr(settings, f.name) != getattr(was, f.name)
    }
    if changed:
        doc["name"] = f"{scenario.name}-custom"
    if "n" in changed:
        doc["population"]["n"] = settings.n
    kind = NETWORKS[settings.network]
    if changed & {"n", "network", "friends", "rewiring"} and kind != "edgelist":
        doc["network"] = _network_doc(kind, settings.n, settings.friends, settings.rewiring)
    if "wom" in changed:
        funnel = scenario.funnel.funnel()
        edits = doc["funnel"].setdefault("transitions", {})
        for t in funnel.transitions:
            if t.wom > 0:
                edits[t.name] = {**edits.get(t.name, {}), "wom": min(1.0, t.wom * settings.wom)}
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


# ------------------------------------------------------------------------------------------ model
class ClassroomModel(MarketModel):
    """A :class:`MarketModel` built from a scenario name and slider values, as SolaraViz needs.

    Every keyword left as None keeps the scenario's value. The run stops at the scenario's
    horizon, and its pictures (network layout included) are made once per model.

    Args:
        scenario_name: a name from :func:`catalogue` (never a path: the page cannot open files).
            Not ``scenario``: mesa 3.5's SolaraViz passes a mesa ``Scenario`` under that name.
        n: consumers in the market.
        network: a label of :data:`NETWORKS`.
        friends: links per consumer (on average).
        rewiring: small world: share of links rewired; communities: share of links across.
        ad_reach: share of the prospects an ad reaches per day (0 = no ads).
        wom: word-of-mouth strength, as a multiple of the scenario's per-share probabilities.
        content: content quality, 0 (no content programme) to 1.
        mgm_reward: member-get-member reward paid to each side (0 = no programme).
        seeds: consumers seeded on day one (0 = none).
        seeding_rule: how seeds are chosen (see :data:`sim.seeding.RULES`).
        run: added to the scenario's seed: another run of the same market.
    """

    def __init__(
        self,
        scenario_name: str = DEFAULT,
        n: int | None = None,
        network: str | None = None,
        friends: int | None = None,
        rewiring: float | None = None,
        ad_reach: float | None = None,
        wom: float | None = None,
        content: float | None = None,
        mgm_reward: float | None = None,
        seeds: int | None = None,
        seeding_rule: str | None = None,
        run: int = 0,
    ):
        scenarios = catalogue()
        if scenario_name not in scenarios:
            raise ValueError(
                f"unknown scenario {scenario_name!r}; choose one of: {', '.join(scenarios)}"
            )
        base = scenarios[scenario_name]
        given = {
            "n": n,
            "network": network,
            "friends": friends,
            "rewiring": rewiring,
            "ad_reach": ad_reach,
            "wom": wom,
            "content": content,
            "mgm_reward": mgm_reward,
            "seeds": seeds,
            "seeding_rule": seeding_rule,
        }
        settings = replace(settings_of(base), **{k: v for k, v in given.items() if v is not None})
        super().__init__(customise(base, settings), seed=base.seed + int(run))
        self.settings = settings

    def step(self) -> None:
        """One step; the run stops at the scenario's horizon."""
        super().step()
        self.running = self.steps < self.spec.steps

    @cached_property
    def network_picture(self):
        """The network figure and its view (layout computed once)."""
        return plots.network_figure(self.network, self.funnel.stages, DRAWN)

    @cached_property
    def funnel_picture(self):
        """The funnel and stages-over-time figure and its view."""
        return plots.funnel_figure(self.funnel.stages, self.spec.steps * self.dt)


def model_params(scenario: str) -> dict[str, Any]:
    """The page's sliders and selectors, starting at ``scenario``'s values."""
    base = catalogue()[scenario]
    s = settings_of(base)
    fixed_network = s.network == "from file"
    return {
        "scenario_name": scenario,
        "n": s.n
        if fixed_network
        else _slider("SliderInt", "Market size (consumers)", s.n, 50, max(10_000, s.n), 50),
        "network": s.network
        if fixed_network
        else {
            "type": "Select",
            "label": "Network",
            "value": s.network,
            "values": [label for label in NETWORKS if label != "from file"],
        },
        "friends": _slider("SliderInt", "Friends per consumer", s.friends, 2, 20, 2),
        "rewiring": _slider(
            "SliderFloat", "Rewiring / links across groups", s.rewiring, 0, 1, 0.01
        ),
        "ad_reach": _slider(
            "SliderFloat", "Ad reach (share of prospects per day)", s.ad_reach, 0, 0.5, 0.01
        ),
        "wom": _slider("SliderFloat", "Word-of-mouth strength (x scenario)", s.wom, 0, 3, 0.1),
        "content": _slider("SliderFloat", "Content quality", s.content, 0, 1, 0.1),
        "mgm_reward": _slider(
            "SliderFloat", "Referral (MGM) reward to each side", s.mgm_reward, 0, 50, 1
        ),
        "seeds": _slider("SliderInt", "Seeded consumers", s.seeds, 0, max(50, s.seeds), 1),
        "seeding_rule": {
            "type": "Select",
            "label": "Seeding rule",
            "value": s.seeding_rule,
            "values": list(RULES),
        },
        "run": _slider("SliderInt", "Run (another roll of the dice)", 0, 0, 99, 1),
    }


def _slider(kind: str, label: str, value: float, lo: float, hi: float, step: float) -> dict:
    number = int if kind == "SliderInt" else float
    return {
        "type": kind,
        "label": label,
        "value": number(value),
        "min": number(lo),
        "max": number(max(hi, value)),
        "step": number(step),
    }


# ------------------------------------------------------------------------------------- components
def NetworkPanel(model: ClassroomModel):
    """The consumers on their network, coloured by funnel stage."""
    fig, view = model.network_picture
    view.paint(model.population.stage)
    with solara.Column(gap="0px") as panel:
        solara.FigureMatplotlib(fig, dependencies=[id(model), model.steps], format="png")
        solara.Text(view.caption, style={"font-size": "0.85em", "color": "#555"})
    return panel


def FunnelPanel(model: ClassroomModel):
    """The funnel now and the stages over time."""
    fig, view = model.funnel_picture
    view.draw(*stage_history(model))
    return solara.FigureMatplotlib(fig, dependencies=[id(model), model.steps], format="png")


def Monitors(model: ClassroomModel):
    """Day, customers, market share, cost per customer, viral coefficient, and stage counts."""
    out = model.outcomes()
    cac, k = out["cac"], out["viral_k"]
    values = {
        "Day": f"{model.steps * model.dt:g}",
        "Customers": f"{out['final_customers']:,}",
        "Market share": f"{100 * out['market_share']:.1f} %",
        "Cost per customer": f"{cac:,.2f}" if cac is not None else "n/a",
        "Viral coefficient K": f"{k:.2f}" if k is not None else "n/a",
    }
    counts = np.bincount(model.population.stage, minlength=len(model.funnel.stages))
    with solara.Column() as panel:
        with solara.Row(style={"flex-wrap": "wrap"}):
            for label, value in values.items():
                with solara.Card(margin=0, style={"min-width": "8em"}), solara.Column(gap="0px"):
                    solara.Text(label, style={"font-size": "0.8em", "color": "#555"})
                    solara.Text(
                        value,
                        classes=[f"wom-{label.split()[0].lower()}"],
                        style={"font-size": "1.5em", "font-weight": "500"},
                    )
        solara.Text(
            " · ".join(f"{s} {c:,}" for s, c in zip(model.funnel.stages, counts, strict=True)),
            classes=["wom-stages"],
        )
        solara.Text(
            f"Acquired so far {out['cum_customers']:,}; marketing spent {out['total_cost']:,.0f}; "
            f"K = customers won by referral per consumer who shared.",
            style={"font-size": "0.8em", "color": "#555"},
        )
    return panel


ABOUT = """
<h3>What is it</h3>
<p>A market of consumers linked by friendships. Each consumer is at a stage of the AISAS journey:
<b>unaware</b>, <b>attention</b>, <b>interest</b>, <b>search</b>, <b>action</b> (bought) and
<b>share</b> (tells friends). Ads and friends move people along; customers who share pull their
friends in. The network lights up as word of mouth spreads.</p>
<h3>How it works</h3>
<p>One step is one day. Ads reach a share of the prospects each day. Each sharer shares with some
probability; each friend hears it with some probability and is persuaded with the
<i>word-of-mouth strength</i>. People also forget, lose interest and, rarely, leave. The levers:
<b>content</b> turns attention into interest and makes shares more persuasive; a <b>referral
(MGM) reward</b> makes customers share more and referred friends buy more readily, and pays both
sides; <b>seeding</b> gives the product to a few consumers chosen by a rule, who start sharing on
day one. <b>Cost per customer</b> is the marketing money spent per customer won. The <b>viral
coefficient K</b> is the number of customers won by referral per consumer who shared.</p>
<p><b>Sliders take effect when you press Reset.</b> The charts count every consumer; in large
markets the picture shows a sample.</p>
<h3>Things to try</h3>
<ul>
<li>Set rewiring to 0 (a ring: word of mouth crawls), then to 0.3 (shortcuts: it jumps).</li>
<li>Turn ad reach to 0. Does anything happen? Now add 5 seeded consumers.</li>
<li>On "hubs (scale-free)", compare the seeding rules random and degree.</li>
<li>Halve the word-of-mouth strength. What happens to K and to the cost per customer?</li>
<li>Raise the referral reward: more customers, but at what cost per customer?</li>
<li>Change only "Run": how much of what you see is luck?</li>
</ul>
"""


@solara.component
def About(model: ClassroomModel):
    """What is it / How it works / Things to try, for a class (static: not redrawn each step)."""
    with solara.Card("About this model", style={"overflow-y": "auto", "height": "100%"}):
        description = html.escape(model.spec.description)
        solara.HTML(tag="div", unsafe_innerHTML=f"<p><i>{description}</i></p>{ABOUT}")


COMPONENTS = [NetworkPanel, FunnelPanel, Monitors, About]


@solara.component
def Page():
    """The app: a scenario picker above Mesa's controls; picking a scenario starts afresh."""
    name, set_name = solara.use_state(opening())
    model = solara.use_memo(lambda: ClassroomModel(scenario_name=name), [name])
    with solara.Sidebar():
        with solara.Card("Scenario"):
            solara.Select("Scenario", value=name, values=list(catalogue()), on_value=set_name)
    SolaraViz(
        model,
        components=COMPONENTS,
        model_params=model_params(name),
        name="Word of mouth: watch a market catch on",
        play_interval=150,
    ).key(name)
