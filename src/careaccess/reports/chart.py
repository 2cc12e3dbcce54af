"""A simple bar chart as inline SVG, drawn on the server (no JavaScript): a trend reads better as
bars than as a table. The numbers are also in the SVG's title and in a table beside it."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 240, 40, 60, 16


def bar_chart(buckets: list[tuple[str, int]], title: str) -> SafeString:
    if not buckets:
        return mark_safe("")
    peak = max(max(n for _, n in buckets), 1)
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = plot_w / len(buckets)
    bar_w = max(step * 0.7, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="careaccess-chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" style="max-width:{WIDTH}px" aria-labelledby="chart-title">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 8}" y2="{TOP + plot_h}" stroke="#4c6272"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11" fill="#4c6272">{peak}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="11" fill="#4c6272">0</text>',
    ]
    for i, (label, n) in enumerate(buckets):
        h = plot_h * n / peak
        x = LEFT + i * step + (step - bar_w) / 2
        y = TOP + plot_h - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="#005eb8">'
                     f'<title>{escape(label)}: {n}</title></rect>')
        if n:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="10" '
                         f'fill="#212b32">{n}</text>')
        short = escape(label[:22])
        lx, ly = x + bar_w / 2, TOP + plot_h + 12
        parts.append(f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="10" fill="#4c6272" text-anchor="end" '
                     f'transform="rotate(-40 {lx:.1f} {ly:.1f})">{short}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
