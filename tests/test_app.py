"""The teaching app without a browser: settings, runs, languages, charts, and the page in-process."""

import json
import re
import socket
from dataclasses import replace
from html import unescape
from html.parser import HTMLParser

import ipyvuetify as v
import ipywidgets
import numpy as np
import pytest
import solara
from PIL import Image

import sim.app as app
from sim.app import (
    KNOBS,
    LANG_ENV,
    START_ENV,
    Lesson,
    Page,
    Run,
    Settings,
    browser_language,
    catalogue,
    customise,
    opening,
    opening_language,
    settings_of,
    share_legend,
)
from sim.cli import main
from sim.scenario import load_scenario

from .conftest import SCENARIOS


def _classroom(**changes) -> Settings:
    return replace(settings_of(catalogue()["classroom"]), **changes)


# -------------------------------------------------------------------------------------- settings
def test_unchanged_settings_keep_every_bundled_scenario():
    """The sliders' starting positions stand for the scenario exactly: nothing is rewritten."""
    for name, scenario in catalogue().items():
        assert customise(scenario, settings_of(scenario)) == scenario, name


def test_settings_change_the_scenario_as_labelled():
    """Each slider reaches the scenario field it names; 0 switches a lever off."""
    base = load_scenario(SCENARIOS / "classroom.toml")
    changed = customise(
        base,
        replace(
            settings_of(base),
            n=500,
            network="hubs (scale-free)",
            friends=8,
            ad_reach=0.0,
            wom=2.0,
            content=0.6,
            mgm_reward=15.0,
            seeds=7,
            seeding_rule="pagerank",
            run=3,
        ),
    )
    assert changed.population.n == 500
    assert (changed.network.kind, changed.network.m) == ("barabasi_albert", 4)
    levers = {lever.kind: lever for lever in changed.levers}
    assert "ads" not in levers, "ad reach 0 should switch ads off"
    assert levers["content"].quality == 0.6
    assert (levers["mgm"].reward_referrer, levers["mgm"].reward_referee) == (15.0, 15.0)
    assert (levers["seeding"].k, levers["seeding"].rule) == (7, "pagerank")
    wom = {t.name: t.wom for t in changed.funnel.funnel().transitions}
    before = {t.name: t.wom for t in base.funnel.funnel().transitions}
    for name, value in before.items():
        assert wom[name] == pytest.approx(min(1.0, 2 * value)), name
    assert customise(base, replace(settings_of(base), run=3)) == base, "run is not a setting"


def test_ad_reach_keeps_the_campaign_schedule():
    """Changing ad reach changes only the reach: the classroom's two-week campaign still ends."""
    base = load_scenario(SCENARIOS / "classroom.toml")
    ads = next(lever for lever in customise(base, _classroom(ad_reach=0.05)).levers)
    assert (ads.reach, ads.end) == (0.05, base.levers[0].end)


@pytest.mark.parametrize(
    "network",
    ["small world", "hubs (scale-free)", "random", "communities", "everyone knows everyone"],
)
def test_every_network_choice_builds_about_the_friends_asked_for(network):
    """Mean degree is within 20 % of the 'friends' slider for every generated kind."""
    run = Run("classroom", _classroom(network=network, friends=8, n=600))
    assert run.model.spec.population.n == 600
    if network != "everyone knows everyone":  # implicit: one share reaches 'friends' consumers
        assert run.model.network.degree().mean() == pytest.approx(8, rel=0.2), network
    assert run.model.spec.funnel == catalogue()["classroom"].funnel


@pytest.mark.parametrize("knob", KNOBS, ids=lambda k: k.key)
def test_each_slider_position_stands_for_its_setting(knob):
    """Slider position -> setting -> position is the identity over the slider's whole range."""
    settings = _classroom()
    for position in np.arange(knob.lo, knob.hi + knob.step / 2, knob.step):
        position = round(float(position), knob.digits)
        moved = replace(settings, **{knob.key: knob.value(position)})
        assert knob.shown(moved) == position, (knob.key, position)


