"""The experiment report in English, Traditional and Simplified Chinese, and in a real browser.

The browser test renders each report.html in headless Debian Chromium with no Chinese font on the
system (fontconfig sees only matplotlib's Latin fonts), so the page must carry its own glyphs, and
asks Chromium which font drew each heading. Screenshots go to the artifacts folder
(``WOM_SIM_ARTIFACTS``, default ``<tmp>/wom-sim-artifacts``): report-en.png, report-zh-TW.png and
report-zh-CN.png.
"""

import os
import re
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from sim.experiment import load_experiment, run_experiment
from sim.i18n import LANGUAGES

from .conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT

pytestmark = pytest.mark.slow  # the experiment behind the reports takes about 10 s

# the bundled reward sweep, small: 5 strategy variants x 3 replicates on 2,000 consumers
OVERRIDES = [
    "replicates=3",
    "steps=60",
    'set."population.n"=2000',
    'strategies.two_sided.sweep."levers.1.reward_referrer,levers.1.reward_referee"=[[5.0,5.0],[20.0,20.0]]',
    'strategies.referrer_only.sweep."levers.1.reward_referrer"=[5.0,20.0]',
]
HEADINGS = {
    "en": ["What was compared", "Winners", "Figures", "Table", "How to read this"],
    "zh-TW": ["比較了哪些策略", "勝出策略", "圖表", "數據表", "如何解讀"],
    "zh-CN": ["比较了哪些策略", "胜出策略", "图表", "数据表", "如何解读"],
}
DESCRIPTION = {
    "en": "referrer and new customer each get the reward",
    "zh-TW": "推薦人與新顧客各得一份獎勵",
    "zh-CN": "推荐人和新客户各得一份奖励",
}
CAC = {
    "en": "customer acquisition cost (CAC)",
    "zh-TW": "獲客成本 (CAC)",
    "zh-CN": "获客成本 (CAC)",
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """The same small experiment written in each language: its output folders."""
    tmp = tmp_path_factory.mktemp("reports")
    exp = load_experiment(ROOT / "experiments" / "mgm_reward_sweep.toml", OVERRIDES)
    for lang in LANGUAGES:
        run_experiment(exp, tmp / lang, workers=1, progress=False, lang=lang)
    return {lang: tmp / lang for lang in LANGUAGES}


def headings(page: str) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", page)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_report_is_written_in_its_language(reports, lang):
    """Headings, descriptions, outcome names in the language; identifiers beside them."""
    page = (reports[lang] / "report.html").read_text(encoding="utf-8")
    assert headings(page) == HEADINGS[lang]
    assert (
        f"<html lang={ {'en': 'en', 'zh-TW': 'zh-Hant-TW', 'zh-CN': 'zh-Hans-CN'}[lang] }>" in page
    )
    assert DESCRIPTION[lang] in page
    assert f"{CAC[lang]} <code class=id>cac</code>" in page
    assert page.count('src="data:image/png;base64,') == len(
        list((reports[lang] / "figures").iterdir())
    )
    assert not re.search(r"""(src|href)=["']?https?:|url\(https?:""", page), "nothing is loaded"
    embedded = "@font-face{font-family:'wom-sim CJK';src:url(data:font/woff;base64,"
    assert (embedded in page) == (lang != "en"), "Chinese pages embed their glyphs"


def test_data_files_are_the_same_in_every_language(reports):
    """Only the figures and the page change with the language: summary.csv and runs are equal."""
    en = reports["en"]
    for lang in ("zh-TW", "zh-CN"):
        assert (reports[lang] / "summary.csv").read_bytes() == (en / "summary.csv").read_bytes()
        runs = [
            pd.read_parquet(p / "runs.parquet").drop(columns="wall_time")
            for p in (en, reports[lang])
        ]
        pd.testing.assert_frame_equal(*runs)
        figure = "outcomes.png"
        assert (reports[lang] / "figures" / figure).read_bytes() != (
            en / "figures" / figure
        ).read_bytes()


@pytest.mark.slow
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install chromium"
)
def test_reports_show_every_chinese_glyph_in_a_browser(reports, tmp_path):
    """Chromium without system Chinese fonts draws every non-ASCII heading glyph from the page's font.

    Screenshots of the three pages go to the artifacts folder.
    """
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (the dev extra)")
    latin = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    config = tmp_path / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{latin}</dir><cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            env={**os.environ, "FONTCONFIG_FILE": str(config)},
        )
        try:
            for lang in LANGUAGES:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.on("request", lambda r: requests.append(r.url))
                page.goto((reports[lang] / "report.html").as_uri(), wait_until="load")
                page.evaluate("document.fonts.ready.then(() => true)")
                drawn = fonts_of(page, "h1, h2, th")
                page.screenshot(path=ARTIFACTS / f"report-{lang}.png", full_page=True)
                print(f"screenshot: {ARTIFACTS / f'report-{lang}.png'}")
                page.close()
                embedded = 0
                for text, used in drawn:
                    wide = sum(1 for c in text if ord(c) > 0x7F and not c.isspace())
                    custom = sum(f["glyphCount"] for f in used if f["isCustomFont"])
                    assert custom == wide, f"{lang}: {text!r} drawn with {used}"
                    embedded += custom
                assert (embedded > 100) == (lang != "en"), f"{lang}: {embedded} embedded glyphs"
        finally:
            browser.close()
    assert all(u.startswith(("file:", "data:")) for u in requests), requests


def fonts_of(page, selector: str) -> list[tuple[str, list[dict]]]:
    """(text, fonts Chromium drew it with) for each element matching ``selector``."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    texts = page.eval_on_selector_all(selector, "nodes => nodes.map(n => n.textContent)")
    nodes = cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": selector})["nodeIds"]
    return [
        (text, cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"])
        for text, node in zip(texts, nodes, strict=True)
    ]
