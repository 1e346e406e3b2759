"""Reads on disputes: the access functions (404 for another tenant's or another customer's case), the
worklist, the thread as each side may see it, and what dunning must skip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone

from o2c.access import _as_id, customer_scope
from o2c.inputs import parse_integer
from o2c.models import Role

from .models import OPEN_STATUSES, Dispute, DisputeAttachment, DisputeLine

WORKLIST_PAGE = 50
DUE_SOON = timedelta(hours=4)


def is_portal(membership) -> bool:
    return membership.role == Role.PORTAL_USER


def dispute_scope(membership):
    qs = Dispute.objects.all()
    if is_portal(membership):
        qs = qs.filter(customer__in=customer_scope(membership))
    return qs


def access_dispute_by_id(membership, dispute_id) -> Dispute:
    return get_object_or_404(dispute_scope(membership).select_related("customer", "reason_code", "root_cause",
                                                                       "owner", "deduction"), pk=_as_id(dispute_id))


def access_attachment_by_id(membership, attachment_id) -> DisputeAttachment:
    qs = DisputeAttachment.objects.filter(dispute__in=dispute_scope(membership))
    if is_portal(membership):
        qs = qs.exclude(message__internal=True)  # a document on an internal note is staff-only
    return get_object_or_404(qs.select_related("dispute"), pk=_as_id(attachment_id))


def thread(dispute: Dispute, *, include_internal: bool):
    messages = dispute.messages.select_related("author").prefetch_related("attachments").order_by("created_at", "id")
    return messages if include_internal else messages.filter(internal=False)


def sla_state(dispute: Dispute, now=None) -> str:
    """overdue, due_soon, on_track, or stopped (resolved/closed)."""
    if not dispute.is_open or dispute.due_at is None:
        return "stopped"
    now = now or timezone.now()
    if dispute.due_at <= now:
        return "overdue"
    return "due_soon" if dispute.due_at - now <= DUE_SOON else "on_track"


@dataclass
class WorklistPage:
    rows: list
    next_cursor: int | None


def worklist(membership, *, status: str = "", priority: str = "", owner=None, overdue: bool = False,
             search: str = "", cursor=None) -> WorklistPage:
    qs = dispute_scope(membership).select_related("customer", "reason_code", "owner")
    if status == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    if priority:
        qs = qs.filter(priority=priority)
    if owner is not None:
        qs = qs.filter(owner=owner)
    if overdue:
        qs = qs.filter(status__in=OPEN_STATUSES, due_at__lte=timezone.now())
    if search:
        qs = qs.filter(number__icontains=search) | qs.filter(customer__name__icontains=search)
    if cursor:
        qs = qs.filter(pk__lt=parse_integer(cursor, field="after"))  # a forged one is a 400, not a 500
    rows = list(qs.order_by("-id")[:WORKLIST_PAGE + 1])
    more = len(rows) > WORKLIST_PAGE
    rows = rows[:WORKLIST_PAGE]
    now = timezone.now()
    for row in rows:
        row.sla = sla_state(row, now)
    return WorklistPage(rows, rows[-1].pk if more else None)


def disputed_invoice_ids() -> set[int]:
    """The current tenant's invoices with an unresolved dispute: dunning and collections skip them."""
    return set(DisputeLine.objects.filter(dispute__status__in=OPEN_STATUSES).values_list("invoice_id", flat=True))


def fileable_invoices(customer):
    """Invoices a dispute may name: the customer's (and its children's), newest first."""
    from o2c.models import Invoice

    return (Invoice.objects.filter(customer__in=customer_scope_for(customer)).exclude(status="void")
            .select_related("customer").order_by("-issue_date", "-id")[:200])


def customer_scope_for(customer):
    from o2c.models import Customer

    return Customer.objects.filter(pk=customer.pk) | Customer.objects.filter(parent_id=customer.pk)
