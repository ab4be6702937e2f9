"""The teaching app end to end: ``run.py app`` served, driven in headless Debian Chromium.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it) and the
``playwright`` package; never ``playwright install``. The page must load with every request
answered by the app itself: none may fail and none may leave 127.0.0.1 (the machine is offline).
Screenshots (English, Traditional and Simplified Chinese, presenter mode) are written to
``$WOM_SIM_ARTIFACTS`` (default: ``wom-sim-artifacts`` in the temporary folder, outside the
repository).
"""

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sim.i18n import translator

from .conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT

VIEWPORT = {"width": 1400, "height": 900}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install chromium"
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (the dev extra)")
expect = sync_api.expect


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """``python run.py app`` on a free loopback port: (url, its output file)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "run.py", "app", "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url, start = f"http://127.0.0.1:{port}/", time.monotonic()
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() - start > 60:
                    pytest.fail(f"the app did not start:\n{log.read_text()}")
                time.sleep(0.3)
        yield url, log
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Visit:
    """One browser tab on the app, recording every request and every failure."""

    def __init__(self, browser, url: str, locale: str):
        self.requests, self.finished, self.failed = [], set(), []
        self.context = browser.new_context(viewport=VIEWPORT, locale=locale)
        self.page = page = self.context.new_page()
        page.set_default_timeout(20_000)
        expect.set_options(timeout=15_000)  # a loaded CI machine may take seconds per redraw
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfinished", lambda r: self.finished.add(r.url))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))
        page.on(
            "response",
            lambda r: self.failed.append(f"{r.url}: {r.status}") if r.status >= 400 else None,
        )
        page.goto(url, wait_until="domcontentloaded")
        self.drawn(0, timeout=60_000)

    def drawn(self, day: int, timeout: float = 15_000) -> None:
        """Wait until the network and both charts show ``day``."""
        self.page.wait_for_function(
            """day => ["canvas.wom-network", "svg.wom-funnel", "svg.wom-lines"].every(
                   s => document.querySelector(s)?.dataset.step === String(day))""",
            arg=day,
            timeout=timeout,
        )

    def day(self) -> int:
        """The day the network shows (the monitor's words depend on the language)."""
        return int(self.page.locator("canvas.wom-network").get_attribute("data-step"))

    def slider(self, key: str, presses: int) -> None:
        """Move a slider with the keyboard, as a teacher could, a press at a time: each waits
        until the page has shown the new value (or the slider is at its end)."""
        thumb = self.page.locator(f".wom-knob-{key} [role=slider]")
        label = self.page.locator(f".wom-knob-{key} .wom-knob-label")
        thumb.focus()
        for _ in range(abs(presses)):
            end = "aria-valuemax" if presses > 0 else "aria-valuemin"
            if thumb.get_attribute("aria-valuenow") == thumb.get_attribute(end):
                break
            shown = label.inner_text()
            thumb.press("ArrowRight" if presses > 0 else "ArrowLeft")
            expect(label).not_to_have_text(shown)

    def pick(self, select_class: str, option: str) -> None:
        self.page.locator(f".{select_class}").click()
        self.page.locator(".menuable__content__active .v-list-item", has_text=option).click()

    def play(self, seconds: float) -> None:
        self.page.locator(".wom-play").click()
        self.page.wait_for_timeout(1000 * seconds)
        self.page.locator(".wom-play").click()
        expect(self.page.locator(".wom-step")).to_be_enabled()  # disabled while playing
        self.page.wait_for_timeout(300)  # a step under way when paused finishes
        self.drawn(self.day())

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=path)
        print(f"screenshot: {path}")
        return path

    def close(self) -> None:
        """Close the tab; fail on any failed request, or one that left this machine."""
        self.context.close()
        assert not self.failed, f"failed requests: {self.failed}"
        outside = [
            u for u in self.requests if not u.startswith(("http://127.0.0.1", "blob:", "data:"))
        ]
        assert not outside, f"requests left the machine: {outside}"
        cdn = {u for u in self.requests if "/_solara/cdn/" in u}
        assert cdn <= self.finished, f"assets never answered: {sorted(cdn - self.finished)}"


def _run(visit: Visit, log: Path, check) -> None:
    try:
        check()
    except (AssertionError, sync_api.Error) as err:
        visit.screenshot("app_failure.png")
        raise AssertionError(f"{err}\n--- app output ---\n{log.read_text()[-3000:]}") from None
    finally:
        visit.close()


def test_app_prints_its_loopback_address(app):
    """The command says where the page is, on loopback."""
    url, log = app
    assert url in log.read_text()


