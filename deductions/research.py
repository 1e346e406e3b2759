"""Automated validity research, in bulk: promotions, open credit memos, duplicates, tolerances.

For each open deduction, in this order:
1. a duplicate of an earlier deduction (same customer, invoice and amount) is flagged (`duplicate_of`)
   and left for a person: it is neither approved nor written off;
2. an approved trade promotion of the customer whose period covers the invoice, whose invoices (or any,
   when none are listed) include it, whose rate or amount gives exactly the remaining amount and whose
   budget left covers it: marked valid with the promotion as evidence, its budget used;
3. an open credit memo of the customer (for that invoice, or for none) of exactly the remaining amount:
   valid, with the credit memo as evidence;
4. the reason code's tolerance: remaining amount <= max amount and remaining / invoice amount <= max share
   (the remaining amount, never the invoice's gross): valid and written off to the reason's account.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db import transaction

from o2c.bulk import bulk_cursor, pg_array, update_columns
from o2c.models import CreditMemo, Invoice
from o2c.money import fmt, quantize
from o2c.services.audit import audit_events_bulk
from o2c.tenancy import current_tenant_id

from .models import WORKABLE, Deduction, DeductionStatus, ReasonCode, Resolution, TradePromotion

INACTIVE = (DeductionStatus.CANCELLED, DeductionStatus.SPLIT, DeductionStatus.MERGED)


def deduction_research(ids: list[int], *, actor=None) -> dict[int, str]:
    """Research these deductions; returns {id: outcome} for those something was found for."""
    with transaction.atomic():
        rows = list(Deduction.objects.select_for_update().filter(pk__in=ids, status__in=WORKABLE).order_by("pk"))
        if not rows:
            return {}
        # What the promotions and tolerances read of an invoice, not the whole row (hundreds a run's chunk).
        invoices = Invoice.objects.only("amount", "issue_date", "number").in_bulk(
            {d.invoice_id for d in rows if d.invoice_id})
        reasons = ReasonCode.objects.in_bulk({d.reason_code_id for d in rows if d.reason_code_id})
        earlier = _earlier_twins(rows)
        promotions = _promotions(rows)
        memos = _credit_memos(rows)
        outcomes, events, write_offs = {}, [], []
        used_memos: set[int] = set()
        for d in rows:
            invoice = invoices.get(d.invoice_id)
            twin = earlier.get(d.pk)
            if twin is not None:
                d.duplicate_of_id = twin
                d.evidence = {**d.evidence, "duplicate_of": twin}
                outcomes[d.pk] = "duplicate"
                events.append(("deduction.flagged_duplicate", d, {"duplicate_of": [None, twin]}))
                continue
            promo = _matching_promotion(d, invoice, promotions.get(d.customer_id, ()))
            memo = None if promo else _matching_memo(d, memos.get(d.customer_id, ()), used_memos)
            if promo or memo:
                before = d.status
                d.validate()
                if promo:
                    promo.budget_used += d.remaining_amount
                    d.evidence = {**d.evidence, "promotion": {"id": promo.pk, "name": promo.name}}
                    outcomes[d.pk] = f"promotion {promo.name}"
                else:
                    used_memos.add(memo.pk)
                    d.evidence = {**d.evidence, "credit_memo": {"id": memo.pk, "number": memo.number}}
                    outcomes[d.pk] = f"credit memo {memo.number}"
                events.append(("deduction.validate", d, {"status": [before, d.status],
                                                         "evidence": [None, outcomes[d.pk]]}))
                continue
            reason = reasons.get(d.reason_code_id)
            if reason and within_tolerance(d.remaining_amount, invoice.amount if invoice else None, reason):
                before = d.status
                d.validate()
                d.evidence = {**d.evidence, "tolerance": {
                    "reason": reason.code, "max_amount": str(reason.tolerance_max_amount),
                    "max_share": str(reason.tolerance_max_share), "remaining": str(d.remaining_amount)}}
                outcomes[d.pk] = f"within the tolerance of {reason.code}"
                write_offs.append(d.pk)
                events.append(("deduction.validate", d, {"status": [before, d.status],
                                                         "evidence": [None, outcomes[d.pk]]}))
        # Only the rows research changed, set-based (o2c.bulk.update_columns).
        update_columns(Deduction, [d for d in rows if d.pk in outcomes],
                       {"status": "text", "evidence": "jsonb", "duplicate_of_id": "bigint"})
        TradePromotion.objects.bulk_update([p for ps in promotions.values() for p in ps], ["budget_used"])
        audit_events_bulk(events, actor=actor)
    for deduction_id in write_offs:
        _write_off(deduction_id, actor=actor)
    return outcomes


def within_tolerance(remaining: Decimal, invoice_amount: Decimal | None, reason: ReasonCode) -> bool:
    """Small enough to write off unresearched: both limits that are set hold for the remaining amount."""
    if reason.tolerance_max_amount is None and reason.tolerance_max_share is None:
        return False
    if reason.tolerance_max_amount is not None and remaining > reason.tolerance_max_amount:
        return False
    if reason.tolerance_max_share is not None:
        if not invoice_amount:
            return False
        if remaining / invoice_amount > reason.tolerance_max_share:
            return False
    return True


def _write_off(deduction_id: int, *, actor) -> None:
    from .services import deduction_resolve

    deduction_resolve(deduction_id=deduction_id, resolution=Resolution.WRITE_OFF, actor=actor,
                      memo="within tolerance")


def _earlier_twins(rows) -> dict[int, int]:
    """{deduction id: the earliest other active deduction of the same customer, invoice and amount}. The
    keys go as arrays joined on unnest(): an OR of 2,000 conditions took Postgres ~1 s a batch to plan."""
    keyed = [d for d in rows if d.invoice_id]
    if not keyed:
        return {}
    keys = sorted({(d.customer_id, d.invoice_id, d.amount) for d in keyed})
    first: dict[tuple, list[int]] = defaultdict(list)
    with bulk_cursor() as cur:
        cur.execute(
            f"SELECT d.id, d.customer_id, d.invoice_id, d.amount FROM {Deduction._meta.db_table} AS d "  # noqa: S608
            "JOIN unnest(%s::bigint[], %s::bigint[], %s::numeric[]) AS k(customer_id, invoice_id, amount) "
            "ON d.customer_id = k.customer_id AND d.invoice_id = k.invoice_id AND d.amount = k.amount "
            "WHERE d.tenant_id = %s AND NOT (d.status = ANY(%s::text[])) ORDER BY d.id",
            [*map(pg_array, zip(*keys, strict=True)), current_tenant_id(), pg_array([str(s) for s in INACTIVE])])
        for pk, c, i, a in cur.fetchall():
            first[(c, i, a)].append(pk)
    twins = {}
    for d in rows:
        earlier = [pk for pk in first.get((d.customer_id, d.invoice_id, d.amount), ()) if pk < d.pk]
        if earlier and d.parent_id not in earlier:
            twins[d.pk] = earlier[0]
    return twins


def _promotions(rows) -> dict[int, list[TradePromotion]]:
    out = defaultdict(list)
    for p in TradePromotion.objects.select_for_update().filter(
            customer_id__in={d.customer_id for d in rows}, approved=True).order_by("pk"):
        out[p.customer_id].append(p)
    return out


def _matching_promotion(d: Deduction, invoice, promotions) -> TradePromotion | None:
    if invoice is None:
        return None
    for p in promotions:
        if p.currency != d.currency or not (p.start_date <= invoice.issue_date <= p.end_date):
            continue
        if p.invoice_numbers and invoice.number not in p.invoice_numbers:
            continue
        expected = p.amount if p.amount is not None else quantize(invoice.amount * p.rate_percent / 100, d.currency)
        if expected == d.remaining_amount and p.budget_left >= d.remaining_amount:
            return p
    return None


def _credit_memos(rows) -> dict[int, list[CreditMemo]]:
    out = defaultdict(list)
    for m in CreditMemo.objects.filter(customer_id__in={d.customer_id for d in rows}, status="open").order_by("pk"):
        out[m.customer_id].append(m)
    return out


def _matching_memo(d: Deduction, memos, used: set[int]) -> CreditMemo | None:
    for m in memos:
        if m.pk in used or m.currency != d.currency or m.open_balance != d.remaining_amount:
            continue
        if m.invoice_id is None or m.invoice_id == d.invoice_id:
            return m
    return None


def describe_outcome(d: Deduction) -> str:
    ev = d.evidence or {}
    if "promotion" in ev:
        return f"matches promotion {ev['promotion']['name']}"
    if "credit_memo" in ev:
        return f"matches open credit memo {ev['credit_memo']['number']}"
    if "tolerance" in ev:
        return f"within the tolerance of {ev['tolerance']['reason']} ({fmt(d.amount, d.currency)})"
    if "duplicate_of" in ev:
        return f"possible duplicate of D-{int(ev['duplicate_of']):06d}"
    return ""
