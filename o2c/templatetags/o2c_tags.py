"""Presentation helpers: money, status badges, navigation state and server-rendered SVG charts."""

from decimal import Decimal

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ..money import fmt, money_in_text

register = template.Library()

_BADGE = {
    "open": "info", "partially_paid": "warn", "paid": "ok", "void": "muted", "applied": "ok",
    "tenant_admin": "accent", "portal_user": "muted",
}
_BADGE.update({"pending_approval": "warn", "approved": "info", "sent": "info", "done": "ok"})  # payment instructions


@register.filter
def money(amount, currency=""):
    """1,234.50 in the currency's minor units; empty for None. Currency code is shown by the template
    (`{{ x|money:c }} <span class="ccy">{{ c }}</span>`); in Python, o2c.money.money_display gives both."""
    if amount is None or amount == "":
        return ""
    return fmt(Decimal(amount), currency or "USD")


@register.filter
def money_text(text, currency=""):
    """Stored text (explanations, audit values) with its storage-precision amounts in the minor unit."""
    return money_in_text(text, currency)


@register.filter
def badge(value, label=""):
    return format_html('<span class="badge badge-{}">{}</span>', _BADGE.get(str(value), "muted"), label or value)


@register.simple_tag(takes_context=True)
def nav_active(context, *names):
    """' is-active' when the current page belongs to one of these url names or namespaces."""
    match = getattr(context.get("request"), "resolver_match", None)
    if match is None:
        return ""
    current = {match.url_name, match.namespace, match.view_name}
    extra = match.kwargs.get("area") if match.kwargs else None
    if extra:
        current.add(extra)
    return mark_safe(' class="is-active" aria-current="page"') if current & set(names) else ""


_BUCKET_CLASS = {"current": "b0", "1_30": "b1", "31_60": "b2", "61_90": "b3", "90_plus": "b4"}


@register.simple_tag
def aging_chart(buckets, currency="USD", title="Aging of open balance"):
    """Horizontal bars, one per aging bucket, as inline SVG (no JS chart library, CSP-friendly).

    Widths are SVG attributes, not inline styles, so the strict style-src policy holds.
    """
    buckets = list(buckets)
    # The value column fits "12,345,678.90 100% · 12345" at the chart's font size.
    width, label_w, value_w, row_h, gap = 600, 70, 215, 26, 10
    bar_w = width - label_w - value_w
    largest = max((b.amount for b in buckets), default=Decimal("0")) or Decimal("1")
    total = sum((b.amount for b in buckets), Decimal("0"))
    height = len(buckets) * (row_h + gap)
    rows = []
    for i, b in enumerate(buckets):
        y = i * (row_h + gap)
        w = 0 if not b.amount else max(2, int(bar_w * (b.amount / largest)))
        share = f"{(b.amount / total * 100):.0f}%" if total else "0%"
        text_y = y + row_h * 0.68
        tip = f"{b.label}: {fmt(b.amount, currency)} {currency} in {b.count} invoice{'s' if b.count != 1 else ''}"
        rows.append((text_y, b.label, label_w, y, bar_w, row_h, label_w, y, w, row_h, _BUCKET_CLASS.get(b.key, "b0"),
                     tip, width, text_y, fmt(b.amount, currency), share, b.count))
    body = format_html_join(
        "",
        '<g class="aging-row"><text x="0" y="{}" class="aging-label">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="4" class="aging-track"/>'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="4" class="aging-bar {}"><title>{}</title></rect>'
        '<text x="{}" y="{}" text-anchor="end" class="aging-value">{} <tspan class="aging-share">{} · {}</tspan>'
        "</text></g>",
        rows,
    )
    return format_html(
        '<svg class="aging-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet"><title>{}</title>{}</svg>',
        width, height, title, title, body,
    )


@register.simple_tag
def spark_bar(value, total):
    """A thin share-of-total bar (SVG) for table cells."""
    try:
        share = float(value) / float(total) if total else 0.0
    except (TypeError, ValueError):
        share = 0.0
    share = min(max(share, 0.0), 1.0)
    return format_html(
        '<svg class="spark" viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true">'
        '<rect width="100" height="6" rx="3" class="spark-track"/>'
        '<rect width="{}" height="6" rx="3" class="spark-bar"/>'
        "</svg>", f"{share * 100:.1f}",
    )


@register.filter
def initials(user):
    name = (user.get_full_name() or user.email or "?").strip()
    parts = [p for p in name.replace("@", " ").replace(".", " ").split() if p]
    return "".join(p[0] for p in parts[:2]).upper() or "?"


@register.simple_tag(takes_context=True)
def tenant_memberships(context):
    """The signed-in user's companies, for the switcher (kept in the session, see access.memberships_of)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or not getattr(user, "is_authenticated", False) or getattr(request, "membership", None) is None:
        return []
    from ..access import companies_of

    return companies_of(request)
