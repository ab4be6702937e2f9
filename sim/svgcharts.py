"""The teaching app's charts as SVG text: the funnel, market share over time, stages day by day.

Each function takes numbers and ready-made (translated) labels and returns one ``<svg>`` element
that scales to the width of its box. Text sizes are in the chart's own units, so a larger
``scale`` gives larger text on the same chart (presenter mode). The browser only sets the markup:
a redraw is one small message, and the charts can be checked without a browser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

INK, FAINT, GRID = "#222222", "#5f5f5f", "#e3e3e3"
NOW_COLOR, BEFORE_COLOR = "#1a7f37", "#9a9a9a"


def _text(x: float, y: float, text: str, size: float, **attrs: str | float) -> str:
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:.1f}"{extra}>{escape(text)}</text>'


def _svg(width: float, height: float, body: list[str], step: int, label: str, css: str) -> str:
    return (
        f'<svg class="{css}" data-step="{step}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="100%" role="img" aria-label="{escape(label)}" fill="{INK}" '
        f'style="font-family: inherit; display: block">{"".join(body)}</svg>'
    )


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top``: 1, 2, 2.5 or 5 times a power of ten apart."""
    raw = max(top, 1e-9) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    return [round(i * step, 10) for i in range(math.ceil(top / step - 1e-9) + 1)]


def _tick_label(x: float) -> str:
    return f"{x:,.0f}" if x == int(x) else f"{x:g}"


def funnel(
    names: Sequence[str],
    counts: Sequence[int],
    colors: Sequence[str],
    shares: Sequence[str],
    conversions: Sequence[str],
    title: str,
    step: int,
    scale: float = 1.0,
    width: float = 460,
) -> str:
    """A funnel: one centred bar per stage, its width in proportion to its count, top to bottom.

    A pale band joins each bar to the next and says what share of the upper stage got on
    (``conversions``: one fewer than the stages); beside each bar are its count and ``shares``.
    """
    font = 15 * scale
    bar, gap = 22 * scale + 6, 16 * scale + 6
    count_width = font * 0.6 * len(f"{max(counts):,}") + 8
    share_width = font * 0.85 * 0.6 * max(_width(s) for s in shares)
    left = font * 0.55 * max(_width(name) for name in names) + 12  # stage names | bars | counts
    right = width - count_width - share_width - 24
    centre, top_count = (left + right) / 2, max(max(counts), 1)
    title_y = font * 1.15
    body = [_text(0, title_y, title, font * 1.1, font_weight="600")]
    y, spans = title_y + 12 * scale, []
    for i, (name, count, color) in enumerate(zip(names, counts, colors, strict=True)):
        half = max((right - left) * count / top_count, 3.0) / 2
        spans.append((y, half))
        mid = y + bar / 2 + font * 0.36
        body += [
            f'<rect x="{centre - half:.1f}" y="{y:.1f}" width="{2 * half:.1f}" height="{bar:.1f}" '
            f'rx="3" fill="{color}"/>',
            _text(left - 10, mid, name, font, text_anchor="end"),
            _text(right + 10, mid, f"{count:,}", font, font_weight="600", class_="wom-count"),
            _text(right + 16 + count_width, mid, shares[i], font * 0.85, fill=FAINT),
        ]
        y += bar + gap
    for i, conversion in enumerate(conversions):
        (y0, h0), (y1, h1) = spans[i], spans[i + 1]
        body += [
            f'<polygon points="{centre - h0:.1f},{y0 + bar:.1f} {centre + h0:.1f},{y0 + bar:.1f} '
            f'{centre + h1:.1f},{y1:.1f} {centre - h1:.1f},{y1:.1f}" fill="#000000" '
            f'fill-opacity="0.07"/>',
            _text(
                centre,
                (y0 + bar + y1) / 2 + font * 0.3,
                f"↓ {conversion}",
                font * 0.82,
                fill=FAINT,
                text_anchor="middle",
                class_="wom-conversion",
            ),
        ]
    return _svg(width, y - gap + 6, body, step, title, "wom-funnel")


@dataclass(frozen=True)
class Line:
    """One line of a line chart: x and y values, and how to draw it."""

    x: np.ndarray
    y: np.ndarray
    color: str
    width: float = 3.0
    dashed: bool = False
    end_label: str = ""