def test_slider_values_read_with_their_units():
    """The values as a teacher reads them: percent of prospects, per customer, off at 0."""
    describe = app.describe_setting
    settings = _classroom(ad_reach=0.02, mgm_reward=10.0, content=0.6, wom=1.5, rewiring=0.1)
    assert describe("ad_reach", settings, str) == "Ad reach: 2 % of prospects per day"
    assert describe("mgm_reward", settings, str) == (
        "Referral reward: 10 per customer, to each side"
    )
    assert describe("content", settings, str) == "Content quality: 6 out of 10"
    assert describe("wom", settings, str) == "Word-of-mouth strength: 1.5 × the scenario's"
    assert describe("rewiring", settings, str) == "Shortcuts: 10 % of links"
    assert describe("n", settings, str) == "Consumers: 300 in the market"
    off = _classroom(ad_reach=0.0, mgm_reward=0.0)
    assert describe("ad_reach", off, str) == "Ad reach: off (no ads)"
    assert describe("mgm_reward", off, str) == "Referral reward: off (no referral programme)"


# ------------------------------------------------------------------------------------------ runs
def test_run_opens_only_scenarios_by_name():
    """A path is not a scenario name: the page cannot be made to read files."""
    for name in (str(SCENARIOS / "classroom.toml"), "../../etc/passwd"):
        with pytest.raises(ValueError, match="unknown scenario"):
            Run(name, _classroom())


def test_run_stops_at_the_scenario_horizon():
    """Play stops by itself at the scenario's last day; Step does nothing after it."""
    run = Run("classroom", _classroom())
    for _ in range(run.model.spec.steps - 1):
        run.step()
    assert not run.finished
    run.step()
    assert run.finished and run.model.steps == run.model.spec.steps
    run.step()
    assert run.model.steps == run.model.spec.steps and len(run.days) == run.model.spec.steps + 1


def test_run_number_changes_the_luck_not_the_market():
    """Another run of the same market: a different seed, the same scenario."""
    a, b = Run("classroom", _classroom(run=0)), Run("classroom", _classroom(run=1))
    assert b.model.seed == a.model.seed + 1 and a.model.spec == b.model.spec


def test_funnel_counts_who_ever_reached_each_stage():
    """The funnel narrows stage by stage, and its 'action' count is the model's own count of
    customers acquired (every consumer who ever bought)."""
    run = Run("classroom", _classroom())
    action = run.model.funnel.stages.index("action")
    for _ in range(90):
        run.step()
        reached = run.reached()
        assert reached[0] == run.model.population.n
        assert np.all(np.diff(reached) <= 0)
        assert reached[action] == run.model.record["cum_customers"]
        now = np.bincount(run.model.population.stage, minlength=len(reached))
        assert np.all(reached >= now[::-1].cumsum()[::-1]), "reached includes everyone there now"
    assert reached[action] > 0, "90 days of the classroom should win customers"


def test_share_history_is_customers_now_over_consumers():
    """Market share on the chart is the model's customers now, as a percentage, day by day."""
    run = Run("classroom", _classroom())
    for _ in range(40):
        run.step()
    steps = run.model.timeseries()
    customers = steps[[f"n_{s}" for s in run.model.funnel.customer_stages]].sum(axis=1)
    assert run.days == steps["day"].tolist()
    np.testing.assert_allclose(run.share, 100 * customers / 300)


