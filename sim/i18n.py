"""The product's languages: English, Traditional Chinese (Taiwan) and Simplified Chinese.

Messages are English in the code, marked by a translator's call (``tr("...")``, ``_("...")`` or
``tr.pgettext(context, "...")``; text kept in tables by :func:`gettext_noop` or
:func:`pgettext_noop`) and translated from the gettext catalogues in ``sim/locale/``
(``python -m sim.catalogues`` re-extracts and updates them; literal messages must not sit inside
f-strings, which the extractor cannot read). Each caller holds its own
:class:`Translator` (a run, a report, an app session), never a process-wide ``_``: a Solara server
serves several languages at once.

The catalogues are read from their ``.po`` source when a language is first used (Babel compiles
them in memory, about 0.1 s), so there is no compile step and no binary file to keep in step.

Identifiers in files (stage, outcome, source, lever names) stay English; :meth:`Translator.label`
gives their display names.
"""

from __future__ import annotations

import functools
import gettext
import io
import os
import re
from collections.abc import Mapping
from pathlib import Path

LANGUAGES = ("en", "zh-TW", "zh-CN")
"""Supported languages, as BCP 47 tags; English is the source language."""

LOCALE_DIR = Path(__file__).parent / "locale"
"""Catalogues: ``<dir>/<zh_TW|zh_CN>/LC_MESSAGES/messages.po`` and the template ``messages.pot``."""

DOMAIN = "messages"


def catalogue_path(lang: str) -> Path:
    """The ``.po`` file of a translated language."""
    return LOCALE_DIR / lang.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


def check_language(lang: str) -> str:
    """The supported tag ``lang`` names (``zh_tw`` and ``zh-TW`` alike), else ValueError.

    The error is one line naming the allowed values.
    """
    for known in LANGUAGES:
        if lang.replace("_", "-").lower() == known.lower():
            return known
    raise ValueError(f"--lang: unknown language {lang!r}; choose one of: {', '.join(LANGUAGES)}")


def match_language(tag: str) -> str | None:
    """The supported language a locale or BCP 47 tag asks for, or None.

    ``zh_TW.UTF-8``, ``zh-Hant``, ``zh-HK`` -> zh-TW (Traditional script); ``zh_CN``, ``zh-SG``,
    ``zh-Hans``, ``zh`` -> zh-CN; ``en_GB`` -> en.
    """
    parts = re.split(r"[-_]", tag.split(".")[0].split("@")[0].strip().lower())
    if parts[0] == "en":
        return "en"
    if parts[0] != "zh":
        return None
    traditional = {"hant", "tw", "hk", "mo"} & set(parts[1:])
    return "zh-TW" if traditional else "zh-CN"


def locale_language(environ: Mapping[str, str] | None = None) -> str:
    """The language the environment's locale asks for, as gettext reads it; English otherwise.

    The first of ``LANGUAGE`` (a colon-separated list), ``LC_ALL``, ``LC_MESSAGES`` and ``LANG``
    that is set decides; a locale we do not translate into (``de_DE``, ``C``) gives English.
    """
    env = os.environ if environ is None else environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if not value:
            continue
        for tag in value.split(":"):
            found = match_language(tag)
            if found:
                return found
        return "en"
    return "en"


def browser_language(accept_language: str | None) -> str:
    """The language a browser's ``Accept-Language`` header prefers among ours; English otherwise.

    Example: ``"zh-TW,zh;q=0.9,en-US;q=0.8"`` -> ``"zh-TW"``.
    """
    ranked = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.partition(";")
        quality = re.search(r"q\s*=\s*([0-9.]+)", params)
        try:
            q = float(quality.group(1)) if quality else 1.0
        except ValueError:
            q = 0.0
        if tag.strip() and q > 0:
            ranked.append((-q, position, tag.strip()))
    for *_, tag in sorted(ranked):
        found = match_language(tag)
        if found:
            return found
    return "en"


# ------------------------------------------------------------------------------------ labels
def gettext_noop(message: str) -> str:
    """Mark ``message`` for extraction without translating it (text in a table, for ``tr`` later)."""
    return message


def pgettext_noop(context: str, message: str) -> str:
    """Mark ``message`` for extraction in ``context`` without translating it (yet)."""
    return message