def lines(
    series: Sequence[Line],
    x_max: float,
    y_min_top: float,
    title: str,
    x_label: str,
    y_label: str,
    step: int,
    scale: float = 1.0,
    width: float = 460,
) -> str:
    """A line chart with a fixed x range 0..``x_max`` and a y axis from 0 to at least ``y_min_top``.

    The axis is fixed to the planned run, so the line grows across the chart as days pass; series
    are drawn in order (the first underneath), each ending in its ``end_label``. The legend is left
    to the page, where long labels can wrap.
    """
    font = 14 * scale
    height = 0.5 * width + 40 * (scale - 1)
    top_y = font * 1.15
    plot_top, plot_bottom = top_y + font * 1.4, height - font * 2.6
    plot_left, plot_right = font * 3.6, width - font * 3.2
    y_top = max([y_min_top, *(float(np.max(s.y)) for s in series if len(s.y))])
    y_ticks = nice_ticks(y_top, 4)
    x_ticks = nice_ticks(x_max, 6)

    def sx(x: np.ndarray | float) -> np.ndarray | float:
        return plot_left + (plot_right - plot_left) * np.asarray(x) / max(x_ticks[-1], 1e-9)

    def sy(y: np.ndarray | float) -> np.ndarray | float:
        return plot_bottom - (plot_bottom - plot_top) * np.asarray(y) / max(y_ticks[-1], 1e-9)

    body = [_text(0, top_y, title, font * 1.1, font_weight="600")]
    for tick in y_ticks:
        y = float(sy(tick))
        body.append(
            f'<line x1="{plot_left:.1f}" x2="{plot_right:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}"/>'
        )
        body.append(
            _text(plot_left - 6, y + font * 0.35, _tick_label(tick), font * 0.85, text_anchor="end")
        )
    for tick in x_ticks:
        x = float(sx(tick))
        body.append(
            _text(x, plot_bottom + font * 1.2, _tick_label(tick), font * 0.85, text_anchor="middle")
        )
    body.append(
        f'<line x1="{plot_left:.1f}" x2="{plot_right:.1f}" y1="{plot_bottom:.1f}" '
        f'y2="{plot_bottom:.1f}" stroke="{FAINT}"/>'
    )
    body.append(
        _text((plot_left + plot_right) / 2, height - 4, x_label, font * 0.9, text_anchor="middle")
    )
    body.append(
        _text(
            0,
            0,
            y_label,
            font * 0.9,
            text_anchor="middle",
            transform=f"translate({font * 0.9:.1f} {(plot_top + plot_bottom) / 2:.1f}) rotate(-90)",
        )
    )
    for s in series:
        if not len(s.y):
            continue
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(sx(s.x), sy(s.y), strict=True))
        dash = f' stroke-dasharray="{6 * scale:.0f} {4 * scale:.0f}"' if s.dashed else ""
        body.append(
            f'<polyline points="{points}" fill="none" stroke="{s.color}" '
            f'stroke-width="{s.width * scale:.1f}" stroke-linejoin="round"{dash}/>'
        )
        if s.end_label:
            body.append(
                _text(
                    float(sx(s.x[-1])) + 5,
                    float(sy(s.y[-1])) + font * 0.35,
                    s.end_label,
                    font * 0.85,
                    fill=s.color,
                    font_weight="600",
                )
            )
    return _svg(width, height, body, step, title, "wom-lines")


def stacked(
    x: np.ndarray,
    counts: np.ndarray,
    names: Sequence[str],
    colors: Sequence[str],
    x_max: float,
    title: str,
    x_label: str,
    y_label: str,
    step: int,
    scale: float = 1.0,
    width: float = 900,
    note: str = "",
) -> str:
    """Consumers per stage (rows of ``counts``) over ``x``, stacked in journey order, legend right.

    ``note`` is a line under the title (e.g. what is left out).
    """
    font = 14 * scale
    height = 0.45 * width + 40 * (scale - 1)
    top_y = font * 1.15
    plot_top, plot_bottom = top_y + font * 2.6, height - font * 2.6
    plot_left = font * 3.6
    plot_right = width - font * 1.0 - max(font * 0.62 * _width(n) for n in names) - font * 5.5
    total = float(counts.sum(axis=0).max()) if counts.size else 1.0
    y_ticks, x_ticks = nice_ticks(total, 4), nice_ticks(x_max, 6)

    def sx(v: np.ndarray | float) -> np.ndarray:
        return plot_left + (plot_right - plot_left) * np.asarray(v) / max(x_ticks[-1], 1e-9)

    def sy(v: np.ndarray | float) -> np.ndarray:
        return plot_bottom - (plot_bottom - plot_top) * np.asarray(v) / max(y_ticks[-1], 1e-9)

    body = [
        _text(0, top_y, title, font * 1.1, font_weight="600"),
        _text(0, top_y + font * 1.4, note, font * 0.9, fill=FAINT),
    ]
    below = np.zeros(counts.shape[1])
    xs = sx(x)
    for row, color in zip(counts, colors, strict=True):
        above = below + row
        upper = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, sy(above), strict=True))
        lower = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs[::-1], sy(below)[::-1], strict=True))
        body.append(f'<polygon points="{upper} {lower}" fill="{color}"/>')
        below = above
    for tick in y_ticks:
        y = float(sy(tick))
        body.append(
            f'<line x1="{plot_left:.1f}" x2="{plot_right:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ffffff" stroke-opacity="0.6"/>'
        )
        body.append(
            _text(plot_left - 6, y + font * 0.35, _tick_label(tick), font * 0.85, text_anchor="end")
        )
    for tick in x_ticks:
        body.append(
            _text(
                float(sx(tick)),
                plot_bottom + font * 1.2,
                _tick_label(tick),
                font * 0.85,
                text_anchor="middle",
            )
        )
    body.append(
        _text((plot_left + plot_right) / 2, height - 4, x_label, font * 0.9, text_anchor="middle")
    )
    body.append(
        _text(
            0,
            0,
            y_label,
            font * 0.9,
            text_anchor="middle",
            transform=f"translate({font * 0.9:.1f} {(plot_top + plot_bottom) / 2:.1f}) rotate(-90)",
        )
    )
    legend_y = plot_top + font
    for name, color, count in zip(names[::-1], colors[::-1], counts[::-1, -1], strict=True):
        body.append(
            f'<rect x="{plot_right + font:.1f}" y="{legend_y - font * 0.8:.1f}" '
            f'width="{font * 0.9:.1f}" height="{font * 0.9:.1f}" fill="{color}"/>'
        )
        body.append(_text(plot_right + font * 2.3, legend_y, f"{name} {int(count):,}", font * 0.9))
        legend_y += font * 1.5
    return _svg(width, height, body, step, title, "wom-stacked")


def _width(text: str) -> float:
    """Rough width of ``text`` in average Latin letters (about 0.55 em each).

    Wide (CJK) characters, a full em each, count 1.85.
    """
    return sum(1.85 if ord(c) > 0x2E80 else 1.0 for c in text)