def test_reset_keeps_the_run_before_for_comparison():
    """Reset builds a new market from the sliders; the old run's share line stays, and the
    legend says what changed."""
    lesson = Lesson("classroom")
    lesson.reset()
    assert lesson.before is None, "a run that never started leaves nothing to compare"
    for _ in range(30):
        lesson.step()
    first = list(lesson.run.share)
    lesson.set("mgm_reward", 10.0)
    assert lesson.pending
    lesson.reset()
    assert not lesson.pending and lesson.run.model.steps == 0
    assert lesson.before.share.tolist() == first and lesson.before.settings.mgm_reward == 0
    assert [text for _, text in share_legend(lesson, str)] == [
        "Now: Referral reward: 10 per customer, to each side",
        "Before: Referral reward: off (no referral programme)",
    ]
    lesson.step()
    lesson.reset()
    assert len(lesson.before.share) == 2 and share_legend(lesson, str)[1] == (
        "before",
        "Before: same settings",
    )


def test_choosing_a_scenario_starts_it_with_its_own_settings():
    lesson = Lesson("classroom")
    lesson.set("n", 1000)
    lesson.choose("mgm")
    assert lesson.run.model.spec == catalogue()["mgm"]
    assert lesson.settings == settings_of(catalogue()["mgm"]) and not lesson.pending


def test_scenario_given_at_start_opens_the_page(tmp_path, monkeypatch):
    """``run.py app --scenario FILE`` puts that scenario first in the picker and opens it."""
    own = tmp_path / "lesson.toml"
    own.write_text((SCENARIOS / "classroom.toml").read_text().replace('"classroom"', '"lesson"'))
    monkeypatch.setenv(START_ENV, str(own))
    catalogue.cache_clear()
    try:
        assert opening() == "lesson" and "classroom" in catalogue()
        assert Lesson(opening()).run.model.spec.name == "lesson"
    finally:
        monkeypatch.delenv(START_ENV)
        catalogue.cache_clear()


