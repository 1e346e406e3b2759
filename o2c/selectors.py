"""Reads for pages, the API and reports. Callers pass querysets already scoped by o2c.access."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import CharField, Count, DecimalField, Lookup, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .inputs import BadInput, parse_integer
from .instructions.selectors import customer_statement_extras
from .ledger.status import INVOICE_OUTSTANDING
from .models import AuditEvent, CreditMemo, Customer, Invoice, InvoiceImport, Membership
from .models.ledger import InvoiceStatus

OPEN_STATUSES = INVOICE_OUTSTANDING
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
    # Every bucket is open invoices only; saying so up front lets the planner skip paid history.
    row = invoices.filter(status__in=OPEN_STATUSES).aggregate(**aggregates)
    return [AgingBucket(k, label, row[f"{k}_amount"], row[f"{k}_count"]) for k, label, *_ in AGING_BUCKETS]


def open_balance(invoices) -> Decimal:
    return invoices.filter(status__in=OPEN_STATUSES).aggregate(t=Coalesce(Sum("open_balance"), _ZERO))["t"]


class PatternPrefix(Lookup):
    """`col LIKE 'p%'` written as the byte-wise range `col ~>=~ 'p' AND col ~<~ 'q'`.

    Same rows (UTF-8 byte order is code point order), but these operators are leakproof and LIKE is
    not: under row-level security Postgres may use only leakproof conditions as index conditions, so
    LIKE would scan every row of the tenant.
    """

    lookup_name = "pattern_prefix"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        prefix = str(self.rhs)
        upper = _prefix_upper_bound(prefix)
        if upper is None:
            return f"{lhs} ~>=~ %s", [*lhs_params, prefix]
        return f"({lhs} ~>=~ %s AND {lhs} ~<~ %s)", [*lhs_params, prefix, *lhs_params, upper]


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix`, or None if unbounded."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000  # surrogates are not characters; the next one is
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


CharField.register_lookup(PatternPrefix)


@dataclass
class InvoicePage:
    invoices: list
    next_cursor: str | None
    prev_cursor: str | None = None


def _cursor_key(cursor: str | None, field: str) -> tuple[date, int] | None:
    """(due date, id) from a page link; a mangled one is refused (400) rather than shown as another page."""
    if not cursor:
        return None
    due, _, last_id = cursor.partition("_")
    try:
        return date.fromisoformat(due), parse_integer(last_id, field=field)
    except ValueError:
        raise BadInput(field, "is not a page link of this list; start again from the first page") from None


def _invoice_cursor(invoice) -> str:
    return f"{invoice.due_date.isoformat()}_{invoice.id}"


def invoice_page(invoices, *, cursor: str | None = None, before: str | None = None, size: int = 50) -> InvoicePage:
    """Keyset paging ordered by (due_date, id): constant cost at any depth of a million rows.

    `cursor` pages forward (rows after it), `before` pages back; never OFFSET, whose cost grows with depth.
    """
    after_key, before_key = _cursor_key(cursor, "after"), _cursor_key(before, "before")
    if before_key and not after_key:
        due, last_id = before_key
        rows = list(invoices.filter(due_date__lte=due).filter(Q(due_date__lt=due) | Q(id__lt=last_id))
                    .order_by("-due_date", "-id")[: size + 1])
        more_before = len(rows) > size
        rows = rows[:size][::-1]
        return InvoicePage(rows, _invoice_cursor(rows[-1]) if rows else None,
                           _invoice_cursor(rows[0]) if rows and more_before else None)
    qs = invoices.order_by("due_date", "id")
    if after_key:
        due, last_id = after_key
        # The plain `due_date >=` bound is what lets the index scan start at the cursor; the OR alone
        # would make Postgres walk the index from the beginning and filter (seconds at 1M rows deep).
        qs = qs.filter(due_date__gte=due).filter(Q(due_date__gt=due) | Q(id__gt=last_id))
    rows = list(qs[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        next_cursor = _invoice_cursor(rows[-1])
    # Coming from a later page there is something before; the first page has nothing before it.
    prev_cursor = _invoice_cursor(rows[0]) if after_key and rows else None
    return InvoicePage(rows, next_cursor, prev_cursor)


def invoice_filter(invoices, *, status: str = "", bucket: str = "", customer_id: int | None = None,
                   search: str = "", due_from: date | None = None, due_to: date | None = None,
                   currency: str = ""):
    if status == "outstanding":
        invoices = invoices.filter(status__in=OPEN_STATUSES)
    elif status in InvoiceStatus.values:
        invoices = invoices.filter(status=status)
    if bucket:
        invoices = invoices.filter(bucket_filter(bucket))
    if customer_id:
        invoices = invoices.filter(customer_id=customer_id)
    if search:
        # Number by prefix (varchar_pattern_ops index), PO exactly (its index is a plain btree).
        invoices = invoices.filter(Q(number__pattern_prefix=search) | Q(po_number=search))
    if due_from:
        invoices = invoices.filter(due_date__gte=due_from)
    if due_to:
        invoices = invoices.filter(due_date__lte=due_to)
    if currency:
        invoices = invoices.filter(currency=currency.upper())
    return invoices


# --- customers ----------------------------------------------------------------------------------

@dataclass
class CustomerPage:
    customers: list
    next_cursor: int | None


def _open_balance_subquery(today: date, overdue_only: bool):
    open_invoices = Invoice.objects.filter(customer_id=OuterRef("pk"), status__in=OPEN_STATUSES)
    if overdue_only:
        open_invoices = open_invoices.filter(due_date__lt=today)
    total = open_invoices.order_by().values("customer_id").annotate(t=Sum("open_balance")).values("t")
    return Coalesce(Subquery(total, output_field=_ZERO.output_field), _ZERO)


def customer_page(customers, *, search: str = "", cursor: str | None = None, size: int = 50,
                  today: date | None = None) -> CustomerPage:
    """Customers by name with open balance and overdue amount, one query per page.

    The balances are correlated subqueries over the (tenant, customer, due_date) index, so a page costs
    its 50 customers' invoices and not the whole ledger's. The cursor is the last row's id; its name is
    looked up inside the same query.
    """
    today = today or timezone.localdate()
    qs = customers
    search = search.strip()
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(external_id__istartswith=search))
    after_id = parse_integer(cursor, field="after") if cursor else None
    if after_id:
        name_of = Subquery(Customer.objects.filter(pk=after_id).values("name")[:1])
        qs = qs.filter(Q(name__gt=name_of) | Q(name=name_of, id__gt=after_id))
    qs = qs.annotate(
        balance=_open_balance_subquery(today, overdue_only=False),
        overdue=_open_balance_subquery(today, overdue_only=True),
    ).order_by("name", "id")
    rows = list(qs[: size + 1])
    next_cursor = rows[size - 1].id if len(rows) > size else None
    return CustomerPage(rows[:size], next_cursor)


@dataclass(frozen=True)
class CustomerOverview:
    balance: Decimal
    overdue: Decimal
    aging: list
    credit_used_percent: Decimal | None


def customer_overview(customer, invoices, today: date | None = None) -> CustomerOverview:
    buckets = aging(invoices, today)
    balance = sum((b.amount for b in buckets), Decimal("0"))
    overdue = sum((b.amount for b in buckets if b.key != "current"), Decimal("0"))
    used = None
    if customer.credit_limit:
        used = (balance / customer.credit_limit * 100).quantize(Decimal("1"))
    return CustomerOverview(balance, overdue, buckets, used)


def customer_related(customer) -> dict:
    """The account's header lists; small per customer, each capped."""
    return {
        "children": list(customer.children.order_by("name")[:50]),
        "contacts": list(customer.contacts.order_by("name")[:20]),
        "aliases": list(customer.aliases.order_by("alias")[:20]),
        "bank_accounts": list(customer.bank_accounts.order_by("id")[:10]),
        "credit_memos": list(CreditMemo.objects.filter(customer=customer).select_related("invoice")
                             .order_by("-issue_date", "-id")[:20]),
        **customer_statement_extras(customer),  # write-offs, payment instructions under way
    }