LABELS: dict[str, dict[str, str]] = {
    "stage": {
        # AISAS (Dentsu) and AIDA
        "unaware": pgettext_noop("stage", "unaware"),
        "attention": pgettext_noop("stage", "attention"),
        "interest": pgettext_noop("stage", "interest"),
        "search": pgettext_noop("stage", "search"),
        "action": pgettext_noop("stage", "action"),
        "share": pgettext_noop("stage", "share"),
        "desire": pgettext_noop("stage", "desire"),
        # the referral engine's seven stages
        "aware": pgettext_noop("stage", "aware"),
        "like": pgettext_noop("stage", "like"),
        "trust": pgettext_noop("stage", "trust"),
        "try": pgettext_noop("stage", "try"),
        "buy": pgettext_noop("stage", "buy"),
        "repurchase": pgettext_noop("stage", "repurchase"),
        "refer": pgettext_noop("stage", "refer"),
        # Bass
        "potential": pgettext_noop("stage", "potential adopter"),
        "adopter": pgettext_noop("stage", "adopter"),
    },
    "source": {
        "organic": pgettext_noop("source", "organic"),
        "ad": pgettext_noop("source", "ads"),
        "peer": pgettext_noop("source", "word of mouth"),
        "peer_dark": pgettext_noop("source", "dark social"),
        "search": pgettext_noop("source", "search"),
        "seeded": pgettext_noop("source", "seeding"),
        "direct": pgettext_noop("source", "direct"),
    },
    "channel": {
        "organic": pgettext_noop("channel", "organic"),
        "ads": pgettext_noop("channel", "ads"),
        "wom": pgettext_noop("channel", "word of mouth"),
        "search": pgettext_noop("channel", "search"),
        "content": pgettext_noop("channel", "content"),
        "dark": pgettext_noop("channel", "dark social"),
        "tracked": pgettext_noop("channel", "tracked sharing"),
    },
    "lever": {
        "ads": pgettext_noop("lever", "advertising"),
        "content": pgettext_noop("lever", "content marketing"),
        "mgm": pgettext_noop("lever", "member-get-member referral"),
        "seeding": pgettext_noop("lever", "seeding"),
        "search": pgettext_noop("lever", "search visibility"),
        "retention": pgettext_noop("lever", "loyalty programme"),
    },
    "outcome": {
        "final_customers": pgettext_noop("outcome", "customers at the end"),
        "cum_customers": pgettext_noop("outcome", "customers acquired"),
        "market_share": pgettext_noop("outcome", "market share"),
        "potential": pgettext_noop("outcome", "market potential"),
        "t10": pgettext_noop("outcome", "steps to 10 % of the market"),
        "t50": pgettext_noop("outcome", "steps to 50 % of the market"),
        "purchases": pgettext_noop("outcome", "purchases"),
        "conversion": pgettext_noop("outcome", "conversion rate"),
        "revenue": pgettext_noop("outcome", "revenue"),
        "margin": pgettext_noop("outcome", "gross margin"),
        "total_cost": pgettext_noop("outcome", "marketing cost"),
        "cost_by_lever": pgettext_noop("outcome", "cost by lever"),
        "cac": pgettext_noop("outcome", "customer acquisition cost (CAC)"),
        "profit": pgettext_noop("outcome", "profit"),
        "roi": pgettext_noop("outcome", "return on investment (ROI)"),
        "clv": pgettext_noop("outcome", "customer lifetime value (CLV)"),
        "customers_by_source": pgettext_noop("outcome", "customers by source"),
        "customers_by_source_measured": pgettext_noop(
            "outcome", "customers by source, as analytics see it"
        ),
        "referral_customers": pgettext_noop("outcome", "customers from referrals"),
        "rewards_paid": pgettext_noop("outcome", "referral rewards paid"),
        "shares": pgettext_noop("outcome", "shares"),
        "dark_share": pgettext_noop("outcome", "dark social share of shares"),
        "sharers": pgettext_noop("outcome", "consumers who shared"),
        "viral_k": pgettext_noop("outcome", "viral coefficient K"),
        "k_by_cohort": pgettext_noop("outcome", "viral coefficient K by cohort"),
        "r_t": pgettext_noop("outcome", "reproduction number R(t)"),
        "referrals_per_sharer": pgettext_noop("outcome", "referral customers per sharer"),
    },
}
"""English display names of the identifiers in files, by kind; translated by context = kind."""


class Translator:
    """Messages of one language: ``tr("English text")`` is the text in ``tr.lang``.

    Args:
        lang: a tag from :data:`LANGUAGES`.
        catalogue: its compiled messages (English: none, every message is its own translation).
    """

    def __init__(self, lang: str, catalogue: gettext.NullTranslations):
        self.lang = lang
        self._catalogue = catalogue

    def __call__(self, message: str) -> str:
        """``message`` (English) in this language; English if the catalogue lacks it."""
        return self._catalogue.gettext(message)

    def pgettext(self, context: str, message: str) -> str:
        """``message`` in this language, as meant in ``context`` (one English word, two senses)."""
        return self._catalogue.pgettext(context, message)

    def label(self, kind: str, name: str) -> str:
        """The display name of identifier ``name`` of ``kind`` (see :data:`LABELS`).

        Names we have no label for (a custom funnel's stages) are shown as they are.
        """
        english = LABELS.get(kind, {}).get(name)
        return name if english is None else self.pgettext(kind, english)

    def outcome(self, name: str) -> str:
        """The display name of an outcome column, flattened ones included.

        ``customers_by_source.peer`` and ``customers_by_source_peer`` -> "customers by source:
        word of mouth"; ``conversion.search->action`` -> "conversion rate: search → action".
        """
        outcome, part = self._split_outcome(name)
        if part is None:
            return self.label("outcome", outcome)
        kind = {"customers_by_source": "source", "customers_by_source_measured": "source"}
        kind |= {"cost_by_lever": "lever"}
        if outcome == "conversion":
            src, _, dst = part.replace("_to_", "->").partition("->")
            part = f"{self.label('stage', src)} → {self.label('stage', dst)}"
        else:
            part = self.label(kind.get(outcome, ""), part)
        return self.pgettext("outcome", "{outcome}: {part}").format(
            outcome=self.label("outcome", outcome), part=part
        )

    @staticmethod
    def _split_outcome(name: str) -> tuple[str, str | None]:
        """(outcome, part) of ``prefix.part`` or ``prefix_part`` for the dict-valued outcomes."""
        if "." in name:
            outcome, part = name.split(".", 1)
            return outcome, part
        for prefix in sorted(LABELS["outcome"], key=len, reverse=True):
            if name.startswith(prefix + "_") and name not in LABELS["outcome"]:
                return prefix, name[len(prefix) + 1 :]
        return name, None


@functools.cache
def translator(lang: str = "en") -> Translator:
    """The message translator of ``lang``: English text in, text in ``lang`` out."""
    lang = check_language(lang)
    if lang == "en":
        return Translator(lang, gettext.NullTranslations())
    return Translator(lang, _compile(catalogue_path(lang)))


def _compile(po: Path) -> gettext.GNUTranslations:
    """A ``.po`` catalogue compiled in memory; fuzzy and empty translations are left out."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalogue = read_po(f)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)
