"""The teaching app end to end: ``run.py app`` served, driven in headless Debian Chromium.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it) and the
``playwright`` package; never ``playwright install``. The page must load with every request
answered by the app itself: none may fail and none may leave 127.0.0.1 (the machine is offline).
"""

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from .conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, step_counter

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install chromium"
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (the dev extra)")


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
                if proc.poll() is not None or time.monotonic() - start > 40:
                    pytest.fail(f"the app did not start:\n{log.read_text()}")
                time.sleep(0.3)
        yield url, log
    finally:
        proc.terminate()
        proc.wait(10)


def test_app_prints_its_loopback_address(app):
    """The command says where the page is, on loopback."""
    url, log = app
    assert url in log.read_text()


def test_step_and_play_in_a_real_browser_offline(app):
    """Step and Play move the day and the stage counts; every request is answered on loopback."""
    url, log = app
    requests, finished, failed = [], set(), []
    sync_api.expect.set_options(timeout=15_000)  # a loaded CI machine may take seconds per redraw
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        page.on("request", lambda r: requests.append(r.url))
        page.on("requestfinished", lambda r: finished.add(r.url))
        page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
        page.on(
            "response",
            lambda r: failed.append(f"{r.url}: {r.status}") if r.status >= 400 else None,
        )
        try:
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_text(step_counter(0), exact=True).wait_for(timeout=30_000)
            day, stages = page.locator(".wom-day"), page.locator(".wom-stages")
            step = page.get_by_role("button", name="Step", exact=True)
            sync_api.expect(day).to_have_text("0")
            start_stages = stages.inner_text()

            step.click()
            sync_api.expect(day).to_have_text("1")

            page.get_by_role("button", name="▶").click()
            page.wait_for_timeout(3000)
            page.get_by_role("button", name="❚❚").click()
            sync_api.expect(step).to_be_enabled()  # disabled while playing
            page.wait_for_timeout(500)  # a step under way when paused finishes
            counter = page.get_by_text(step_counter(0).split(":")[0] + ":").first
            steps = int(float(counter.inner_text().split(":")[1]))
            assert steps > 2, "three seconds of play should take several steps"
            sync_api.expect(day).to_have_text(str(steps))
            sync_api.expect(stages).not_to_have_text(start_stages)  # the stage counts moved
        except AssertionError as err:
            raise AssertionError(f"{err}\n--- app output ---\n{log.read_text()[-3000:]}") from None
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=ARTIFACTS / "app_e2e.png", full_page=True)
            print(f"screenshot: {ARTIFACTS / 'app_e2e.png'}")
            browser.close()
    assert not failed, f"failed requests: {failed}"
    outside = [u for u in requests if not u.startswith(("http://127.0.0.1", "blob:", "data:"))]
    assert not outside, f"requests left the machine: {outside}"
    cdn = {u for u in requests if "/_solara/cdn/" in u}
    assert cdn and cdn <= finished, f"assets never answered: {sorted(cdn - finished)}"
