"""The teaching app without a browser: settings, the model class, and the page rendered in-process."""

import socket

import ipyvuetify as v
import pytest
import solara
from mesa.visualization.solara_viz import ModelController
from PIL import Image
from solara.components.applayout import should_use_embed

from sim.app import (
    START_ENV,
    ClassroomModel,
    Page,
    Settings,
    catalogue,
    customise,
    opening,
    settings_of,
)
from sim.cli import main
from sim.scenario import load_scenario

from .conftest import SCENARIOS, step_counter


def test_unchanged_settings_keep_every_bundled_scenario():
    """The sliders' starting positions stand for the scenario exactly: nothing is rewritten."""
    for name, scenario in catalogue().items():
        assert customise(scenario, settings_of(scenario)) == scenario, name


def test_settings_change_the_scenario_as_labelled():
    """Each slider reaches the scenario field it names; 0 switches a lever off."""
    base = load_scenario(SCENARIOS / "classroom.toml")
    s = settings_of(base)
    changed = customise(
        base,
        Settings(
            n=500,
            network="hubs (scale-free)",
            friends=8,
            rewiring=s.rewiring,
            ad_reach=0.0,
            wom=2.0,
            content=0.6,
            mgm_reward=15.0,
            seeds=7,
            seeding_rule="pagerank",
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


def test_ad_reach_keeps_the_campaign_schedule():
    """Changing ad reach changes only the reach: the classroom's two-week campaign still ends."""
    base = load_scenario(SCENARIOS / "classroom.toml")
    ads = next(lever for lever in customise(base, _with(base, ad_reach=0.05)).levers)
    assert (ads.reach, ads.end) == (0.05, base.levers[0].end)


@pytest.mark.parametrize(
    "network",
    ["small world", "hubs (scale-free)", "random", "communities", "everyone knows everyone"],
)
def test_every_network_choice_builds_about_the_friends_asked_for(network):
    """Mean degree is within 20 % of the 'friends' slider for every generated kind."""
    base = load_scenario(SCENARIOS / "classroom.toml")
    model = ClassroomModel(network=network, friends=8, n=600)
    assert model.spec.population.n == 600
    if network != "everyone knows everyone":  # implicit: one share reaches 'friends' consumers
        assert model.network.degree().mean() == pytest.approx(8, rel=0.2), network
    assert model.spec.funnel == base.funnel


def test_model_opens_only_scenarios_by_name():
    """A path is not a scenario name: the page cannot be made to read files."""
    with pytest.raises(ValueError, match="unknown scenario"):
        ClassroomModel(scenario_name=str(SCENARIOS / "classroom.toml"))
    with pytest.raises(ValueError, match="unknown scenario"):
        ClassroomModel(scenario_name="../../etc/passwd")


def test_run_stops_at_the_scenario_horizon():
    """Play stops by itself at the scenario's last day."""
    model = ClassroomModel()
    model.run(model.spec.steps - 1)
    assert model.running
    model.step()
    assert not model.running and model.steps == model.spec.steps


def test_run_slider_changes_the_luck_not_the_market():
    """Another run of the same market: a different seed, the same scenario."""
    a, b = ClassroomModel(run=0), ClassroomModel(run=1)
    assert b.seed == a.seed + 1 and a.spec == b.spec


def test_scenario_given_at_start_opens_the_page(tmp_path, monkeypatch):
    """``run.py app --scenario FILE`` puts that scenario first in the picker and opens it."""
    own = tmp_path / "lesson.toml"
    own.write_text((SCENARIOS / "classroom.toml").read_text().replace('"classroom"', '"lesson"'))
    monkeypatch.setenv(START_ENV, str(own))
    catalogue.cache_clear()
    try:
        assert opening() == "lesson" and "classroom" in catalogue()
        assert ClassroomModel("lesson").spec.name == "lesson"
    finally:
        monkeypatch.delenv(START_ENV)
        catalogue.cache_clear()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "70000"], "--port 70000: must be between 1 and 65535"),
        (["--scenario", "no/such.toml"], "no/such.toml: no such file"),
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


def _with(base, **changes) -> Settings:
    from dataclasses import replace

    return replace(settings_of(base), **changes)


# ------------------------------------------------------------------------------ rendered in-process
def test_controller_step_and_reset_rebuild_from_the_sliders():
    """Mesa's Step advances the model; Reset builds a new one from the current parameters."""
    model = solara.reactive(ClassroomModel("mgm"))
    params = solara.reactive({"scenario_name": "mgm", "n": 120, "network": "random"})
    _, rc = solara.render(
        ModelController(
            model,
            model_parameters=params,
            play_interval=solara.reactive(10),
            render_interval=solara.reactive(1),
            use_threads=solara.reactive(False),
        ),
        handle_error=False,
    )
    rc.find(v.Btn, children=["Step"]).widget.click()
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert model.value.steps == 2
    rc.find(v.Btn, children=["Reset"]).widget.click()
    assert model.value.steps == 0
    assert model.value.population.n == 120 and model.value.network.kind == "erdos_renyi"
    assert model.value.spec.name == "mgm-custom", "Reset must keep the chosen scenario"


@solara.component
def _FullPage():
    should_use_embed.provide(False)  # otherwise the sidebar sits in a closed dialog
    with solara.AppLayout():
        Page()


def _text(rc, css_class: str) -> str:
    return rc.find(class_=css_class).widget.children[0]


def _stage_total(rc) -> int:
    return sum(
        int(part.rsplit(" ", 1)[1].replace(",", ""))
        for part in _text(rc, "wom-stages").split(" · ")
    )


@pytest.fixture
def page():
    _, rc = solara.render(_FullPage(), handle_error=False)
    return rc


def test_page_step_moves_the_day_and_the_monitors(page):
    """Step advances the day monitor and Mesa's counter, and the stage counts follow the model."""
    assert _text(page, "wom-day") == "0"
    before = _text(page, "wom-stages")
    for _ in range(5):
        page.find(v.Btn, children=["Step"]).widget.click()
    page.find(children=[step_counter(5)]).wait_for(timeout=5)
    assert _text(page, "wom-day") == "5"
    assert _text(page, "wom-stages") != before, "five days of ads should move someone"
    assert _stage_total(page) == 300


def test_page_slider_then_reset_changes_the_market(page):
    """Moving the market-size slider and pressing Reset gives a market of that size."""
    page.find(v.Btn, children=["Step"]).widget.click()
    page.find(v.Slider, label="Market size (consumers)").widget.v_model = 500
    page.find(v.Btn, children=["Reset"]).widget.click()
    page.find(children=[step_counter(0)]).wait_for(timeout=5)
    assert _stage_total(page) == 500
    page.find(children=["A sample: 400 of 500 consumers; the charts count everyone."]).wait_for(
        timeout=5
    )


def test_page_scenario_picker_starts_that_scenario(page):
    """Picking a bundled scenario builds it and puts the sliders at its values."""
    page.find(v.Select, label="Scenario").widget.v_model = "mgm"
    page.find(children=[step_counter(0)]).wait_for(timeout=10)
    assert _stage_total(page) == catalogue()["mgm"].population.n
    reward = page.find(v.Slider, label="Referral (MGM) reward to each side").widget.v_model
    assert reward == settings_of(catalogue()["mgm"]).mgm_reward


# ------------------------------------------------------------------------------------------ animate
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
