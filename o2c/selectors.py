"""Reads for pages, the API and reports. Callers pass querysets already scoped by o2c.access."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Invoice
from .models.ledger import InvoiceStatus

OPEN_STATUSES = (InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID)
AGING_BUCKETS = (
    ("current", "Current", None, 0),
    ("1_30", "1–30", 1, 30),
    ("31_60", "31–60", 31, 60),
    ("61_90", "61–90", 61, 90),
    ("90_plus", "90+", 91, None),
)
_ZERO = Value(Decimal("0"), output_field=DecimalField(max_digits=18, decimal_places=4))


@dataclass(frozen=True)
class AgingBucket:
    key: str
    label: str
    amount: Decimal
    count: int


def bucket_filter(key: str, today: date | None = None) -> Q:
    """Open invoices whose days past due fall in the bucket."""
    today = today or timezone.localdate()
    for k, _, low, high in AGING_BUCKETS:
        if k == key:
            q = Q(status__in=OPEN_STATUSES)
            if low is None:
                return q & Q(due_date__gte=today)
            q &= Q(due_date__lte=today - timedelta(days=low))
            if high is not None:
                q &= Q(due_date__gte=today - timedelta(days=high))
            return q
    raise ValueError(f"unknown aging bucket {key!r}")


def aging(invoices, today: date | None = None) -> list[AgingBucket]:
    """Open balance per aging bucket in one query."""
    today = today or timezone.localdate()
    aggregates = {}
    for key, *_ in AGING_BUCKETS:
        f = bucket_filter(key, today)
        aggregates[f"{key}_amount"] = Coalesce(Sum("open_balance", filter=f), _ZERO)
        aggregates[f"{key}_count"] = Count("id", filter=f)
    row = invoices.aggregate(**aggregates)
    return [AgingBucket(k, label, row[f"{k}_amount"], row[f"{k}_count"]) for k, label, *_ in AGING_BUCKETS]


def open_balance(invoices) -> Decimal:
    return invoices.filter(status__in=OPEN_STATUSES).aggregate(t=Coalesce(Sum("open_balance"), _ZERO))["t"]


@dataclass
class InvoicePage:
    invoices: list
    next_cursor: str | None


def invoice_page(invoices, *, cursor: str | None = None, size: int = 50) -> InvoicePage:
    """Keyset paging ordered by (due_date, id): constant cost at any depth of a million rows."""
    qs = invoices.order_by("due_date", "id")
    if cursor:
        try:
            due, last_id = cursor.split("_", 1)
            due_date, last_id = date.fromisoformat(due), int(last_id)
        except ValueError:
            due_date = None
        if due_date is not None:
            qs = qs.filter(Q(due_date__gt=due_date) | Q(due_date=due_date, id__gt=last_id))
    rows = list(qs[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        next_cursor = f"{rows[-1].due_date.isoformat()}_{rows[-1].id}"
    return InvoicePage(rows, next_cursor)


def invoice_filter(invoices, *, status: str = "", bucket: str = "", customer_id: int | None = None,
                   search: str = "", due_from: date | None = None, due_to: date | None = None):
    if status == "outstanding":
        invoices = invoices.filter(status__in=OPEN_STATUSES)
    elif status in InvoiceStatus.values:
        invoices = invoices.filter(status=status)
    if bucket:
        invoices = invoices.filter(bucket_filter(bucket))
    if customer_id:
        invoices = invoices.filter(customer_id=customer_id)
    if search:
        invoices = invoices.filter(Q(number__startswith=search) | Q(po_number=search))
    if due_from:
        invoices = invoices.filter(due_date__gte=due_from)
    if due_to:
        invoices = invoices.filter(due_date__lte=due_to)
    return invoices


__all__ = ["aging", "invoice_filter", "invoice_page", "open_balance", "Invoice"]
