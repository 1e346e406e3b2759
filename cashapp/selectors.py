"""Reads for the cash-application pages."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Prefetch, Q

from o2c.inputs import amount_or_none
from o2c.ledger.status import INVOICE_OUTSTANDING
from o2c.models import AuditEvent, Invoice
from o2c.tenancy import current_tenant_id
from payments.models import Payment

from .models import Application, MatchingRun, PaymentMatch, RunStatus, Suggestion, SuggestionStatus

QUEUE_PAGE = 25


def review_queue(*, order: str = "confidence", limit: int = QUEUE_PAGE) -> list[Payment]:
    """Payments waiting for a clerk, each with its pending suggestions (best first) and decision."""
    pending = Suggestion.objects.filter(status=SuggestionStatus.PENDING)
    top = pending.filter(rank=1)
    top = top.order_by("-confidence", "payment_id") if order == "confidence" else top.order_by("payment_id")
    ids = list(top.values_list("payment_id", flat=True)[:limit])
    payments = {p.pk: p for p in Payment.objects.filter(pk__in=ids).select_related("customer").prefetch_related(
        Prefetch("suggestions", queryset=pending.select_related("customer").order_by("rank"), to_attr="pending"))}
    matches = {m.payment_id: m for m in PaymentMatch.objects.filter(payment_id__in=ids)}
    out = []
    for pid in ids:
        payment = payments[pid]
        payment.match = matches.get(pid)
        out.append(payment)
    return out


def run_in_progress(*, other_than: MatchingRun) -> MatchingRun | None:
    """The tenant's running run, when it is not `other_than`: a requested run then waits behind it."""
    return MatchingRun.objects.filter(status=RunStatus.RUNNING).exclude(pk=other_than.pk).first()


def queue_size() -> int:
    return Suggestion.objects.filter(status=SuggestionStatus.PENDING, rank=1).count()


def unapplied_payments(*, limit: int = 100) -> list[Payment]:
    payments = list(Payment.objects.filter(unapplied_amount__gt=0).select_related("customer")
                    .order_by("booking_date", "pk")[:limit])
    matches = {m.payment_id: m for m in PaymentMatch.objects.filter(payment_id__in=[p.pk for p in payments])}
    for p in payments:
        p.match = matches.get(p.pk)
    return payments


def payment_applications(payment: Payment) -> list[Application]:
    return _with_reversal_state(Application.objects.filter(payment=payment).select_related("invoice", "created_by"))


def invoice_applications(invoice: Invoice) -> list[Application]:
    return _with_reversal_state(Application.objects.filter(invoice=invoice).select_related("payment", "created_by"))


def _with_reversal_state(applications) -> list[Application]:
    """The journal in order, each row marked `is_reversed` when a later row reverses it."""
    apps = list(applications.order_by("pk"))
    reversed_ids = {a.reverses_id for a in apps if a.reverses_id}
    for a in apps:
        a.is_reversed = a.pk in reversed_ids
    return apps


def payment_audit(payment: Payment, applications: list[Application]) -> list[AuditEvent]:
    q = Q(object_type="payment", object_id=payment.pk) | Q(object_type="application",
                                                            object_id__in=[a.pk for a in applications])
    q |= Q(object_type="suggestion", object_id__in=list(payment.suggestions.values_list("pk", flat=True)))
    return list(AuditEvent.objects.filter(q).select_related("actor").order_by("-created_at", "-pk")[:50])


def open_invoice_search(query: str, *, limit: int = 20) -> list[Invoice]:
    query = query.strip()
    if not query:
        return []
    qs = Invoice.objects.filter(status__in=INVOICE_OUTSTANDING, open_balance__gt=0).select_related("customer")
    amount = amount_or_none(query)  # "1e999999" or "NaN" is text to search for, not an amount
    match = Q(number__istartswith=query) | Q(po_number__istartswith=query) | Q(customer__name__icontains=query)
    if amount is not None:
        match |= Q(open_balance=amount)
    return list(qs.filter(match).order_by("due_date", "pk")[:limit])


def recent_runs(limit: int = 5) -> list[MatchingRun]:
    return list(MatchingRun.objects.order_by("-created_at", "-pk")[:limit])


# One verdict per decided answer about the tenant's latest payments, counted per hundredth of confidence
# (1.000 joins 0.99):
# - a posting (a payment's automatic or clerk-confirmed rows, with the answer's confidence) is right unless
#   one of its rows was reversed;
# - a suggestion a clerk rejected is wrong, and so is one accepted only after a re-split (its payment has
#   no confirmed posting: the clerk's rows were posted as manual ones).
# Suggestions superseded by a later run or by another answer the clerk chose carry no verdict.
# The window (the latest CALIBRATION_WINDOW payments, by the primary key) bounds the work whatever the
# tenant's size, and keeps the verdicts about the matcher as it is now rather than years ago. The LATERAL
# subqueries (OFFSET 0 keeps the planner from flattening the second) make each payment an index probe
# into its own rows; a hash join would read every application of the tenant instead.
CALIBRATION_WINDOW = 20_000
_DECISION_COUNTS = """
WITH recent AS (
    SELECT id FROM payments_payment WHERE tenant_id = %(tenant)s ORDER BY id DESC LIMIT %(window)s
), decided AS (
    SELECT x.confidence, x.is_right FROM recent p CROSS JOIN LATERAL (
        SELECT max(a.confidence) AS confidence,
               NOT bool_or(EXISTS (SELECT 1 FROM cashapp_application r
                                   WHERE r.tenant_id = %(tenant)s AND r.reverses_id = a.id)) AS is_right
        FROM cashapp_application a
        WHERE a.tenant_id = %(tenant)s AND a.payment_id = p.id AND a.reverses_id IS NULL
          AND a.source IN ('auto', 'confirmed') AND a.confidence IS NOT NULL
        GROUP BY a.source) x
    UNION ALL
    SELECT s.confidence, false FROM recent p CROSS JOIN LATERAL (
        SELECT s.confidence FROM cashapp_suggestion s
        WHERE s.tenant_id = %(tenant)s AND s.payment_id = p.id AND (s.status = 'rejected' OR s.status = 'accepted'
          AND (SELECT c.id FROM cashapp_application c WHERE c.tenant_id = %(tenant)s AND c.payment_id = p.id
                 AND c.source = 'confirmed' LIMIT 1) IS NULL)
        OFFSET 0) s
)
SELECT least(floor(confidence * 100), 99)::int AS hundredth, count(*), sum(confidence),
       count(*) FILTER (WHERE is_right)
FROM decided GROUP BY 1 ORDER BY 1
"""


def decision_confidence_counts(*, window: int = CALIBRATION_WINDOW) -> list[tuple[int, int, Decimal, int]]:
    """(hundredth 0..99, verdicts, sum of their confidences, right ones) for the decided answers about the
    current tenant's latest `window` payments: the raw material of the calibration chart
    (cashapp.calibration). One query, at most 100 rows. JIT is off for it: compiling the plan took longer
    than running it (bench/calibration_query.py, figures in bench/README.md)."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL jit = off")
        cur.execute(_DECISION_COUNTS, {"tenant": current_tenant_id(), "window": window})
        rows = cur.fetchall()
        cur.execute("SET LOCAL jit TO DEFAULT")
    return rows
