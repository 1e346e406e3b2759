"""Reads of the deductions app: scoped querysets, the worklist page, metrics and the export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone

from o2c.access import _as_id, customer_scope
from o2c.inputs import parse_integer
from o2c.models import AuditEvent, Role

from .models import CLOSED, Deduction, DeductionDocument, DeductionStatus, Resolution

AGING_BUCKETS = (("0-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))
PAGE_SIZE = 50


def deduction_scope(membership):
    """Deductions this member may see: the tenant's, or a portal user's own customer's (and children's)."""
    qs = Deduction.objects.all()
    if membership.role == Role.PORTAL_USER:
        qs = qs.filter(customer__in=customer_scope(membership))
    return qs


def access_deduction_by_id(membership, deduction_id) -> Deduction:
    return get_object_or_404(deduction_scope(membership).select_related("customer", "invoice", "payment",
                                                                         "reason_code", "owner"),
                             pk=_as_id(deduction_id))


def deduction_for_dispute(membership, deduction_id) -> Deduction:
    """For the disputes app (INTERFACES.md section 4): one deduction the member may see, or Http404."""
    return access_deduction_by_id(membership, deduction_id)


def access_document_by_id(membership, document_id) -> DeductionDocument:
    """A document of a deduction the member may see (a portal user: their own customer's), else 404."""
    return get_object_or_404(DeductionDocument.objects.filter(deduction__in=deduction_scope(membership)),
                             pk=_as_id(document_id))


def deduction_filter(qs, *, status="", reason="", category="", customer_id=None, owner_id=None, min_age=None,
                     search=""):
    if status == "active":
        qs = qs.exclude(status__in=CLOSED)
    elif status:
        qs = qs.filter(status=status)
    if reason:
        qs = qs.filter(reason_code__code=reason)
    if category:
        qs = qs.filter(reason_code__category=category)
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    if owner_id == "none":
        qs = qs.filter(owner__isnull=True)
    elif owner_id:
        qs = qs.filter(owner_id=owner_id)
    if min_age:
        qs = qs.filter(created_at__lte=timezone.now() - timedelta(days=int(min_age)))
    if search:
        digits = search.upper().removeprefix("D-").lstrip("0")
        cond = Q(customer__name__icontains=search) | Q(invoice__number__icontains=search)
        if digits.isdigit():
            cond |= Q(pk=int(digits))
        qs = qs.filter(cond)
    return qs


@dataclass
class DeductionPage:
    rows: list
    next_cursor: int | None


def deduction_page(qs, *, cursor=None, size: int = PAGE_SIZE) -> DeductionPage:
    """Newest first, paged by id (never OFFSET)."""
    qs = qs.select_related("customer", "invoice", "reason_code", "owner").order_by("-pk")
    if cursor:
        qs = qs.filter(pk__lt=parse_integer(cursor, field="after"))  # a forged one is a 400, not a 500
    rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return DeductionPage(rows, rows[-1].pk if more else None)


def age_days(d: Deduction, today=None) -> int:
    today = today or timezone.localdate()
    end = d.resolved_at.date() if d.resolved_at else today
    return (end - timezone.localtime(d.created_at).date()).days


def aging(qs) -> list[dict]:
    """Open (not closed) deductions by age since they were opened: count and remaining amount per bucket."""
    now = timezone.now()
    out = []
    open_qs = qs.exclude(status__in=CLOSED)
    for label, low, high in AGING_BUCKETS:
        cond = Q(created_at__lte=now - timedelta(days=low))
        if high is not None:
            cond &= Q(created_at__gt=now - timedelta(days=high + 1))
        agg = open_qs.filter(cond).aggregate(n=Count("pk"), total=Sum("remaining_amount"))
        out.append({"label": label, "count": agg["n"], "amount": agg["total"] or Decimal(0)})
    return out


def metrics(qs, *, days: int = 90) -> dict:
    """Days deductions outstanding (open deduction amount / deductions opened in the period x days) and the
    recovery rate (amount recovered / amount of deductions resolved)."""
    since = timezone.now() - timedelta(days=days)
    live = qs.exclude(status__in=(DeductionStatus.CANCELLED, DeductionStatus.SPLIT, DeductionStatus.MERGED))
    outstanding = live.exclude(status__in=CLOSED).aggregate(s=Sum("remaining_amount"))["s"] or Decimal(0)
    opened = live.filter(created_at__gte=since).aggregate(s=Sum("amount"))["s"] or Decimal(0)
    resolved = qs.filter(status=DeductionStatus.RESOLVED).aggregate(s=Sum("amount"), r=Sum("recovered_amount"))
    resolved_total, recovered = resolved["s"] or Decimal(0), resolved["r"] or Decimal(0)
    return {
        "outstanding": outstanding,
        "ddo": (outstanding / opened * days).quantize(Decimal("0.1")) if opened else None,
        "recovery_rate": (recovered / resolved_total * 100).quantize(Decimal("0.1")) if resolved_total else None,
        "recovered": recovered,
        "days": days,
    }


def deduction_history(d: Deduction):
    return (AuditEvent.objects.filter(object_type="deduction", object_id=d.pk).select_related("actor")
            .order_by("-pk")[:100])


def resolutions_for(status: str):
    from .models import RESOLUTIONS_FOR

    return [(r, Resolution(r).label) for r in RESOLUTIONS_FOR.get(status, ())]


EXPORT_HEADER = ["payment_reference", "invoice_number", "amount", "reason", "status", "source"]


def export_rows():
    """One row per deduction (the export_deductions contract): the payment's bank reference (empty when the
    deduction did not come from a payment), the invoice number, the amount, the reason code, status, source."""
    from o2c.money import quantize

    rows = (Deduction.objects.order_by("pk")
            .values_list("payment__bank_reference", "invoice__number", "amount", "currency", "reason_code__code",
                         "reason", "status", "source"))
    for ref, number, amount, currency, code, reason, status, source in rows.iterator(chunk_size=5000):
        # The amount as a Decimal: the CSV writer keeps numbers as numbers and escapes text (o2c.spreadsheets).
        yield [ref or "", number or "", quantize(amount, currency), code or reason, status, source]