def customer_activity(customer, *, limit: int = 15) -> list:
    """Recent audit events about the customer or any of its invoices, and the imports that created some of
    them (an import writes one event for the invoices it creates, not one per invoice)."""
    invoices = Invoice.objects.filter(customer=customer)
    batches = invoices.filter(import_batch__isnull=False).values("import_batch_id")
    return list(
        AuditEvent.objects.filter(Q(object_type="customer", object_id=customer.pk)
                                  | Q(object_type="invoice", object_id__in=invoices.values("id"))
                                  | Q(object_type="invoiceimport", action="invoice_import.completed",
                                      object_id__in=batches))
        .select_related("actor").order_by("-created_at", "-id")[:limit]
    )


@dataclass(frozen=True)
class ImportedInvoiceCreation:
    """The entry "created by import of FILE by USER at TIME" in the history of an invoice an import created.

    Such an invoice has no audit event of its own: it carries its batch (`import_batch`), and the batch has
    the import's one audit event (who, from which channel and address, when) and the file's name and hash.
    What the invoice was created with is its current state less the changes of its later `invoice.updated`
    events, which keep their before and after."""

    batch: InvoiceImport
    event: AuditEvent | None  # the batch's invoice_import.completed; None only if the log lacks it
    action = "invoice.created"
    object_type = "invoice"

    @property
    def created_at(self):
        return self.batch.created_at  # when the import began, as its invoices' created_at (the transaction's start)

    @property
    def actor(self):
        return self.event.actor if self.event else self.batch.imported_by

    @property
    def channel(self) -> str:
        return self.event.channel if self.event else ""