# ------------------------------------------------------------------------------------- languages
@pytest.mark.parametrize(
    "header, lang",
    [
        ("zh-TW,zh;q=0.9,en-US;q=0.8,en;q=0.7", "zh-TW"),
        ("zh-Hant-HK", "zh-TW"),
        ("zh-CN,zh;q=0.9", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("zh", "zh-CN"),
        ("en-GB,en;q=0.9", "en"),
        ("de-DE,de;q=0.9,zh-TW;q=0.5", "zh-TW"),
        ("en;q=0.4,zh-CN;q=0.8", "zh-CN"),
        ("fr-FR", "en"),
        ("", "en"),
        (None, "en"),
        ("zh-TW;q=0", "en"),
    ],
)
def test_browser_language(header, lang):
    """The first supported language of Accept-Language, by q-value; English otherwise."""
    assert browser_language(header) == lang


def test_lang_option_wins_over_the_browser(monkeypatch):
    headers = {"accept-language": ["zh-TW,zh;q=0.9"]}
    monkeypatch.delenv(LANG_ENV, raising=False)
    assert opening_language(headers) == "zh-TW"
    assert opening_language(None) == "en"
    monkeypatch.setenv(LANG_ENV, "zh-CN")
    assert opening_language(headers) == "zh-CN"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "70000"], "--port 70000: must be between 1 and 65535"),
        (["--scenario", "no/such.toml"], "no/such.toml: no such file"),
        (["--lang", "fr"], "--lang: unknown language 'fr'; choose one of: en, zh-TW, zh-CN"),
    ],
)
def test_app_bad_options_exit_2(args, message, capsys):
    """Bad options: exit 2 with one line naming the option, before any server starts."""
    assert main(["app", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and err.strip().endswith(message)


def test_app_port_in_use_exits_2(capsys):
    """A port already taken is bad input, not a traceback."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["app", "--port", str(port)]) == 2
    assert f"--port {port}: cannot listen" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ page
def _widgets(root):
    """Every widget under ``root``, depth first."""
    stack = [root]
    while stack:
        w = stack.pop()
        if isinstance(w, list):
            stack.extend(reversed(w))
        elif isinstance(w, ipywidgets.Widget):
            yield w
            for name in ("children", "tab_children"):
                stack.extend(reversed([c for c in getattr(w, name, None) or []]))
            for slot in getattr(w, "v_slots", None) or []:
                stack.append(slot.get("children"))


def _canvas(box):
    return next(w for w in _widgets(box) if w.has_trait("network") and w.has_trait("stages"))


def _text(rc, css_class: str) -> str:
    """The text of the element of ``css_class``: a widget's, or a span in the page's HTML."""
    found = rc.find(class_=css_class).widgets
    if found:
        return found[0].children[0]
    for w in _widgets(rc.find().widget):
        html = w.unsafe_innerHTML if w.has_trait("unsafe_innerHTML") else None
        match = re.search(rf"<span class='{css_class}'>([^<]*)</span>", html or "")
        if match:
            return unescape(match[1])
    raise LookupError(css_class)


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        if data.strip():
            self.parts.append(data.strip())


def _visible_texts(box) -> list[str]:
    """The text a visitor reads: labels, button and tab captions, HTML and SVG text."""
    texts = []
    for w in _widgets(box):
        if isinstance(w, v.Icon):
            continue
        for name in ("label", "hint", "placeholder"):
            value = getattr(w, name, None) if w.has_trait(name) else None
            if isinstance(value, str) and value:
                texts.append(value)
        for child in getattr(w, "children", None) or []:
            if isinstance(child, str) and child.strip():
                texts.append(child)
        if w.has_trait("unsafe_innerHTML") and w.unsafe_innerHTML:
            parser = _Text()
            parser.feed(w.unsafe_innerHTML)
            texts.append(" ".join(parser.parts))
        if w.has_trait("tip_format"):
            texts.append(w.tip_format)
            texts += w.stage_names
    return texts


class _Fake:
    """A translator that marks what it translates with ``pattern``."""

    def __init__(self, pattern: str):
        self.pattern = pattern

    def __call__(self, message: str) -> str:
        return self.pattern.format(message)

    def label(self, kind: str, name: str) -> str:
        return self.pattern.format(name)


@pytest.fixture
def page():
    box, rc = solara.render(Page(), handle_error=False)
    return box, rc


def _step(rc, times=1):
    for _ in range(times):
        rc.find(v.Btn, class_="wom-step").widget.click()


def test_page_step_moves_the_day_the_numbers_and_the_picture(page):
    """Step advances the day monitor and redraws the network, the funnel and the share chart."""
    box, rc = page
    assert _text(rc, "wom-day") == "0 of 120"
    canvas = _canvas(box)
    assert len(canvas.stages) == 300 and canvas.step == 0
    drawing = json.loads(canvas.network)
    assert len(drawing["positions"]) == 2 * 300 and len(drawing["edges"]) == 2 * 900
    _step(rc, 20)
    assert _text(rc, "wom-day") == "20 of 120"
    canvas = _canvas(box)
    assert canvas.step == 20
    lesson_stage = [int(c) for c in canvas.stages.encode()]
    assert sum(code != 48 for code in lesson_stage) > 0, "twenty days of ads reach someone"
    charts = [w.unsafe_innerHTML for w in _widgets(box) if w.has_trait("unsafe_innerHTML")]
    assert any('class="wom-funnel" data-step="20"' in html for html in charts)
    assert any('class="wom-lines" data-step="20"' in html for html in charts)
    legend = next(html for html in charts if "wom-legend-dot" in html)
    assert sum(int(c.replace(",", "")) for c in re.findall(r"<b>([\d,]+)</b>", legend)) == 300


def test_page_slider_then_reset_builds_that_market(page):
    """Moving the market-size slider marks Reset as needed; Reset builds a market of that size
    and keeps the run before on the share chart."""
    box, rc = page
    _step(rc, 3)
    rc.find(class_="wom-knob-n").find(v.Slider).widget.v_model = 2000
    assert _text(rc, "wom-pending").startswith("Press Reset")
    assert _text(rc, "wom-day") == "3 of 120", "sliders take effect on Reset"
    rc.find(v.Btn, class_="wom-reset").widget.click()
    assert _text(rc, "wom-day") == "0 of 120" and _text(rc, "wom-pending") == ""
    canvas = _canvas(box)
    assert len(canvas.stages) == 2000
    html = "".join(w.unsafe_innerHTML for w in _widgets(box) if w.has_trait("unsafe_innerHTML"))
    assert "Now: Consumers: 2,000 in the market" in html
    assert "Before: Consumers: 300 in the market" in html


def test_page_presenter_mode_enlarges_text_and_dots(page):
    box, rc = page
    assert _canvas(box).node_scale == 1.0
    rc.find(v.Switch, class_="wom-presenter-switch").widget.v_model = True
    assert _canvas(box).node_scale > 1.2
    css = " ".join(  # solara.Style puts its CSS in a template of its own
        str(getattr(w.template, "template", w.template))
        for w in _widgets(box)
        if type(w).__name__ == "VuetifyTemplate"
    )
    assert app.PRESENTER_STYLE in css


def test_every_visible_string_goes_through_the_session_translator(monkeypatch):
    """With a translator that brackets what it translates, no English is left unbracketed on
    the page (numbers, scenario names and language names aside)."""
    monkeypatch.setattr(app, "translator", lambda lang: _Fake("⟦{}⟧"))
    box, rc = solara.render(Page(), handle_error=False)
    _step(rc, 30)
    for tab in range(3):
        rc.find(v.Tabs).widget.v_model = tab
        allowed = {*catalogue(), *app.LANGUAGE_NAMES.values()}
        for text in _visible_texts(box):
            bare = text
            while re.search(r"⟦[^⟦⟧]*⟧", bare):
                bare = re.sub(r"⟦[^⟦⟧]*⟧", "", bare)
            bare = re.sub(r"[\d.,%↓–—:;()\s]+", "", bare)
            assert not bare or text in allowed, f"not translated: {text!r}"


def test_language_picker_switches_this_session_only(monkeypatch):
    """Picking a language re-translates the page; another session keeps its own language."""
    made = []

    def fake(lang):
        made.append(lang)
        return _Fake(lang + ":{}")

    monkeypatch.setattr(app, "translator", fake)
    _, rc_a = solara.render(Page(), handle_error=False)
    _, rc_b = solara.render(Page(), handle_error=False)
    rc_a.find(v.Select, class_="wom-language").widget.v_model = "繁體中文"
    assert rc_a.find(v.Btn, class_="wom-reset").widget.children[-1] == "zh-TW:Reset"
    assert rc_b.find(v.Btn, class_="wom-reset").widget.children[-1] == "en:Reset"
    assert "zh-TW" in made


# --------------------------------------------------------------------------------------- animate
@pytest.mark.slow
def test_animate_writes_the_frames_asked_for(tmp_path):
    """``animate --frames 4 --every 3`` writes a GIF of exactly four frames, and nothing else."""
    out = tmp_path / "diffusion.gif"
    code = main(
        [
            "animate",
            str(SCENARIOS / "classroom.toml"),
            "--out",
            str(out),
            "--frames",
            "4",
            "--every",
            "3",
        ]
    )
    assert code == 0
    with Image.open(out) as movie:
        assert movie.n_frames == 4
    assert [p.name for p in tmp_path.iterdir()] == ["diffusion.gif"], "no temporary file left"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "x.avi"], "--out x.avi: must end in .gif or .mp4"),
        (["--frames", "0"], "--frames 0: must be between 1 and 1000"),
        (["--every", "0"], "--every 0: must be between 1 and 10000"),
    ],
)
def test_animate_bad_options_exit_2_naming_the_option(args, message, capsys, tmp_path):
    """Bad options: exit 2, one line naming the option and what is allowed, no file."""
    code = main(["animate", str(SCENARIOS / "classroom.toml"), *args])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"