def test_a_lesson_in_a_real_browser_offline(app, browser):
    """Step, Play and Pause move the day and the pictures; a slider and Reset start a new market
    beside the old one on the share chart; presenter mode enlarges everything."""
    url, log = app
    visit = Visit(browser, url, "en-US")
    page = visit.page

    def lesson():
        canvas = page.locator("canvas.wom-network")
        assert canvas.get_attribute("data-nodes") == "300", "every consumer is drawn"
        radius = float(canvas.get_attribute("data-radius"))
        assert radius >= 3, f"dots of {radius} px are too small to see"
        expect(page.locator(".wom-day")).to_have_text("0 of 120")

        page.locator(".wom-step").click()
        visit.drawn(1)
        expect(page.locator(".wom-day")).to_have_text("1 of 120")

        visit.slider("speed", 2)  # 20 days per second
        expect(page.locator(".wom-knob-speed .wom-knob-label")).to_contain_text("20 days")
        visit.play(2.5)
        assert visit.day() > 5, "two and a half seconds of play at 20 days a second"

        visit.slider("ad_reach", -30)
        expect(page.locator(".wom-knob-ad_reach .wom-knob-label")).to_have_text(
            "Ad reach: off (no ads)"
        )
        expect(page.locator(".wom-pending")).to_contain_text("Press Reset")
        page.locator(".wom-reset").click()
        visit.drawn(0)
        expect(page.locator(".wom-pending")).to_have_text("")
        expect(page.locator(".wom-legend-before")).to_have_text(
            "Before: Ad reach: 20 % of prospects per day"
        )
        expect(page.locator(".wom-legend-now")).to_have_text("Now: Ad reach: off (no ads)")
        assert page.locator("svg.wom-lines polyline").count() == 2, "the run before stays"

        visit.slider("ad_reach", 20)
        visit.slider("mgm_reward", 10)
        page.locator(".wom-reset").click()
        visit.drawn(0)
        visit.play(3)
        expect(page.locator(".wom-legend-now")).to_contain_text("Referral reward: 10 per")
        visit.screenshot("app_en.png")

        page.locator(".wom-presenter-switch input").click(force=True)
        expect(page.locator("html")).to_have_css("font-size", "20px")
        page.wait_for_function(
            "r => Number(document.querySelector('canvas.wom-network').dataset.radius) > r",
            arg=radius * 1.2,
        )
        expect(page.locator(".wom-knob-ad_reach")).to_have_count(0)  # sliders make way
        page.locator(".wom-step").click()
        visit.drawn(visit.day())
        visit.screenshot("app_presenter.png")
        page.locator(".wom-presenter-switch input").click(force=True)
        expect(page.locator("html")).not_to_have_css("font-size", "20px")

        page.locator(".v-tab", has_text="Stages day by day").click()
        expect(page.locator("svg.wom-stacked")).to_be_visible()
        page.locator(".v-tab", has_text="About this model").click()
        expect(page.locator(".wom-about h3").first).to_have_text("What is it")

    _run(visit, log, lesson)


@pytest.mark.parametrize(
    "lang, locale, name", [("zh-TW", "zh-TW", "繁體中文"), ("zh-CN", "zh-CN", "简体中文")]
)
def test_page_opens_in_the_browsers_language(app, browser, lang, locale, name):
    """A browser set to Chinese gets the page in its script, translated where catalogues are."""
    url, log = app
    visit = Visit(browser, url, locale)
    page = visit.page

    def chinese():
        expect(page.locator(".wom-language .v-select__selection")).to_have_text(name)
        expect(page.locator(".wom-reset")).to_have_text(translator(lang)("Reset"))
        visit.slider("speed", 2)
        visit.play(2.5)
        assert visit.day() > 5
        visit.screenshot(f"app_{lang}.png")

    _run(visit, log, chinese)


def test_language_picker_changes_this_tab_only(app, browser):
    """Picking a language re-translates this tab; a second tab keeps the browser's language."""
    url, log = app
    first, second = Visit(browser, url, "en-US"), Visit(browser, url, "en-US")

    def picker():
        first.pick("wom-language", "简体中文")
        expect(first.page.locator(".wom-language .v-select__selection")).to_have_text("简体中文")
        expect(first.page.locator(".wom-reset")).to_have_text(translator("zh-CN")("Reset"))
        expect(second.page.locator(".wom-language .v-select__selection")).to_have_text("English")
        first.pick("wom-language", "English")
        expect(first.page.locator(".wom-reset")).to_have_text(re.compile("Reset", re.I))

    try:
        _run(first, log, picker)
    finally:
        second.close()
