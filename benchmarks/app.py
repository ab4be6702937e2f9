"""Step latency of the teaching app: click "Step" until the page shows the new step counter.

    python benchmarks/app.py [--scenario PATH ...] [--clicks N] [--pause S] [--wait raf|locator]
                             [--json]

For each scenario (default: ``scenarios/classroom.toml``, 300 consumers, then
``scenarios/baseline.toml``, 10,000 consumers, of which the page draws a sample) this starts
``python run.py app --port PORT --scenario PATH`` on a free 127.0.0.1 port, as
``tests/test_app_e2e.py`` does, opens the page in headless Debian Chromium (``/usr/bin/chromium``
through Playwright; never ``playwright install``), waits for "Step: 0", then clicks Step N times.
Each click is timed with :func:`time.perf_counter` from the click (one mouse press and release at
the button's centre) until "Step: k" (k = the expected count) is visible: the server steps the
model, redraws the page's components (the network and funnel pictures included) and sends them
back, and the browser shows them. The app is always stopped afterwards.

Reported per scenario: median, p90 and max over the N clicks, in ms, and the first click alone;
``page ms`` is the same interval measured inside the page, from the click event to the first
animation frame showing the new count (no Playwright round trips). With the default ``--wait raf``
the page is checked on every animation frame (about 16.7 ms resolution). ``--wait locator`` uses
Playwright's ``locator.wait_for`` instead, which re-checks after 0, 20, 50, 100, 100, 500, 500, ...
ms and so rounds latencies up to those steps (kept to show the difference, not for figures).
Clicks are ``--pause`` seconds apart (default 0.2) so that each starts from a quiet page.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [  # as in tests/test_app_e2e.py
    "--headless",
    "--no-sandbox",  # required as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCENARIOS = [ROOT / "scenarios" / "classroom.toml", ROOT / "scenarios" / "baseline.toml"]

# In the page: performance.now() once an element whose own text is `text` is visible, else null.
SHOWN = """text => {
    const found = document.evaluate(`//*[normalize-space(text())="${text}"]`, document, null,
                                    XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
    for (let i = 0; i < found.snapshotLength; i++) {
        if (found.snapshotItem(i).checkVisibility()) return performance.now();
    }
    return null;
}"""
# In the page: note when the next click event happens (capture phase, before the app's handler).
ARM = """() => {
    window.__womClick = null;
    document.addEventListener("click", () => { window.__womClick = performance.now(); },
                              {capture: true, once: true});
}"""


def machine() -> dict[str, Any]:
    """CPU model (from /proc/cpuinfo), logical CPUs, the date and time (UTC)."""
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if "model name" in line), cpu)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(scenario: Path, timeout: float) -> Iterator[str]:
    """``run.py app`` on a free loopback port for the duration of the block; yields its URL."""
    port, scenario = free_port(), scenario.resolve()  # the app runs in the project's directory
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "app.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "run.py", "app", "--port", str(port), "--scenario", scenario],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            url, start = f"http://127.0.0.1:{port}/", time.monotonic()
            while True:
                try:
                    urllib.request.urlopen(url, timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() - start > timeout:
                        raise RuntimeError(
                            f"the app did not start:\n{log.read_text()[-3000:]}"
                        ) from None
                    time.sleep(0.2)
            yield url
        except Exception as err:
            raise RuntimeError(f"{err}\n--- app output ---\n{log.read_text()[-3000:]}") from err
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_shown(page: Page, text: str, how: str, timeout_ms: float) -> Any:
    """Return once ``text`` is visible, checked as ``how`` says; ``raf``: a handle on the time."""
    if how == "raf":
        return page.wait_for_function(SHOWN, arg=text, polling="raf", timeout=timeout_ms)
    page.get_by_text(text, exact=True).wait_for(state="visible", timeout=timeout_ms)
    return None


def measure(page: Page, url: str, clicks: int, pause: float, how: str) -> dict[str, Any]:
    """Load the page, click Step ``clicks`` times; per click ms, wall and in-page."""
    start = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text("Step: 0", exact=True).wait_for(timeout=60_000)
    load_s = time.perf_counter() - start
    step = page.get_by_role("button", name="Step", exact=True)
    wall, inside = [], []
    for k in range(1, clicks + 1):
        step.wait_for(state="visible")
        if not step.is_enabled():
            raise RuntimeError(f"the Step button is disabled before click {k}")
        box = step.bounding_box()
        assert box is not None
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.evaluate(ARM)
        t0 = time.perf_counter()
        page.mouse.click(x, y)
        shown = wait_shown(page, f"Step: {k}", how, 30_000)
        wall.append(1e3 * (time.perf_counter() - t0))
        clicked_at = page.evaluate("() => window.__womClick")
        if clicked_at is None:
            raise RuntimeError(f"click {k} did not reach the page")
        if shown is not None:
            inside.append(shown.json_value() - clicked_at)
        time.sleep(pause)
    return {"load_s": load_s, "wall_ms": wall, "page_ms": inside}


def summary(values: list[float]) -> dict[str, float | None]:
    """Median, p90 (linear interpolation) and max; None for no values."""
    if not values:
        return {"median": None, "p90": None, "max": None}
    p90 = (
        statistics.quantiles(values, n=10, method="inclusive")[8] if len(values) > 1 else values[0]
    )
    return {"median": statistics.median(values), "p90": p90, "max": max(values)}


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", nargs="+", type=Path, default=SCENARIOS)
    parser.add_argument("--clicks", type=int, default=20, help="Step clicks per scenario")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between clicks")
    parser.add_argument(
        "--wait",
        choices=["raf", "locator"],
        default="raf",
        help="how to see the new count: every animation frame (default) or Playwright's locator",
    )
    parser.add_argument("--start-timeout", type=float, default=120, help="seconds for the app")
    parser.add_argument("--json", action="store_true", help="one JSON object per scenario line")
    args = parser.parse_args(argv)
    if args.clicks < 1 or args.pause < 0:
        parser.error("--clicks must be >= 1 and --pause >= 0")
    if not CHROMIUM.exists():
        parser.error(f"needs Debian's chromium at {CHROMIUM}: apt-get install chromium")
    scenarios = {path: load_scenario(path) for path in args.scenario}
    for path, scenario in scenarios.items():
        if args.clicks > scenario.steps:
            parser.error(f"{path}: --clicks {args.clicks} > the scenario's {scenario.steps} steps")

    host = machine()
    if not args.json:
        print(f"Machine: {host['cpu']}, {host['cores']} logical CPUs; {host['date']}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for path, scenario in scenarios.items():
                with serve(path, args.start_timeout) as url:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.set_default_timeout(30_000)
                    try:
                        got = measure(page, url, args.clicks, args.pause, args.wait)
                    finally:
                        page.close()
                row = {
                    "scenario": scenario.name,
                    "consumers": scenario.population.n,
                    "clicks": args.clicks,
                    "wait": args.wait,
                    **{f"{k}_ms": v for k, v in summary(got["wall_ms"]).items()},
                    "first_ms": got["wall_ms"][0],
                    **{f"page_{k}_ms": v for k, v in summary(got["page_ms"]).items()},
                    "load_s": got["load_s"],
                    "load_avg_1min": os.getloadavg()[0],
                    "chromium": browser.version,
                    **host,
                }
                if args.json:
                    rounded = {
                        k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()
                    }
                    print(json.dumps(rounded), flush=True)
                    continue
                inside = (
                    f"page ms median {row['page_median_ms']:.0f}, p90 {row['page_p90_ms']:.0f}, "
                    f"max {row['page_max_ms']:.0f}; "
                    if got["page_ms"]
                    else ""
                )
                print(
                    f"{row['scenario']} ({row['consumers']:,} consumers), {row['clicks']} clicks: "
                    f"median {row['median_ms']:.0f} ms, p90 {row['p90_ms']:.0f} ms, "
                    f"max {row['max_ms']:.0f} ms (first {row['first_ms']:.0f} ms); {inside}"
                    f"page load {row['load_s']:.1f} s; load {row['load_avg_1min']:.1f}",
                    flush=True,
                )
        finally:
            browser.close()


if __name__ == "__main__":
    main()
