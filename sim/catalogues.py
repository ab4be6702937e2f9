"""Maintaining the message catalogues: extract the marked messages, merge them, check translations.

From a checkout (the sources and the bundled scenarios are read)::

    python -m sim.catalogues           # re-extract sim/locale/messages.pot, merge it into each .po
    python -m sim.catalogues --check   # exit 1 listing stale, missing or mismatched messages

Messages are the string literals in calls of ``_``, ``tr``, ``gettext``, ``gettext_noop``, ``N_``,
``pgettext`` and ``pgettext_noop`` in ``sim/`` (Babel's Python extractor; a ``# Translators:``
comment above a call reaches the translator), and every ``description`` in ``scenarios/*.toml`` and
``experiments/*.toml``, translated by their English text. After merging, translate the new and
changed (fuzzy) entries in each ``.po``; the tests fail until every message has a translation.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import io
import re
import string
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

from sim import __version__
from sim.i18n import LANGUAGES, LOCALE_DIR, catalogue_path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = LOCALE_DIR / "messages.pot"
KEYWORDS = {
    "_": None,
    "tr": None,
    "gettext": None,
    "gettext_noop": None,
    "N_": None,
    "pgettext": ((1, "c"), 2),
    "pgettext_noop": ((1, "c"), 2),
}
COMMENT_TAGS = ("Translators:",)
DATA_FILES = ("scenarios/*.toml", "experiments/*.toml")
WIDTH = 100
DATE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
HEADERS = {
    "project": "wom-sim",
    "version": __version__,
    "copyright_holder": "the wom-sim authors",
    "creation_date": DATE,
    "revision_date": DATE,
    "last_translator": "the wom-sim authors",
    "language_team": "the wom-sim authors",
}
"""Header fields; the dates are fixed so that extracting unchanged sources rewrites equal files."""
HEADER = """\
# Messages of wom-sim, word-of-mouth marketing simulated (python -m sim.catalogues updates them).
# This file is distributed under the same license as the wom-sim project (MIT).
#"""

Key = tuple[str, str | None]
"""A message's identity: (English text, context)."""


def extract(root: Path = ROOT) -> Catalog:
    """The template: every marked message of the sources under ``root``, with its locations."""
    template = Catalog(header_comment=HEADER, fuzzy=False, charset="utf-8", **HEADERS)
    for path in sorted((root / "sim").rglob("*.py")):
        where = path.relative_to(root).as_posix()
        found = extract_from_file(
            "python",
            path,
            keywords=KEYWORDS,
            comment_tags=COMMENT_TAGS,
            strip_comment_tags=True,
        )
        for lineno, message, comments, context in found:
            template.add(
                message, locations=[(where, lineno)], auto_comments=comments, context=context
            )
    for pattern in DATA_FILES:
        for path in sorted(root.glob(pattern)):
            where = path.relative_to(root).as_posix()
            for lineno, text in descriptions(path):
                template.add(text, locations=[(where, lineno)], auto_comments=["description"])
    return template


def hidden(root: Path = ROOT) -> list[str]:
    """Literal messages the extractor cannot see: calls inside f-strings, one line each.

    Babel reads an f-string as one string token (before Python 3.12), so ``f"{tr('x')}"`` would
    never reach the catalogue.
    """
    found = []
    for path in sorted((root / "sim").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.JoinedStr):
                continue
            for call in ast.walk(node):
                literal = isinstance(call, ast.Call) and any(
                    isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args
                )
                if literal and _called(call) in KEYWORDS:
                    where = f"{path.relative_to(root).as_posix()}:{call.lineno}"
                    found.append(f"{where}: {_called(call)}() inside an f-string is not extracted")
    return found


def _called(call: ast.Call) -> str:
    """The name a call is made by: ``tr`` for ``tr(...)``, ``pgettext`` for ``tr.pgettext(...)``."""
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def descriptions(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every ``description`` in a TOML file, at any depth."""
    lines = path.read_text(encoding="utf-8").splitlines()

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "description" and isinstance(value, str) and value.strip():
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    for text in walk(tomllib.loads("\n".join(lines))):
        start = text.split()[0] if text.split() else text
        lineno = next(
            (i for i, line in enumerate(lines, 1) if "description" in line and start in line), 1
        )
        yield lineno, text


def keys(catalog: Catalog) -> set[Key]:
    """The messages of a catalogue, header excluded."""
    return {(m.id, m.context) for m in catalog if m.id}


def read(path: Path) -> Catalog:
    """A ``.po`` or ``.pot`` file."""
    with path.open("rb") as f:
        return read_po(f)


def write(path: Path, catalog: Catalog) -> None:
    """Write a catalogue in the project's layout (no obsolete entries; lines up to :data:`WIDTH`)."""
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=WIDTH, ignore_obsolete=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def update(root: Path = ROOT) -> list[str]:
    """Re-extract the template and merge it into every language's catalogue; what changed."""
    template = extract(root)
    write(TEMPLATE, template)
    report = [f"{TEMPLATE.relative_to(root)}: {len(keys(template))} messages"]
    for lang in LANGUAGES[1:]:
        path = catalogue_path(lang)
        catalog = read(path) if path.exists() else Catalog(locale=lang.replace("-", "_"))
        catalog.update(template, update_creation_date=False)
        catalog.header_comment = HEADER
        catalog.fuzzy = False
        for field, value in HEADERS.items():
            setattr(catalog, field, value)
        write(path, catalog)
        todo = sum(1 for m in catalog if m.id and (m.fuzzy or not m.string))
        report.append(f"{path.relative_to(root)}: {todo} to translate or review")
    return report


def fields(text: str) -> Counter:
    """The ``{placeholders}`` and HTML tags of a message, which a translation must keep."""
    names = Counter(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)
    return names + Counter(re.findall(r"</?[a-z][^>]*>", text))


def problems(lang: str, template: Catalog | None = None) -> list[str]:
    """What is wrong with one language's catalogue against the template: one line each."""
    template = read(TEMPLATE) if template is None else template
    catalog = read(catalogue_path(lang))
    found = []
    for m in template:
        if not m.id:
            continue
        t = catalog.get(m.id, context=m.context)
        name = f"{lang}: {m.id!r}" + (f" ({m.context})" if m.context else "")
        if t is None or not t.string:
            found.append(f"{name}: no translation")
        elif t.fuzzy:
            found.append(f"{name}: fuzzy (review it and remove the fuzzy flag)")
        else:
            try:
                if fields(t.string) != fields(m.id):
                    found.append(f"{name}: placeholders or tags differ in {t.string!r}")
            except ValueError as err:
                found.append(f"{name}: bad format string {t.string!r}: {err}")
    extra = keys(catalog) - keys(template)
    found += [f"{lang}: {text!r} is not in the template (obsolete)" for text, _ in sorted(extra)]
    return found


def main(argv: list[str] | None = None) -> int:
    """Update the catalogues, or with ``--check`` only report what needs doing (exit 1)."""
    parser = argparse.ArgumentParser(prog="python -m sim.catalogues", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on problems")
    args = parser.parse_args(argv)
    if not args.check:
        print("\n".join(update()))
    found = hidden()
    if keys(extract()) != keys(read(TEMPLATE)):
        found.append(f"{TEMPLATE.relative_to(ROOT)} is stale: run python -m sim.catalogues")
    for lang in LANGUAGES[1:]:
        found += problems(lang)
    if found:
        print("\n".join(found), file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
