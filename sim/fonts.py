"""The Chinese font of figures and report pages: Noto Sans CJK, installed by pip.

The ``noto-cjk-sans-otc`` package (SIL Open Font License) carries Noto Sans CJK Regular as one
collection with Traditional (TC, Taiwan forms) and Simplified (SC, mainland forms) faces. It is
added to matplotlib's font list in this process only: the user's configuration and font cache are
left alone, so a stale cache cannot hide it. Debian's ``fonts-noto-cjk`` has the same family names
and serves as well. Report pages embed the glyphs they use, so they show Chinese on any machine.
"""

from __future__ import annotations

import base64
import functools
import io

from matplotlib import font_manager

FAMILIES = {
    "zh-TW": ("Noto Sans CJK TC", "Noto Sans TC", "Noto Sans CJK SC"),
    "zh-CN": ("Noto Sans CJK SC", "Noto Sans SC", "Noto Sans CJK TC"),
}
"""Chinese fonts by preference: Taiwan glyph forms for zh-TW, mainland forms for zh-CN."""

WEB_FAMILY = "wom-sim CJK"
"""The name report pages give their embedded font."""


@functools.cache
def _fonts() -> dict[str, font_manager.FontEntry]:
    """Fonts matplotlib knows by family name, the bundled Noto Sans CJK added on first use."""
    try:
        import noto_cjk_sans_otc

        font_manager.fontManager.addfont(str(noto_cjk_sans_otc.FONT_PATH))
    except (ImportError, OSError, RuntimeError):
        pass  # not installed: a system font of the same name may still be there
    found: dict[str, font_manager.FontEntry] = {}
    for entry in font_manager.fontManager.ttflist:
        if entry.style == "normal" and (entry.name not in found or entry.weight == 400):
            found[entry.name] = entry
    return found


def chinese(lang: str) -> str | None:
    """The family name of the installed Chinese font for ``lang`` (zh-TW's for English), or None."""
    return next((f for f in FAMILIES.get(lang, FAMILIES["zh-TW"]) if f in _fonts()), None)


def web_font_css(text: str, lang: str) -> str:
    """A CSS ``@font-face`` rule embedding the Chinese glyphs ``text`` uses (a WOFF data URL).

    Empty when ``text`` is all ASCII or no Chinese font is installed. About 1 s for a page.
    """
    family = chinese(lang)
    wanted = {c for c in text if ord(c) > 0x7F}
    if family is None or not wanted:
        return ""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    entry = _fonts()[family]
    font = TTFont(entry.fname, fontNumber=getattr(entry, "index", 0), lazy=True)
    options = subset.Options(flavor="woff", hinting=False, name_IDs=[0, 1, 2, 3, 4, 5, 6, 13, 14])
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(wanted)))
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f"@font-face{{font-family:'{WEB_FAMILY}';src:url(data:font/woff;base64,{data})}}"
