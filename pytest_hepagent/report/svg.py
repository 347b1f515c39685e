"""Inline SVG figures for the report: no JavaScript library, no network, readable in any browser.

Each figure is a `<figure>` whose marks carry `data-*` attributes with the numbers drawn, so a test (or a curious
reader with the inspector) can check a figure against the records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Bar", "Series", "bar_chart", "heatmap", "histogram", "stacked_bars"]

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _a(text: object) -> str:
    return escape(str(text), quote=True)


def _color_scale(fraction: float) -> str:
    """Red (0) to green (1) through pale yellow."""
    f = min(max(fraction, 0.0), 1.0)
    if f < 0.5:
        r, g, b = 215, int(48 + (230 - 48) * f * 2), int(39 + (140 - 39) * f * 2)
    else:
        r, g, b = (
            int(215 - (215 - 26) * (f - 0.5) * 2),
            int(230 - (230 - 150) * (f - 0.5) * 2),
            int(140 - 75 * (f - 0.5) * 2),
        )
    return f"rgb({r},{g},{b})"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * exponent:
            return float(step * exponent)
    return float(10 * exponent)


def _figure(fig_id: str, title: str, width: int, height: int, body: str, caption: str = "") -> str:
    cap = f"<figcaption>{_a(caption)}</figcaption>" if caption else ""
    return (
        f'<figure class="chart" id="{_a(fig_id)}"><h3>{_a(title)}</h3>'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_a(title)}" {FONT}>{body}</svg>{cap}</figure>'
    )


def heatmap(
    fig_id: str,
    title: str,
    rows: Sequence[str],
    cols: Sequence[str],
    cells: Mapping[tuple[str, str], Mapping[str, float]],
) -> str:
    """Success fraction per (row, col) with n and the Wilson interval; `cells[(row, col)]` has passed, total,
    fraction, error, low, high."""
    left, top, cw, ch = 230, 40, 120, 34
    width, height = left + cw * len(cols) + 10, top + ch * len(rows) + 10
    parts = [
        f'<text x="{left + cw * i + cw / 2}" y="{top - 10}" text-anchor="middle">{_a(c)}</text>'
        for i, c in enumerate(cols)
    ]
    for j, row in enumerate(rows):
        y = top + ch * j
        parts.append(f'<text x="{left - 6}" y="{y + ch / 2 + 4}" text-anchor="end">{_a(row[:34])}</text>')
        for i, col in enumerate(cols):
            cell = cells.get((row, col))
            x = left + cw * i
            if cell is None or not cell["total"]:
                parts.append(f'<rect x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" fill="#eee"/>')
                continue
            label = f"{cell['fraction']:.0%} ±{cell['error']:.0%} (n={int(cell['total'])})"
            tip = f"{row} / {col}: {int(cell['passed'])}/{int(cell['total'])} passed, 95% Wilson [{cell['low']:.0%}, {cell['high']:.0%}]"
            parts.append(
                f'<g class="cell" data-row="{_a(row)}" data-col="{_a(col)}" data-passed="{int(cell["passed"])}" '
                f'data-total="{int(cell["total"])}" data-fraction="{cell["fraction"]:.6f}">'
                f"<title>{_a(tip)}</title>"
                f'<rect x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" fill="{_color_scale(cell["fraction"])}"/>'
                f'<text x="{x + cw / 2}" y="{y + ch / 2 + 4}" text-anchor="middle">{_a(label)}</text></g>'
            )
    return _figure(fig_id, title, width, height, "".join(parts), "Cell colour: success fraction; ± the binomial error.")


@dataclass(frozen=True)
class Bar:
    series: str
    value: float
    error: float = 0.0


@dataclass(frozen=True)
class Series:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]


def bar_chart(fig_id: str, title: str, groups: Sequence[tuple[str, Sequence[Bar]]], unit: str = "") -> str:
    """Grouped vertical bars (one group per step, one bar per model) with error bars."""
    series = list(dict.fromkeys(b.series for _, bars in groups for b in bars))
    top_value = _nice_max(max((b.value + b.error for _, bars in groups for b in bars), default=0.0))
    left, top, plot_h = 60, 20, 220
    bw = max(4, min(22, 560 // max(1, len(series) * max(1, len(groups)))))
    gw = max(bw * len(series) + 24, 110)  # room for the step name under each group
    width = max(left + gw * len(groups) + 20, 460)
    columns = max(1, (width - left) // 200)
    height = top + plot_h + 40 + 16 * math.ceil(len(series) / columns)
    parts = []
    for k in range(5):
        v = top_value * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y}" y2="{y}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{v:.3g}{_a(unit)}</text>')
    for g, (group, bars) in enumerate(groups):
        gx = left + gw * g + 12
        parts.append(
            f'<text x="{gx + bw * len(series) / 2}" y="{top + plot_h + 16}" text-anchor="middle">{_a(group)}</text>'
        )
        for bar in bars:
            i = series.index(bar.series)
            x = gx + bw * i
            h = plot_h * bar.value / top_value
            y = top + plot_h - h
            color = PALETTE[i % len(PALETTE)]
            tip = f"{bar.series} / {group}: {bar.value:.4g}{unit} ± {bar.error:.2g}"
            parts.append(
                f'<g class="bar" data-group="{_a(group)}" data-series="{_a(bar.series)}" data-value="{bar.value:.6g}" '
                f'data-error="{bar.error:.6g}"><title>{_a(tip)}</title>'
                f'<rect x="{x}" y="{y:.2f}" width="{bw - 1}" height="{max(h, 0.5):.2f}" fill="{color}"/>'
            )
            if bar.error > 0:
                y1 = top + plot_h - plot_h * min(bar.value + bar.error, top_value) / top_value
                y2 = top + plot_h - plot_h * max(bar.value - bar.error, 0) / top_value
                cx = x + (bw - 1) / 2
                parts.append(f'<line x1="{cx}" x2="{cx}" y1="{y1:.2f}" y2="{y2:.2f}" stroke="#222"/>')
            parts.append("</g>")
    parts += _legend(series, left, top + plot_h + 36, columns)
    return _figure(fig_id, title, width, height, "".join(parts), "Bars: mean over trials; error bars: standard error.")


def _legend(names: Sequence[str], x0: float, y0: float, columns: int = 2) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        x, y = x0 + 200 * (i % columns), y0 + 16 * (i // columns)
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{x + 14}" y="{y}">{_a(name[:30])}</text>')
    return parts


def stacked_bars(
    fig_id: str, title: str, rows: Sequence[str], parts_by_row: Mapping[str, Mapping[str, int]], order: Sequence[str]
) -> str:
    """Horizontal 100% bars: the share of each category among a row's failures (Fig. 2b)."""
    left, top, bw, bh = 230, 10, 420, 22
    height = top + (bh + 6) * len(rows) + 20 + 16 * math.ceil(len(order) / 2)
    width = left + bw + 60
    parts = []
    for j, row in enumerate(rows):
        y = top + (bh + 6) * j
        counts = parts_by_row.get(row, {})
        total = sum(counts.values())
        parts.append(f'<text x="{left - 6}" y="{y + bh / 2 + 4}" text-anchor="end">{_a(row[:34])}</text>')
        if not total:
            parts.append(f'<text x="{left}" y="{y + bh / 2 + 4}" fill="#777">no failures</text>')
            continue
        x = float(left)
        for i, name in enumerate(order):
            n = counts.get(name, 0)
            if not n:
                continue
            w = bw * n / total
            parts.append(
                f'<g class="segment" data-row="{_a(row)}" data-category="{_a(name)}" data-count="{n}">'
                f"<title>{_a(f'{row}: {name}: {n} of {total} failures')}</title>"
                f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{bh}" fill="{PALETTE[i % len(PALETTE)]}"/></g>'
            )
            x += w
        parts.append(f'<text x="{left + bw + 6}" y="{y + bh / 2 + 4}">{total}</text>')
    parts += _legend(order, left, top + (bh + 6) * len(rows) + 16)
    return _figure(fig_id, title, width, height, "".join(parts), "Share of each error category among failed trials.")


