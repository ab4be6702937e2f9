"""Languages: catalogues complete and current, Chinese CLI output, figures with every glyph."""

import io
import re
import shlex
import string
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

from sim import catalogues, fonts, plots
from sim.cli import build_parser, main
from sim.funnel import PRESETS, preset
from sim.i18n import (
    LABELS,
    LANGUAGES,
    browser_language,
    catalogue_path,
    check_language,
    locale_language,
    translator,
)
from sim.levers import LEVERS
from sim.model import MarketModel
from sim.network import watts_strogatz
from sim.population import Source
from sim.scenario import load_scenario

from .conftest import ROOT

CHINESE = ("zh-TW", "zh-CN")
AISAS = ("attention", "interest", "search", "action", "share")
COMING_OUTCOMES = ("viral_k", "k_by_cohort", "r_t", "referrals_per_sharer", "potential")
SMALL = """
name = "small"
steps = 5
[population]
n = 200
[network]
kind = "watts_strogatz"
k = 4
p = 0.1
[[levers]]
kind = "ads"
reach = 0.1
"""
# Characters written differently in the two scripts (pairs of the same word): a zh-CN translation
# with one of the first kind, or a zh-TW one with the second, is in the wrong script.
TRADITIONAL_ONLY = (
    "們個這說時會與為對廣場資銷機數顯圖標種隨費顧獲區間無網計舊帶續"
    "購實驗報讓過還點設運動興尋發現樣後營務長門問題結經給統總價額擴權"
)
SIMPLIFIED_ONLY = (
    "们个这说时会与为对广场资销机数显图标种随费顾获区间无网计旧带续"
    "购实验报让过还点设运动兴寻发现样营务长门问题结经给统总价额扩权"
)


# ------------------------------------------------------------------------------------ catalogues
def test_template_is_current_and_every_literal_is_extracted():
    """messages.pot holds exactly what the sources mark; no literal hides in an f-string."""
    assert catalogues.hidden() == []
    current, stored = (
        catalogues.keys(catalogues.extract()),
        catalogues.keys(catalogues.read(catalogues.TEMPLATE)),
    )
    assert current == stored, (
        f"run python -m sim.catalogues; new: {sorted(current - stored)[:5]}, "
        f"gone: {sorted(stored - current)[:5]}"
    )


@pytest.mark.parametrize("lang", CHINESE)
def test_every_message_has_a_reviewed_translation_with_the_same_placeholders(lang):
    """Each message of the template: translated, not fuzzy, same {placeholders} and HTML tags."""
    assert catalogues.problems(lang) == []


def test_the_checks_catch_a_missing_or_broken_translation(tmp_path, monkeypatch):
    """The catalogue check fails on an empty translation, a lost placeholder and a fuzzy entry."""
    template = catalogues.read(catalogues.TEMPLATE)
    broken = catalogues.read(catalogue_path("zh-TW"))
    broken.get("  wrote {path}/").string = "  已寫入/"
    broken.get("Winners").string = ""
    broken.get("Table").flags.add("fuzzy")
    path = tmp_path / "zh_TW" / "LC_MESSAGES" / "messages.po"
    catalogues.write(path, broken)
    monkeypatch.setattr(catalogues, "catalogue_path", lambda lang: path)
    found = "\n".join(catalogues.problems("zh-TW", template))
    assert "'  wrote {path}/': placeholders or tags differ" in found
    assert "'Winners': no translation" in found
    assert "'Table': fuzzy" in found


@pytest.mark.parametrize("lang, wrong", [("zh-TW", SIMPLIFIED_ONLY), ("zh-CN", TRADITIONAL_ONLY)])
def test_translations_are_in_their_own_script(lang, wrong):
    """No simplified-only character in zh-TW, no traditional-only one in zh-CN."""
    catalog = catalogues.read(catalogue_path(lang))
    mixed = [m.string for m in catalog if m.id and set(m.string) & set(wrong)]
    assert mixed == []


def test_stages_use_the_established_aisas_terms():
    """注意、興趣、搜尋、行動、分享 in Taiwan; 注意、兴趣、搜索、行动、分享 on the mainland."""
    for lang, terms in (("zh-TW", "注意興趣搜尋行動分享"), ("zh-CN", "注意兴趣搜索行动分享")):
        tr = translator(lang)
        assert "".join(tr.label("stage", s) for s in AISAS) == terms
    assert [translator("en").label("stage", s) for s in AISAS] == list(AISAS)