def invoice_activity(invoice, *, limit: int = 50) -> list:
    """The invoice's audit events, newest first, ending with its creation by an import if one created it."""
    events: list = list(AuditEvent.objects.filter(object_type="invoice", object_id=invoice.pk)
                        .select_related("actor").order_by("-created_at", "-id")[:limit])
    if invoice.import_batch_id is not None and len(events) < limit:
        batch = InvoiceImport.objects.select_related("imported_by").filter(pk=invoice.import_batch_id).first()
        if batch is not None:
            event = (AuditEvent.objects.filter(object_type="invoiceimport", object_id=batch.pk,
                                               action="invoice_import.completed")
                     .select_related("actor").first())
            events.append(ImportedInvoiceCreation(batch, event))
    return events


# --- dashboard ----------------------------------------------------------------------------------

def top_overdue_customers(invoices, *, limit: int = 5, today: date | None = None) -> list[dict]:
    today = today or timezone.localdate()
    return list(
        invoices.filter(status__in=OPEN_STATUSES, due_date__lt=today)
        .values("customer_id", "customer__name", "customer__external_id", "currency")
        .annotate(overdue=Sum("open_balance"), invoices=Count("id"))
        .order_by("-overdue")[:limit]
    )


def recent_imports(*, limit: int = 5) -> list:
    return list(InvoiceImport.objects.select_related("imported_by").order_by("-created_at", "-id")[:limit])


# --- settings -----------------------------------------------------------------------------------

def memberships_for_admin() -> list:
    return list(Membership.objects.select_related("user", "customer").order_by("-is_active", "user__email"))


def pending_invitations() -> list:
    from .models import Invitation

    return list(Invitation.objects.filter(accepted_at__isnull=True, expires_at__gt=timezone.now())
                .select_related("customer", "invited_by").order_by("-created_at"))


def api_tokens() -> list:
    from .models import ApiToken

    return list(ApiToken.objects.select_related("created_by").order_by("revoked_at", "-created_at"))


__all__ = [
    "aging", "api_tokens", "customer_activity", "customer_overview", "customer_page", "customer_related",
    "invoice_activity", "invoice_filter", "invoice_page", "memberships_for_admin", "open_balance",
    "pending_invitations", "recent_imports", "top_overdue_customers", "Invoice",
]