def histogram(fig_id: str, title: str, series: Sequence[Series], xlabel: str, marks: Sequence[float] = ()) -> str:
    """Step lines of binned distributions (each normalized to unit area), with optional vertical marks."""
    left, top, pw, ph = 60, 20, 520, 220
    xs = [x for s in series for x in s.xs]
    ys = [y for s in series for y in s.ys]
    if not xs:
        return _figure(fig_id, title, 300, 40, '<text x="10" y="25">no data</text>')
    x0, x1 = min(xs), max(xs)
    ymax = _nice_max(max(ys) if ys else 1.0)

    def px(x: float) -> float:
        return left + pw * (x - x0) / ((x1 - x0) or 1)

    def py(y: float) -> float:
        return top + ph - ph * y / ymax

    parts = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for k in range(5):
        xv = x0 + (x1 - x0) * k / 4
        parts.append(f'<text x="{px(xv):.1f}" y="{top + ph + 14}" text-anchor="middle">{xv:.3g}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{top + ph + 30}" text-anchor="middle">{_a(xlabel)}</text>')
    for i, s in enumerate(series):
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(s.xs, s.ys, strict=True))
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<polyline class="series" data-label="{_a(s.label)}" data-points="{len(s.xs)}" points="{points}" '
            f'fill="none" stroke="{color}" stroke-width="1.5"/>'
        )
    for m in marks:
        parts.append(
            f'<line class="mark" data-x="{m:.6g}" x1="{px(m):.1f}" x2="{px(m):.1f}" y1="{top}" '
            f'y2="{top + ph}" stroke="#444" stroke-dasharray="4 3"/>'
        )
    parts += _legend([s.label for s in series], left, top + ph + 48)
    return _figure(fig_id, title, left + pw + 20, top + ph + 70, "".join(parts))
