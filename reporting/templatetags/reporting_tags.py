"""Server-rendered SVG charts for the reports (no JS chart library).

Sizes are SVG attributes and colours are classes from app.css, never inline styles: the CSP forbids those.
Every chart carries role="img", an aria-label and a <title>; the page puts the figures beside it as a
table, which is the text alternative.
"""

from django import template
from django.utils.html import format_html, format_html_join

register = template.Library()

SERIES_CLASSES = ("s0", "s1", "s2", "s3", "s4", "s5")


@register.simple_tag
def hbar_chart(bars, title, series="s0"):
    """One horizontal bar per item (label, count), longest = the largest count."""
    bars = list(bars)
    width, label_w, value_w, row_h, gap = 600, 190, 50, 20, 8
    bar_w = width - label_w - value_w
    largest = max((b.count for b in bars), default=0) or 1
    rows = []
    for i, b in enumerate(bars):
        y = i * (row_h + gap)
        w = max(2, round(bar_w * b.count / largest)) if b.count else 0
        text_y = y + row_h * 0.72
        rows.append((text_y, b.label, label_w, y, bar_w, row_h, label_w, y, w, row_h, series,
                     f"{b.label}: {b.count}", width, text_y, b.count))
    body = format_html_join(
        "",
        '<g><text x="0" y="{}" class="chart-label">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="3" class="chart-track"/>'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="3" class="chart-bar {}"><title>{}</title></rect>'
        '<text x="{}" y="{}" text-anchor="end" class="chart-value">{}</text></g>',
        rows)
    height = max(len(bars) * (row_h + gap) - gap, row_h)
    return format_html('<svg class="case-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
                       'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">'
                       '<title>{}</title>{}</svg>', width, height, title, title, body)


@register.simple_tag
def stacked_bar(title, *parts):
    """One bar split into parts: stacked_bar "title" value1 "label1" value2 "label2" ... (each part its own class)."""
    pairs = [(float(parts[i] or 0), parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
    total = sum(v for v, _ in pairs)
    width, height = 600, 18
    rects, x = [], 0.0
    for n, (value, label) in enumerate(pairs):
        w = width * value / total if total else 0
        if w:
            css = SERIES_CLASSES[n % len(SERIES_CLASSES)]
            rects.append((f"{x:.1f}", f"{w:.1f}", height, css, f"{label}: {value:g}"))
        x += w
    body = format_html_join(
        "", '<rect x="{}" y="0" width="{}" height="{}" class="chart-bar {}"><title>{}</title></rect>', rects)
    return format_html('<svg class="case-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
                       'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="none"><title>{}</title>'
                       '<rect x="0" y="0" width="{}" height="{}" class="chart-track"/>{}</svg>',
                       width, height, title, title, width, height, body)


@register.simple_tag
def week_chart(weeks, title):
    """Columns per week, deductions (s0) stacked under disputes (s1)."""
    weeks = list(weeks)
    height, gap = 80, 3
    col_w = max(4, 600 // max(len(weeks), 1) - gap)
    width = len(weeks) * (col_w + gap) or col_w
    largest = max((w.total for w in weeks), default=0) or 1
    cols = []
    for i, w in enumerate(weeks):
        x = i * (col_w + gap)
        h_d = round(height * w.deductions / largest)
        h_s = round(height * w.disputes / largest)
        tip = f"week of {w.week:%d %b}: {w.deductions} deduction and {w.disputes} dispute breaches"
        cols.append((x, height - h_d, col_w, h_d, tip, x, height - h_d - h_s, col_w, h_s, tip))
    body = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" class="chart-bar s0"><title>{}</title></rect>'
        '<rect x="{}" y="{}" width="{}" height="{}" class="chart-bar s1"><title>{}</title></rect>',
        cols)
    return format_html('<svg class="case-chart case-chart-weeks" viewBox="0 0 {} {}" role="img" aria-label="{}" '
                       'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="none"><title>{}</title>'
                       '<line x1="0" y1="{}" x2="{}" y2="{}" class="chart-axis"/>{}</svg>',
                       width, height, title, title, height, width, height, body)