def test_marketing_vocabulary():
    """CAC, ROI, dark social and MGM in the words Chinese marketers use."""
    tw, cn = translator("zh-TW"), translator("zh-CN")
    assert tw.outcome("cac") == "獲客成本 (CAC)" and cn.outcome("cac") == "获客成本 (CAC)"
    assert tw.outcome("roi") == "投資報酬率 (ROI)" and cn.outcome("roi") == "投资回报率 (ROI)"
    assert tw.label("source", "peer_dark") == cn.label("source", "peer_dark") == "暗社群"
    assert (
        tw.label("lever", "mgm") == "舊客帶新客 (MGM)"
        and cn.label("lever", "mgm") == "老带新 (MGM)"
    )


# -------------------------------------------------------------------------------- translators
def test_languages_are_named_strictly_with_one_line_errors():
    """Tags in any case or with an underscore name a language; others get the one-line error."""
    assert [check_language(t) for t in ("en", "zh-tw", "zh_CN", "ZH-TW")] == [
        "en",
        "zh-TW",
        "zh-CN",
        "zh-TW",
    ]
    with pytest.raises(ValueError) as err:
        check_language("xx")
    assert str(err.value) == "--lang: unknown language 'xx'; choose one of: en, zh-TW, zh-CN"


@pytest.mark.parametrize(
    "environ, lang",
    [
        ({}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LANG": "zh_TW.UTF-8"}, "zh-TW"),
        ({"LANG": "zh_HK.UTF-8"}, "zh-TW"),
        ({"LANG": "zh_CN.UTF-8"}, "zh-CN"),
        ({"LANG": "zh_SG"}, "zh-CN"),
        ({"LC_ALL": "zh_CN.UTF-8", "LANG": "zh_TW.UTF-8"}, "zh-CN"),
        ({"LC_MESSAGES": "zh_TW", "LANG": "en_US.UTF-8"}, "zh-TW"),
        ({"LANGUAGE": "fr:zh_TW:en", "LANG": "zh_CN.UTF-8"}, "zh-TW"),
        ({"LANGUAGE": "", "LANG": "zh_CN.UTF-8"}, "zh-CN"),
    ],
)
def test_default_language_follows_the_locale_as_gettext_reads_it(environ, lang):
    assert locale_language(environ) == lang


@pytest.mark.parametrize(
    "header, lang",
    [
        (None, "en"),
        ("zh-TW,zh;q=0.9,en-US;q=0.8", "zh-TW"),
        ("zh-Hant-HK", "zh-TW"),
        ("zh-Hans-CN,zh;q=0.9", "zh-CN"),
        ("fr-FR,fr;q=0.9,zh-CN;q=0.8,en;q=0.5", "zh-CN"),
        ("en;q=0.3,zh-TW;q=0.7", "zh-TW"),
        ("ja,ko;q=0.8", "en"),
        ("zh-TW;q=0", "en"),
    ],
)
def test_browser_language(header, lang):
    assert browser_language(header) == lang


def test_translators_are_per_language_and_fall_back_to_english():
    """Each language has its own translator; English text without a translation stays English."""
    tw, cn, en = translator("zh-TW"), translator("zh-CN"), translator("en")
    assert (tw("Winners"), cn("Winners"), en("Winners")) == ("勝出策略", "胜出策略", "Winners")
    assert tw("a sentence nobody translated") == "a sentence nobody translated"
    assert tw.label("stage", "my_own_stage") == "my_own_stage"


@pytest.mark.parametrize("lang", CHINESE)
def test_every_identifier_shown_has_a_label(lang):
    """Every preset's stages, source, lever kind and outcome (coming ones too) is translated."""
    tr = translator(lang)
    stages = {s for name in PRESETS for s in preset(name).stages}
    sources = {s.label for s in Source if s is not Source.NONE} | {"direct"}
    model = MarketModel(load_scenario(ROOT / "scenarios" / "classroom.toml", ["steps=3"])).run()
    outcomes = set(model.outcomes()) | set(COMING_OUTCOMES)
    for kind, names in (
        ("stage", stages),
        ("source", sources),
        ("lever", set(LEVERS)),
        ("outcome", outcomes),
    ):
        missing = sorted(names - set(LABELS[kind]))
        assert missing == [], f"no {kind} label for {missing}"
        assert all(tr.label(kind, n) != LABELS[kind][n] for n in names)


def test_flattened_outcome_columns_get_readable_names():
    """summary.csv's flattened columns: the outcome, then its source, lever or transition."""
    tw = translator("zh-TW")
    assert tw.outcome("customers_by_source_peer_dark") == "各來源獲客數：暗社群"
    assert (
        tw.outcome("customers_by_source_measured.direct")
        == "各來源獲客數（數據分析工具所見）：直接造訪"
    )
    assert tw.outcome("cost_by_lever_mgm") == "各行銷手段成本：舊客帶新客 (MGM)"
    assert tw.outcome("conversion_search_to_action") == "轉換率：搜尋 → 行動"
    assert (
        translator("en").outcome("conversion.search->action") == "conversion rate: search → action"
    )


# ------------------------------------------------------------------------------------------- CLI
@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def test_run_prints_the_chinese_summary(small, tmp_path, capsys):
    """run --lang zh-TW: the summary in Traditional Chinese; the data files stay English."""
    out = tmp_path / "tw"
    assert main(["run", str(small), "--seed", "3", "--lang", "zh-TW", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("small（隨機種子 3）：200 位消費者，5 步，每步 1 天，耗時 ")
    assert lines[1].startswith("  目前顧客 ") and "（市占率 " in lines[1]
    assert lines[2].startswith("  獲客來源：")
    assert lines[3].startswith("  行銷成本 ") and "獲客成本 (CAC)" in lines[3]
    assert "投資報酬率 (ROI)" in lines[3]
    assert lines[4].startswith("  分享 ") and "病毒係數 K" in lines[4]
    assert lines[5] == f"  已寫入 {out}/"
    columns = pd.read_csv(out / "timeseries.csv").columns
    assert "n_attention" in columns and "cum_customers" in columns


def test_default_language_comes_from_the_environment(small, tmp_path, capsys, monkeypatch):
    """Without --lang, LANG decides (here Simplified Chinese); --lang wins over it."""
    monkeypatch.delenv("LANGUAGE", raising=False)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert main(["run", str(small), "--seed", "3", "--out", str(tmp_path / "cn")]) == 0
    assert "（随机种子 3）：200 名消费者" in capsys.readouterr().out
    assert (
        main(["run", str(small), "--seed", "3", "--lang", "en", "--out", str(tmp_path / "en")]) == 0
    )
    assert "small (seed 3): 200 consumers" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["run", "experiment", "animate"])
def test_bad_lang_is_one_line_and_exit_2(command, small, tmp_path, capsys):
    """A bad --lang: exactly one error line, exit 2, nothing written."""
    out = tmp_path / "out"
    target = {"run": ["--out", str(out)], "experiment": ["--out", str(out)]}
    target["animate"] = ["--out", str(tmp_path / "movie.gif")]
    code = main([command, str(small), "--lang", "xx", *target[command]])
    stdout, stderr = capsys.readouterr()
    assert code == 2 and stdout == ""
    assert stderr == "error: --lang: unknown language 'xx'; choose one of: en, zh-TW, zh-CN\n"
    assert list(tmp_path.iterdir()) == [small]


# --------------------------------------------------------------------------------------- figures
def _draw(fig) -> None:
    """Render a figure the way saving it does (glyphs are looked up only when drawn)."""
    fig.savefig(io.BytesIO(), format="png", dpi=50)
    matplotlib.pyplot.close(fig)


def _every_figure(tr) -> int:
    """Make and draw every kind of figure the product writes, in ``tr``'s language."""
    scenario = load_scenario(ROOT / "scenarios" / "classroom.toml", ["steps=6"])
    model = MarketModel(scenario).run()
    steps, stages = model.timeseries(), model.funnel.stages
    title = tr("{scenario} (seed {seed})").format(scenario="教室", seed=1)
    _draw(plots.adoption_figure(steps, model.population.n, model.funnel.customer_stages, title, tr))
    _draw(plots.stages_figure(steps, stages, title, tr))
    counts = np.array([steps[f"n_{s}"] for s in stages])
    fig, view = plots.network_figure(model.network, stages, tr=tr)
    view.paint(model.population.stage)
    _draw(fig)
    fig, funnel = plots.funnel_figure(stages, 6, tr)
    funnel.draw(steps["day"].to_numpy(), counts)
    _draw(fig)
    fig, view, funnel = plots.diffusion_figure(model.network, stages, 6, tr=tr)
    funnel.draw(steps["day"].to_numpy(), counts)
    _draw(fig)
    series = ["基準", "mgm reward=5"]
    colors = plots.series_colors(series)
    bands = pd.DataFrame(
        {"day": [0, 1, 0, 1], "share": [0, 2, 0, 3], "series": series * 2, "market": "town"}
    )
    _draw(
        plots.bands_figure(
            bands,
            x="day",
            y="share",
            series="series",
            panel="market",
            colors=colors,
            xlabel=tr("day"),
            ylabel=tr("% of the market acquired"),
            title=tr("Adoption: mean and 10-90 % band across replicates"),
            tr=tr,
        )
    )
    outcomes = ["cum_customers", "cac", "customers_by_source_peer_dark"]
    table = pd.DataFrame(
        [
            {"series": s, "outcome": o, "mean": 1.0, "ci_low": 0.5, "ci_high": 1.5, "reward": r}
            for s, r in zip(series, [np.nan, 5.0], strict=True)
            for o in outcomes
        ]
    )
    _draw(
        plots.intervals_figure(
            table,
            outcomes=outcomes,
            series="series",
            colors=colors,
            est="mean",
            low="ci_low",
            high="ci_high",
            title=tr("Outcomes: mean and 95 % confidence interval"),
            tr=tr,
        )
    )
    _draw(
        plots.sweep_figure(
            table, key="reward", outcomes=outcomes, series="series", colors=colors, title="r", tr=tr
        )
    )
    return 8


@pytest.mark.parametrize("lang", CHINESE)
def test_every_figure_renders_every_chinese_glyph(lang):
    """No "Glyph ... missing from font" warning for any figure kind; the right Chinese face is used."""
    assert fonts.chinese(lang) == {"zh-TW": "Noto Sans CJK TC", "zh-CN": "Noto Sans CJK SC"}[lang]
    before = dict(matplotlib.rcParams)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _every_figure(translator(lang)) == 8
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []
    assert dict(matplotlib.rcParams) == before, "figures must not change matplotlib's settings"


def test_the_glyph_check_would_catch_a_missing_font():
    """Without the Chinese fallback the same text warns: the test above can fail."""
    fig = matplotlib.figure.Figure()
    fig.suptitle(translator("zh-TW")("Winners"), family=["DejaVu Sans"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    assert any("missing from font" in str(w.message) for w in caught)


def test_text_keeps_its_language_fonts_when_drawn_later():
    """A figure made in zh-TW and one in zh-CN each keep their own Chinese face."""
    tw, _ = plots.funnel_figure(("unaware", "share"), 5, translator("zh-TW"))
    cn, _ = plots.funnel_figure(("unaware", "share"), 5, translator("zh-CN"))
    assert tw.axes[1].xaxis.label.get_fontfamily()[-1] == "Noto Sans CJK TC"
    assert cn.axes[1].xaxis.label.get_fontfamily()[-1] == "Noto Sans CJK SC"


def test_network_view_caption_is_translated():
    net = watts_strogatz(50, 4, 0.1, np.random.default_rng(1))
    fig, view = plots.network_figure(net, ("unaware", "share"), limit=20, tr=translator("zh-CN"))
    assert view.caption == "抽样显示：50 名消费者中的 20 名；图表统计全部消费者。"
    matplotlib.pyplot.close(fig)


def test_placeholders_of_the_english_messages_are_named():
    """Positional {} would let a translator reorder nothing: every placeholder has a name."""
    template = catalogues.read(catalogues.TEMPLATE)
    unnamed = [
        m.id
        for m in template
        if m.id and any(f == "" for _, f, _, _ in string.Formatter().parse(m.id) if f is not None)
    ]
    assert unnamed == []


def test_languages_constant_matches_the_catalogues():
    assert LANGUAGES == ("en", "zh-TW", "zh-CN")
    assert all(catalogue_path(lang).exists() for lang in CHINESE)


@pytest.mark.parametrize("lang", CHINESE)
def test_chinese_quick_start_is_linked_and_its_commands_run_in_its_language(lang):
    """README.zh-TW.md / README.zh-CN.md: linked from README.md; run and experiment commands parse,
    name files that exist and ask for the README's own language."""
    name = f"README.{lang}.md"
    assert f"]({name})" in (ROOT / "README.md").read_text(encoding="utf-8")
    text = (ROOT / name).read_text(encoding="utf-8")
    commands = re.findall(r"python run\.py ((?:run|experiment) [^#\n]+)", text)
    assert len(commands) >= 2
    for command in commands:
        args = build_parser().parse_args(shlex.split(command))
        assert check_language(args.lang) == lang, command
        assert (ROOT / (args.scenario if args.command == "run" else args.experiment)).exists()
    for phrase in ("pip install -e . &&", 'pip install -e ".[dev]" && python -m pytest -q'):
        assert phrase in text
