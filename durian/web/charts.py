"""Charts drawn on the server as inline SVG: no script, nothing from a CDN.

``chart`` draws one or more series of numbers (``None`` for a gap) over the same labelled x axis;
every text goes through ``format_html``, so labels and titles are escaped. ``responsive_chart``
draws it twice, wide and narrow: a page shows the narrow one on a phone (CSS), where the wide one,
scaled down, would shrink its labels to a few pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 720, 220
#: The width of the chart shown on phones: drawn at about the size it is shown, so its text stays legible.
NARROW = 340
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 34, 36
#: The room an x-axis label needs, so that labels never overlap ("03 19:00" at 11 px).
LABEL_ROOM = 64


@dataclass(frozen=True)
class Series:
    """A named line of values (``None`` where there is no value), drawn in ``color``."""

    name: str
    values: Sequence[float | None]
    color: str


def _n(value: float) -> str:
    """A coordinate as SVG text (format_html formats its arguments with ``str``)."""
    return f"{value:.1f}"


def _scale(top: float) -> float:
    """A round upper bound for the y axis at or above ``top``."""
    if top <= 0:
        return 1.0
    step = 1.0
    while step * 10 < top:
        step *= 10
    for factor in (1, 2, 2.5, 5, 10):
        if step * factor >= top:
            return step * factor
    return step * 10


def _ticks(count: int, room: float) -> list[int]:
    """The indexes of the x labels shown: evenly spaced, ``LABEL_ROOM`` px apart at least, the last always
    (drawn ending at the right edge, so the one before it keeps more room)."""
    if count == 0:
        return []
    step = room / max(count - 1, 1)  # px between two points
    every = max(1, math.ceil(LABEL_ROOM / step))
    shown = list(range(0, count - 1, every))
    while shown and (count - 1 - shown[-1]) * step < LABEL_ROOM * 1.25:
        shown.pop()
    return [*shown, count - 1]


def responsive_chart(
    title: str, labels: Sequence[str], series: Sequence[Series], unit: str = "", top: float | None = None
) -> SafeString:
    """``chart`` drawn wide (class ``wide``) and narrow (class ``narrow``): the page's CSS shows one."""
    return format_html(
        "{}{}",
        chart(title, labels, series, unit, top, width=WIDTH, variant="wide"),
        chart(title, labels, series, unit, top, width=NARROW, variant="narrow"),
    )


def chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    unit: str = "",
    top: float | None = None,
    width: int = WIDTH,
    variant: str = "",
) -> SafeString:
    """An SVG line chart of ``series`` over ``labels`` (a label every few points), titled ``title``.

    Every label is drawn inside the chart: the last one ends at the right edge rather than centred
    on its point, where half of it would be cut off.
    """
    values = [v for s in series for v in s.values if v is not None]
    top = top if top is not None else _scale(max(values, default=0))
    n = max(len(labels), 2)
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + plot_w * i / (n - 1)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - min(v, top) / top)

    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>'
        '<text x="{}" y="{}" class="axis" text-anchor="end">{}{}</text>',
        ((LEFT, width - RIGHT, _n(y(top * f)), _n(y(top * f)), LEFT - 6, _n(y(top * f) + 4), f"{top * f:g}", unit)
         for f in (0, 0.25, 0.5, 0.75, 1)),
    )  # fmt: skip
    last = len(labels) - 1
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" class="axis" text-anchor="{}">{}</text>',
        (
            (_n(x(i) if i < last else width - 2), HEIGHT - BOTTOM + 16, "middle" if i < last else "end", labels[i])
            for i in _ticks(len(labels), plot_w)
        ),
    )
    lines = []
    for s in series:
        segments, current = [], []
        for i, v in enumerate(s.values):
            if v is None:
                if current:
                    segments.append(current)
                current = []
            else:
                current.append(f"{x(i):.1f},{y(v):.1f}")
        if current:
            segments.append(current)
        for points in segments:
            if len(points) == 1:
                cx, cy = points[0].split(",")
                lines.append(format_html('<circle cx="{}" cy="{}" r="2.5" fill="{}"/>', cx, cy, s.color))
            else:
                lines.append(
                    format_html(
                        '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>', " ".join(points), s.color
                    )
                )
    legend = format_html_join(
        "",
        '<tspan fill="{}">■ {}</tspan> ',
        ((s.color, s.name) for s in series),
    )
    return format_html(
        '<svg class="durian-chart {}" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" height="{}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title>'
        "<style>.grid{{stroke:#ddd}}.axis{{font:11px sans-serif;fill:#555}}.legend{{font:12px sans-serif}}.heading{{font:bold 13px sans-serif;fill:#333}}</style>"
        '<text x="{}" y="18" class="heading">{}</text>{}{}{}<text x="{}" y="{}" class="legend">{}</text></svg>',
        variant, title, width, HEIGHT, width, HEIGHT, title, LEFT, title, grid, ticks,
        format_html_join("", "{}", ((line,) for line in lines)), LEFT, HEIGHT - 6, legend,
    )  # fmt: skip
