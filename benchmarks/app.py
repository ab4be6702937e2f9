"""Step latency of the teaching app: from a click on Step until the page has redrawn that day.

    python benchmarks/app.py [--scenario PATH] [--consumers N ...] [--clicks N] [--pause S]
                             [--json]

For each market size (default 300 and 2,000 consumers: ``scenarios/classroom.toml`` with
``population.n`` set, written to a temporary file) this starts
``python run.py app --port PORT --scenario FILE`` on a free 127.0.0.1 port, as
``tests/test_app_e2e.py`` does, opens the page in headless Debian Chromium (``/usr/bin/chromium``
through Playwright; never ``playwright install``), waits for the network drawing, then clicks
Step N times. Each click is timed from the click (one mouse press and release at the button's
centre) until the page shows day k everywhere: the network canvas has repainted every consumer
for day k and the funnel and market-share charts carry day k (each marks the day it drew as
``data-step``). In between, the server steps the model, renders the page's components and sends
the changes; the browser applies them and paints. The app is always stopped afterwards.

Reported per size: median, p90 and max over the N clicks, in ms, and the first click alone, as
measured by Python around Playwright (``wall``) and inside the page (``page``: from the click
event to the animation frame in which everything shows day k; checked on every animation frame,
about 16.7 ms resolution). The first click comes ``--settle`` seconds after the page first shows
(default 1, as a person's would; 0 clicks at once, while the browser may still be busy with the
page), the others ``--pause`` seconds apart (default 0.2) so that each starts from a quiet page.
Targets (issue 15): at most 300 ms at 300 consumers and 600 ms at 2,000.
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

import tomli_w
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
SCENARIO = ROOT / "scenarios" / "classroom.toml"
CONSUMERS = [300, 2000]
TARGET_MS = {300: 300, 2000: 600}

# In the page: performance.now() once the network and both charts show day `day`, else null.
DRAWN = """day => {
    const marks = [document.querySelector("canvas.wom-network"),
                   document.querySelector("svg.wom-funnel"),
                   document.querySelector("svg.wom-lines")];
    return marks.every(m => m && m.dataset.step === String(day)) ? performance.now() : null;
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
def serve(scenario: Path, consumers: int, timeout: float) -> Iterator[str]:
    """``run.py app`` on ``scenario`` resized to ``consumers``, on a free loopback port; its URL."""
    port = free_port()
    doc = load_scenario(scenario, [f"population.n={consumers}"]).to_dict()
    doc["name"] = f"{doc['name']}-{consumers}"
    with tempfile.TemporaryDirectory() as tmp:
        sized, log = Path(tmp) / "market.toml", Path(tmp) / "app.log"
        sized.write_text(tomli_w.dumps(doc))
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "run.py", "app", "--port", str(port), "--scenario", sized],
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


def measure(page: Page, url: str, clicks: int, pause: float, settle: float) -> dict[str, Any]:
    """Load the page, wait ``settle`` s, click Step ``clicks`` times; per click ms, both ways."""
    start = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_function(DRAWN, arg=0, polling="raf", timeout=60_000)
    load_s = time.perf_counter() - start
    time.sleep(settle)
    drawn = int(page.locator("canvas.wom-network").get_attribute("data-nodes") or 0)
    step = page.locator(".wom-step")
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
        shown = page.wait_for_function(DRAWN, arg=k, polling="raf", timeout=30_000)
        wall.append(1e3 * (time.perf_counter() - t0))
        clicked_at = page.evaluate("() => window.__womClick")
        if clicked_at is None:
            raise RuntimeError(f"click {k} did not reach the page")
        inside.append(shown.json_value() - clicked_at)
        time.sleep(pause)
    return {"load_s": load_s, "drawn": drawn, "wall_ms": wall, "page_ms": inside}


def summary(values: list[float]) -> dict[str, float]:
    """Median, p90 (linear interpolation) and max."""
    p90 = (
        statistics.quantiles(values, n=10, method="inclusive")[8] if len(values) > 1 else values[0]
    )
    return {"median": statistics.median(values), "p90": p90, "max": max(values)}


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", type=Path, default=SCENARIO, help="market to resize")
    parser.add_argument("--consumers", nargs="+", type=int, default=CONSUMERS)
    parser.add_argument("--clicks", type=int, default=20, help="Step clicks per market size")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between clicks")
    parser.add_argument(
        "--settle", type=float, default=1.0, help="seconds from the page shown to the first click"
    )
    parser.add_argument("--start-timeout", type=float, default=120, help="seconds for the app")
    parser.add_argument("--json", action="store_true", help="one JSON object per market line")
    args = parser.parse_args(argv)
    if args.clicks < 1 or args.pause < 0 or args.settle < 0:
        parser.error("--clicks must be >= 1, --pause and --settle >= 0")
    if any(n < 10 for n in args.consumers):
        parser.error("--consumers must be >= 10")
    if not CHROMIUM.exists():
        parser.error(f"needs Debian's chromium at {CHROMIUM}: apt-get install chromium")
    scenario = load_scenario(args.scenario)
    if args.clicks > scenario.steps:
        parser.error(f"--clicks {args.clicks} > the scenario's {scenario.steps} steps")

    host = machine()
    if not args.json:
        print(f"Machine: {host['cpu']}, {host['cores']} logical CPUs; {host['date']}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for consumers in args.consumers:
                with serve(args.scenario, consumers, args.start_timeout) as url:
                    page = browser.new_page(viewport={"width": 1400, "height": 900})
                    page.set_default_timeout(30_000)
                    try:
                        got = measure(page, url, args.clicks, args.pause, args.settle)
                    finally:
                        page.close()
                row = {
                    "scenario": scenario.name,
                    "consumers": consumers,
                    "drawn": got["drawn"],
                    "clicks": args.clicks,
                    **{f"{k}_ms": v for k, v in summary(got["wall_ms"]).items()},
                    "first_ms": got["wall_ms"][0],
                    **{f"page_{k}_ms": v for k, v in summary(got["page_ms"]).items()},
                    "target_ms": TARGET_MS.get(consumers),
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
                target = f"; target {row['target_ms']} ms" if row["target_ms"] else ""
                print(
                    f"{consumers:,} consumers ({row['drawn']:,} drawn), {row['clicks']} clicks: "
                    f"median {row['median_ms']:.0f} ms, p90 {row['p90_ms']:.0f} ms, "
                    f"max {row['max_ms']:.0f} ms (first {row['first_ms']:.0f} ms); "
                    f"page ms median {row['page_median_ms']:.0f}, p90 {row['page_p90_ms']:.0f}, "
                    f"max {row['page_max_ms']:.0f}{target}; page load {row['load_s']:.1f} s; "
                    f"load {row['load_avg_1min']:.1f}",
                    flush=True,
                )
        finally:
            browser.close()


if __name__ == "__main__":
    main()
