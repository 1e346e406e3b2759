from django import template
from django.utils.html import format_html, format_html_join

from o2c.charts import reliability_svg, threshold_svg

register = template.Library()


@register.simple_tag
def run_chart(run, width=320):
    """A stacked bar of what a run did (auto / suggested / unmatched), plus progress when it is running.
    SVG attributes, not inline styles: the CSP forbids those."""
    total = max(run.payments_total, run.payments_done, 1)
    parts, x = [], 0.0
    for value, css, label in ((run.auto_applied, "bar-ok", "applied automatically"),
                              (run.suggested, "bar-warn", "waiting for a clerk"),
                              (run.unmatched, "bar-muted", "unmatched")):
        w = width * value / total
        if w:
            parts.append((f"{x:.1f}", f"{w:.1f}", css, f"{value} {label}"))
        x += w
    bars = format_html_join("", '<rect x="{}" y="0" width="{}" height="14" class="{}"><title>{}</title></rect>', parts)
    return format_html('<svg class="run-chart" width="{}" height="14" viewBox="0 0 {} 14" role="img" '
                       'aria-label="{} of {} payments matched"><rect x="0" y="0" width="{}" height="14" '
                       'class="bar-track"/>{}</svg>', width, width, run.payments_done, run.payments_total, width, bars)


@register.simple_tag
def reliability_chart(bands, title="Confidence against share right"):
    """The matcher's reliability diagram (o2c.charts; the benchmark report draws the same)."""
    return reliability_svg(bands, title=title)


@register.simple_tag
def threshold_chart(rows, current=None):
    """Per auto-apply threshold: share posted automatically, wrong postings per 1,000 payments."""
    return threshold_svg(rows, current=current)
