"""Server-rendered SVG charts that are more than a row of bars: the matcher's reliability diagram and the
auto-apply threshold trade-off. The same drawing serves the settings page (template tags in cashapp_tags,
colours from app.css classes: the CSP forbids inline styles) and the benchmark report, which writes a
standalone .svg file (`write_reliability_svg`) with its own <style> element.

Charts take plain objects, duck-typed, so the kernel imports no app (a band may also be a dict, as read
from the benchmark's calibration_report.json):
  band:  low, high, count, mean_confidence, observed_right (0..1)
  row:   threshold (Decimal or float), auto_share (0..1), wrong_per_1000_payments
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

# Colours for the standalone file (the page takes them from app.css).
_STANDALONE_STYLE = (
    "<style>text{font:12px system-ui,sans-serif;fill:#4a5263}.rel-title{font-weight:600;fill:#161b26}"
    ".rel-axis{stroke:#cfd4dc}.rel-grid{stroke:#eef0f3}.rel-diagonal{stroke:#7a8394;stroke-dasharray:4 3}"
    ".rel-bar{fill:#3a7bd5;fill-opacity:.35}.rel-bar.thin{fill-opacity:.12}.rel-dot{fill:#1f4fd1}"
    ".rel-line{fill:none;stroke:#1f4fd1;stroke-width:2}.rel-wrong{fill:#c0312b}"
    ".rel-current{stroke:#a15c00;stroke-width:1.5}</style>"
)

_W, _H = 460, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 28, 40


def _x_domain(bands) -> float:
    """Where the x axis starts: 0.5 unless some answers are less confident than that."""
    lows = [b.low for b in bands if b.count]
    return 0.0 if lows and min(lows) < 0.5 else 0.5


def reliability_svg(bands, *, title: str = "Confidence against share right", standalone: bool = False) -> SafeString:
    """Per band: a column as high as the share of its answers that were right, spanning the band, and a dot
    at (mean confidence, share right). On the dashed diagonal confidence means what it says; below it the
    matcher is over-confident. Thin bands (fewer than 20 answers) are drawn paler."""
    bands = [SimpleNamespace(**b) if isinstance(b, dict) else b for b in bands]
    x0 = _x_domain(bands)
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(v: float) -> float:
        return round(_LEFT + pw * (max(v, x0) - x0) / (1 - x0), 1)

    def y(v: float) -> float:
        return round(_TOP + ph * (1 - v), 1)

    grid = format_html_join("", '<line x1="{}" y1="{}" x2="{}" y2="{}" class="rel-grid"/>'
                                '<text x="{}" y="{}" text-anchor="end">{}%</text>',
                            ((_LEFT, y(v), _W - _RIGHT, y(v), _LEFT - 6, y(v) + 4, int(v * 100))
                             for v in (0, 0.25, 0.5, 0.75, 1)))
    steps = 10 if x0 == 0 else 5
    ticks = format_html_join("", '<text x="{}" y="{}" text-anchor="middle">{}</text>',
                             ((x(x0 + (1 - x0) * i / steps), _H - _BOTTOM + 16, f"{x0 + (1 - x0) * i / steps:.1f}")
                              for i in range(steps + 1)))
    shown = [b for b in bands if b.count]
    columns = format_html_join(
        "", '<rect x="{}" y="{}" width="{}" height="{}" class="rel-bar{}"><title>{}</title></rect>'
            '<circle cx="{}" cy="{}" r="3.5" class="rel-dot"><title>{}</title></circle>',
        ((x(b.low) + 1, y(b.observed_right), max(x(b.high) - x(b.low) - 2, 1), round(ph * b.observed_right, 1),
          " thin" if b.count < 20 else "", _tip(b), x(b.mean_confidence), y(b.observed_right), _tip(b))
         for b in shown))
    empty = "" if shown else format_html('<text x="{}" y="{}" text-anchor="middle">no decided answers yet</text>',
                                         _LEFT + pw / 2, _TOP + ph / 2)
    body = format_html(
        '{}<line x1="{}" y1="{}" x2="{}" y2="{}" class="rel-diagonal"><title>confidence = share right</title></line>'
        '{}{}{}<line x1="{}" y1="{}" x2="{}" y2="{}" class="rel-axis"/>'
        '<text x="{}" y="{}" text-anchor="middle">confidence</text>'
        '<text x="{}" y="16" class="rel-title">{}</text>',
        grid, x(x0), y(x0), x(1), y(1), columns, ticks, empty, _LEFT, _H - _BOTTOM, _W - _RIGHT, _H - _BOTTOM,
        _LEFT + pw / 2, _H - 6, _LEFT, title)
    return _svg("reliability-chart", title, body, standalone)


def _tip(band) -> str:
    return (f"{band.low:.2f}–{band.high:.2f}: {band.count:,} answer{'s' if band.count != 1 else ''}, mean confidence "
            f"{band.mean_confidence:.3f}, {band.observed_right:.1%} right")


def threshold_svg(rows, *, current=None, title: str = "What a threshold costs and gains") -> SafeString:
    """Upper panel: the share of payments that would post themselves at each threshold (line). Lower panel:
    the wrong postings that would cost per 1,000 payments (columns). The current threshold is marked."""
    rows = list(rows)
    if not rows:
        return _svg("threshold-chart", title, "", False)
    pw = _W - _LEFT - _RIGHT
    top_h, gap, low_h = 110, 34, 90
    step = pw / len(rows)
    worst = max((r.wrong_per_1000_payments for r in rows), default=0) or 1

    def cx(i: int) -> float:
        return round(_LEFT + step * (i + 0.5), 1)

    def y_share(v: float) -> float:
        return round(_TOP + top_h * (1 - v), 1)

    base = _TOP + top_h + gap + low_h
    points = " ".join(f"{cx(i)},{y_share(r.auto_share)}" for i, r in enumerate(rows))
    dots = format_html_join("", '<circle cx="{}" cy="{}" r="3" class="rel-dot"><title>{}</title></circle>',
                            ((cx(i), y_share(r.auto_share), _row_tip(r)) for i, r in enumerate(rows)))
    bars = format_html_join(
        "", '<rect x="{}" y="{}" width="{}" height="{}" class="rel-wrong"><title>{}</title></rect>',
        ((round(cx(i) - step * 0.35, 1), round(base - low_h * r.wrong_per_1000_payments / worst, 1),
          round(step * 0.7, 1), round(low_h * r.wrong_per_1000_payments / worst, 1), _row_tip(r))
         for i, r in enumerate(rows)))
    labels = format_html_join("", '<text x="{}" y="{}" text-anchor="middle">{}</text>',
                              ((cx(i), base + 16, f"{float(r.threshold):.2f}") for i, r in enumerate(rows)
                               if i % 2 == 0 or i == len(rows) - 1))
    marker = ""
    for i, r in enumerate(rows):
        if current is not None and abs(float(r.threshold) - float(current)) < 0.005:
            marker = format_html('<line x1="{}" y1="{}" x2="{}" y2="{}" class="rel-current"><title>current '
                                 'threshold {}</title></line>', cx(i), _TOP - 4, cx(i), base, f"{float(current):.2f}")
    body = format_html(
        '<text x="{}" y="16" class="rel-title">share of payments posted automatically</text>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="rel-grid"/><text x="{}" y="{}" text-anchor="end">100%</text>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="rel-axis"/><text x="{}" y="{}" text-anchor="end">0%</text>'
        '<polyline points="{}" class="rel-line"/>{}'
        '<text x="{}" y="{}" class="rel-title">wrong postings per 1,000 payments (highest {})</text>{}'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="rel-axis"/>{}{}'
        '<text x="{}" y="{}" text-anchor="middle">threshold</text>',
        _LEFT, _LEFT, y_share(1), _W - _RIGHT, y_share(1), _LEFT - 6, y_share(1) + 4,
        _LEFT, y_share(0), _W - _RIGHT, y_share(0), _LEFT - 6, y_share(0) + 4, points, dots,
        _LEFT, base - low_h - 8, f"{worst:.1f}", bars, _LEFT, base, _W - _RIGHT, base, labels, marker,
        _LEFT + pw / 2, base + 34)
    return _svg("threshold-chart", title, body, False, height=base + 40)


def _row_tip(row) -> str:
    wrong = row.wrong_per_1000_payments
    return (f"threshold {float(row.threshold):.2f}: {row.auto_share:.1%} of payments posted automatically, "
            f"{wrong:.1f} wrong per 1,000 payments")


def _svg(css: str, title: str, body, standalone: bool, *, height: int = _H) -> SafeString:
    return format_html(
        '<svg class="{}" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet"><title>{}</title>{}{}</svg>',
        css, _W, height, _W, height, title, title, mark_safe(_STANDALONE_STYLE) if standalone else "", body)  # noqa: S308 - a constant


def write_reliability_svg(path: Path | str, bands, *, title: str = "Confidence against share right") -> Path:
    """The reliability diagram as a standalone .svg file (for the benchmark report); returns the path."""
    path = Path(path)
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + reliability_svg(bands, title=title, standalone=True)
                    + "\n", encoding="utf-8")
    return path
